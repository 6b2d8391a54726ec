"""Test data in the code's own vocabulary, shared by every test module (no test imports another)."""

from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, status: int = 400, operation: str = "Op") -> ClientError:
    """A botocore ClientError as AWS answers one."""
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)
