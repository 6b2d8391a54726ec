"""Settings of `make demo` (`python -m demo`)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.paths import PROJECT_ROOT


class DemoSettings(BaseSettings):
    """`make demo`: the UIs' ports, where state goes, and the story's size (QUICK=1: the small one)."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".data"
    mlflow_port: int = 5000
    prefect_port: int = 4200
    evidently_port: int = 8000
    quick: bool = False
    rscience_messages: int = Field(default=3_000, ge=100)
    tweets_messages: int = Field(default=3_000, ge=100)  # until the drift check after the switch
    tweets_after_messages: int = Field(default=1_500, ge=100)  # served by the new champion
    rate: float = Field(default=300.0, gt=0)  # messages per second from the chat servers
    malformed: float = Field(default=0.01, ge=0, le=1)
    window: int = Field(default=800, ge=100)  # archived messages per drift check
    keep_services: bool = True  # leave LocalStack and the UIs up after the summary (`make down`)
    step_timeout_s: float = 600.0

    @property
    def sizes(self) -> tuple[int, int, int]:
        if self.quick:
            return 1_500, 600, 400
        return self.rscience_messages, self.tweets_messages, self.tweets_after_messages

    @property
    def check_window(self) -> int:
        return min(self.window, 500) if self.quick else self.window
