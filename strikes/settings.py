"""Settings of the strikes writer (`python -m strikes`)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from runtime.settings import STACK as _STACK
from runtime.settings import DeployableSettings


class StrikesSettings(DeployableSettings):
    """What the writer reads (verdicts, the moderators' decisions, the policies), where it keeps strikes
    and sends escalations, and where its own checkpoints live."""

    model_config = SettingsConfigDict(env_prefix="STRIKES_", extra="ignore")
    STACK_RESOURCES = (
        "output_stream",
        "archive_bucket",
        "models_bucket",
        "strikes_table",
        "escalations_queue",
    )
    output_stream: str = _STACK.output_stream.name  # the verdicts it follows
    archive_bucket: str = _STACK.archive_bucket.name
    feedback_prefix: str = _STACK.archive_bucket.feedback_prefix  # the moderators' decisions
    models_bucket: str = _STACK.models_bucket.name
    policy_key: str = _STACK.models_bucket.policy_key  # the channels' strike weights and ladders
    strikes_table: str = _STACK.strikes_table.name
    # DynamoDB's endpoint when it differs from the rest (locally: moto's server beside LocalStack).
    dynamodb_endpoint_url: str | None = None
    escalations_queue: str = _STACK.escalations_queue.name
    # The event source mapping's tumbling window: a flood strikes once per window.
    window_s: float = Field(default=float(_STACK.event_source_mapping.tumbling_window_seconds), ge=0)
    interval_s: float = Field(default=1.0, gt=0)  # the wait after a pass that found nothing …
    idle_interval_max_s: float = Field(default=5.0, gt=0)  # … doubled after each further one, up to this
    decisions_every_s: float = Field(default=5.0, ge=0)  # how often the feedback prefix is listed
    # Its checkpoints (per shard of the verdicts, the feedback objects read) and `progress.json`.
    state_dir: Path = Path(".strikes")
