"""One structured logging style for every deployable: a dict per event, rendered once as a JSON line by
powertools' Logger (the Lambda's own) — never `json.dumps` into a log call, never message text. A flow's
events on Prefect's run logger are the same dicts (`run_event`)."""

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger


def structured_logger(service: str, to_stderr: bool = False) -> Logger:
    """The deployable's logger: JSON lines on stdout (the Lambda, the local runner), or on stderr for a
    CLI whose stdout is its result."""
    return Logger(
        service=service, logger_handler=logging.StreamHandler(sys.stderr if to_stderr else sys.stdout)
    )


def run_event(
    logger: logging.Logger | logging.LoggerAdapter[Any],
    event: Mapping[str, object],
    level: int = logging.INFO,
) -> None:
    """A flow's event on an orchestrator's run logger (Prefect's takes text, and shows it in its UI):
    the same dict as every other event, as one JSON object, never a formatted sentence."""
    logger.log(level, json.dumps(event, default=str))
