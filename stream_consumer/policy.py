"""Per-channel moderation policy: thresholds on the calibrated score, and term lists that run first.

A community's own rules run before the model: a blocked term removes a message whatever its score,
an allowed term lets it through. Terms are matched as whole words on normalised text.
"""

import re
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stream_consumer.normalize import normalize


class Thresholds(BaseModel):
    """A score at or above `review` is queued for a human; at or above `remove` it is hidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review: float = Field(default=0.5, ge=0.0, le=1.0)
    remove: float = Field(default=0.85, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.review > self.remove:
            raise ValueError(f"review threshold {self.review} is above remove threshold {self.remove}")
        return self


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A term list matched: the action it forces and the reason shown in the verdict."""

    action: str  # "remove" or "allow"
    reason: str


def _pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w@$])(?:{alternatives})(?![\w@$])")


class ChannelPolicy(BaseModel):
    """One community's rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thresholds: Thresholds = DEFAULT_THRESHOLDS
    block_terms: tuple[str, ...] = ()
    allow_terms: tuple[str, ...] = ()

    @field_validator("block_terms", "allow_terms")
    @classmethod
    def _normalise_terms(cls, terms: tuple[str, ...]) -> tuple[str, ...]:
        # Terms are normalised like messages, so "Sh1t" in a config matches "shit" in a message.
        return tuple(dict.fromkeys(t for t in (normalize(x) for x in terms) if t))

    @cached_property
    def _block(self) -> re.Pattern[str] | None:
        return _pattern(self.block_terms)

    @cached_property
    def _allow(self) -> re.Pattern[str] | None:
        return _pattern(self.allow_terms)

    def rule(self, normalised_text: str) -> RuleHit | None:
        """The term list that decides this message, if any; blocking wins over allowing."""
        if self._block is not None and (m := self._block.search(normalised_text)):
            return RuleHit("remove", f"rule:block:{m.group(0)}")
        if self._allow is not None and (m := self._allow.search(normalised_text)):
            return RuleHit("allow", f"rule:allow:{m.group(0)}")
        return None


class PolicyBook(BaseModel):
    """Every channel's policy, with a default for channels that have none (`policy.json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: ChannelPolicy = ChannelPolicy()
    channels: dict[str, ChannelPolicy] = {}

    def for_channel(self, channel_id: str) -> tuple[str, ChannelPolicy]:
        """The policy's name (the channel, or "default") and the policy itself."""
        policy = self.channels.get(channel_id)
        return (channel_id, policy) if policy is not None else ("default", self.default)
