"""The one place that builds AWS clients, for real AWS and for any emulator endpoint (their errors are
translated in `runtime.errors`)."""

from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# Short connect timeouts so an unreachable endpoint fails a batch fast (and Kinesis retries it)
# instead of hanging a Lambda for minutes; botocore's "standard" mode retries throttling itself.
_CONFIG = Config(
    connect_timeout=3,
    read_timeout=20,
    retries={"mode": "standard", "max_attempts": 4},
    max_pool_connections=20,
)


@overload
def client(
    service: Literal["kinesis"], endpoint_url: str | None = ..., region: str = ...
) -> "KinesisClient": ...
@overload
def client(
    service: Literal["dynamodb"], endpoint_url: str | None = ..., region: str = ...
) -> "DynamoDBClient": ...
@overload
def client(service: Literal["s3"], endpoint_url: str | None = ..., region: str = ...) -> "S3Client": ...
@overload
def client(service: Literal["sqs"], endpoint_url: str | None = ..., region: str = ...) -> "SQSClient": ...
@overload
def client(
    service: Literal["secretsmanager"], endpoint_url: str | None = ..., region: str = ...
) -> "SecretsManagerClient": ...
def client(service: str, endpoint_url: str | None = None, region: str = "us-east-1") -> Any:
    """Build a boto3 client.

    `endpoint_url` overrides everything. Left at None, boto3 resolves the endpoint itself: the
    standard `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` variables, else real AWS. That lets
    one service (e.g. Kinesis) point at a different emulator than the rest.
    """
    config = _CONFIG.merge(Config(s3={"addressing_style": "path"})) if service == "s3" else _CONFIG
    session = boto3.session.Session()
    made = session.client(service, endpoint_url=endpoint_url, region_name=region, config=config)  # type: ignore[call-overload]
    if session.get_credentials() is None and _is_loopback(made.meta.endpoint_url):
        # An emulator on this machine (named here or by AWS_ENDPOINT_URL*) accepts any key;
        # real AWS never gets these.
        made = session.client(  # type: ignore[call-overload]
            service,
            endpoint_url=made.meta.endpoint_url,
            region_name=region,
            config=config,
            aws_access_key_id="test",
            # the emulator's dummy key, loopback only
            aws_secret_access_key="test",  # noqa: S106  # pragma: allowlist secret
        )
    return made


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in {"localhost", "::1"} or host.startswith("127.")
