"""Settings for the local environment's tooling (`python -m infra`)."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.paths import PROJECT_ROOT


class InfraSettings(BaseSettings):
    """Where LocalStack listens and keeps its state; an external endpoint replaces it."""

    model_config = SettingsConfigDict(env_prefix="STACK_", extra="ignore")

    # An already running emulator (LocalStack in Docker, moto's server): used instead of starting one.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("STACK_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    localstack_port: int = 4566
    state_dir: Path = PROJECT_ROOT / ".localstack"
    ready_timeout_s: float = 90.0

    @property
    def endpoint_url(self) -> str:
        return self.aws_endpoint_url or f"http://127.0.0.1:{self.localstack_port}"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"
