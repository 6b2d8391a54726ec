"""`policy.json`: per-channel, per-category thresholds on the calibrated scores, which categories act,
and term lists, with a default for channels that have none. Written by operators, read by the consumer
(`stream_consumer.policy` compiles the term lists into rules).

Version 2 adds `categories`. A channel that names no category gets each category's defaults:
`toxicity`, `hate` and `spam` act, `removal` (one community's own standard) acts only where a channel
opts in. A version-1 channel policy (`thresholds` and no `categories`) keeps its meaning: its thresholds
were those of the one score there was, the community's removals, so `removal` acts there with them.
A channel's `scoring` (default `cascade`) can ask for the cascade's encoder on every message; a reader
that does not know the field ignores it. A channel's `context` sets the thresholds of the signals
counted across its messages in the event source mapping's tumbling window (`stream_consumer.context`)
and the action each raises a message to; what it leaves out keeps the defaults below.
"""

import hashlib
from datetime import timedelta
from functools import cached_property
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.categories import DEFAULT_ACTING, Category

POLICY_SCHEMA_VERSION = 2


class Thresholds(BaseModel):
    """A score at or above `review` is queued for a human; at or above `remove` it is hidden."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    review: float = Field(default=0.5, ge=0.0, le=1.0)
    remove: float = Field(default=0.85, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.review > self.remove:
            raise ValueError(f"review threshold {self.review} is above remove threshold {self.remove}")
        return self


DEFAULT_THRESHOLDS = Thresholds()
# Each category's thresholds where a channel sets none (calibrated probabilities of the category).
CATEGORY_THRESHOLDS: dict[Category, Thresholds] = {
    Category.TOXICITY: Thresholds(review=0.5, remove=0.9),
    Category.HATE: Thresholds(review=0.5, remove=0.9),
    Category.SPAM: Thresholds(review=0.5, remove=0.9),
    Category.REMOVAL: DEFAULT_THRESHOLDS,
}


SignalName = Literal["flood", "raid", "links", "mentions", "heat"]
ContextAction = Literal["allow", "review", "remove"]  # "allow": reported on the verdict, no action


class _Signal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    threshold: float = Field(ge=0)  # 0: the signal is off in the channel
    action: ContextAction = "review"


class FloodRule(_Signal):
    """One user's messages in the channel in the window."""

    threshold: float = Field(default=12, ge=0)


class RaidRule(_Signal):
    """Distinct new accounts that posted the same or nearly the same text in the channel in the window;
    texts of fewer than `min_letters` letters never count ("gg" from a whole channel is not a raid),
    nor do accounts at least `established_days` old when they post (sixty regulars wishing the streamer
    a happy birthday are not a raid; 0: every account counts)."""

    threshold: float = Field(default=5, ge=0)
    min_letters: int = Field(default=16, ge=4)
    established_days: float = Field(default=30, ge=0)


class LinksRule(_Signal):
    """One user's messages with a link in the channel in the window."""

    threshold: float = Field(default=5, ge=0)


class MentionsRule(_Signal):
    """One user's @-mentions in the channel in the window (replies mention people: the default is
    set for mass mentions, above what a busy replier reaches in a window)."""

    threshold: float = Field(default=25, ge=0)


class HeatRule(_Signal):
    """The share of the channel's messages in the window that the models flagged, once the window has
    `min_messages` of them; reported, no action, unless a channel asks."""

    threshold: float = Field(default=0.6, ge=0, le=1)
    action: ContextAction = "allow"
    min_messages: int = Field(default=30, ge=1)


class ContextPolicy(BaseModel):
    """A channel's thresholds for the signals across messages, and the action each raises to."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    flood: FloodRule = FloodRule()
    raid: RaidRule = RaidRule()
    links: LinksRule = LinksRule()
    mentions: MentionsRule = MentionsRule()
    heat: HeatRule = HeatRule()

    def rule(self, name: SignalName) -> _Signal:
        rule: _Signal = getattr(self, name)
        return rule


class ReviewPolicy(BaseModel):
    """How a channel's messages reach its moderators (`review`): whether its automatic removals wait
    for a human's confirmation in the queue (they are hidden meanwhile either way), and what happens
    to a queued message nobody decides within `expire_after_s` (counted: a queue people cannot keep up
    with is the burnout this measures), and how long a restriction may be appealed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    confirm_removals: bool = False
    expire_after_s: int = Field(default=86_400, ge=60)
    on_expiry: Literal["allow", "remove"] = "allow"
    # How long a user may appeal a restriction of their message: the DSA asks for six months at least.
    appeal_window_days: int = Field(default=183, ge=183)


