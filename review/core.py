"""The review queue's pure core: which archived verdicts become items and in which state, the order
moderators see them in, the spans a page highlights, when an undecided item expires, and which
restrictions a user may appeal.

No I/O here: `review.store` keeps items in DynamoDB, `review.app` serves them.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from contracts.audit import AuditEvent, AuditKind
from contracts.policy import PolicyBook, drawn
from contracts.review import ItemStatus, QueueEntry, ReviewItem, model_decider
from contracts.statement import (
    AppealOutcome,
    AppealResult,
    StatementOfReasons,
    item_statement,
    moderator_statement,
)
from contracts.storage import ArchivedMessage
from contracts.verdict import Action, Span

REMOVAL = "removal"  # what a moderator rules on when no category decided: the community's own standard
_ORDER_BUCKET_S = 60  # within one minute of enqueueing, the most severe first


def severity(archived: ArchivedMessage) -> float:
    """How bad the system thinks the message is: the deciding score, else the highest acting category's
    score, else 1.0 for a removal by rule and 0.5 for a review nothing scored (a context signal, no
    model)."""
    v = archived.verdict
    if v.score is not None:
        return min(1.0, max(0.0, v.score))
    acting = [c.score for c in v.categories.values() if c.acts]
    if acting:
        return min(1.0, max(0.0, *acting))
    return 1.0 if v.action is Action.REMOVE else 0.5


def item_of(
    archived: ArchivedMessage, book: PolicyBook, now: datetime
) -> tuple[ReviewItem, ItemStatus] | None:
    """The item a verdict makes and the state it starts in, or None for an allowed message outside the
    audit sample.

    Every verdict that is not allow reaches a moderator: a review waits in the queue (`open`); a removal
    is hidden at once and listed (`hidden`) unless the channel confirms removals, when it waits too. A
    message the channel's audit share draws waits in the queue whatever its verdict (an allowed one
    too), marked with that share: its label estimates live quality without the queue's bias."""
    v = archived.verdict
    _, policy = book.for_channel(v.channel_id)
    audited = drawn(v.message_id, policy.sampling.audit, "audit")
    if v.action is Action.ALLOW and not audited:
        return None
    waits = v.action is not Action.REMOVE or policy.review.confirm_removals or audited
    status = ItemStatus.OPEN if waits else ItemStatus.HIDDEN
    item = ReviewItem(
        message_id=v.message_id,
        channel_id=v.channel_id,
        user_id=v.user_id,
        text=archived.message.text,
        sent_at=archived.message.sent_at,
        action=v.action,
        category=v.category,
        severity=severity(archived),
        scores=dict(v.categories),
        rule_reasons=[] if v.category else list(v.reasons),
        context=list(v.context),
        model_version=v.model_version,
        policy_version=v.policy_version,
        enqueued_at=now,
        policy=v.policy,
        model_name=v.model_name,
        language=v.language,
        processed_at=v.processed_at,
        audit_share=policy.sampling.audit if audited else None,
    )
    return item, status


def order_key(item: ReviewItem) -> str:
    """Sorts ascending in the order a moderator should see items: the oldest minute first, the most
    severe first within it, then by message id (a total order, stable across pages)."""
    bucket = int(item.enqueued_at.timestamp()) // _ORDER_BUCKET_S
    inverse = round((1.0 - item.severity) * 10_000)
    return f"{bucket:012d}#{inverse:05d}#{item.message_id}"


def decided_category(item: ReviewItem, requested: str) -> str | None:
    """The category a decision is about: the one asked for when the item was scored for it, the item's
    deciding category when none is asked for, else `removal`; None for a category the item never had."""
    if not requested:
        return item.category or REMOVAL
    if requested == REMOVAL or requested in item.scores:
        return requested
    return None


# --- appeals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restriction:
    """Who restricted a message, on which category, and when (the appeal window runs from then)."""

    by: str  # a moderator's name, or `model:<version>`
    category: str
    at: datetime


def restriction_of(entry: QueueEntry) -> Restriction | None:
    """The restriction a message is under: hidden by the model, or removed by a moderator; None for a
    message that waits, was allowed, or expired (an expiry is the channel's standing rule, not a
    decision about the message)."""
    item = entry.item
    if entry.status is ItemStatus.HIDDEN:
        return Restriction(model_decider(item.model_version), item.category or REMOVAL, item.enqueued_at)
    if (
        entry.status is ItemStatus.DECIDED
        and entry.label == "remove"
        and entry.decided_by
        and entry.decided_at
    ):
        return Restriction(
            entry.decided_by, entry.decided_category or item.category or REMOVAL, entry.decided_at
        )
    return None


