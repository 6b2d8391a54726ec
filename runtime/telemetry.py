"""Nothing phones home: telemetry of MLflow, Prefect and friends is off unless a user turns it on."""

import os

QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
}


def quiet() -> None:
    """Default every telemetry switch to off (an explicit user setting still wins)."""
    for var, value in QUIET.items():
        os.environ.setdefault(var, value)
