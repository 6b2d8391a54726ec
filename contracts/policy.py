"""`policy.json`: per-channel thresholds on the calibrated score and term lists, with a default for
channels that have none. Written by operators, read by the consumer (`stream_consumer.policy` compiles
the term lists into rules)."""

from pydantic import BaseModel, ConfigDict, Field, model_validator

POLICY_SCHEMA_VERSION = 1


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


class ChannelPolicy(BaseModel):
    """One community's rules: its thresholds, the terms it removes, the terms it allows."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    thresholds: Thresholds = DEFAULT_THRESHOLDS
    block_terms: tuple[str, ...] = ()
    allow_terms: tuple[str, ...] = ()


class PolicyBook(BaseModel):
    """Every channel's policy, with a default for channels that have none (`policy.json`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=POLICY_SCHEMA_VERSION, ge=1)
    default: ChannelPolicy = ChannelPolicy()
    channels: dict[str, ChannelPolicy] = {}

    def for_channel(self, channel_id: str) -> tuple[str, ChannelPolicy]:
        """The policy's name (the channel, or "default") and the policy itself."""
        policy = self.channels.get(channel_id)
        return (channel_id, policy) if policy is not None else ("default", self.default)
