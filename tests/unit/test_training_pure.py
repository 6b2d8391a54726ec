"""Splitting, promotion policy, evaluation and the exported scorer: pure code, no services."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from contracts.categories import Category
from contracts.storage import ModeratorDecision
from stream_consumer.features import fit_featurizer, sorted_unique
from stream_consumer.normalize import normalize
from training.adversarial import EvasionFloors, EvasionReport, FamilyResult
from training.cascade import _padded_validation
from training.corpora import Example, ExampleSplits, Source, bundled_count, join_feedback, split_examples
from training.evaluate import EvalReport, auc_difference_interval, auc_interval, evaluate
from training.flow import Datasets, TrainResult, default_target, goes_live
from training.promotion import PromotionPolicy, auc_standard_error, decide
from training.settings import TrainingSettings
from training.train import CategoryParams, _part, augmentations


def _items(n: int, source: Source = Source.RSCIENCE) -> list[Example]:
    return [Example(f"{source} text {i}", source, {Category.REMOVAL: int(i % 3 == 0)}) for i in range(n)]


def test_split_is_reproducible_disjoint_and_stratified() -> None:
    # GIVEN two sets with different removal rates
    items = _items(1000) + _items(400, Source.DAVIDSON)
    # WHEN they are split twice with the same seed
    a, b = split_examples(items, seed=1), split_examples(items, seed=1)
    # THEN the splits are identical, disjoint, complete, and keep each stratum's share
    assert [x.text for x in a.test] == [x.text for x in b.test]
    keys = [{(x.source, x.text) for x in part} for part in (a.train, a.validation, a.test)]
    assert not (keys[0] & keys[1])
    assert not (keys[0] & keys[2])
    assert not (keys[1] & keys[2])
    assert sum(map(len, keys)) == 1400
    for part in (a.train, a.validation, a.test):
        science = [x.labels[Category.REMOVAL] for x in part if x.source == Source.RSCIENCE]
        assert abs(sum(science) / len(science) - 334 / 1000) < 0.01


def test_duplicates_never_cross_splits_and_conflicts_are_dropped() -> None:
    # GIVEN the same text twice (differing in case and spacing) and one text labelled both ways
    items = [
        *_items(50),
        Example("Same  TEXT", Source.RSCIENCE, {Category.REMOVAL: 0}),
        Example("same text", Source.RSCIENCE, {Category.REMOVAL: 0}),
        Example("both ways", Source.RSCIENCE, {Category.REMOVAL: 0}),
        Example("both ways", Source.RSCIENCE, {Category.REMOVAL: 1}),
    ]
    parts = split_examples(items)
    assert parts.dropped == {"duplicates": 1, "conflicts": 2}
    assert len(parts.train) + len(parts.validation) + len(parts.test) == 51


def test_a_different_seed_gives_a_different_split() -> None:
    assert {x.text for x in split_examples(_items(500), seed=1).test} != {
        x.text for x in split_examples(_items(500), seed=2).test
    }


def test_first_model_is_promoted_when_its_behaviour_passes() -> None:
    d = decide({"rscience": 0.8}, None, target="rscience")
    assert d.promote
    assert "first model" in d.reasons[0]


def test_a_behaviour_failure_blocks_even_the_first_model() -> None:
    d = decide({"rscience": 0.9}, None, target="rscience", behaviour_failures=["invariance/names: 0.2"])
    assert not d.promote
    assert "behaviour test failed" in d.reasons[0]


@pytest.mark.parametrize(
    ("challenger", "promote"),
    [(0.801, False), (0.803, True), (0.79, False)],
)
def test_target_must_improve_by_the_margin(challenger: float, promote: bool) -> None:
    d = decide(
        {"rscience": challenger}, {"rscience": 0.80}, "rscience", policy=PromotionPolicy(min_gain=0.002)
    )
    assert d.promote is promote


def test_better_on_the_new_domain_but_too_much_worse_on_the_old_is_rejected() -> None:
    # GIVEN a challenger that learned tweets but forgot r/science
    d = decide(
        {"tweets": 0.97, "rscience": 0.75},
        {"tweets": 0.68, "rscience": 0.80},
        target="tweets",
        guarded=["rscience"],
        policy=PromotionPolicy(max_loss=0.01),
    )
    assert not d.promote
    assert any("rscience" in r and "may lose at most" in r for r in d.reasons)


def test_better_on_the_new_domain_within_the_margin_on_the_old_is_promoted() -> None:
    d = decide(
        {"tweets": 0.97, "rscience": 0.795}, {"tweets": 0.68, "rscience": 0.80}, "tweets", ["rscience"]
    )
    assert d.promote
    assert len(d.reasons) == 2


def test_evaluation_numbers_match_a_hand_computed_case() -> None:
    # GIVEN four messages where one removed message is ranked below a kept one
    report = evaluate([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], ["a", "a", "b", "b"], [10, 10, 500, 500])
    # THEN ROC-AUC is 3 of 4 pairs, and the remove threshold (0.85) flags only the first
    assert report.roc_auc == pytest.approx(0.75)
    remove = next(o for o in report.operating_points if o.name == "remove")
    assert (remove.precision, remove.recall) == (1.0, 0.5)
    assert remove.confusion == [[2, 0], [1, 1]]
    assert report.by_domain["a"].roc_auc == 1.0
    assert report.by_domain["b"].roc_auc == 1.0
    assert set(report.by_length) == {"0-50", "400-inf"}
    assert report.brier == pytest.approx(((0.1**2) + 0.6**2 + 0.6**2 + 0.1**2) / 4)


def test_evaluation_refuses_a_single_class() -> None:
    with pytest.raises(ValueError, match="both"):
        evaluate([1, 1], [0.2, 0.3], ["a", "a"], [1, 1])


def test_featurizer_knows_its_vocabulary_and_scores_unknown_words_as_nothing() -> None:
    f = fit_featurizer(["the cat sat", "the dog sat", "a cat ran"], min_df=2)
    tok = f.tokenize(["the cat", "zebra quokka"])
    rows = f.tfidf(tok)
    # "the", "cat" known (df 2); "the cat" is a bigram seen once (below min_df); unknown words add nothing
    assert list(np.diff(rows.indptr)) == [2, 0]
    assert np.allclose(np.sqrt(np.sum(rows.data**2)), 1.0)  # l2 row
    assert set(f.feature_names()) >= {"the", "cat", "sat"}


def test_feedback_joins_latest_decision_and_counts_unknown_ids() -> None:
    known, unknown = uuid4(), uuid4()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    decisions = [
        ModeratorDecision(message_id=known, label="allow", decided_by="m1", decided_at=t0),
        ModeratorDecision(message_id=known, label="remove", decided_by="m2", decided_at=t0 + timedelta(1)),
        ModeratorDecision(message_id=unknown, label="remove", decided_by="m1", decided_at=t0),
    ]
    decisions.append(  # a decision on another category of the same message stands beside them
        ModeratorDecision(
            message_id=known, label="allow", decided_by="m3", decided_at=t0, category="toxicity"
        )
    )
    rows, missing = join_feedback(decisions, {known: "you absolute clown"})
    assert missing == 1
    assert [(r.text, r.source, r.labels) for r in rows] == [
        ("you absolute clown", "feedback", {Category.REMOVAL: 1}),
        ("you absolute clown", "feedback", {Category.TOXICITY: 0}),
    ]


def test_normalised_text_is_what_the_featurizer_expects(tmp_path: Path) -> None:
    f = fit_featurizer([normalize("Hello World"), normalize("hello there")], min_df=1)
    assert "hello" in f.tokens
    assert "Hello" not in f.tokens


def test_a_challenger_below_an_evasion_floor_is_never_promoted() -> None:
    floor = "spaced letters: 70.0% still flagged (floor 75%)"
    first = decide({"rscience": 0.80}, None, target="rscience", evasion_failures=[floor])
    better = decide({"rscience": 0.90}, {"rscience": 0.80}, target="rscience", evasion_failures=[floor])
    for decision in (first, better):
        assert not decision.promote
        assert f"evasion floor: {floor}" in decision.reasons


def test_the_decision_names_the_gates_that_refused_apart_from_the_comparison() -> None:
    padding = "hate/padding-keeps-flags: 36.0% of 86 messages at or above review stay there (needs 45%)"
    # GIVEN a first model failing a behaviour check and the bias gate
    first = decide(
        {"hate/x": 0.9}, None, target="hate/x", behaviour_failures=[padding], bias_failures=["final 0.85"]
    )
    # THEN each gate's failure is named as a refusal
    assert first.refused_by == [f"behaviour test failed: {padding}", "bias gate: final 0.85"]
    # AND a challenger that only loses the comparison with a champion is not refused by a gate
    beaten = decide({"hate/x": 0.80}, {"hate/x": 0.85}, target="hate/x")
    assert not beaten.promote
    assert beaten.refused_by == []
    assert decide({"hate/x": 0.8}, None, target="hate/x").refused_by == []


def _result(**kw: object) -> TrainResult:
    fields: dict[str, object] = {
        "run_id": "r",
        "version": "3",
        "promoted": False,
        "reasons": [],
        "champion_before": None,
        "test_roc_auc": {},
        "manifest_uri": None,
    }
    return TrainResult.model_validate(fields | kw)


def test_the_runs_outcome_is_one_line_naming_the_version_or_every_refusing_gate() -> None:
    refused = _result(
        reasons=["behaviour test failed: hate/padding-keeps-flags: 36.0%\n(needs 45%)", "evasion floor: x"],
        refused_by=[
            "behaviour test failed: hate/padding-keeps-flags: 36.0%\n(needs 45%)",
            "evasion floor: x",
        ],
    )
    assert refused.champion_after is None
    assert refused.outcome() == (
        "refused: version 3 not promoted, no champion — behaviour test failed: hate/padding-keeps-flags: "
        "36.0% (needs 45%); evasion floor: x"
    )
    kept = _result(
        champion_before="2", reasons=["rscience: 0.8000 vs champion 0.8100, needs at least +0.0020"]
    )
    assert kept.champion_after == "2"
    assert kept.outcome().startswith("kept: version 3 not promoted, champion stays version 2 — rscience: ")
    promoted = _result(promoted=True, champion_before="2", reasons=["no matter"])
    assert (promoted.champion_after, promoted.outcome()) == ("3", "promoted: version 3 is champion (was 2)")
    challenger = _result(challenger=True, champion_before="2", reasons=["no matter"])
    assert challenger.champion_after == "2"
    assert challenger.outcome().startswith("challenger: version 3 passed the offline gate")


def test_a_version_past_the_offline_gate_goes_live_only_on_that_path_and_beside_a_champion() -> None:
    live = TrainingSettings(promotion_path="live")
    assert goes_live(live, "2")
    assert not goes_live(live, None)  # the first model has nothing to be compared with: champion at once
    assert not goes_live(TrainingSettings(), "2")  # the default: offline


def test_the_evasion_report_names_every_family_below_a_floor() -> None:
    row = FamilyResult(
        family="dots between letters",
        toxic=300,
        still_removed=0.80,
        still_flagged=0.96,
        benign=300,
        benign_flagged_clean=0.20,
        benign_flagged=0.25,
    )
    failures = EvasionReport(families=[row]).failures(EvasionFloors())
    assert failures == [
        "dots between letters: 80.0% still removed (floor 90%)",
        "dots between letters: benign false flags +5.0% (at most +2%)",
    ]
    assert (
        EvasionReport(families=[row]).failures(EvasionFloors(still_removed=0.8, false_flag_increase=0.05))
        == []
    )


def test_the_target_is_the_newest_feedbacks_best_labelled_category_else_rscience() -> None:
    def report(n: int) -> EvalReport:
        return evaluate([1, 0] * (n // 2), [0.9, 0.1] * (n // 2), ["x"] * n, [10] * n, resamples=0)

    reports = {
        "toxicity/feedback": report(20),
        "removal/feedback": report(60),
        "removal/rscience": report(100),
        "toxicity/olid": report(200),
    }
    empty = ExampleSplits([], [], [])
    assert default_target(reports, Datasets(splits=empty, extra=["feedback"])) == "removal/feedback"
    assert default_target(reports, Datasets(splits=empty, extra=[])) == "removal/rscience"


def test_labels_added_to_a_sets_texts_ride_along_without_moving_its_split() -> None:
    # GIVEN a labelled set, and moderators' decisions on some of its texts (given at run time)
    base = [Example(f"text {i}", Source.SMS, {Category.SPAM: int(i % 3 == 0)}) for i in range(300)]
    decisions = [Example(f"Text  {i}", "feedback", {Category.REMOVAL: 1}) for i in range(0, 300, 7)]
    before, after = split_examples(base), split_examples(base + decisions)
    # THEN every text stays in the part it was in, and carries the decision there
    for part in ("train", "validation", "test"):
        assert {e.text for e in getattr(before, part)} == {e.text for e in getattr(after, part)}
    decided = {e.text for e in after.test + after.validation + after.train if Category.REMOVAL in e.labels}
    assert decided == {f"text {i}" for i in range(0, 300, 7)}


def test_more_decisions_leave_the_bundled_texts_and_their_copies_as_they_were() -> None:
    # GIVEN bundled sets (benign texts, identity mentions, insults) and two retrainings' decisions, the
    # second holding more
    words = ("muslim", "gay", "black", "jewish")
    base = [
        Example(
            f"post {i}: the {words[i % 4]} folks {'are vermin' if i % 5 == 0 else 'had a picnic'} today",
            (Source.ETHOS, Source.OLID)[i % 2],
            {Category.HATE: int(i % 5 == 0)} if i % 2 == 0 else {Category.TOXICITY: int(i % 5 == 0)},
        )
        for i in range(400)
    ]

    def decisions(n: int) -> list[Example]:
        return [
            Example(
                f"decided {i}: you {'idiot' if i % 3 == 0 else 'legend'}",
                "feedback",
                {Category.TOXICITY: int(i % 3 == 0)},
            )
            for i in range(n)
        ]

    params = CategoryParams()
    wanted = [Category.TOXICITY, Category.HATE]

    def copies(examples: list[Example]) -> tuple[ExampleSplits, dict[str, list[str]], list[str]]:
        splits = split_examples(examples)
        train, validation = _part(splits.train, wanted), _part(splits.validation, wanted)
        bundled = (bundled_count(splits.train), bundled_count(splits.validation))
        extra, padded_val = augmentations(train, validation, params, wanted, bundled)
        assert padded_val is not None
        texts = {k: [t.text for t in v.texts] for k, v in extra.items()}
        return splits, texts, [t.text for t in padded_val.texts]

    alone, fewer, more = copies(base), copies(base + decisions(40)), copies(base + decisions(90))
    # THEN each part lists the bundled texts first, in the same order whatever the decisions
    for splits in (fewer[0], more[0]):
        for part in ("train", "validation", "test"):
            got, was = getattr(splits, part), getattr(alone[0], part)
            assert [e.text for e in got[: len(was)]] == [e.text for e in was]
            assert all(e.source == "feedback" for e in got[len(was) :])
    # AND the bundled texts' padded and identity-swapped copies are the ones a training on them alone
    # draws; the decisions' own copies follow them, and one more decision changes no earlier one
    assert set(alone[1]) == {"padded", "swapped_benign", "swapped_every"}
    for name, was in alone[1].items():
        assert fewer[1][name][: len(was)] == was, name
        assert more[1][name][: len(was)] == was, name
    decided_padded = set(fewer[1]["padded"][len(alone[1]["padded"]) :])
    assert decided_padded
    assert decided_padded <= set(more[1]["padded"])
    # AND so are the padded validation copies the stacks are fitted on
    assert set(alone[2]) <= set(fewer[2])
    assert set(alone[2]) <= set(more[2])
    # AND the cascade's padded validation copies are the bundled texts' alone, unchanged
    cascade_copies = [_padded_validation(s[0].validation, wanted)[1] for s in (alone, fewer, more)]
    assert cascade_copies[0]
    assert cascade_copies[0] == cascade_copies[1] == cascade_copies[2]


def test_a_part_whose_bundled_texts_are_not_first_is_refused() -> None:
    bundled = Example("a text", Source.SMS, {Category.SPAM: 0})
    decided = Example("another", "feedback", {Category.REMOVAL: 1})
    assert bundled_count([bundled, bundled, decided]) == 2
    with pytest.raises(ValueError, match="not first"):
        bundled_count([bundled, decided, bundled])


def test_a_guarded_evaluation_of_a_handful_of_labels_is_reported_not_guarded() -> None:
    # GIVEN a challenger better on the target, worse on a category with 11 labels (2 of one class)
    champion, challenger = {"tweets": 0.68, "toxicity": 0.86}, {"tweets": 0.97, "toxicity": 0.18}
    few = decide(challenger, champion, "tweets", ["toxicity"], sizes={"toxicity": (11, 2)})
    many = decide(challenger, champion, "tweets", ["toxicity"], sizes={"toxicity": (400, 120)})
    # THEN the handful is reported beside the decision, and only a real evaluation blocks
    assert few.promote
    assert any("not guarded: 2 texts of one class" in r for r in few.reasons)
    assert not many.promote


def test_a_guarded_loss_within_the_paired_noise_does_not_block_a_sure_one_does() -> None:
    champion, challenger = {"tweets": 0.68, "ethos": 0.697}, {"tweets": 0.97, "ethos": 0.685}
    noisy = decide(challenger, champion, "tweets", ["ethos"], differences={"ethos": (-0.04, 0.02)})
    sure = decide(challenger, champion, "tweets", ["ethos"], differences={"ethos": (-0.03, -0.002)})
    assert noisy.promote
    assert any("within noise" in r for r in noisy.reasons)
    assert not sure.promote


def test_a_loss_within_a_small_sets_standard_error_does_not_block_on_a_large_set_it_does() -> None:
    # GIVEN a challenger better on the target that loses 0.0195 on a guarded set, surely (paired interval
    # below zero) — the quick demo's hate/ethos after a retraining on tweets' toxicity labels
    champion, challenger = {"tweets": 0.76, "ethos": 0.7794}, {"tweets": 0.88, "ethos": 0.7599}
    sure = {"ethos": (-0.035, -0.004)}
    small = decide(challenger, champion, "tweets", ["ethos"], sizes={"ethos": (150, 65)}, differences=sure)
    large = decide(
        challenger, champion, "tweets", ["ethos"], sizes={"ethos": (3_000, 1_300)}, differences=sure
    )
    # THEN on 150 texts (standard error 0.039) it is reported, on 3,000 (0.009) it blocks
    assert small.promote
    assert any("within the set's standard error 0.0392" in r for r in small.reasons)
    assert not large.promote
    assert any("may lose at most 0.0100" in r for r in large.reasons)
    # AND a loss beyond even the small set's standard error blocks there too
    worse = decide(
        {**challenger, "ethos": 0.72},
        champion,
        "tweets",
        ["ethos"],
        sizes={"ethos": (150, 65)},
        differences=sure,
    )
    assert not worse.promote


def test_a_guarded_set_nearly_all_of_one_class_is_reported_whichever_class_it_is() -> None:
    # GIVEN a challenger that loses surely on a set of 400 texts, 395 of them positive (5 negatives)
    champion, challenger = {"tweets": 0.70, "olid": 0.90}, {"tweets": 0.80, "olid": 0.80}
    sure = {"olid": (-0.15, -0.05)}
    decision = decide(challenger, champion, "tweets", ["olid"], sizes={"olid": (400, 395)}, differences=sure)
    # THEN the five of one class make it a report, not a guard
    assert decision.promote
    assert any("not guarded: 5 texts of one class" in r for r in decision.reasons)


def test_a_loss_of_exactly_the_margin_or_an_interval_touching_zero_does_not_block() -> None:
    # GIVEN losses of exactly max_loss (values exact in binary) and beyond it with the interval's top at 0
    policy = PromotionPolicy(max_loss=0.25)
    champion = {"tweets": 0.5, "olid": 0.75}
    at_margin = decide({"tweets": 0.625, "olid": 0.5}, champion, "tweets", ["olid"], policy=policy)
    touching = decide(
        {"tweets": 0.625, "olid": 0.375},
        champion,
        "tweets",
        ["olid"],
        policy=policy,
        differences={"olid": (-0.5, 0.0)},
    )
    # THEN neither blocks: the first is within the margin, the second not surely worse
    assert at_margin.promote
    assert any(r == "olid: 0.5000 vs champion 0.7500 (-0.2500)" for r in at_margin.reasons)
    assert touching.promote
    assert any("within noise" in r for r in touching.reasons)


def test_the_auc_standard_error_of_a_set_without_one_class_is_unbounded() -> None:
    assert auc_standard_error(0.8, 0, 50) == float("inf")
    assert auc_standard_error(0.8, 50, 0) == float("inf")
    one_each = auc_standard_error(0.8, 1, 1)
    assert 0 < one_each < float("inf")
    assert 0 < auc_standard_error(0.8, 1, 50) < one_each


def test_the_auc_standard_error_is_the_spread_of_the_auc_over_test_samples() -> None:
    rng = np.random.default_rng(5)
    aucs = []
    for _ in range(400):
        y = np.r_[np.ones(65), np.zeros(85)]
        scores = y * 1.1 + rng.normal(0, 1, 150)
        aucs.append(roc_auc_score(y, scores))
    spread = float(np.std(aucs))
    assert auc_standard_error(float(np.mean(aucs)), 65, 85) == pytest.approx(spread, rel=0.15)
    assert auc_standard_error(0.78, 1_300, 1_700) < auc_standard_error(0.78, 65, 85) / 4


def test_the_paired_interval_brackets_the_difference_and_is_tighter_than_either_models() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = y + rng.normal(0, 0.8, 300)  # a better model
    b = a + rng.normal(0, 0.3, 300)  # the same model, a little noisier
    low, high = auc_difference_interval(y, a, b)
    diff = roc_auc_score(y, a) - roc_auc_score(y, b)
    assert low <= diff <= high
    a_low, a_high = auc_interval(y, a)
    assert high - low < (a_high - a_low) / 2
    # a model against itself: no difference at all
    assert auc_difference_interval(y, a, a) == (0.0, 0.0)


def test_a_run_time_set_that_grows_keeps_each_texts_part() -> None:
    # GIVEN moderators' decisions at one retraining, and more of them at the next
    def decisions(n: int) -> list[Example]:
        return [
            Example(f"decision number {i}", "feedback", {Category.TOXICITY: i % 3 == 0}) for i in range(n)
        ]

    def parts(examples: list[Example]) -> dict[str, str]:
        s = split_examples(examples)
        return {
            e.text: name
            for name, p in (("train", s.train), ("val", s.validation), ("test", s.test))
            for e in p
        }

    before, after = parts(decisions(300)), parts(decisions(900))
    # THEN no text changes part: what the last champion trained on never becomes the next test
    assert all(after[t] == part for t, part in before.items())
    assert 0.1 < sum(p == "test" for p in after.values()) / len(after) < 0.2


@settings(deadline=None)  # a busy two-core machine must not fail it on time
@given(st.lists(st.integers(min_value=-(2**62), max_value=2**62), max_size=300))
def test_sorted_unique_is_numpys_unique(keys: list[int]) -> None:
    # the featurizer's distinct (text, key) pairs: empty, repeated, negative and huge keys alike
    array = np.array(keys, dtype=np.int64)
    got = sorted_unique(array)
    assert got.dtype == np.int64
    assert np.array_equal(got, np.unique(array))
