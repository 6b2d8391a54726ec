"""Drift monitoring of the archive, alerts, and retraining on drift."""

from infra.telemetry import quiet

quiet()
