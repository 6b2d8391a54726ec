"""The demo's closing figures per category: what each category did, how much it sent to review, and
how precise its automatic actions were against the ground truth."""

import dataclasses
from uuid import uuid4

from rich.console import Console

from contracts.policy import Thresholds
from contracts.storage import GroundTruth
from contracts.verdict import Action, CategoryScore, Verdict
from demo.summary import PhaseResult, Summary, category_results, retrained
from demo.view import category_table, promotion_table
from monitoring.canary import CanaryResult, StepAction
from monitoring.live import LiveQuality, Paired
from monitoring.live_flow import LiveResult
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
    summary = _summary([phase])
    console = Console(width=200, record=True)
    console.print(category_table(summary))
    text = console.export_text()
    assert "tweets" in text
    assert "toxicity" in text
    assert "0 / 0 / 1" in text


def _summary(phases: list[PhaseResult] | None = None) -> Summary:
    return Summary(
        tag="t",
        model_name="m",
        wall_time_s=1.0,
        steps={},
        phases=phases or [],
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


def test_the_promotion_table_shows_both_models_on_the_same_messages_and_each_step() -> None:
    # GIVEN the story's live promotion check and its canary check, as their CLIs print them
    def compared(old: float, new: float, shares: tuple[float, float]) -> dict[str, object]:
        return dataclasses.asdict(
            Paired(
                category="removal",
                champion=LiveQuality(
                    n=120, positives=40, roc_auc=old, remove_precision=0.5, allow_precision=0.9
                ),
                challenger=LiveQuality(
                    n=120, positives=40, roc_auc=new, remove_precision=0.8, allow_precision=0.9
                ),
                difference=new - old,
                interval=(0.08, 0.22),
                shadow_scored=400,
                disagreed=90,
                review_shares=shares,
            )
        )

    live = LiveResult(
        challenger="2",
        champion_before="1",
        promoted=True,
        reasons=["removal: +0.150"],
        compared=[compared(0.66, 0.81, (0.58, 0.38))],
        canary_share=0.5,
    )
    canary = CanaryResult(
        canary="2",
        champion="1",
        share_before=0.5,
        action=StepAction.COMPLETE,
        share_after=1.0,
        reasons=["removal: +0.120"],
        compared=[compared(0.70, 0.82, (0.55, 0.40))],
    )
    summary = Summary.model_validate(
        {
            **_summary().model_dump(),
            "promotion": [
                {"check": "live promotion", **live.model_dump(mode="json")},
                {"check": "canary", **canary.model_dump(mode="json")},
            ],
        }
    )
    # WHEN the closing table is drawn
    console = Console(width=250, record=True)
    console.print(promotion_table(summary))
    text = console.export_text()
    # THEN each check's row has both models' estimates, the paired interval, the review shares and
    # what the check did
    assert "live promotion: v1 → v2" in text
    assert "0.660 → 0.810" in text
    assert "+0.150 (+0.080..+0.220)" in text
    assert "58.0% → 38.0%" in text
    assert "50.0% → 80.0%" in text
    assert "canary on 0.5 of channels" in text
    assert "canary: v1 → v2" in text
    assert "complete (0.5 → 1 of channels)" in text


def test_a_retrained_version_is_promoted_the_challenger_or_kept_out() -> None:
    assert retrained({"promoted": True, "challenger": False}) == "promoted"
    assert retrained({"promoted": False, "challenger": True}) == "the challenger"
    assert retrained({"promoted": False, "challenger": False}) == "kept out"
    assert retrained({"promoted": False}) == "kept out"  # a result from before the live path