class AppealRefusal(StrEnum):
    NOT_YOURS = "not_yours"  # the message is another user's (answered as if there were none)
    ALREADY = "already"  # appealed before: the same appeal stands (appeals are idempotent)
    NOT_RESTRICTED = "not_restricted"
    TOO_LATE = "too_late"  # the channel's appeal window has passed


def appeal_refusal(
    entry: QueueEntry, user_id: str, now: datetime, window: timedelta
) -> tuple[AppealRefusal | None, Restriction | None]:
    """Whether `user_id` may appeal the restriction of this message now: a refusal (or None), and the
    restriction appealed."""
    if entry.item.user_id != user_id:
        return AppealRefusal.NOT_YOURS, None
    if entry.appealed_at is not None:
        return AppealRefusal.ALREADY, None
    restriction = restriction_of(entry)
    if restriction is None:
        return AppealRefusal.NOT_RESTRICTED, None
    if now > restriction.at + window:
        return AppealRefusal.TOO_LATE, restriction
    return None, restriction


def may_decide_appeal(entry: QueueEntry, moderator: str) -> bool:
    """An appeal is decided by a moderator other than the one who made the restriction."""
    return entry.status is not ItemStatus.APPEALED or entry.original_by != moderator


def appeal_result(label: str) -> AppealResult:
    """A decision on an appeal: allow overturns the restriction (the message is restored), remove
    confirms it."""
    return AppealResult.RESTORED if label == "allow" else AppealResult.CONFIRMED


def message_steps(entry: QueueEntry) -> list[tuple[datetime, str]]:
    """What the review table knows of a message, in time order: the system's action, a moderator's
    decision, the user's appeal and its outcome (the whole chain is in the audit trail)."""
    item = entry.item
    done = {
        Action.REMOVE: "hid it",
        Action.REVIEW: "sent it to review",
        Action.ALLOW: "allowed it (drawn for the audit sample)",
    }[item.action]
    steps = [(item.enqueued_at, f"the system (model {item.model_version}) {done}")]
    if entry.appealed_at is not None:
        if entry.original_by and entry.restricting_model is None and entry.original_at:
            steps.append((entry.original_at, f"{entry.original_by} removed it ({entry.original_category})"))
        steps.append((entry.appealed_at, "the user appealed"))
    if entry.decided_at is not None and entry.decided_by and entry.label:
        if entry.appealed_at is not None:
            outcome = "restored it (appeal upheld)" if entry.label == "allow" else "confirmed the removal"
        else:
            outcome = f"decided {entry.label} ({entry.decided_category})"
        steps.append((entry.decided_at, f"{entry.decided_by} {outcome}"))
    return sorted(steps, key=lambda step: step[0])  # by time alone: steps at one time keep their order


def trail_dates(entry: QueueEntry, now: datetime) -> list[date]:
    """The days on which the audit trail may hold a record of the message (UTC, as the trail's days):
    every time the review table knows of it, and today (a claim being recorded, a restore to come)."""
    item = entry.item
    known = (
        item.sent_at,
        item.processed_at,
        item.enqueued_at,
        entry.original_at,
        entry.appealed_at,
        entry.decided_at,
        entry.claim_until,
        now,
    )
    return sorted({at.astimezone(UTC).date() for at in known if at is not None})


def outcome_of(entry: QueueEntry) -> AppealOutcome | None:
    """The outcome of a decided appeal (None for any other decision)."""
    if (
        entry.appealed_at is None
        or entry.decided_at is None
        or entry.decided_by is None
        or entry.label is None
    ):
        return None
    return AppealOutcome(
        message_id=entry.item.message_id,
        channel_id=entry.item.channel_id,
        user_id=entry.item.user_id,
        result=appeal_result(entry.label),
        category=entry.decided_category or entry.original_category or "removal",
        appealed_at=entry.appealed_at,
        decided_at=entry.decided_at,
        decided_by=entry.decided_by,
        original_by=entry.original_by or "",
    )


def appeal_event(entry: QueueEntry) -> AuditEvent:
    """An appealed item's receipt for the audit trail: the restriction it contests and who made it."""
    item = entry.item
    if entry.appealed_at is None:
        raise ValueError("the item holds no appeal")
    return AuditEvent(
        kind=AuditKind.APPEAL,
        actor="user",
        at=entry.appealed_at,
        message_id=item.message_id,
        channel_id=item.channel_id,
        model_version=item.model_version,
        policy_version=item.policy_version,
        reason=entry.original_category or "",
        refs={"restricted_by": entry.original_by or ""},
    )


