"""Overturns as a signal: a model version's removals against their appeals' outcomes, per category and
channel; the versions above the policy's rate, over every channel; a moderator's removal is not the
model's."""

from collections import Counter
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from contracts.statement import AppealOutcome, AppealResult
from contracts.verdict import Action
from monitoring.overturns import above_rate, overturns, removals
from tests.builders import flagged

AT = datetime(2026, 12, 5, tzinfo=UTC)


def _outcome(by: str, result: AppealResult, category: str = "toxicity", channel: str = "c1") -> AppealOutcome:
    return AppealOutcome(
        message_id=uuid4(),
        channel_id=channel,
        user_id="u",
        result=result,
        category=category,
        appealed_at=AT,
        decided_at=AT,
        decided_by="carol",
        original_by=by,
    )


def test_removals_count_the_models_removals_by_version_category_and_channel() -> None:
    lines = [
        flagged("a", Action.REMOVE, channel="c1"),
        flagged("b", Action.REMOVE, channel="c1"),
        flagged("c", Action.REMOVE, channel="c2", category="hate"),
        flagged("d", Action.REVIEW, channel="c1"),  # queued, not removed
        flagged("e", Action.REMOVE, channel="c1", category=None),  # a rule's removal
    ]
    version = lines[0].verdict.model_version
    assert removals(lines) == Counter(
        {(version, "toxicity", "c1"): 2, (version, "hate", "c2"): 1, (version, "removal", "c1"): 1}
    )


def test_only_appeals_of_the_models_own_removals_count_against_it() -> None:
    removed = Counter({("3", "toxicity", "c1"): 10, ("3", "toxicity", "c2"): 10})
    outcomes = [
        _outcome("model:3", AppealResult.RESTORED),
        _outcome("model:3", AppealResult.RESTORED),
        _outcome("model:3", AppealResult.CONFIRMED),
        _outcome("alice", AppealResult.RESTORED),  # alice removed it on the model's flag: her decision
        _outcome("model:3", AppealResult.RESTORED, channel="c2"),
    ]
    rows = {(r.model_version, r.channel_id): r for r in overturns(outcomes, removed)}
    assert set(rows) == {("3", "c1"), ("3", "c2")}
    assert (rows["3", "c1"].appeals_decided, rows["3", "c1"].overturned, rows["3", "c1"].rate) == (3, 2, 0.2)
    assert rows["3", "c2"].rate == 0.1


@pytest.mark.parametrize(
    ("overturned", "max_rate", "min_removals", "named"),
    [
        (5, 0.2, 20, [("3", "toxicity", 0.25)]),  # 5 of the 20 removals over both channels
        (4, 0.2, 20, []),  # exactly the rate: not above it
        (5, 0.3, 20, []),
        (5, 0.2, 21, []),  # too few removals to judge
    ],
)
def test_a_version_is_named_when_its_removals_over_every_channel_are_overturned_above_the_rate(
    overturned: int, max_rate: float, min_removals: int, named: list[tuple[str, str, float]]
) -> None:
    removed = Counter({("3", "toxicity", "c1"): 10, ("3", "toxicity", "c2"): 10, ("2", "toxicity", "c1"): 30})
    outcomes = [
        _outcome("model:3", AppealResult.RESTORED, channel=f"c{1 + i % 2}") for i in range(overturned)
    ]
    assert above_rate(overturns(outcomes, removed), max_rate, min_removals) == named


def test_a_version_whose_removals_nobody_appealed_still_has_its_row() -> None:
    removed = Counter({("3", "toxicity", "c1"): 10, ("4", "spam", "c9"): 7})
    rows = overturns([_outcome("model:3", AppealResult.CONFIRMED)], removed)
    assert [(r.model_version, r.removals, r.appeals_decided, r.overturned) for r in rows] == [
        ("3", 10, 1, 0),
        ("4", 7, 0, 0),
    ]
