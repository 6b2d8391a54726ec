"""Drift monitoring of the archive, alerts, and retraining on drift."""

from runtime.telemetry import quiet

quiet()
