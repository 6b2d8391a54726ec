"""Training, evaluation and the model registry."""

import os

# Nothing phones home, whoever imports this package.
for _var, _value in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
}.items():
    os.environ.setdefault(_var, _value)
