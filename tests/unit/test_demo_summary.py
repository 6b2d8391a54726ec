"""The demo's closing figures per category: what each category did, how much it sent to review, and
how precise its automatic actions were against the ground truth."""

from uuid import uuid4

from rich.console import Console

from contracts.policy import Thresholds
from contracts.storage import GroundTruth
from contracts.verdict import Action, CategoryScore, Verdict
from demo.summary import PhaseResult, Summary, category_results
from demo.view import category_table
from tests.builders import verdict


def _judged(scores: dict[str, tuple[float, Action, bool]], version: str = "1") -> Verdict:
    categories = {
        name: CategoryScore(score=s, acts=acts, thresholds=Thresholds(), action=a)
        for name, (s, a, acts) in scores.items()
    }
    return verdict().model_copy(update={"categories": categories, "model_version": version})


def test_each_category_reports_its_review_share_precision_and_served_roc_auc() -> None:
    # GIVEN four messages: toxicity removes two (one rightly), reviews one and allows one (rightly);
    # spam does not act in the channel
    rows = [
        (0.95, Action.REMOVE, 1),
        (0.92, Action.REMOVE, 0),
        (0.60, Action.REVIEW, 1),
        (0.10, Action.ALLOW, 0),
    ]
    served, truth = [], {}
    for score, action, toxic in rows:
        v = _judged({"toxicity": (score, action, True), "spam": (0.2, Action.ALLOW, False)})
        served.append(v)
        truth[str(v.message_id)] = GroundTruth(
            message_id=v.message_id, community="tweets", label="allow", categories={"toxicity": toxic}
        )
    results = category_results(served, truth)
    tox, spam = results["toxicity"], results["spam"]
    # THEN toxicity's own mix, its review share and the precision of its removals and allows
    assert tox.actions == {"remove": 2, "review": 1, "allow": 1}
    assert tox.review_share == 0.25
    assert (tox.remove_precision, tox.allow_precision) == (0.5, 1.0)
    assert tox.served_roc_auc == {"1": 0.75}
    # AND a category that does not act has no automatic actions to be precise about, nor a truth
    assert spam.actions == {"not acting": 4}
    assert (spam.remove_precision, spam.allow_precision, spam.served_roc_auc) == (None, None, {})


def test_the_closing_table_has_a_row_per_phase_and_category() -> None:
    v = _judged({"toxicity": (0.95, Action.REMOVE, True)})
    truth = {str(v.message_id): GroundTruth(message_id=uuid4(), community="t", label="remove")}
    phase = PhaseResult(name="tweets", categories=category_results([v], truth))
    summary = Summary(
        tag="t",
        model_name="m",
        wall_time_s=1.0,
        steps={},
        phases=[phase],
        drift_checks=[],
        champion_versions=["1"],
        published=1,
        with_verdict=1,
        dead_lettered=0,
        with_both=0,
        unaccounted=0,
        duplicate_verdicts=0,
        duplicate_dead_letters=0,
        retries_exhausted=0,
        bot={},
        urls={},
    )
    console = Console(width=200, record=True)
    console.print(category_table(summary))
    text = console.export_text()
    assert "tweets" in text
    assert "toxicity" in text
    assert "0 / 0 / 1" in text
