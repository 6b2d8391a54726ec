"""Reading an SQS queue to its end: the one receive loop for every reader of the project's queues."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef


def receive_all(
    sqs: "SQSClient", queue_url: str, hide_s: int, wait_s: int = 0
) -> Iterator[list["MessageTypeDef"]]:
    """Batches of up to 10 messages until none is visible; each received one stays hidden `hide_s`."""
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s, VisibilityTimeout=hide_s
        ).get("Messages", [])
        if not messages:
            return
        yield messages


def peek_bodies(sqs: "SQSClient", queue_url: str, hide_s: int = 60) -> list[str]:
    """Every message body, without deleting any (each is hidden for `hide_s` seconds)."""
    return [m["Body"] for batch in receive_all(sqs, queue_url, hide_s) for m in batch]
