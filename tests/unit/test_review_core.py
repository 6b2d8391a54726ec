"""The review queue's pure core: what becomes an item and in which state, the reading order, the
highlighted spans, the category a decision is about, and the sign-in limiter."""

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.audit import AuditEvent, AuditKind
from contracts.policy import ChannelPolicy, PolicyBook, ReviewPolicy, SamplingPolicy, drawn
from contracts.review import ItemStatus, QueueEntry
from contracts.statement import AppealResult, item_statement, statement_for
from contracts.statement import Restriction as Restricted
from contracts.verdict import Action, ContextSignal, Span
from review.app import LoginLimiter
from review.core import (
    TRAIL,
    AppealRefusal,
    Restriction,
    appeal_event,
    appeal_refusal,
    appeal_result,
    audit_events,
    bidi_controls,
    claim_event,
    decided_category,
    item_of,
    may_decide_appeal,
    message_steps,
    opened,
    order_key,
    outcome_of,
    previous_in_trail,
    restriction_of,
    segments,
    severity,
    statements_sent,
    trail_dates,
)
from tests.builders import flagged

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CONFIRMING = PolicyBook(channels={"careful": ChannelPolicy(review=ReviewPolicy(confirm_removals=True))})


def test_every_verdict_that_is_not_allow_reaches_a_moderator() -> None:
    # a review waits; a model's removal is hidden (listed); a rule's removal with no category is hidden
    # too; a context signal's review with no acting category waits; an allow makes nothing
    review = item_of(flagged("you idiot", Action.REVIEW), PolicyBook(), NOW)
    removal = item_of(flagged("you idiot", Action.REMOVE, score=0.95), PolicyBook(), NOW)
    rule = item_of(
        flagged("buy now", Action.REMOVE, category=None, score=None, reasons=("rule:block_term",)),
        PolicyBook(),
        NOW,
    )
    signal = ContextSignal(signal="raid", value=7, threshold=5, action=Action.REVIEW)
    raid = item_of(
        flagged("join us", Action.REVIEW, category=None, score=None, context=(signal,)), PolicyBook(), NOW
    )
    assert review is not None
    assert review[1] is ItemStatus.OPEN
    assert removal is not None
    assert removal[1] is ItemStatus.HIDDEN
    assert rule is not None
    assert rule[1] is ItemStatus.HIDDEN
    assert rule[0].severity == 1.0
    assert rule[0].rule_reasons == ["rule:block_term"]
    assert raid is not None
    assert raid[1] is ItemStatus.OPEN
    assert raid[0].context == [signal]
    assert raid[0].severity == 0.5
    assert item_of(flagged("fine", Action.ALLOW), PolicyBook(), NOW) is None


def test_the_audit_sample_queues_the_drawn_messages_whatever_their_verdict() -> None:
    # GIVEN a channel auditing a tenth of its messages, and one that does not audit
    book = PolicyBook(channels={"audited": ChannelPolicy(sampling=SamplingPolicy(audit=0.1))})
    lines = [flagged(f"m {i}", action, channel="audited") for i in range(300) for action in Action]
    made = {(line.verdict.message_id, line.verdict.action): item_of(line, book, NOW) for line in lines}
    # THEN exactly the drawn messages are marked with the share, whatever their verdict
    for (mid, action), got in made.items():
        audited = drawn(mid, 0.1, "audit")
        if action is Action.ALLOW and not audited:
            assert got is None
            continue
        assert got is not None
        assert got[0].audit_share == (0.1 if audited else None)
        # an audited message waits for a moderator (a removal stays hidden meanwhile, as ever)
        assert got[1] is (ItemStatus.HIDDEN if action is Action.REMOVE and not audited else ItemStatus.OPEN)
    allowed = [got for (_, action), got in made.items() if action is Action.ALLOW and got is not None]
    assert 10 < len(allowed) < 60
    entry = QueueEntry(item=allowed[0][0], status=ItemStatus.OPEN)
    assert message_steps(entry)[0][1].endswith("allowed it (drawn for the audit sample)")
    # AND a channel without an audit share queues no allowed message
    assert not [
        line for line in lines if line.verdict.action is Action.ALLOW and item_of(line, PolicyBook(), NOW)
    ]


