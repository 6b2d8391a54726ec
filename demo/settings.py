"""Settings of `make demo` (`python -m demo`), and the environment its children run with: each
deployable's own settings, built for the run's stack."""

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from producer_sim.settings import ProducerSettings
from review.settings import ReviewSettings
from runtime.paths import PROJECT_ROOT
from runtime.settings import DeployableSettings
from runtime.stack import Stack
from stream_consumer.settings import ConsumerSettings
from strikes.settings import StrikesSettings
from training.corpora import Source
from training.settings import TrainingSettings

_ALL_BUT_TWEETS: list[Source] = [s for s in Source if s not in (Source.DAVIDSON, Source.GERMEVAL)]


class DemoSettings(BaseSettings):
    """`make demo`: the UIs' ports, where state goes, and the story's size (QUICK=1: the small one)."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".data"
    mlflow_port: int = 5000
    prefect_port: int = 4200
    evidently_port: int = 8000
    review_port: int = 8090  # the moderators' review app
    dynamodb_port: int = 8091  # its table: moto's server (LocalStack's DynamoDB needs a JDK download)
    # One table for every run (the app outlives a run, for browsing): items of older runs stay, like a
    # real queue's; each run's summary counts its own messages.
    review_table: str = "chat-moderation-review-demo"
    quick: bool = False
    rscience_messages: int = Field(default=3_000, ge=100)
    tweets_messages: int = Field(default=3_000, ge=100)  # until the drift check after the switch
    tweets_after_messages: int = Field(default=1_500, ge=100)  # served by the new champion
    german_messages: int = Field(default=1_500, ge=100)  # until the drift check after the switch
    german_after_messages: int = Field(default=1_000, ge=100)  # served by the champion that learnt German
    rate: float = Field(default=300.0, gt=0)  # messages per second from the chat servers
    malformed: float = Field(default=0.01, ge=0, le=1)
    window: int = Field(default=800, ge=100)  # archived messages per drift check
    # The labelled sets the champion learns from: all but Davidson's tweets and GermEval's German tweets,
    # the communities the story switches to, so that its verdicts there are on communities no model has
    # seen (and on a language the fast model does not know).
    training_sources: list[Source] = Field(default_factory=lambda: list(_ALL_BUT_TWEETS))
    keep_services: bool = True  # leave LocalStack and the UIs up after the summary (`make down`)
    # A step (a drift check that retrains, a phase's traffic) that takes longer has hung: a retraining on
    # a 2-core machine busy with the rest of a test session takes many minutes.
    step_timeout_s: float = 900.0
    bias_max_decline: float = Field(default=0.03, ge=0, le=0.1)  # see child_env
    padding_floor_kept: float = Field(default=0.25, ge=0, le=1)  # see child_env

    @property
    def sizes(self) -> tuple[int, int, int]:
        if self.quick:
            return 1_500, 600, 400
        return self.rscience_messages, self.tweets_messages, self.tweets_after_messages

    @property
    def german_sizes(self) -> tuple[int, int]:
        return (800, 500) if self.quick else (self.german_messages, self.german_after_messages)

    @property
    def check_window(self) -> int:
        return min(self.window, 500) if self.quick else self.window

    @property
    def training_overrides(self) -> dict[str, int]:
        """A quick run's trainings run the evasion suite on at most 400 toxic and 400 benign held-out
        tweets (1,000 of each by default): the same floors on fewer messages."""
        return {"evasion_messages": 400} if self.quick else {}


def child_env(
    settings: DemoSettings,
    stack: Stack,
    run_dir: Path,
    model_name: str,
    endpoint_url: str,
    mlflow_url: str,
    prefect_url: str,
    appeal_token: str,
    context_key: str = "",
) -> dict[str, str]:
    """The environment of every child the story runs: each deployable's settings for the run's stack
    with the run's paths and sizes, the emulator's endpoint and the servers' URLs, the run's appeal
    token (the review app takes appeals with it; the simulated users file theirs with it) and the run's
    secret for the consumer's raid signal (empty: the built-in one)."""
    from monitoring.settings import MonitoringSettings  # noqa: PLC0415 - imports Evidently (drift rules)

    deployables: list[DeployableSettings] = [
        ConsumerSettings.for_stack(
            stack,
            checkpoint_dir=run_dir / "checkpoints",
            reload_interval_s=2.0,
            context_key=SecretStr(context_key),
        ),
        ProducerSettings.for_stack(
            stack,
            ground_truth_path=run_dir / "ground_truth.jsonl",
            bot_state_dir=run_dir / "bot",
            review_url=f"http://127.0.0.1:{settings.review_port}",
            appeal_url=f"http://127.0.0.1:{settings.review_port}",
            moderator_credentials=settings.state_dir / "review" / "credentials.json",
            review_table=settings.review_table,
            dynamodb_endpoint_url=f"http://127.0.0.1:{settings.dynamodb_port}",
            appeal_token=SecretStr(appeal_token),
        ),
        ReviewSettings.for_stack(
            stack,
            review_table=settings.review_table,
            dynamodb_endpoint_url=f"http://127.0.0.1:{settings.dynamodb_port}",
            appeal_token=SecretStr(appeal_token),
            users_file=settings.state_dir / "review" / "users.json",
            state_dir=run_dir / "review",
            public_url=f"http://127.0.0.1:{settings.review_port}",  # where its statements say to appeal
        ),
        TrainingSettings.for_stack(
            stack,
            model_name=model_name,
            state_dir=settings.state_dir,
            tracking_uri=mlflow_url,
            sources=settings.training_sources,
            # The tweets' hate labels follow dialect (Sap et al., 2019): learning the moderators' labels
            # lowers the hate head's templated identity score under the r/science champion's lower
            # bound, above the floor. The story's operator accepts that decline (recorded with the
            # promotion); the default is none.
            bias_max_decline=settings.bias_max_decline,
            # A known defect of the model, not of the gate: retrained on a few hundred moderators' labels
            # on tweets, the toxicity head kept 34-47% of its padded flags in eight quick demos (the
            # default floor is 45%; 66% before the tweets). The story's operator accepts down to 25%;
            # the behaviour report records the share and the floor it was held to.
            padding_floor_kept=settings.padding_floor_kept,
            **settings.training_overrides,
        ),
        StrikesSettings.for_stack(
            stack,
            dynamodb_endpoint_url=f"http://127.0.0.1:{settings.dynamodb_port}",
            state_dir=run_dir / "strikes",
        ),
        MonitoringSettings.for_stack(
            stack,
            workspace_dir=settings.state_dir / "evidently",
            window_last_n=settings.check_window,
            cooldown_minutes=0.0,  # the story's checks are its own steps, minutes apart: each may retrain
        ),
    ]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",  # the live view and the waits read the consumer's log as it goes
        "AWS_ENDPOINT_URL": endpoint_url,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "PREFECT_API_URL": f"{prefect_url}/api",
    }
    for deployable in deployables:
        env |= deployable.to_env()
    env.pop("POWERTOOLS_METRICS_DISABLED", None)  # the live view reads the EMF metrics
    return env
