"""Test data in the code's own vocabulary, shared by every test module (no test imports another):
Lambda records, chat messages, verdicts, dead letters, archive lines, botocore errors; and a moderator
signed in to the review app."""

import json
import re
from base64 import b64encode
from datetime import UTC, datetime
from itertools import count
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from botocore.exceptions import ClientError

from contracts.categories import Category
from contracts.chat import ChatMessage
from contracts.dead_letter import DeadLetter, RejectReason
from contracts.lambda_event import KinesisRecord
from contracts.policy import Thresholds
from contracts.storage import ArchivedMessage, gzip_lines
from contracts.verdict import Action, CategoryScore, ContextSignal, Reason, Span, Verdict
from local_esm.esm import StreamRecord, lambda_event, roundtrip
from training.corpora import Example

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from stream_consumer.cascade import Cascade

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Short insults and small talk: a corpus small models learn in a second (the category and stack tests).
INSULTS = ("you idiot", "what a moron", "shut up stupid", "you clown", "total loser")
SMALL_TALK = (
    "the weather is nice today",
    "see you at the game tonight",
    "what time does the stream start",
    "i cooked pasta for dinner",
    "the train was late again this morning",
    "good luck with the exam tomorrow",
    "we walked along the river past the old mill",
    "the library opens at nine on sundays",
)
_SEQ = count(49_600_000_000_000_000_000_000_000_000_000_000_000_000)


def client_error(code: str, status: int = 400, operation: str = "Op") -> ClientError:
    """A botocore ClientError as AWS answers one."""
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


def lambda_record(
    data: bytes,
    shard: str = "shardId-000000000000",
    partition_key: str = "channel-00",
    arrival: datetime | None = None,
) -> dict[str, Any]:
    """One record as a Lambda Kinesis event carries it (the same builder the local runner uses), reaching
    the stream at `arrival` (now by default)."""
    arrived = (arrival or datetime.now(UTC)).timestamp()
    record = StreamRecord(str(next(_SEQ)), partition_key, data, arrived)
    event = lambda_event(
        shard, "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages", "us-east-1", [record]
    )
    return roundtrip(event)["Records"][0]  # type: ignore[no-any-return]


def kinesis_record(data: bytes, **kwargs: Any) -> KinesisRecord:
    """A parsed record of a Lambda Kinesis event."""
    return KinesisRecord.model_validate(lambda_record(data, **kwargs))


def message(text: str = "a perfectly ordinary comment", channel: str = "channel-00", **extra: Any) -> bytes:
    """A chat message's JSON payload as the chat servers send it (extra fields override or add)."""
    body = {
        "message_id": str(uuid4()),
        "channel_id": channel,
        "user_id": "user-00001",
        "text": text,
        "sent_at": datetime.now(UTC).isoformat(),
        **extra,
    }
    return json.dumps(body).encode()


def verdict(
    action: Action = Action.ALLOW,
    message_id: UUID | None = None,
    user: str = "u",
    channel: str = "c",
    sequence_number: str = "1",
    score: float = 0.5,
) -> Verdict:
    """A verdict as the consumer writes one."""
    return Verdict(
        message_id=message_id or uuid4(),
        channel_id=channel,
        user_id=user,
        action=action,
        score=score,
        thresholds=Thresholds(),
        policy="default",
        reasons=[],
        model_name="chat-moderation",
        model_version="1",
        shard_id="shardId-000000000000",
        sequence_number=sequence_number,
        sent_at=NOW,
        processed_at=NOW,
        latency_ms=1.0,
    )


def dead_letter(
    payload: bytes,
    reason: RejectReason = RejectReason.UNKNOWN_FIELD,
    truncated_to: int | None = None,
    partition_key: str = "c1",
) -> str:
    """A dead letter's JSON body as the queue holds it (the payload cut at `truncated_to` characters)."""
    data = b64encode(payload).decode()
    return DeadLetter(
        reason=reason,
        detail="d",
        shard_id="shardId-000000000000",
        sequence_number="1",
        partition_key=partition_key,
        approximate_arrival=0.0,
        event_source_arn="arn",
        payload_b64=data[:truncated_to] if truncated_to else data,
        payload_bytes=len(payload),
        payload_truncated=truncated_to is not None,
        rejected_at=NOW,
    ).model_dump_json()