def test_a_channel_that_confirms_removals_queues_them() -> None:
    made = item_of(flagged("x", Action.REMOVE, channel="careful", score=0.95), CONFIRMING, NOW)
    assert made is not None
    assert made[1] is ItemStatus.OPEN
    assert made[0].text == "x"
    assert made[0].enqueued_at == NOW


def test_the_oldest_minute_first_and_the_most_severe_within_it() -> None:
    def key(minutes_ago: float, score: float) -> str:
        made = item_of(flagged("t", score=score), PolicyBook(), NOW - timedelta(minutes=minutes_ago))
        assert made is not None
        return order_key(made[0])

    old_mild, new_severe = key(10, 0.55), key(1, 0.99)
    same_minute_mild, same_minute_severe = key(3, 0.55), key(3, 0.95)
    assert old_mild < new_severe  # ten minutes of waiting outrank a higher score
    assert same_minute_severe < same_minute_mild


def test_segments_cover_the_text_once_with_the_spans_marked() -> None:
    text = "you are an idiot and a moron"
    cut = segments(text, [Span(start=11, end=16), Span(start=23, end=28), Span(start=12, end=14)])
    assert "".join(s.text for s in cut) == text
    assert [s.text for s in cut if s.marked] == ["idiot", "moron"]
    # spans past the end are clamped, empty and inverted ones ignored
    assert segments("abc", [Span(start=1, end=99), Span(start=2, end=2)]) == [
        *segments("a", []),
        *[s for s in segments("abc", [Span(start=1, end=3)]) if s.marked],
    ]


@given(st.text(max_size=60), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 80)), max_size=8))
def test_segments_never_lose_or_repeat_a_character(text: str, pairs: list[tuple[int, int]]) -> None:
    cut = segments(text, [Span(start=a, end=b) for a, b in pairs])
    assert "".join(s.text for s in cut) == text
    assert all(s.text for s in cut) or text == ""


def test_a_decision_is_about_a_category_the_message_was_scored_for() -> None:
    made = item_of(flagged("t", category="toxicity"), PolicyBook(), NOW)
    rule = item_of(flagged("t", Action.REMOVE, category=None, score=None), PolicyBook(), NOW)
    assert made is not None
    assert rule is not None
    assert decided_category(made[0], "") == "toxicity"
    assert decided_category(made[0], "removal") == "removal"
    assert decided_category(made[0], "spam") is None
    assert decided_category(rule[0], "") == "removal"


def test_direction_controls_are_counted() -> None:
    assert bidi_controls("plain") == 0
    assert bidi_controls("\u202egnp.exe\u202c and \u2067x\u2069") == 4


def test_sign_ins_are_refused_after_the_limit_until_the_window_passes() -> None:
    clock = [0.0]
    limiter = LoginLimiter(attempts=3, window_s=60, clock=lambda: clock[0])
    for _ in range(2):
        limiter.failed("user:a", "addr:1")
    assert not limiter.blocked("user:a", "addr:1")
    limiter.failed("user:a", "addr:1")
    assert limiter.blocked("user:a", "addr:9")  # the name alone is enough
    assert limiter.blocked("user:z", "addr:1")  # and the address alone
    clock[0] = 61.0
    assert not limiter.blocked("user:a", "addr:1")


def test_the_limiter_forgets_quiet_names_instead_of_growing_without_bound() -> None:
    clock = [0.0]
    limiter = LoginLimiter(attempts=3, window_s=60, clock=lambda: clock[0])
    for i in range(LoginLimiter.MAX_KEYS + 1):
        limiter.failed(f"user:{i}")
    clock[0] = 61.0
    limiter.failed("user:new")
    assert limiter.blocked("user:new") is False
    assert len(limiter._failures) == 1


