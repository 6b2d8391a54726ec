"""The demo's moderators' room: the accounts it signs in with, and what the review queue did with each
phase's messages (queued, decided, how long they waited, what was left at the end)."""

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel

from contracts.review import ItemStatus
from contracts.verdict import Action
from producer_sim.settings import ProducerSettings
from review.store import ReviewStore
from review.users import Account, UserBook, hash_password

MODERATORS = ProducerSettings.model_fields["moderators"].default
CHANNELS = tuple(f"channel-{i:02d}" for i in range(ProducerSettings.model_fields["channels"].default))


def moderator_accounts(review_dir: Path, moderators: int, channels: tuple[str, ...]) -> None:
    """`moderator-1` … `moderator-N` (every channel) and `admin`, with passwords made once and kept
    readable by their owner only: the moderators' in `credentials.json` (the simulated moderators sign
    in with them), the admin's in `admin-credentials.json`; the hashes in `users.json`."""
    users, creds, admin = (
        review_dir / f for f in ("users.json", "credentials.json", "admin-credentials.json")
    )
    if users.exists() and creds.exists() and admin.exists():
        return
    passwords = {f"moderator-{i}": secrets.token_urlsafe(12) for i in range(1, moderators + 1)}
    admin_password = secrets.token_urlsafe(12)
    book = UserBook(
        accounts=(
            Account(username="admin", password_hash=hash_password(admin_password), role="admin"),
            *(
                Account(username=name, password_hash=hash_password(pw), channels=channels)
                for name, pw in passwords.items()
            ),
        )
    )
    review_dir.mkdir(parents=True, exist_ok=True)
    for path, doc in ((creds, passwords), (admin, {"admin": admin_password})):
        path.touch(mode=0o600)
        path.write_text(json.dumps(doc, indent=2))
    book.save(users)


class ReviewPhase(BaseModel):
    """One phase's messages in the review queue at the end of the run."""

    name: str
    queued: int  # reviews, waiting for a moderator when they arrived
    hidden: int  # removals, hidden at once and listed
    audited: int = 0  # of all these, the channel's audit sample (any verdict, allowed ones too)
    decided: int  # reviews decided by a moderator in the app
    expired: int
    median_wait_s: float | None  # from enqueueing to the decision
    p95_wait_s: float | None
    open_at_end: int  # the queue's depth left by this phase


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def review_results(store: ReviewStore, ids: Mapping[str, list[str]]) -> list[ReviewPhase]:
    """Each phase's messages as the queue holds them now."""
    out = []
    for phase, message_ids in ids.items():
        entries = store.entries([UUID(i) for i in message_ids])
        waits = [  # the reviews' (a hidden message decided on its user's appeal is not one)
            (e.decided_at - e.item.enqueued_at).total_seconds()
            for e in entries
            if e.item.action is Action.REVIEW and e.status is ItemStatus.DECIDED and e.decided_at is not None
        ]
        out.append(
            ReviewPhase(
                name=phase,
                queued=sum(e.item.action is Action.REVIEW for e in entries),
                hidden=sum(e.item.action is Action.REMOVE for e in entries),
                audited=sum(e.item.audit_share is not None for e in entries),
                decided=len(waits),
                expired=sum(e.status is ItemStatus.EXPIRED for e in entries),
                median_wait_s=_quantile(waits, 0.5),
                p95_wait_s=_quantile(waits, 0.95),
                open_at_end=sum(e.status is ItemStatus.OPEN for e in entries),
            )
        )
    return out
