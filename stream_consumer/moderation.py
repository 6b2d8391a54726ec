"""Decode, validate, normalise, apply the channel's rules and score a batch: records in, verdicts and
dead letters out. Pure: no AWS, no model loading.
"""

import binascii
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import ValidationError

from stream_consumer.normalize import normalize
from stream_consumer.policy import PolicyBook, Thresholds
from stream_consumer.schemas import (
    Action,
    ChatMessage,
    DeadLetter,
    KinesisRecord,
    RejectReason,
    Verdict,
    describe,
)
from stream_consumer.scorer import Scores

NO_MODEL_VERSION = "none"


class Scorer(Protocol):
    """What the consumer needs from a model: one vectorised call for a whole batch."""

    def score(self, texts: Sequence[str], top_k: int = 3) -> Scores: ...


@dataclass(frozen=True)
class Champion:
    """The model serving now, and the registry version it came from."""

    name: str
    version: str
    scorer: Scorer


class NoModelError(RuntimeError):
    """No champion could be loaded; the batch must fail so that nothing passes unmoderated."""


@dataclass(frozen=True, slots=True)
class Moderated:
    """A message that got a verdict."""

    record: KinesisRecord
    message: ChatMessage
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that went to the dead-letter queue."""

    record: KinesisRecord
    dead_letter: DeadLetter


@dataclass(frozen=True)
class BatchOutcome:
    moderated: list[Moderated]
    rejected: list[Rejected]


def parse(record: KinesisRecord, now: datetime, payload_cap: int) -> ChatMessage | DeadLetter:
    """Turn one stream record into a message, or a dead letter with a reason."""
    try:
        raw = b64decode(record.kinesis.data, validate=True)
    except (binascii.Error, ValueError) as err:
        return DeadLetter.of(record, RejectReason.BAD_BASE64, f"data is not base64: {err}", now, payload_cap)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        detail = f"payload is not UTF-8 (byte {err.start})"
        return DeadLetter.of(record, RejectReason.NOT_UTF8, detail, now, payload_cap)
    try:
        return ChatMessage.model_validate_json(raw)
    except ValidationError as err:  # not JSON, wrong schema, empty or too-long text, unknown fields
        return DeadLetter.of(record, RejectReason.from_validation(err), describe(err), now, payload_cap)


def action_for(score: float, thresholds: Thresholds) -> Action:
    """The action a calibrated score earns under a channel's thresholds."""
    if score >= thresholds.remove:
        return Action.REMOVE
    if score >= thresholds.review:
        return Action.REVIEW
    return Action.ALLOW


def moderate(
    records: Sequence[KinesisRecord],
    champion: Champion | None,
    policies: PolicyBook,
    now: datetime,
    payload_cap: int = 65_536,
    top_k: int = 3,
    without_model: Literal["fail", "review"] = "fail",
) -> BatchOutcome:
    """Verdicts for every good record and dead letters for every poison one, scoring in one call."""
    parsed: list[tuple[KinesisRecord, ChatMessage, str]] = []
    rejected: list[Rejected] = []
    for record in records:
        result = parse(record, now, payload_cap)
        if isinstance(result, DeadLetter):
            rejected.append(Rejected(record, result))
            continue
        text = normalize(result.text)
        if not text:
            detail = "text is empty after normalisation (white space or invisible characters only)"
            rejected.append(
                Rejected(record, DeadLetter.of(record, RejectReason.EMPTY_TEXT, detail, now, payload_cap))
            )
            continue
        parsed.append((record, result, text))
    if champion is None and parsed and without_model == "fail":
        raise NoModelError("no champion model is loaded")
    scores = champion.scorer.score([t for _, _, t in parsed], top_k) if champion and parsed else None
    moderated = []
    for i, (record, message, text) in enumerate(parsed):
        policy_name, policy = policies.for_channel(message.channel_id)
        hit = policy.rule(text)
        score = float(scores.probability[i]) if scores is not None else None
        if hit is not None:
            action, reasons = Action(hit.action), [hit.reason]
        elif score is not None and scores is not None:
            action, reasons = action_for(score, policy.thresholds), scores.reasons[i]
        else:
            action, reasons = Action.REVIEW, ["no model available: sent to human review"]
        verdict = Verdict(
            message_id=message.message_id,
            channel_id=message.channel_id,
            user_id=message.user_id,
            action=action,
            score=score,
            thresholds=policy.thresholds,
            policy=policy_name,
            reasons=reasons,
            model_name=champion.name if champion else "",
            model_version=champion.version if champion else NO_MODEL_VERSION,
            shard_id=record.shard_id,
            sequence_number=record.sequence_number,
            sent_at=message.sent_at,
            processed_at=now,
            latency_ms=max((now - message.sent_at).total_seconds() * 1000.0, 0.0),
        )
        moderated.append(Moderated(record, message, verdict))
    return BatchOutcome(moderated, rejected)
