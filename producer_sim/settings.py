"""Settings of the chat-platform simulator (servers and moderation bot)."""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from runtime.paths import PROJECT_ROOT
from runtime.settings import STACK as _STACK
from runtime.settings import DeployableSettings


class ProducerSettings(DeployableSettings):
    """Where the simulated chat servers read real messages and where they publish them."""

    model_config = SettingsConfigDict(env_prefix="PRODUCER_", extra="ignore", populate_by_name=True)
    STACK_RESOURCES = (
        "input_stream",
        "output_stream",
        "archive_bucket",
        "dead_letter_queue",
        "models_bucket",
        "audit_bucket",
        "escalations_queue",
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data",
        validation_alias=AliasChoices("DATA_DIR", "PRODUCER_DATA_DIR"),
    )
    input_stream: str = _STACK.input_stream.name
    dead_letter_queue: str = _STACK.dead_letter_queue.name  # `replay-dlq` re-publishes from here
    ground_truth_path: Path = PROJECT_ROOT / ".data" / "ground_truth.jsonl"
    channels: int = Field(default=8, ge=1)
    # Ordinary chatters. At the demo's 300 msg/s, no one posting more than 6 messages in 30 s and a
    # heavy tail (the top 1% writing a tenth) take this many (`producer_sim.activity`).
    users: int = Field(default=20_000, ge=1)
    # Repeat offenders (`offender-NNN`, the same accounts in every phase): they post this share of the
    # harmful texts, the rest falls on the ordinary users (`producer_sim.replay`).
    offenders: int = Field(default=40, ge=0)
    offender_share: float = Field(default=0.5, ge=0, le=1)
    max_put_attempts: int = Field(default=10, ge=1)
    seed: int = 7

    # The moderation bot: reads `verdicts`, acts, and plays the human moderators.
    output_stream: str = _STACK.output_stream.name
    archive_bucket: str = _STACK.archive_bucket.name
    feedback_prefix: str = _STACK.archive_bucket.feedback_prefix
    # A statement of reasons for every restriction the bot applies, with the channel's appeal window
    # (its policy, from the models bucket) and where to appeal (the review app's address, for users).
    statements_prefix: str = _STACK.archive_bucket.statements_prefix
    models_bucket: str = _STACK.models_bucket.name
    # The audit trail the bot appends its actions to (hide, queue, restore); None: not kept.
    audit_bucket: str | None = _STACK.audit_bucket.name
    audit_prefix: str = _STACK.audit_bucket.prefix
    policy_key: str = _STACK.models_bucket.policy_key
    appeal_url: str = "http://127.0.0.1:8090"
    review_decision_share: float = Field(default=1.0, ge=0, le=1)  # reviewed messages a human decides
    sample_decision_share: float = Field(default=0.05, ge=0, le=1)  # other messages sampled for QA
    moderators: int = Field(default=5, ge=1)
    bot_state_dir: Path = PROJECT_ROOT / ".data" / "bot"
    # The strikes writer's escalations (warnings, timeouts, ban suggestions) the bot applies; None: none.
    escalations_queue: str | None = _STACK.escalations_queue.name
    # The review app, when reviewed messages are decided there (`python -m producer_sim moderate`): its
    # address, and a JSON file of the moderator accounts' passwords ({"moderator-1": "…", …}). Unset:
    # the bot decides reviewed messages itself.
    review_url: str | None = None
    moderator_credentials: Path | None = None
    # Appeals (`python -m producer_sim appeal`): the review app's appeal token (as the platform files a
    # user's appeal), and the share of restrictions the users appeal — of those the ground truth says
    # were wrong, and of the others. With a token the moderators also decide the appeals. (The bot, beside
    # the review app, restores the messages whose appeal overturned their restriction, token or not.)
    appeal_token: SecretStr | None = None
    appeal_share: float = Field(default=0.05, ge=0, le=1)
    wrong_appeal_share: float = Field(default=0.5, ge=0, le=1)
    # The review table, when the bot must never act against a moderator's decision there (a verdict
    # repeated after the bot's memory is lost, a replayed dead letter, a re-scored message).
    review_table: str | None = None
    dynamodb_endpoint_url: str | None = None