def test_the_previous_key_walks_back_in_the_order_items_were_first_opened() -> None:
    a, b, c = (uuid.UUID(int=i) for i in (1, 2, 3))
    trail: list[str] = []
    for item in (a, b, c, b):  # b opened again (from the previous key) keeps its place
        trail = opened(trail, item)
    assert trail == [str(a), str(b), str(c)]
    assert previous_in_trail(trail, c) == str(b)
    assert previous_in_trail(trail, b) == str(a)
    assert previous_in_trail(trail, a) is None  # the first: back to the queue
    assert previous_in_trail(trail, uuid.UUID(int=9)) == str(c)  # not opened here: the newest
    assert previous_in_trail([], a) is None
    long: list[str] = []
    for i in range(TRAIL + 5):
        long = opened(long, uuid.UUID(int=i))
    assert long == [str(uuid.UUID(int=i)) for i in range(5, TRAIL + 5)]  # bounded: the oldest go


# --- appeals -------------------------------------------------------------------------------------

WINDOW = timedelta(days=183)


def _entry(status: ItemStatus, **fields: object) -> QueueEntry:
    line = flagged("you are a fool", Action.REMOVE, user="u1")
    item, _ = item_of(line, PolicyBook(), datetime(2026, 1, 1, tzinfo=UTC)) or (None, None)
    assert item is not None
    return QueueEntry(item=item, status=status, **fields)


def test_a_removal_by_the_model_is_appealable_by_its_author_within_the_window_from_when_it_was_hidden() -> (
    None
):
    hidden = _entry(ItemStatus.HIDDEN)
    at = hidden.item.enqueued_at
    refusal, restriction = appeal_refusal(hidden, "u1", at + WINDOW, WINDOW)
    assert refusal is None
    assert restriction == Restriction(f"model:{hidden.item.model_version}", "toxicity", at)
    assert (
        appeal_refusal(hidden, "u1", at + WINDOW + timedelta(seconds=1), WINDOW)[0] is AppealRefusal.TOO_LATE
    )
    assert appeal_refusal(hidden, "u2", at, WINDOW)[0] is AppealRefusal.NOT_YOURS


def test_a_moderators_removal_is_appealable_from_its_decision_and_names_its_moderator() -> None:
    decided_at = datetime(2026, 3, 1, tzinfo=UTC)
    removed = _entry(
        ItemStatus.DECIDED, label="remove", decided_by="alice", decided_at=decided_at, decided_category="hate"
    )
    refusal, restriction = appeal_refusal(removed, "u1", decided_at + WINDOW, WINDOW)
    assert refusal is None
    assert restriction == Restriction("alice", "hate", decided_at)


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (ItemStatus.OPEN, {}),  # waits: nothing was restricted yet
        (ItemStatus.EXPIRED, {}),
        (
            ItemStatus.DECIDED,
            {"label": "allow", "decided_by": "alice", "decided_at": datetime(2026, 2, 1, tzinfo=UTC)},
        ),
    ],
)
def test_a_message_under_no_restriction_cannot_be_appealed(
    status: ItemStatus, fields: dict[str, object]
) -> None:
    entry = _entry(status, **fields)
    assert restriction_of(entry) is None
    assert appeal_refusal(entry, "u1", entry.item.enqueued_at, WINDOW)[0] is AppealRefusal.NOT_RESTRICTED


def test_an_appealed_message_is_appealed_once_and_not_by_who_restricted_it() -> None:
    appealed = _entry(
        ItemStatus.APPEALED,
        appealed_at=datetime(2026, 2, 1, tzinfo=UTC),
        original_by="alice",
        original_category="hate",
    )
    assert (
        appeal_refusal(appealed, "u1", datetime(2026, 2, 2, tzinfo=UTC), WINDOW)[0] is AppealRefusal.ALREADY
    )
    assert not may_decide_appeal(appealed, "alice")
    assert may_decide_appeal(appealed, "bob")
    # an item that is no appeal: whoever may
    assert may_decide_appeal(_entry(ItemStatus.OPEN), "alice")
    assert appeal_result("allow") is AppealResult.RESTORED
    assert appeal_result("remove") is AppealResult.CONFIRMED


