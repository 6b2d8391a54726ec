"""Dead letters go back on the input stream byte for byte, and leave the queue only once delivered."""

import pytest

from contracts.dead_letter import RejectReason
from producer_sim.dlq import replay_dead_letters
from runtime import aws
from runtime.kinesis import read_stream
from runtime.stack import Stack
from tests.builders import dead_letter

pytestmark = pytest.mark.integration


def test_replay_republishes_selected_letters_and_keeps_the_rest(
    endpoint_url: str, fresh_stack: Stack
) -> None:
    sqs = aws.client("sqs", endpoint_url)
    url = sqs.get_queue_url(QueueName=fresh_stack.dead_letter_queue.name)["QueueUrl"]
    # GIVEN two replayable letters, a truncated one, and one of a reason not selected
    bodies = {
        b'{"fixed": 1}': dead_letter(b'{"fixed": 1}', RejectReason.UNKNOWN_FIELD, partition_key="channel-07"),
        b'{"fixed": 2}': dead_letter(b'{"fixed": 2}', RejectReason.UNKNOWN_FIELD, partition_key="channel-07"),
        b"cut": dead_letter(b"cut", RejectReason.UNKNOWN_FIELD, truncated_to=2),
        b"other": dead_letter(b"other", RejectReason.NOT_JSON),
    }
    for body in bodies.values():
        sqs.send_message(QueueUrl=url, MessageBody=body)
    kinesis = aws.client("kinesis", endpoint_url)
    # WHEN only unknown-field letters are replayed
    report = replay_dead_letters(
        sqs, url, kinesis, fresh_stack.input_stream.name, frozenset({RejectReason.UNKNOWN_FIELD})
    )
    # THEN the two payloads are on the input stream, unchanged, keyed by their channel
    records = [r for rs in read_stream(kinesis, fresh_stack.input_stream.name).values() for r in rs]
    assert sorted(r["Data"] for r in records) == [b'{"fixed": 1}', b'{"fixed": 2}']
    assert {r["PartitionKey"] for r in records} == {"channel-07"}
    assert report.replayed == 2
    assert report.skipped == {"payload_truncated": 1, "reason_not_json_not_selected": 1}
    # AND only they left the queue: the other two are still there (in flight until their visibility ends)
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert (
        int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 2
    )
