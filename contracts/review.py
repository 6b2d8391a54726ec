"""The moderators' review queue: what an item holds (`ReviewItem`, kept in the review table), the state a
moderator moves it through (`ItemStatus`), and what the review app's JSON API takes and gives; a user's
appeal of a restriction (`AppealRequest`; its outcome is a statement: `contracts.statement.AppealOutcome`).

An item is written once per message id (a redelivered or re-scored verdict never makes a second one)
from the archive line that carries both the message and its verdict: the text is there because a
moderator must read it, so erasing a user reaches the table too (`monitoring.erasure`).
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.chat import Label
from contracts.verdict import Action, CategoryScore, ContextSignal

REVIEW_ITEM_SCHEMA_VERSION = 1


class ItemStatus(StrEnum):
    """Where an item is: waiting for a moderator (`open`), removed by the system and shown to moderators
    who may reverse it (`hidden`), decided by a moderator (`decided`), given the channel's expiry
    action because nobody decided in time (`expired`), or a restriction its user appealed, waiting for
    a moderator other than the one who decided it (`appealed`)."""

    OPEN = "open"
    HIDDEN = "hidden"
    DECIDED = "decided"
    EXPIRED = "expired"
    APPEALED = "appealed"


DECIDABLE = frozenset({ItemStatus.OPEN, ItemStatus.HIDDEN, ItemStatus.APPEALED})


class ReviewItem(BaseModel):
    """What a moderator sees of one flagged message; immutable once enqueued."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=REVIEW_ITEM_SCHEMA_VERSION, ge=1)
    message_id: UUID
    channel_id: str
    user_id: str
    text: str
    sent_at: AwareDatetime
    action: Action  # what the system did: review (waits), remove (hidden)
    category: str | None  # the category that decided the verdict; None: a rule, a context signal, no model
    severity: float = Field(ge=0.0, le=1.0)  # the highest acting score (1.0 for a rule's removal)
    scores: dict[str, CategoryScore] = {}  # the verdict's, as it was
    rule_reasons: list[str] = []  # the verdict's reasons when no category decided (e.g. `rule:block_term`)
    context: list[ContextSignal] = []
    model_version: str
    policy_version: str
    enqueued_at: AwareDatetime
    # The rest of the verdict a statement of reasons names (`contracts.statement.item_statement`); empty in
    # items enqueued before they were kept.
    policy: str = ""
    model_name: str = ""
    language: str | None = None
    processed_at: AwareDatetime | None = None
    # Drawn for the uniform audit sample (`SamplingPolicy.audit`) at this share: the probability the
    # message reached a moderator whatever its verdict (an allowed message is an item only then). None:
    # not drawn, or enqueued before the audit sample.
    audit_share: float | None = None


class DecisionRequest(BaseModel):
    """A moderator's decision on an open item (the page's form and the JSON API take the same fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: Label
    category: str = Field(default="", max_length=32)  # empty: the item's deciding category, else removal


class QueueEntry(BaseModel):
    """An item as a queue listing shows it, with its state."""

    model_config = ConfigDict(frozen=True)

    item: ReviewItem
    status: ItemStatus
    claimed_by: str | None = None
    claim_until: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    label: Label | None = None
    decided_category: str | None = None
    # An appeal: when the user made it, their words, and the restriction they appealed — who decided it
    # (a moderator's name, or `model:<version>` for a removal by the model alone) and on which category.
    appealed_at: datetime | None = None
    appeal_reason: str | None = None
    original_by: str | None = None
    original_category: str | None = None
    original_at: datetime | None = None  # when the appealed restriction was made

    @property
    def restricting_model(self) -> str | None:
        """The model version whose removal the appeal contests (None: a moderator's, or no appeal)."""
        return decider_model(self.original_by) if self.original_by else None


MODEL_DECIDER = "model:"  # the prefix of `original_by` when the model alone removed the message


def model_decider(version: str) -> str:
    """Who decided, when the model alone did (`model:<version>`)."""
    return f"{MODEL_DECIDER}{version}"


def decider_model(decider: str) -> str | None:
    """The model version that decided alone (None: a person decided)."""
    return decider.removeprefix(MODEL_DECIDER) if decider.startswith(MODEL_DECIDER) else None


APPEAL_REASON_CHARS = 2_000


class AppealRequest(BaseModel):
    """A user's appeal of a restriction of their message, as the platform files it for them (the
    platform has signed the user in; the review app checks the message is theirs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=APPEAL_REASON_CHARS)


class QueueCounts(BaseModel):
    """A channel's counters: what waits (open, appealed) and what happened to the rest. One read of the
    channel's counter item, no listing: what a client polling for work reads first."""

    model_config = ConfigDict(frozen=True)

    channel_id: str
    open: int
    decided: int
    expired: int
    hidden: int
    appealed: int = 0


class QueueStats(QueueCounts):
    """A channel's queue at a glance: its counters, and since when its oldest open item waits."""

    oldest_enqueued_at: datetime | None
