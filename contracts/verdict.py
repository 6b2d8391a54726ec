"""The moderation decision on one message, as written to the `verdicts` stream."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.policy import Thresholds

VERDICT_SCHEMA_VERSION = 1


class Action(StrEnum):
    """What the chat platform should do with a message."""

    ALLOW = "allow"
    REVIEW = "review"
    REMOVE = "remove"


class Verdict(BaseModel):
    """The moderation decision on one message, as written to the `verdicts` stream."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # a reader ignores fields it does not know

    schema_version: int = Field(default=VERDICT_SCHEMA_VERSION, ge=1)
    message_id: UUID
    channel_id: str
    user_id: str
    action: Action
    score: float | None  # calibrated probability of removal; None when no model could score it
    thresholds: Thresholds
    policy: str  # the channel policy that applied ("default" when the channel has none)
    reasons: list[str]  # top contributing tokens or style features, or the rule that fired
    model_name: str
    model_version: str
    shard_id: str
    sequence_number: str
    sent_at: datetime
    processed_at: datetime
    latency_ms: (
        float  # from the record's arrival in the stream to processed_at (sent_at is the sender's claim)
    )
