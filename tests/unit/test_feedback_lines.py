"""A feedback line is learnt from only when it is a decision on a category a model scores: anything else
is counted by its reason, never a failed retraining."""

import json
from uuid import uuid4

from contracts.storage import ModeratorDecision
from monitoring.archive import parse_decision


def _line(**fields: object) -> str:
    return json.dumps(
        {
            "message_id": str(uuid4()),
            "label": "remove",
            "decided_by": "m1",
            "decided_at": "2026-12-01T10:00:00Z",
            **fields,
        }
    )


def test_a_decision_on_each_known_category_is_read() -> None:
    for category in ("toxicity", "hate", "spam", "removal"):
        decision = parse_decision(_line(category=category))
        assert isinstance(decision, ModeratorDecision)
        assert decision.category == category
    before_categories = parse_decision(_line())  # decisions before categories were on removal
    assert isinstance(before_categories, ModeratorDecision)
    assert before_categories.category == "removal"


def test_a_decision_on_a_category_no_model_scores_is_skipped_by_name() -> None:
    assert parse_decision(_line(category="harassment")) == "unknown_category"


def test_a_line_that_is_no_decision_is_malformed() -> None:
    assert parse_decision("{not json") == "malformed_decision"
    assert parse_decision(_line(label="maybe")) == "malformed_decision"