def archived(user: str, text: str = "an ordinary comment", seq: int = 1) -> ArchivedMessage:
    """An archive line: a user's message and its verdict."""
    mid = uuid4()
    return ArchivedMessage(
        shard_id="shardId-000000000000",
        sequence_number=str(seq),
        approximate_arrival=NOW.timestamp(),
        message=ChatMessage(message_id=mid, channel_id="c1", user_id=user, text=text, sent_at=NOW),
        verdict=verdict(Action.ALLOW, mid, user=user, channel="c1", sequence_number=str(seq), score=0.1),
    )


def archive_body(messages: list[ArchivedMessage], extra_lines: tuple[str, ...] = ()) -> bytes:
    """An archive object's bytes (gzip'd JSON Lines), with optional raw extra lines."""
    return gzip_lines([m.model_dump_json() for m in messages] + list(extra_lines))


SHA = "e" * 64  # the test encoder's identity


def word_cascade(
    band: tuple[float, float] = (0.4, 0.7),
    languages: tuple[str, ...] = ("en",),
    heads: tuple[str, ...] = ("removal",),
) -> "Cascade":
    """A cascade whose heads (`removal` alone by default) read `tests.fakes.WordEncoder`'s first
    dimension: the encoder's word decides an escalated English message."""
    import numpy as np  # noqa: PLC0415 - only the cascade's tests need it

    from stream_consumer.cascade import Cascade, EncoderHead  # noqa: PLC0415
    from stream_consumer.encoder import DIMENSIONS  # noqa: PLC0415

    weights = np.zeros(DIMENSIONS)
    weights[0] = 8.0
    head = EncoderHead(
        weights=weights,
        intercept=-4.0,
        stacked=np.array([0.0, 1.0, 0.0]),
        alone=np.array([1.0, 0.0]),
        band=band,
    )
    return Cascade("test-encoder", SHA, dict.fromkeys(heads, head), languages)


def flagged(
    text: str,
    action: Action = Action.REVIEW,
    channel: str = "c1",
    user: str = "u1",
    category: str | None = "toxicity",
    score: float | None = 0.7,
    spans: tuple[tuple[int, int], ...] = (),
    context: tuple[ContextSignal, ...] = (),
    reasons: tuple[str, ...] = (),
    feature: str = "w",
) -> ArchivedMessage:
    """An archive line whose verdict is not allow: scored by `category` (None: a rule or a context
    signal decided), the reasons pointing at `spans` of the text."""
    mid = uuid4()
    scores = (
        {
            category: CategoryScore(
                score=score or 0.0,
                acts=True,
                thresholds=Thresholds(),
                action=action,
                reasons=[Reason(feature=feature, spans=[Span(start=a, end=b) for a, b in spans])],
            )
        }
        if category
        else {}
    )
    v = verdict(action, mid, user=user, channel=channel, score=score if score is not None else 0.5)
    v = v.model_copy(
        update={
            "score": score,
            "category": category,
            "categories": scores,
            "context": list(context),
            "reasons": list(reasons),
        }
    )
    return ArchivedMessage(
        shard_id="shardId-000000000000",
        sequence_number="1",
        approximate_arrival=NOW.timestamp(),
        message=ChatMessage(message_id=mid, channel_id=channel, user_id=user, text=text, sent_at=NOW),
        verdict=v,
    )


def sign_in(app: "FastAPI", username: str, password: str) -> tuple["TestClient", str]:
    """A client of the review app signed in through its login form; the session's CSRF token."""
    from fastapi.testclient import TestClient  # noqa: PLC0415 - only the review tests need it

    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf": token[1]}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return client, client.get("/api/session").json()["csrf"]


def removals(texts: tuple[str, ...] | list[str], rounds: int = 20) -> list[Example]:
    """A tiny labelled set: each text `rounds` times (numbered), removed when it holds an insult."""
    return [
        Example(f"{t} {i}", "test", {Category.REMOVAL: int("idiot" in t or "moron" in t)})
        for i in range(rounds)
        for t in texts
    ]


def chat_line(text: str, community: str, removed: int = 0, **labels: int) -> Example:
    """A line of the simulator's traffic: its community's removal, and any other category's label."""
    return Example(text, community, {Category.REMOVAL: removed} | {Category(c): y for c, y in labels.items()})
