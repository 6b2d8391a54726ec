"""Settings of the consumer (the Lambda function and its local event-source-mapping runner)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from runtime.settings import STACK as _STACK
from runtime.settings import DeployableSettings
from stream_consumer.moderation import ModerationOptions

_ESM = _STACK.event_source_mapping


class ConsumerSettings(DeployableSettings):
    """Names default to `runtime/stack.json`; every one can be overridden by a CONSUMER_* variable."""

    model_config = SettingsConfigDict(env_prefix="CONSUMER_", extra="ignore")
    STACK_RESOURCES = (
        "input_stream",
        "output_stream",
        "archive_bucket",
        "models_bucket",
        "dead_letter_queue",
        "on_failure_queue",
    )

    input_stream: str = _STACK.input_stream.name
    output_stream: str = _STACK.output_stream.name
    archive_bucket: str = _STACK.archive_bucket.name
    archive_prefix: str = _STACK.archive_bucket.archive_prefix
    models_bucket: str = _STACK.models_bucket.name
    manifest_key: str = _STACK.models_bucket.champion_manifest_key
    policy_key: str = _STACK.models_bucket.policy_key
    policy_file: Path | None = None  # a local policy.json instead of the models bucket's
    dead_letter_queue: str = _STACK.dead_letter_queue.name
    on_failure_queue: str = _STACK.on_failure_queue.name
    reload_interval_s: float = Field(default=30.0, ge=0)
    # With no champion at all: "fail" the batch so Kinesis retries it, or send everything to review.
    without_model: Literal["fail", "review"] = "fail"
    payload_cap_chars: int = Field(default=32_768, ge=256)  # base64 payload kept in a dead letter
    reasons_top_k: int = Field(default=3, ge=0, le=10)
    verdict_put_attempts: int = Field(default=4, ge=1)
    # The cascade's sentence encoder (loaded once per process when `encoder` is on): its BLAS threads,
    # and the time a batch may spend in it before the rest keep their fast score.
    encoder: bool = True
    encoder_threads: int = Field(default=1, ge=1)
    encoder_budget_ms: float = Field(default=500.0, ge=0)
    # Shadow scoring (stream_consumer/shadow.py): the challenger's manifest, and how long a batch waits for
    # the challenger's verdicts, after writing its own, before archiving without them.
    challenger_manifest_key: str = _STACK.models_bucket.challenger_manifest_key
    # The canary (stream_consumer/moderation.py `Canary`): a version serving the share of channels its
    # manifest names, the champion shadow-scoring them.
    canary_manifest_key: str = _STACK.models_bucket.canary_manifest_key
    shadow_wait_ms: float = Field(default=1_000.0, ge=0)
    # The context signals' state per shard (tumbling windows): keys each table may hold.
    context_users: int = Field(default=2048, ge=16)
    context_texts: int = Field(default=4096, ge=16)
    context_channels: int = Field(default=256, ge=16)
    # The deployment's secret the raid signal's hash functions and user fingerprints are drawn from
    # (empty: the built-in, public ones, which a raider can search offline; logged at start).
    context_key: SecretStr = SecretStr("")

    # The local event-source-mapping runner (same settings as the Terraform ESM, from the stack file).
    batch_size: int = _ESM.batch_size
    batching_window_s: float = _ESM.maximum_batching_window_seconds
    maximum_retry_attempts: int = _ESM.maximum_retry_attempts
    maximum_record_age_s: int = _ESM.maximum_record_age_seconds
    bisect_on_error: bool = _ESM.bisect_batch_on_function_error
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = _ESM.starting_position
    tumbling_window_s: int = Field(default=_ESM.tumbling_window_seconds, ge=0, le=900)  # 0: off
    checkpoint_dir: Path = Path(".data") / "esm-checkpoints"
    poll_interval_s: float = Field(default=0.2, gt=0)
    # Passes that find nothing wait longer, doubling up to this: Lambda's own poller reads each shard
    # about once a second, as AWS advises consumers to (a shard serves five reads a second in all).
    idle_poll_max_s: float = Field(default=1.0, gt=0)
    retry_backoff_s: float = Field(default=0.5, ge=0)  # before a failed batch is retried (doubling)

    def moderation_options(self) -> ModerationOptions:
        """How the consumer judges every batch, from these settings."""
        return ModerationOptions(
            payload_cap=self.payload_cap_chars,
            top_k=self.reasons_top_k,
            without_model=self.without_model,
            encoder_budget_s=self.encoder_budget_ms / 1000.0,
        )
