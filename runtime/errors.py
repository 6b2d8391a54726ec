"""The project's one vocabulary for what goes wrong talking to AWS. Adapters wrap their calls in
`aws_errors(...)`, which translates botocore's and urllib3's errors into these; callers catch only these.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import HTTPError

# Throttling and the service's own failures: retrying later can succeed.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "KMSThrottlingException",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "NoSuchKey",
        "404",
        "NoSuchBucket",
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
    }
)
# A conditional write lost: If-None-Match found the object, If-Match found another ETag (412); on AWS
# also a conditional write racing another one on the same key (409).
# DynamoDB's ConditionExpression refused.
PRECONDITION_CODES = frozenset(
    {"PreconditionFailed", "ConditionalRequestConflict", "ConditionalCheckFailedException"}
)
# The endpoint is unreachable or the answer was cut short. botocore wraps most transport failures in
# its own errors, but not all: a streamed response of status >= 300 (the 304 of a conditional GET, an
# error) cut mid-body raises urllib3's own HTTPError.
_TRANSIENT_TRANSPORT = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ResponseStreamingError,
    HTTPError,
)


class AwsError(RuntimeError):
    """A call to AWS failed: `operation` names the call, `code` is AWS's error code or the transport
    error's name."""

    def __init__(self, operation: str, code: str, status: int = 0) -> None:
        super().__init__(f"{operation}: {code}")
        self.operation = operation
        self.code = code
        self.status = status


class TransientError(AwsError):
    """Retrying can help: throttling, a 5xx, an unreachable endpoint, an answer cut short."""


class NotFoundError(AwsError):
    """What was asked for is not there (a key, a bucket, a queue, a stream)."""


class NotModifiedError(AwsError):
    """A conditional read matched (304): what the caller holds is current."""


class PreconditionFailedError(AwsError):
    """A conditional write was refused: the object exists (If-None-Match) or changed (If-Match) since it
    was read. Nothing was written; another writer got there first."""


class RequestError(AwsError):
    """AWS refused the request, or the client could not make it (credentials, parameters): retrying the
    same call will not help."""


def translate(err: Exception, operation: str) -> AwsError:
    """The project's error for a botocore or urllib3 one."""
    if isinstance(err, AwsError):
        return err
    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", "Unknown"))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in {"304", "NotModified"} or status == 304:
            return NotModifiedError(operation, code, status)
        if code in PRECONDITION_CODES or status == 412:
            return PreconditionFailedError(operation, code, status)
        if code in NOT_FOUND_CODES:
            return NotFoundError(operation, code, status)
        if code in TRANSIENT_CODES or status >= 500:
            return TransientError(operation, code, status)
        return RequestError(operation, code, status)
    if isinstance(err, _TRANSIENT_TRANSPORT):
        return TransientError(operation, type(err).__name__)
    return RequestError(operation, type(err).__name__)


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """Run AWS calls, raising the project's errors instead of botocore's or urllib3's."""
    try:
        yield
    except (ClientError, BotoCoreError, HTTPError) as err:
        raise translate(err, operation) from err