def test_a_rules_removal_by_a_moderator_is_appealed_on_the_communitys_own_standard() -> None:
    line = flagged("buy followers now", Action.REVIEW, category=None, reasons=("rule:block_term",))
    item, _ = item_of(line, PolicyBook(), NOW) or (None, None)
    assert item is not None
    removed = QueueEntry(
        item=item, status=ItemStatus.DECIDED, label="remove", decided_by="alice", decided_at=NOW
    )
    assert restriction_of(removed) == Restriction("alice", "removal", NOW)


def test_an_items_steps_tell_what_happened_in_order() -> None:
    queued = _entry(ItemStatus.OPEN)
    version = queued.item.model_version
    assert message_steps(queued) == [(queued.item.enqueued_at, f"the system (model {version}) hid it")]
    review = queued.model_copy(update={"item": queued.item.model_copy(update={"action": Action.REVIEW})})
    assert message_steps(review)[0][1] == f"the system (model {version}) sent it to review"
    at = queued.item.enqueued_at
    decided = queued.model_copy(
        update={
            "status": ItemStatus.DECIDED,
            "label": "allow",
            "decided_by": "bob",
            "decided_at": at + timedelta(minutes=1),
            "decided_category": "toxicity",
        }
    )
    assert [s for _, s in message_steps(decided)][1:] == ["bob decided allow (toxicity)"]
    appealed = decided.model_copy(
        update={
            "label": "allow",
            "decided_by": "carol",
            "decided_at": at + timedelta(days=3),
            "appealed_at": at + timedelta(days=2),
            "original_by": "alice",
            "original_category": "toxicity",
            "original_at": at + timedelta(days=1),
        }
    )
    assert message_steps(appealed) == [
        (at, f"the system (model {version}) hid it"),
        (at + timedelta(days=1), "alice removed it (toxicity)"),
        (at + timedelta(days=2), "the user appealed"),
        (at + timedelta(days=3), "carol restored it (appeal upheld)"),
    ]
    # steps at one time keep the order they happen in (the system acts, then the moderator)
    at_once = decided.model_copy(update={"decided_at": at, "decided_by": "aaron"})
    assert [s for _, s in message_steps(at_once)] == [
        f"the system (model {version}) hid it",
        "aaron decided allow (toxicity)",
    ]
    by_model = appealed.model_copy(update={"original_by": f"model:{version}", "label": "remove"})
    assert [s for _, s in message_steps(by_model)][1:] == ["the user appealed", "carol confirmed the removal"]


WINDOW, APPEALS = timedelta(days=200), "https://chat.example/review"


def test_an_items_page_shows_the_statement_the_bot_sent_for_each_kind_of_hide() -> None:
    book = PolicyBook()
    raid = ContextSignal(signal="raid", value=7, threshold=5, action=Action.REMOVE)
    hides = [
        flagged("you are an idiot", Action.REMOVE, spans=((11, 16),), feature="idiot"),
        flagged("buy followers", Action.REMOVE, category=None, reasons=("rule:block:followers",)),
        flagged("gg", Action.REMOVE, category=None, context=(raid,)),
    ]
    for line in hides:
        made = item_of(line, book, NOW + timedelta(seconds=3))
        assert made is not None
        item, _ = made
        sent = statement_for(line.verdict, Restricted.HIDE, line.verdict.processed_at, WINDOW, APPEALS)
        assert item_statement(item, WINDOW, APPEALS) == sent
        assert statements_sent(QueueEntry(item=item, status=ItemStatus.HIDDEN), WINDOW, APPEALS) == [sent]
    # a message the model sent to review was told nothing; once a moderator removed it, their statement
    waiting = item_of(flagged("you are an idiot"), book, NOW)
    assert waiting is not None
    entry = QueueEntry(item=waiting[0], status=ItemStatus.OPEN)
    assert item_statement(entry.item, WINDOW, APPEALS) is None
    assert statements_sent(entry, WINDOW, APPEALS) == []
    removed = entry.model_copy(
        update={
            "status": ItemStatus.DECIDED,
            "decided_by": "alice",
            "decided_at": NOW,
            "label": "remove",
            "decided_category": "toxicity",
        }
    )
    (told,) = statements_sent(removed, WINDOW, APPEALS)
    assert (told.restriction, told.decided_by, told.applied_at) == (Restricted.REMOVE, "alice", NOW)
    assert told.category == "toxicity"  # the category the moderator ruled on
    # a moderator who allowed it sent no statement; nor does a removal without its decider or time
    assert statements_sent(removed.model_copy(update={"label": "allow"}), WINDOW, APPEALS) == []
    assert statements_sent(removed.model_copy(update={"decided_by": None}), WINDOW, APPEALS) == []
    assert statements_sent(removed.model_copy(update={"decided_at": None}), WINDOW, APPEALS) == []
    # an item enqueued before items kept the verdict's policy and model: nothing made up
    old = waiting[0].model_copy(update={"action": Action.REMOVE, "model_name": "", "processed_at": None})
    assert item_statement(old, WINDOW, APPEALS) is None


