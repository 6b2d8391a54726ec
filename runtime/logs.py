"""One structured logging style for every deployable: a dict per event, rendered once as a JSON line by
powertools' Logger (the Lambda's own) — never `json.dumps` into a log call, never message text."""

import logging
import sys

from aws_lambda_powertools import Logger


def structured_logger(service: str, to_stderr: bool = False) -> Logger:
    """The deployable's logger: JSON lines on stdout (the Lambda, the local runner), or on stderr for a
    CLI whose stdout is its result."""
    return Logger(
        service=service, logger_handler=logging.StreamHandler(sys.stderr if to_stderr else sys.stdout)
    )
