"""The moderation decision on one message, as written to the `verdicts` stream.

Version 2 scores every category (`categories`): its calibrated probability, whether it acts in the
channel, its thresholds and action, and the reasons behind it with the characters of the message they
stand for. `score` keeps one meaning: the highest score among the categories that act in the message's
channel; `category` names the one that decided the action, and `thresholds` and `reasons` are its.
Version 3 says how the scores were reached (`stage`: the fast model alone, the cascade's encoder, or the
fast model because the batch's encoder time was spent) and in which language the message is (`language`,
ISO 639-1, `und` when undetermined). Version 4 adds `context`: the signals across messages that fired
for this message in the shard's tumbling window (flood, raid, links, mentions, heat), each with its
value, the channel's threshold and the action it raised the message to (never lowered). A reader of an
older version reads a newer one (new fields are ignored); a newer reader reads an older one (the new
fields are absent: None, or empty).
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.policy import Thresholds

VERDICT_SCHEMA_VERSION = 4


class Action(StrEnum):
    """What the chat platform should do with a message."""

    ALLOW = "allow"
    REVIEW = "review"
    REMOVE = "remove"


class Stage(StrEnum):
    """How a message's category scores were reached (see `stream_consumer.cascade`)."""

    FAST = "fast"  # the fast model alone: it was sure enough
    ENCODER = "encoder"  # escalated: the sentence encoder's heads, calibrated again
    FAST_OVER_BUDGET = "fast_over_budget"  # escalated, but the batch's encoder time was spent


class ContextSignal(BaseModel):
    """A signal across messages that fired for a message (see `stream_consumer.context`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    signal: str  # flood, raid, links, mentions or heat
    value: float  # the count (or, for heat, the share) in the window, this message included
    threshold: float  # the channel's
    action: Action  # what the signal asks for (allow: reported only)


class Span(BaseModel):
    """Characters [start, end) of the message as the user wrote it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Reason(BaseModel):
    """What raised a category's score: a word or word pair of the message (with where it is), a style
    feature (`style:…`, no span), or a rule (`rule:…`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    feature: str
    spans: list[Span] = Field(default_factory=list)  # a factory: no deep copy of a default per reason


class CategoryScore(BaseModel):
    """One category's judgement of the message under the channel's policy."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    score: float
    acts: bool  # whether this category may act in the channel
    thresholds: Thresholds
    action: Action  # what this category alone would do (allow when it does not act)
    reasons: list[Reason] = Field(default_factory=list)


class Verdict(BaseModel):
    """The moderation decision on one message, as written to the `verdicts` stream.

    Version 2 scores every category (`categories`): its calibrated probability, whether it acts in the
    channel, its thresholds and action, and the reasons behind it with the characters of the message they
    stand for. `score` keeps one meaning: the highest score among the categories that act in the message's
    channel; `category` names the one that decided the action, and `thresholds` and `reasons` are its.
    Version 3 adds `stage` and `language` (None in older verdicts); version 4 `context` (empty in older).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")  # a reader ignores fields it does not know

    schema_version: int = Field(default=VERDICT_SCHEMA_VERSION, ge=1)
    message_id: UUID
    channel_id: str
    user_id: str
    action: Action
    score: float | None  # the highest acting category's probability; None when none scored it
    thresholds: Thresholds  # the deciding category's
    policy: str  # the channel policy that applied ("default" when the channel has none)
    reasons: list[str]  # the deciding category's top tokens or style features, or the rule that fired
    model_name: str
    model_version: str
    shard_id: str
    sequence_number: str
    sent_at: datetime
    processed_at: datetime
    latency_ms: (
        float  # from the record's arrival in the stream to processed_at (sent_at is the sender's claim)
    )
    category: str | None = None  # the category that decided the action (None: a rule, or no model)
    categories: dict[str, CategoryScore] = {}
    policy_version: str = ""  # a content hash of the policies in force
    stage: Stage | None = None  # version 3
    language: str | None = None  # version 3: ISO 639-1, or "und"
    context: list[ContextSignal] = Field(default_factory=list)  # version 4
