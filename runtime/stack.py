"""The stack's names, event-source-mapping settings and service sizes, read from the one committed
`stack.json`.

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
    statements_prefix: str  # the statements of reasons of the bot's restrictions
    expire_after_days: int = Field(ge=1)


class AuditBucketSpec(_Frozen):
    """The audit trail (contracts/audit.py): append-only segments, under S3 Object Lock in AWS."""

    name: str
    prefix: str
    retention_days: int = Field(ge=1)


class ModelsBucketSpec(_Frozen):
    name: str
    champion_manifest_key: str
    challenger_manifest_key: str  # the challenger the consumer shadow-scores with (absent: none)
    canary_manifest_key: str  # the version serving a share of channels before all (absent: none)
    champion_lock_key: str  # the lease and fencing token of whoever moves the champion; never deleted
    policy_key: str


class QueueSpec(_Frozen):
    name: str
    retention_seconds: int = Field(ge=60, le=1_209_600)


class TableSpec(_Frozen):
    """A DynamoDB table (on-demand, encrypted, point-in-time recovery in Terraform)."""

    name: str


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


# Fargate's task sizes: CPU units (1024 = one vCPU) and the memory range each allows, in MiB.
FARGATE_MEMORY_MB = {
    256: (512, 2048),
    512: (1024, 4096),
    1024: (2048, 8192),
    2048: (4096, 16384),
    4096: (8192, 30720),
    8192: (16384, 61440),
    16384: (32768, 122880),
}


class ServiceSpec(_Frozen):
    """One deployable on ECS Fargate: its name (task family, service, role, log group, image repository)
    and its task size."""

    name: str
    cpu: int
    memory_mb: int

    @model_validator(mode="after")
    def _a_fargate_size(self) -> "ServiceSpec":
        if self.cpu not in FARGATE_MEMORY_MB:
            raise ValueError(f"{self.name}: Fargate has no task of {self.cpu} CPU units")
        low, high = FARGATE_MEMORY_MB[self.cpu]
        if not low <= self.memory_mb <= high:
            raise ValueError(f"{self.name}: {self.cpu} CPU units take {low}-{high} MiB, not {self.memory_mb}")
        return self


class WorkerSpec(ServiceSpec):
    """The Prefect worker: the ECS work pool it serves and the secret holding its Prefect API key."""

    work_pool: str
    prefect_credentials: str  # the Secrets Manager name of its Prefect API key


class MonitoringSpec(ServiceSpec):
    """The drift-check flow's task; the alert webhook URL is a secret it reads at run time."""

    webhook_credentials: str  # the Secrets Manager name of the alert webhook URL


class MlflowSpec(ServiceSpec):
    """The MLflow tracking server: its port, its PostgreSQL database and its artifact bucket."""

    port: int = Field(ge=1, le=65_535)
    database: str
    artifacts_bucket: str


class ReviewSpec(ServiceSpec):
    """The moderators' review app behind a load balancer with TLS."""

    port: int = Field(ge=1, le=65_535)


class ServicesSpec(_Frozen):
    """The deployables besides the consumer, all on one ECS cluster."""

    cluster: str
    worker: WorkerSpec
    training: ServiceSpec
    monitoring: MonitoringSpec
    promotion: ServiceSpec  # live_promotion_flow and canary_flow: the champion moved on live evidence
    mlflow: MlflowSpec
    bot: ServiceSpec
    strikes: ServiceSpec  # the strikes writer (`python -m strikes`)
    review: ReviewSpec


class Stack(_Frozen):
    region: str
    input_stream: StreamSpec
    output_stream: StreamSpec
    archive_bucket: ArchiveBucketSpec
    audit_bucket: AuditBucketSpec
    models_bucket: ModelsBucketSpec
    dead_letter_queue: QueueSpec
    on_failure_queue: QueueSpec
    review_table: TableSpec
    strikes_table: TableSpec
    escalations_queue: QueueSpec  # what the strikes writer escalates to; the bot applies it
    consumer: ConsumerSpec
    event_source_mapping: EventSourceMappingSpec
    model_name: str
    services: ServicesSpec

    def renamed(self, tag: str) -> "Stack":
        """The same stack with `-tag` on every stream, bucket and queue name (isolated test stacks)."""
        fields = (
            "input_stream",
            "output_stream",
            "archive_bucket",
            "audit_bucket",
            "models_bucket",
            "dead_letter_queue",
            "on_failure_queue",
            "review_table",
            "strikes_table",
            "escalations_queue",
        )
        update = {
            f: getattr(self, f).model_copy(update={"name": f"{getattr(self, f).name}-{tag}"}) for f in fields
        }
        return self.model_copy(update=update)


@cache
def load_stack(path: Path = STACK_FILE) -> Stack:
    """Parse the stack file once."""
    return Stack.model_validate_json(path.read_text())
