"""The stack's names and event-source-mapping settings, read from the one committed `stack.json`.

Terraform reads the same file with `jsondecode(file(...))`, so both sides always agree.
"""

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

STACK_FILE = Path(__file__).with_name("stack.json")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StreamSpec(_Frozen):
    name: str
    shards: int = Field(ge=1)
    retention_hours: int = Field(ge=24, le=8760)


class ArchiveBucketSpec(_Frozen):
    name: str
    archive_prefix: str
    feedback_prefix: str
    reports_prefix: str
    expire_after_days: int = Field(ge=1)


class ModelsBucketSpec(_Frozen):
    name: str
    champion_manifest_key: str
    champion_lock_key: str  # the lease and fencing token of whoever moves the champion; never deleted
    policy_key: str


class QueueSpec(_Frozen):
    name: str
    retention_seconds: int = Field(ge=60, le=1_209_600)


class ConsumerSpec(_Frozen):
    function_name: str
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int


class EventSourceMappingSpec(_Frozen):
    """The Kinesis event source mapping, as Terraform deploys it and the local runner emulates it."""

    batch_size: int = Field(ge=1, le=10_000)
    maximum_batching_window_seconds: float = Field(ge=0, le=300)
    starting_position: Literal["TRIM_HORIZON", "LATEST"]
    parallelization_factor: int = Field(ge=1, le=10)
    bisect_batch_on_function_error: bool
    maximum_retry_attempts: int = Field(ge=-1, le=10_000)
    maximum_record_age_seconds: int = Field(ge=-1, le=604_800)
    function_response_types: list[Literal["ReportBatchItemFailures"]]
    # Per-shard state carried between invocations (0 = none); the consumer's context signals live in it.
    tumbling_window_seconds: int = Field(ge=0, le=900)

    @model_validator(mode="after")
    def _one_state_per_shard(self) -> "EventSourceMappingSpec":
        if self.tumbling_window_seconds and self.parallelization_factor != 1:
            raise ValueError("tumbling windows keep one state per shard: parallelization_factor must be 1")
        return self


class Stack(_Frozen):
    region: str
    input_stream: StreamSpec
    output_stream: StreamSpec
    archive_bucket: ArchiveBucketSpec
    models_bucket: ModelsBucketSpec
    dead_letter_queue: QueueSpec
    on_failure_queue: QueueSpec
    consumer: ConsumerSpec
    event_source_mapping: EventSourceMappingSpec
    model_name: str

    def renamed(self, tag: str) -> "Stack":
        """The same stack with `-tag` on every stream, bucket and queue name (isolated test stacks)."""
        fields = (
            "input_stream",
            "output_stream",
            "archive_bucket",
            "models_bucket",
            "dead_letter_queue",
            "on_failure_queue",
        )
        update = {
            f: getattr(self, f).model_copy(update={"name": f"{getattr(self, f).name}-{tag}"}) for f in fields
        }
        return self.model_copy(update=update)


@cache
def load_stack(path: Path = STACK_FILE) -> Stack:
    """Parse the stack file once."""
    return Stack.model_validate_json(path.read_text())
