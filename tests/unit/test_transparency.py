"""The transparency report's counts: restrictions in the period once each, the automated shares, and the
appeals received, decided, overturned, the median time to decide and the ones decided by the restrictor."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from contracts.audit import AuditEvent, AuditKind, chain
from contracts.review import AppealOutcome, AppealResult
from contracts.statement import Restriction, statement_for
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
