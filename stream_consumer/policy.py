"""Per-channel moderation policy: thresholds on the calibrated score, and term lists that run first."""

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