def test_an_appeal_confirmed_by_a_moderator_is_told_by_its_outcome_not_a_second_removal_statement() -> None:
    made = item_of(flagged("you are an idiot"), PolicyBook(), NOW)
    assert made is not None
    confirmed = QueueEntry(
        item=made[0],
        status=ItemStatus.DECIDED,
        decided_by="bob",
        decided_at=NOW + timedelta(days=1),
        label="remove",
        appealed_at=NOW + timedelta(hours=1),
        original_by="alice",
    )
    assert statements_sent(confirmed, WINDOW, APPEALS) == []
    # and an item that kept its model's name but not when the verdict was made shows none either
    hidden = made[0].model_copy(update={"action": Action.REMOVE, "processed_at": None})
    assert item_statement(hidden, WINDOW, APPEALS) is None


def test_an_items_audit_records_are_looked_for_on_every_day_its_entry_knows_and_today(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    entry = _entry(
        ItemStatus.DECIDED,
        original_at=day + timedelta(days=2),
        appealed_at=day + timedelta(days=4),
        decided_at=day + timedelta(days=6),
        claim_until=day + timedelta(days=6, hours=1),  # a claim's lease past midnight: the next day
    )
    item = entry.item.model_copy(update={"sent_at": day, "processed_at": day + timedelta(hours=1)})
    entry = entry.model_copy(update={"item": item})
    # in UTC, as the trail's days, whatever the machine's zone: an hour after 23:30 is the next day
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        dates = trail_dates(entry, day + timedelta(days=9))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert dates == [
        date(2026, 1, 1),  # enqueued (the builder's clock)
        date(2026, 3, 1),
        date(2026, 3, 2),
        date(2026, 3, 3),
        date(2026, 3, 5),
        date(2026, 3, 7),
        date(2026, 3, 8),
        date(2026, 3, 10),  # today: a claim being recorded, a restore to come
    ]


def test_a_claim_is_recorded_with_its_moderator_the_items_state_and_the_versions_it_was_judged_under() -> (
    None
):
    entry = _entry(ItemStatus.APPEALED, claimed_by="carol", claim_until=NOW + timedelta(minutes=1))
    assert claim_event(entry, NOW) == AuditEvent(
        kind=AuditKind.CLAIM, actor="carol", at=NOW, reason="appealed", **_about(entry)
    )
    with pytest.raises(ValueError, match="no claim"):
        claim_event(entry.model_copy(update={"claimed_by": None}), NOW)


def _about(entry: QueueEntry) -> dict[str, Any]:
    """What every audit record of an item says of it."""
    item = entry.item
    return {
        "message_id": item.message_id,
        "channel_id": item.channel_id,
        "model_version": item.model_version,
        "policy_version": item.policy_version,
    }


APPEALED, DECIDED = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)


def _allowed_on_appeal(**fields: object) -> QueueEntry:
    """An appeal mod-2 allowed (the message restored)."""
    return _entry(
        ItemStatus.DECIDED,
        decided_by="mod-2",
        decided_at=DECIDED,
        label="allow",
        appealed_at=APPEALED,
        **fields,
    )


