"""The transparency report's counts: restrictions in the period once each, the automated shares, and the
appeals received, decided, overturned, the median time to decide and the ones decided by the restrictor."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from contracts.audit import AuditEvent, AuditKind, chain
from contracts.statement import AppealOutcome, AppealResult, Restriction, statement_for
from contracts.verdict import Action
from monitoring.transparency import as_csv, report
from tests.builders import flagged

START, END = date(2026, 12, 1), date(2026, 12, 8)
IN = datetime(2026, 12, 3, tzinfo=UTC)


def _outcome(
    hours: float, result: AppealResult, by: str = "carol", original: str = "model:1"
) -> AppealOutcome:
    return AppealOutcome(
        message_id=uuid4(),
        channel_id="c1",
        user_id="u",
        result=result,
        category="toxicity",
        appealed_at=IN,
        decided_at=IN + timedelta(hours=hours),
        decided_by=by,
        original_by=original,
    )


def test_the_periods_restrictions_and_appeals_are_counted_once_each() -> None:
    hidden = [flagged(f"insult {i}", Action.REMOVE) for i in range(3)]
    window = timedelta(days=183)
    statements = [statement_for(h.verdict, Restriction.HIDE, IN, window, "https://a") for h in hidden]
    statements.append(statements[0])  # a redelivered verdict wrote its statement again
    statements.append(statement_for(hidden[0].verdict, Restriction.REMOVE, IN, window, "https://a", "alice"))
    statements.append(
        statement_for(hidden[1].verdict, Restriction.HIDE, datetime(2026, 12, 8, tzinfo=UTC), window, "x")
    )
    outcomes = [
        _outcome(2, AppealResult.RESTORED),
        _outcome(4, AppealResult.CONFIRMED),
        _outcome(30, AppealResult.RESTORED, by="alice", original="alice"),  # must never happen: counted
    ]
    receipts = [
        AuditEvent(kind=AuditKind.APPEAL, actor="user", at=IN, message_id=o.message_id) for o in outcomes
    ]
    trail = chain(receipts + receipts[:1], "review", IN.date(), None)  # one receipt written twice
    made = report(statements, outcomes, trail, START, END)
    assert made.restrictions == 4  # 3 hides and alice's removal; the one applied at END is outside
    assert [(r.restriction, r.automated_decision, r.count) for r in made.by_category] == [
        ("hide", "AUTOMATED_DECISION_FULLY", 3),
        ("remove", "AUTOMATED_DECISION_PARTIALLY", 1),
    ]
    assert (made.automated_detection_share, made.automated_decision_share) == (1.0, 0.75)
    assert (made.appeals_received, made.appeals_decided, made.appeals_overturned, made.appeals_confirmed) == (
        3,
        3,
        2,
        1,
    )
    assert made.median_hours_to_decide == 4.0
    assert made.appeals_decided_by_restrictor == 1
    assert "appeals,decided_by_restrictor,1" in as_csv(made)


def test_an_empty_period_reports_zeros() -> None:
    made = report([], [], [], START, END)
    assert (made.restrictions, made.appeals_received, made.median_hours_to_decide) == (0, 0, None)


def test_the_period_starts_on_its_first_day_and_ends_before_its_last() -> None:
    window = timedelta(days=183)
    first, last, before = (flagged(f"x {i}", Action.REMOVE) for i in range(3))
    statements = [
        statement_for(first.verdict, Restriction.HIDE, datetime(2026, 12, 1, tzinfo=UTC), window, "a"),
        statement_for(last.verdict, Restriction.HIDE, datetime(2026, 12, 8, tzinfo=UTC), window, "a"),
        statement_for(
            before.verdict, Restriction.HIDE, datetime(2026, 11, 30, 23, 59, tzinfo=UTC), window, "a"
        ),
    ]
    # an audit record of another kind in the period is no appeal received; an appeal after it neither
    others = [
        AuditEvent(kind=AuditKind.HIDE, actor="bot", at=IN, message_id=uuid4()),
        AuditEvent(
            kind=AuditKind.APPEAL, actor="user", at=datetime(2026, 12, 9, tzinfo=UTC), message_id=uuid4()
        ),
    ]
    made = report(statements, [], chain(others, "bot", IN.date(), None), START, END)
    assert made.restrictions == 1
    assert made.appeals_received == 0


def test_an_empty_periods_shares_are_zero_and_its_table_says_so() -> None:
    made = report([], [], [], START, END)
    assert (made.automated_detection_share, made.automated_decision_share) == (0.0, 0.0)
    assert as_csv(made) == (
        "section,name,value\n"
        "period,start,2026-12-01\n"
        "period,end,2026-12-08\n"
        "restrictions,total,0\n"
        "automated means,detection_share,0.0000\n"
        "automated means,decision_share,0.0000\n"
        "appeals,received,0\n"
        "appeals,decided,0\n"
        "appeals,overturned,0\n"
        "appeals,confirmed,0\n"
        "appeals,decided_by_restrictor,0\n"
        "appeals,median_hours_to_decide,\n"
    )


def test_the_table_names_every_figure() -> None:
    hidden = flagged("insult", Action.REMOVE)
    statements = [statement_for(hidden.verdict, Restriction.HIDE, IN, timedelta(days=183), "a")]
    made = report(
        statements, [_outcome(2, AppealResult.RESTORED), _outcome(3, AppealResult.RESTORED)], [], START, END
    )
    rows = as_csv(made).splitlines()
    assert rows[3:6] == [
        "restrictions,total,1",
        "restrictions,toxicity/hide/AUTOMATED_DECISION_FULLY,1",
        "automated means,detection_share,1.0000",
    ]
    assert rows[6:] == [
        "automated means,decision_share,1.0000",
        "appeals,received,0",
        "appeals,decided,2",
        "appeals,overturned,2",
        "appeals,confirmed,0",
        "appeals,decided_by_restrictor,0",
        "appeals,median_hours_to_decide,2.50",
    ]