def queue_removal_statement(
    entry: QueueEntry, window: timedelta, appeal_url: str
) -> StatementOfReasons | None:
    """The statement of a moderator's removal decided in the queue (an appeal's decision is told by its
    outcome instead); None for any other item."""
    if entry.label != "remove" or entry.decided_by is None or entry.decided_at is None:
        return None
    if outcome_of(entry) is not None:
        return None
    category = entry.decided_category or REMOVAL
    return moderator_statement(entry.item, entry.decided_by, category, entry.decided_at, window, appeal_url)


def statements_sent(entry: QueueEntry, window: timedelta, appeal_url: str) -> list[StatementOfReasons]:
    """The statements of reasons the message's user was sent, as the page shows them: the bot's when the
    model hid it, a moderator's when the queue removed it."""
    made = (
        item_statement(entry.item, window, appeal_url),
        queue_removal_statement(entry, window, appeal_url),
    )
    return [s for s in made if s is not None]


def claim_event(entry: QueueEntry, now: datetime) -> AuditEvent:
    """A claim the moderator holds now (taken or renewed: each opening of the item) for the audit
    trail."""
    item = entry.item
    if entry.claimed_by is None:
        raise ValueError("the item holds no claim")
    return AuditEvent(
        kind=AuditKind.CLAIM,
        actor=entry.claimed_by,
        at=now,
        message_id=item.message_id,
        channel_id=item.channel_id,
        model_version=item.model_version,
        policy_version=item.policy_version,
        reason=entry.status.value,
    )


def audit_events(entry: QueueEntry) -> list[AuditEvent]:
    """A decided item's records for the audit trail: the appeal it decided, if any, and the decision."""
    item, out = entry.item, list[AuditEvent]()
    if entry.decided_by is None or entry.decided_at is None or entry.label is None:
        return out
    if entry.appealed_at is not None:
        out.append(appeal_event(entry))
    out.append(
        AuditEvent(
            kind=AuditKind.DECISION,
            actor=entry.decided_by,
            at=entry.decided_at,
            message_id=item.message_id,
            channel_id=item.channel_id,
            model_version=item.model_version,
            policy_version=item.policy_version,
            reason=f"{entry.label} {entry.decided_category or ''}".strip(),
            refs={"on": "appeal" if entry.appealed_at is not None else "queue"},
        )
    )
    return out


# --- what a page shows -------------------------------------------------------------------------

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class Segment:
    """A run of the message's characters, highlighted when a reason points at it."""

    text: str
    marked: bool


def segments(text: str, spans: list[Span]) -> list[Segment]:
    """The message cut at its reasons' spans: spans are clamped to the text, overlapping or touching
    ones merged, so every character appears exactly once, in order (linear in text and spans)."""
    n = len(text)
    ranges = sorted((min(s.start, n), min(s.end, n)) for s in spans if s.end > s.start)
    merged: list[list[int]] = []
    for start, end in ranges:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[Segment] = []
    at = 0
    for start, end in merged:
        if start > at:
            out.append(Segment(text[at:start], False))
        out.append(Segment(text[start:end], True))
        at = end
    if at < n or not out:
        out.append(Segment(text[at:], False))
    return out


def item_spans(item: ReviewItem) -> list[Span]:
    """Every span any acting category's reasons point at."""
    return [span for s in item.scores.values() if s.acts for r in s.reasons for span in r.spans]


def bidi_controls(text: str) -> int:
    """How many bidirectional formatting characters the text carries (shown to the moderator: the page
    isolates the message, but a moderator should know its own display was reordered)."""
    return sum(1 for ch in text if ch in _BIDI_CONTROLS)


TRAIL = 20  # the items a moderator opened last, newest last: what the previous key walks back through


def opened(trail: list[str], message_id: UUID) -> list[str]:
    """The session's trail with `message_id` added as its newest entry, unless it is there already
    (going back keeps the order the items were first opened in)."""
    key = str(message_id)
    return trail if key in trail else [*trail, key][-TRAIL:]


def previous_in_trail(trail: list[str], before: UUID | None) -> str | None:
    """The item opened just before `before` (the newest of all when `before` is not in the trail)."""
    keys = [t for t in trail if isinstance(t, str)]
    if before is not None and str(before) in keys:
        keys = keys[: keys.index(str(before))]
    return keys[-1] if keys else None