def test_a_decided_items_audit_records_the_appeal_it_decided_then_the_decision() -> None:
    on_appeal = _allowed_on_appeal(
        decided_category="toxicity", original_by="model:7", original_category="toxicity"
    )
    about = _about(on_appeal)
    # the appeal the decision answered, with the restriction it contested, then the decision on it
    assert audit_events(on_appeal) == [
        AuditEvent(
            kind=AuditKind.APPEAL,
            actor="user",
            at=APPEALED,
            reason="toxicity",
            refs={"restricted_by": "model:7"},
            **about,
        ),
        AuditEvent(
            kind=AuditKind.DECISION,
            actor="mod-2",
            at=DECIDED,
            reason="allow toxicity",
            refs={"on": "appeal"},
            **about,
        ),
    ]
    # a decision in the queue: the decision alone, its label without a category
    in_queue = on_appeal.model_copy(
        update={
            "decided_by": "mod-1",
            "label": "remove",
            "decided_category": None,
            "appealed_at": None,
            "original_by": None,
            "original_category": None,
        }
    )
    assert audit_events(in_queue) == [
        AuditEvent(
            kind=AuditKind.DECISION, actor="mod-1", at=DECIDED, reason="remove", refs={"on": "queue"}, **about
        )
    ]
    # nothing for an item without its decider, its time or its label
    assert audit_events(_entry(ItemStatus.OPEN)) == []
    for missing in ("decided_by", "decided_at", "label"):
        assert audit_events(in_queue.model_copy(update={missing: None})) == []


def test_an_appeal_receipt_names_what_it_contests_and_needs_an_appeal() -> None:
    bare = _entry(ItemStatus.APPEALED, appealed_at=APPEALED)
    receipt = appeal_event(bare)
    assert (receipt.kind, receipt.actor, receipt.at) == (AuditKind.APPEAL, "user", APPEALED)
    assert (receipt.reason, receipt.refs) == ("", {"restricted_by": ""})
    assert receipt.message_id == bare.item.message_id
    with pytest.raises(ValueError, match=r"^the item holds no appeal$"):
        appeal_event(_entry(ItemStatus.HIDDEN))


def test_severity_is_the_deciding_score_else_the_highest_acting_one_else_the_action() -> None:
    line = flagged("you are a fool", Action.REVIEW, score=0.7)
    assert severity(line) == 0.7
    v = line.verdict
    toxicity = v.categories["toxicity"]
    categories = {
        "toxicity": toxicity.model_copy(update={"score": 0.6}),
        "spam": toxicity.model_copy(update={"score": 0.3}),
        "hate": toxicity.model_copy(update={"score": 0.9, "acts": False}),  # not acting: not counted
    }

    def without_score(**update: object) -> float:
        return severity(line.model_copy(update={"verdict": v.model_copy(update={"score": None, **update})}))

    assert without_score(categories=categories) == 0.6
    assert without_score(categories={"spam": categories["spam"]}) == 0.3  # one acting category
    assert without_score(categories={}, action=Action.REMOVE) == 1.0  # a removal by rule
    assert without_score(categories={}, action=Action.REVIEW) == 0.5  # a review nothing scored


def test_an_appeals_outcome_needs_the_appeal_and_the_whole_decision() -> None:
    entry = _allowed_on_appeal(original_category="hate")
    outcome = outcome_of(entry)
    assert outcome is not None
    assert (outcome.result, outcome.category, outcome.original_by) == (AppealResult.RESTORED, "hate", "")
    assert (outcome.appealed_at, outcome.decided_at, outcome.decided_by) == (APPEALED, DECIDED, "mod-2")
    confirmed = outcome_of(entry.model_copy(update={"label": "remove", "original_category": None}))
    assert confirmed is not None
    assert (confirmed.result, confirmed.category) == (AppealResult.CONFIRMED, "removal")
    for missing in ("appealed_at", "decided_at", "decided_by", "label"):
        assert outcome_of(entry.model_copy(update={missing: None})) is None
