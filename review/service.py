"""Wiring the review deployable from its settings: the store, the accounts, the policies, the app, and
the background loop (archive → queue, decisions → feedback) that `python -m review serve` runs beside
the web server."""

import threading
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from review.app import LoginLimiter, Services, create_app
from review.settings import ReviewSettings
from review.store import ReviewStore, ensure_table
from review.users import UserBook
from review.worker import ArchiveFollower, Outputs, flush_feedback
from runtime import aws
from runtime.audit import AuditLog, TrailReader
from runtime.errors import AwsError, TransientError
from runtime.logs import structured_logger
from runtime.policies import PolicySource
from runtime.progress import write_json
from runtime.retry import idle_backoff, poll_until
from strikes.store import StrikeStore

log = structured_logger("review")


def store_for(settings: ReviewSettings, create: bool = False, wait_s: float = 0.0) -> ReviewStore:
    """The review table; with `create`, made if missing — waiting up to `wait_s` for DynamoDB to answer
    (a server started beside it)."""
    dynamodb = aws.client(
        "dynamodb", settings.dynamodb_endpoint_url or settings.aws_endpoint_url, settings.aws_region
    )
    if create:

        def made() -> bool:
            try:
                ensure_table(dynamodb, settings.review_table)
            except TransientError:
                if not wait_s:
                    raise
                return False
            return True

        poll_until(made, wait_s, "DynamoDB answering", interval=0.5)
    return ReviewStore(dynamodb, settings.review_table)


def policies_for(settings: ReviewSettings) -> PolicySource:
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    return PolicySource(s3, settings.models_bucket, settings.policy_key)


class UsersFile:
    """The users file, re-read when it changes (an account added while the app runs can sign in)."""

    def __init__(self, settings: ReviewSettings) -> None:
        self._path = settings.users_file
        self._stamp: float | None = None
        self._book = UserBook()

    def __call__(self) -> UserBook:
        stamp = self._path.stat().st_mtime if self._path.exists() else None
        if stamp != self._stamp:
            self._book, self._stamp = UserBook.load(self._path), stamp
        return self._book


def audit_log(settings: ReviewSettings, writer: str) -> AuditLog | None:
    """The review deployable's chain in the audit trail (None when the settings name no audit bucket)."""
    if settings.audit_bucket is None:
        return None
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    return AuditLog(s3, settings.audit_bucket, settings.audit_prefix, writer)


def trail_reader(settings: ReviewSettings) -> TrailReader | None:
    """Where items' pages read their messages' audit records (None when the settings name no audit
    bucket)."""
    if settings.audit_bucket is None:
        return None
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    return TrailReader(s3, settings.audit_bucket, settings.audit_prefix)


def strikes_for(settings: ReviewSettings) -> StrikeStore | None:
    """The strikes table items' pages read and clear (None when the settings name none)."""
    if settings.strikes_table is None:
        return None
    dynamodb = aws.client(
        "dynamodb", settings.dynamodb_endpoint_url or settings.aws_endpoint_url, settings.aws_region
    )
    return StrikeStore(dynamodb, settings.strikes_table)


def app_for(settings: ReviewSettings, store: ReviewStore | None = None) -> FastAPI:
    services = Services(
        store=store or store_for(settings),
        users=UsersFile(settings),
        policies=policies_for(settings),
        claim_lease=timedelta(seconds=settings.claim_lease_s),
        undo=timedelta(seconds=settings.undo_s),
        page_size=settings.page_size,
        limiter=LoginLimiter(settings.login_attempts, settings.login_window_s),
        appeal_token=settings.appeal_token.get_secret_value(),
        audit=audit_log(settings, "review-app"),
        appeal_url=settings.public_url,
        trail=trail_reader(settings),
        strikes=strikes_for(settings),
    )
    return create_app(
        services,
        settings.session_secret.get_secret_value(),
        secure_cookies=settings.secure_cookies,
        session_max_age_s=settings.session_max_age_s,
    )


def background(settings: ReviewSettings, store: ReviewStore, stop: threading.Event) -> None:
    """Follow the archive and write due feedback until `stop`; an AWS error waits for the next pass."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    policies = policies_for(settings)
    follower = ArchiveFollower(
        s3,
        settings.archive_bucket,
        settings.archive_prefix,
        store,
        policies,
        settings.state_dir / "archive-read.txt",
    )
    outputs = Outputs(
        settings.archive_bucket,
        settings.feedback_prefix,
        settings.statements_prefix,
        settings.public_url,
        audit_log(settings, "review"),
    )
    progress = settings.state_dir / "progress.json"
    wait = settings.follow_interval_s
    while not stop.is_set():
        started = datetime.now(UTC)
        busy = False
        try:
            read = follower.poll()["objects"]
            now = datetime.now(UTC)
            written, pending = flush_feedback(store, s3, outputs, policies(), now)
            pass_ = {"started_at": started.timestamp(), "pass_at": now.timestamp(), "objects": read}
            write_json(progress, pass_ | {"written": written, "pending": pending})
            busy = bool(read or written or pending)
        except AwsError as err:
            log.warning({"event": "review_background_error", "operation": err.operation, "code": err.code})
        # idle passes back off (each reads the archive's listing and queries the table)
        wait = settings.follow_interval_s if busy else idle_backoff(wait, settings.idle_interval_max_s)
        stop.wait(wait)