class StrikePolicy(BaseModel):
    """A channel's strikes (`strikes`): what a removal weighs, how fast it fades, and the ladder a
    user climbs. A model's removal weighs less than a moderator's; a removal a moderator overturns
    (a decision to allow, an upheld appeal) weighs nothing. Strikes halve every `half_life_days`.
    After a new strike, the user's decayed total picks the rung: from `warn_at` a warning, from
    `timeout_at` a timeout of `timeout_minutes`, doubled for each further full strike, at most
    `timeout_max_minutes`; from `ban_suggestion_at` a ban suggested to the channel's moderators,
    never a ban. The rungs sit a little under whole removals (1.4, not 1.5), so that the minutes
    between three removals do not decay the third under its timeout.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    model_weight: float = Field(default=0.5, ge=0)
    moderator_weight: float = Field(default=1.0, ge=0)
    flood_weight: float = Field(default=0.5, ge=0)  # a flood counts once per tumbling window
    half_life_days: float = Field(default=30.0, gt=0)
    warn_at: float = Field(default=0.4, gt=0)
    timeout_at: float = Field(default=1.4, gt=0)
    timeout_minutes: int = Field(default=10, ge=1)
    timeout_max_minutes: int = Field(default=7 * 24 * 60, ge=1)
    ban_suggestion_at: float = Field(default=3.9, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "StrikePolicy":
        if not self.warn_at <= self.timeout_at <= self.ban_suggestion_at:
            raise ValueError("the ladder's rungs must climb: warn_at <= timeout_at <= ban_suggestion_at")
        return self


def drawn(key: UUID | str, share: float, purpose: str) -> bool:
    """Whether a message (or a channel: `key`, its id) is among the `share` drawn for `purpose`: decided
    by a hash of its id, so a redelivered message is drawn again the same, by any reader, and no sender
    can choose. A key drawn at one share is drawn at every larger one (a canary only widens)."""
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    digest = hashlib.sha256(f"{purpose}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2.0**64


def serves_canary(channel_id: str, share: float) -> bool:
    """Whether the canary model serves a channel at this share of channels (a stable hash of its id: a
    channel the canary served stays with it as the share widens)."""
    return drawn(channel_id, share, "canary")


class SamplingPolicy(BaseModel):
    """The shares of a channel's messages drawn (`drawn`) for evidence about models:
    `shadow`, scored by the challenger too when one is published (its verdicts go to the archive beside
    the champion's, never to the verdicts stream; 0: off); `audit`, the uniform audit sample, queued
    for a moderator whatever the verdict, allowed messages too: labels whose inclusion probability is
    known, from which live quality is estimated without the queue's bias (`monitoring.live`). The audit
    costs moderators' time, so a channel opts in (0.02 is enough to judge a model change on a busy
    channel: docs/moderating.md); off by default."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    shadow: float = Field(default=0.25, ge=0.0, le=1.0)
    audit: float = Field(default=0.0, ge=0.0, le=1.0)


class CategoryPolicy(BaseModel):
    """A channel's setting for one category; what it leaves out is the category's default."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    acts: bool | None = None
    thresholds: Thresholds | None = None


class CategoryRule(BaseModel):
    """What applies to one category in one channel: whether it acts, and at which scores."""

    model_config = ConfigDict(frozen=True)

    acts: bool
    thresholds: Thresholds


class ChannelPolicy(BaseModel):
    """One community's rules: which categories act and at which scores, the terms it removes, the
    terms it allows."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    thresholds: Thresholds = DEFAULT_THRESHOLDS  # version 1: the thresholds of `removal`
    categories: dict[str, CategoryPolicy] = {}
    block_terms: tuple[str, ...] = ()
    allow_terms: tuple[str, ...] = ()
    # "cascade": the encoder re-scores what the fast model is unsure of; "encoder": every message (a
    # small, sensitive channel can afford it).
    scoring: Literal["cascade", "encoder"] = "cascade"
    context: ContextPolicy = ContextPolicy()
    review: ReviewPolicy = ReviewPolicy()
    strikes: StrikePolicy = StrikePolicy()
    sampling: SamplingPolicy = SamplingPolicy()

    def rule(self, category: str) -> CategoryRule:
        """Whether `category` acts in this channel, and its thresholds (defaults filled in)."""
        known = category in Category.__members__.values()
        default_acts = known and Category(category) in DEFAULT_ACTING
        default_thresholds = CATEGORY_THRESHOLDS[Category(category)] if known else DEFAULT_THRESHOLDS
        setting = self.categories.get(category)
        if setting is None and category == Category.REMOVAL and "thresholds" in self.model_fields_set:
            return CategoryRule(acts=True, thresholds=self.thresholds)  # a version-1 policy
        if setting is None:
            return CategoryRule(acts=default_acts, thresholds=default_thresholds)
        return CategoryRule(
            acts=default_acts if setting.acts is None else setting.acts,
            thresholds=setting.thresholds or default_thresholds,
        )


class PolicyBook(BaseModel):
    """Every channel's policy, with a default for channels that have none (`policy.json`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Absent in files written before versions (version 1); a file using `categories` says 2.
    schema_version: int = Field(default=1, ge=1)
    default: ChannelPolicy = ChannelPolicy()
    channels: dict[str, ChannelPolicy] = {}

    def for_channel(self, channel_id: str) -> tuple[str, ChannelPolicy]:
        """The policy's name (the channel, or "default") and the policy itself."""
        policy = self.channels.get(channel_id)
        return (channel_id, policy) if policy is not None else ("default", self.default)

    def appeal_window(self, channel_id: str) -> timedelta:
        """How long after a restriction the channel's users may appeal it."""
        return timedelta(days=self.for_channel(channel_id)[1].review.appeal_window_days)

    @cached_property
    def version(self) -> str:
        """A short content hash: which policies a verdict was decided under."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]
