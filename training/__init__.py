"""Training, evaluation and the model registry."""

from runtime.telemetry import quiet

quiet()
