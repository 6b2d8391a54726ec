"""Strikes and the ladder: one user's removals in one channel, kept across the consumer's windows, and
the escalation each new strike gives (`strikes.writer` writes them, the bot applies them).

A strike is keyed by what it punishes, so a redelivered verdict, a replayed dead letter or a decision
read again finds its strike and adds none: a removal by its message id, a flood by its tumbling window.
Its weight is the channel's policy (`contracts.policy.StrikePolicy`): a model's removal, a moderator's
(which replaces the model's on the same message), nothing once overturned. Strikes decay on every read
(`strikes.core.decayed`); the table's TTL only cleans up.

`Escalation` is the wire format of the `escalations` queue: a warning, a timeout (minutes) or a ban
suggested to the channel's moderators. Its id is its strike's: the bot applies each id once.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ESCALATION_SCHEMA_VERSION = 1


class StrikeSource(StrEnum):
    """Who struck, which sets the weight."""

    MODEL = "model"  # the model's removal (the consumer's verdict)
    MODERATOR = "moderator"  # a moderator decided the message breaks the rules
    OVERTURNED = "overturned"  # a moderator decided it does not (a review, an upheld appeal): weight 0
    FLOOD = "flood"  # one flood in one tumbling window


class Rung(StrEnum):
    """The ladder, lowest first. A ban is only ever suggested: a moderator decides it."""

    NONE = "none"
    WARN = "warn"
    TIMEOUT = "timeout"
    BAN_SUGGESTION = "ban_suggestion"


class Strike(BaseModel):
    """One strike as the store holds it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str  # `msg#<message id>` or `flood#<window start>`: what it punishes, once
    channel_id: str
    user_id: str
    at: AwareDatetime  # when the offence was made (decay runs from here)
    weight: float = Field(ge=0)
    source: StrikeSource
    category: str | None = None
    decided_at: AwareDatetime | None = None  # the latest decision on it (a later one replaces it)
    escalated: bool = False  # its escalation was sent


class Escalation(BaseModel):
    """What the platform applies after a new strike (the `escalations` queue)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=ESCALATION_SCHEMA_VERSION, ge=1)
    escalation_id: str  # `<channel>#<user>#<strike key>`: applied once
    channel_id: str
    user_id: str
    rung: Rung
    timeout_minutes: int | None = None  # for a timeout
    strikes: float  # the user's decayed total in the channel at the offence, this strike included
    message_id: UUID | None = None  # the message struck (None: a flood)
    category: str | None = None
    at: datetime  # the offence


def strike_key(message_id: UUID | str) -> str:
    return f"msg#{message_id}"


def flood_key(window_start: float) -> str:
    return f"flood#{int(window_start)}"
