"""Settings of the review deployable (`python -m review`: the moderators' web app and the archive
follower that fills its queue)."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from runtime.settings import STACK as _STACK
from runtime.settings import DeployableSettings


class ReviewSettings(DeployableSettings):
    """Where the queue lives, who may sign in, and the moderators' timings."""

    model_config = SettingsConfigDict(env_prefix="REVIEW_", extra="ignore")
    STACK_RESOURCES = ("review_table", "archive_bucket", "models_bucket", "audit_bucket", "strikes_table")
    review_table: str = _STACK.review_table.name
    # DynamoDB's endpoint when it differs from the rest (locally: moto's server beside LocalStack).
    dynamodb_endpoint_url: str | None = None
    # The strikes table (`strikes`): an item's page shows its author's strikes, and a moderator may clear
    # them; None: not shown.
    strikes_table: str | None = _STACK.strikes_table.name
    archive_bucket: str = _STACK.archive_bucket.name
    archive_prefix: str = _STACK.archive_bucket.archive_prefix
    feedback_prefix: str = _STACK.archive_bucket.feedback_prefix
    # Where each decided appeal's outcome goes (the user's statement of it; the bot restores from it).
    statements_prefix: str = _STACK.archive_bucket.statements_prefix
    models_bucket: str = _STACK.models_bucket.name
    # The audit trail the background loop appends decisions and appeals to; None: not kept.
    audit_bucket: str | None = _STACK.audit_bucket.name
    audit_prefix: str = _STACK.audit_bucket.prefix
    policy_key: str = _STACK.models_bucket.policy_key
    users_file: Path = Path(".review/users.json")
    # Signs the session cookies: from the environment (in AWS, injected from Secrets Manager). An empty
    # one makes the app refuse to start.
    session_secret: SecretStr = SecretStr("")
    # What the platform sends (`Authorization: Bearer …`) to file a user's appeal; empty: appeals are
    # not taken. In AWS, injected from Secrets Manager.
    appeal_token: SecretStr = SecretStr("")
    secure_cookies: bool = True  # False only for plain-HTTP local runs
    # The app's address as users reach it: the appeal address each statement of a moderator's removal gives.
    public_url: str = "http://127.0.0.1:8090"
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65_535)
    claim_lease_s: float = Field(default=120.0, gt=0)
    undo_s: float = Field(default=5.0, ge=0)
    session_max_age_s: int = Field(default=8 * 3600, ge=60)
    login_attempts: int = Field(default=5, ge=1)  # failed sign-ins per name and address …
    login_window_s: float = Field(default=300.0, gt=0)  # … within this many seconds, then 429
    page_size: int = Field(default=50, ge=1, le=200)
    follow_interval_s: float = Field(default=1.0, gt=0)
    idle_interval_max_s: float = Field(default=4.0, gt=0)  # the loop's wait after passes that found nothing
    # Where the background loop keeps what it has read of the archive, and its progress after each pass
    # (`progress.json`: when, objects read, decisions whose feedback is pending) for whoever waits on it.
    state_dir: Path = Path(".review")
