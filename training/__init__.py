"""Training, evaluation and the model registry."""

from infra.telemetry import quiet

quiet()
