"""Create the stack's AWS resources on an emulator (or an empty account), idempotently."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime import aws
from runtime.errors import NotFoundError, RequestError, aws_errors
from runtime.logs import structured_logger
from runtime.retry import poll_until
from runtime.stack import QueueSpec, Stack, StreamSpec

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

log = structured_logger("infra", to_stderr=True)


@dataclass(frozen=True)
class BootstrapResult:
    """What exists after a bootstrap, and what this run created."""

    created: list[str]
    dead_letter_queue_url: str
    on_failure_queue_url: str
    escalations_queue_url: str = ""


def ensure_stream(kinesis: "KinesisClient", spec: StreamSpec, timeout: float = 60.0) -> bool:
    """Create the stream if it is missing and wait until it is ACTIVE; True when created."""
    created = False
    try:
        with aws_errors(f"CreateStream {spec.name}"):
            kinesis.create_stream(StreamName=spec.name, ShardCount=spec.shards)
        created = True
    except RequestError as err:
        if err.code != "ResourceInUseException":
            raise

    def active() -> bool:
        status = kinesis.describe_stream_summary(StreamName=spec.name)
        return status["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"

    poll_until(active, timeout, what=f"stream {spec.name} ACTIVE")
    if created and spec.retention_hours > 24:
        kinesis.increase_stream_retention_period(
            StreamName=spec.name, RetentionPeriodHours=spec.retention_hours
        )
    return created


def ensure_bucket(s3: "S3Client", name: str, expire_prefixes: dict[str, int] | None = None) -> bool:
    """Create a versioned, encrypted bucket with optional expiry rules; True when created."""
    # us-east-1 answers CreateBucket with success for a bucket one already owns: ask first.
    try:
        with aws_errors(f"HeadBucket {name}"):
            s3.head_bucket(Bucket=name)
        created = False
    except NotFoundError:
        s3.create_bucket(Bucket=name)
        created = True
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    if expire_prefixes:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": f"expire-{prefix.strip('/')}",
                        "Filter": {"Prefix": prefix},
                        "Status": "Enabled",
                        "Expiration": {"Days": days},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                    }
                    for prefix, days in expire_prefixes.items()
                ]
            },
        )
    return created


def ensure_queue(sqs: "SQSClient", spec: QueueSpec) -> tuple[str, bool]:
    """Create the queue if missing (CreateQueue is idempotent for equal attributes)."""
    try:
        with aws_errors(f"GetQueueUrl {spec.name}"):
            return sqs.get_queue_url(QueueName=spec.name)["QueueUrl"], False
    except NotFoundError:
        pass
    url = sqs.create_queue(
        QueueName=spec.name,
        Attributes={"MessageRetentionPeriod": str(spec.retention_seconds), "SqsManagedSseEnabled": "true"},
    )["QueueUrl"]
    return url, True


def bootstrap(stack: Stack, endpoint_url: str | None, region: str | None = None) -> BootstrapResult:
    """Create every resource of the stack that is missing; safe to run any number of times."""
    region = region or stack.region
    kinesis = aws.client("kinesis", endpoint_url, region)
    s3 = aws.client("s3", endpoint_url, region)
    sqs = aws.client("sqs", endpoint_url, region)
    created: list[str] = []
    for spec in (stack.input_stream, stack.output_stream):
        if ensure_stream(kinesis, spec):
            created.append(f"kinesis:{spec.name}")
    archive = stack.archive_bucket
    if ensure_bucket(s3, archive.name, {archive.archive_prefix: archive.expire_after_days}):
        created.append(f"s3:{archive.name}")
    for name in (stack.models_bucket.name, stack.audit_bucket.name):
        if ensure_bucket(s3, name):
            created.append(f"s3:{name}")
    dlq_url, made = ensure_queue(sqs, stack.dead_letter_queue)
    if made:
        created.append(f"sqs:{stack.dead_letter_queue.name}")
    failures_url, made = ensure_queue(sqs, stack.on_failure_queue)
    if made:
        created.append(f"sqs:{stack.on_failure_queue.name}")
    escalations_url, made = ensure_queue(sqs, stack.escalations_queue)
    if made:
        created.append(f"sqs:{stack.escalations_queue.name}")
    log.info({"event": "bootstrap", "created": created})
    return BootstrapResult(created, dlq_url, failures_url, escalations_url)
