"""Bias metrics by identity subgroup: known answers on hand-built cases, the bootstrap, the templated
identity set, and the rule that no templated sentence is a text the model trains on."""

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from training.bias import BiasReport, Estimate, bias_report, bias_reports, final_score, power_mean
from training.corpora import dedupe_key, load_all, load_hatexplain
from training.identity import TEMPLATES, TERMS, templated_set
from training.plots import save_bias_plot


def _scored(n: int, seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.int_], list[set[str]]]:
    """n examples in three thirds (subgroup a, subgroup b, background) whose scores rank them imperfectly."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scores = np.round(rng.normal(y * 1.0, 1.0), 1)  # rounded: ties occur, as with a calibrated model
    groups = [{"a"} if i % 3 == 0 else {"b"} if i % 3 == 1 else set() for i in range(n)]
    return scores, y, groups


def _mask(groups: list[set[str]], name: str) -> NDArray[np.bool_]:
    return np.array([name in g for g in groups])


def test_a_perfect_scorer_scores_one_everywhere() -> None:
    # GIVEN scores that put every positive above every negative
    _, y, groups = _scored(300)
    # WHEN the bias metrics are computed
    report = bias_report("perfect", y * 0.8 + 0.1, y, groups, n_boot=20)
    # THEN every AUC, every mean and the final score are 1, and so are their intervals
    estimates = [report.overall_auc, report.subgroup_auc, report.bpsn_auc, report.bnsp_auc, report.final]
    estimates += [e for r in report.subgroups for e in (r.subgroup_auc, r.bpsn_auc, r.bnsp_auc)]
    assert [r.name for r in report.subgroups] == ["a", "b"]
    assert all(e.value == e.lo == e.hi == 1.0 for e in estimates)


def test_each_auc_is_roc_auc_on_its_slice() -> None:
    # GIVEN imperfect scores with ties and two subgroups
    scores, y, groups = _scored(600)
    # WHEN the bias metrics are computed
    report = bias_report("slices", scores, y, groups, n_boot=0)
    # THEN each AUC is sklearn's on the slice Borkan et al. define
    assert report.overall_auc.value == pytest.approx(roc_auc_score(y, scores))
    for row in report.subgroups:
        sub = _mask(groups, row.name)
        bpsn = (sub & (y == 0)) | (~sub & (y == 1))  # background positives, subgroup negatives
        bnsp = (sub & (y == 1)) | (~sub & (y == 0))  # background negatives, subgroup positives
        assert row.subgroup_auc.value == pytest.approx(roc_auc_score(y[sub], scores[sub]))
        assert row.bpsn_auc.value == pytest.approx(roc_auc_score(y[bpsn], scores[bpsn]))
        assert row.bnsp_auc.value == pytest.approx(roc_auc_score(y[bnsp], scores[bnsp]))
        assert row.n == sub.sum()
        assert row.positives == (sub & (y == 1)).sum()
    assert report.bpsn_auc.lo is None  # no resamples, no interval


def test_a_constant_added_to_a_subgroup_lowers_its_bpsn_and_not_its_subgroup_auc() -> None:
    # GIVEN a scorer, and a biased copy that adds 0.5 to every message mentioning subgroup a
    scores, y, groups = _scored(900)
    biased = scores + 0.5 * _mask(groups, "a")
    # WHEN both are measured
    fair = {r.name: r for r in bias_report("fair", scores, y, groups, n_boot=0).subgroups}
    skewed = {r.name: r for r in bias_report("biased", biased, y, groups, n_boot=0).subgroups}
    # THEN a's ranking within itself is unchanged, its benign messages now outrank background toxic
    # ones (BPSN falls) and its toxic messages outrank background benign ones more (BNSP rises)
    assert skewed["a"].subgroup_auc.value == fair["a"].subgroup_auc.value
    assert skewed["a"].bpsn_auc.value < fair["a"].bpsn_auc.value - 0.05
    assert skewed["a"].bnsp_auc.value > fair["a"].bnsp_auc.value + 0.05


def test_the_power_mean_with_p_minus_five_leans_towards_the_minimum() -> None:
    # GIVEN AUCs of one weak and three strong subgroups
    values = [0.6, 0.9, 0.9, 0.9]
    # WHEN they are summarised by the default power mean
    mean = power_mean(values)
    # THEN it is (mean of v^-5)^(-1/5), between the weakest and the arithmetic mean, and the further
    # below the mean as the weak subgroup is weaker
    assert mean == pytest.approx(np.mean(np.power(values, -5.0)) ** (-1 / 5))
    assert min(values) < mean < power_mean(values, p=1.0) == pytest.approx(np.mean(values))
    assert power_mean(values, p=1.0) < power_mean(values, p=5.0)
    assert np.mean([0.3, 0.9, 0.9, 0.9]) - power_mean([0.3, 0.9, 0.9, 0.9]) > np.mean(values) - mean
    assert power_mean([0.7, 0.7]) == pytest.approx(0.7)
    assert power_mean([0.0, 0.9]) == 0.0  # a subgroup ranked all wrong drags the mean to zero


def test_the_report_summarises_each_family_by_the_power_mean_and_weighs_a_quarter_each() -> None:
    # GIVEN a report on imperfect scores
    scores, y, groups = _scored(600, seed=3)
    report = bias_report("weights", scores, y, groups, n_boot=0)
    # THEN each family's summary is the power mean of its subgroups' AUCs
    for key in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
        rows = [getattr(r, key).value for r in report.subgroups]
        assert getattr(report, key).value == pytest.approx(power_mean(rows))
    # AND the final score weighs the overall AUC and the three means by a quarter each
    parts = [report.overall_auc, report.subgroup_auc, report.bpsn_auc, report.bnsp_auc]
    assert report.final.value == pytest.approx(0.25 * sum(p.value for p in parts))
    assert final_score(1.0, 0.0, 0.0, 0.0) == final_score(0.0, 0.0, 0.0, 1.0) == 0.25


def test_a_subgroup_with_one_class_or_too_few_examples_is_skipped_with_its_reason() -> None:
    # GIVEN a subgroup of benign messages only, and a subgroup of two examples
    scores, y, groups = _scored(300)
    groups = [g | {"only_benign"} if y[i] == 0 and i < 60 else g for i, g in enumerate(groups)]
    groups[0], groups[1] = groups[0] | {"tiny"}, groups[1] | {"tiny"}
    # WHEN the metrics are computed with at least 5 examples per subgroup
    report = bias_report("skips", scores, y, groups, n_boot=10, min_size=5)
    # THEN both are reported as skipped, with why, and left out of the means
    skipped = {s.name: s.reason for s in report.skipped}
    assert set(skipped) == {"only_benign", "tiny"}
    assert "one class" in skipped["only_benign"]
    assert "fewer than 5" in skipped["tiny"]
    assert [r.name for r in report.subgroups] == ["a", "b"]
    assert report.bpsn_auc.value == pytest.approx(power_mean([r.bpsn_auc.value for r in report.subgroups]))


def test_the_bootstrap_interval_holds_the_point_and_narrows_with_more_examples() -> None:
    # GIVEN the same kind of data, small and ten times larger
    small, large = (bias_report("b", *_scored(n, seed=7), n_boot=300, seed=1) for n in (240, 2400))

    def width(e: Estimate) -> float:
        assert e.lo is not None
        assert e.hi is not None
        return e.hi - e.lo

    # THEN every interval holds its point estimate, and the larger set's are narrower
    for report in (small, large):
        for e in (report.overall_auc, report.subgroup_auc, report.bpsn_auc, report.bnsp_auc, report.final):
            assert e.lo is not None
            assert e.hi is not None
            assert e.lo <= e.value <= e.hi
    for key in ("overall_auc", "subgroup_auc", "bpsn_auc", "bnsp_auc", "final"):
        assert width(getattr(large, key)) < 0.6 * width(getattr(small, key))


def test_the_vectorised_bootstrap_equals_resampling_examples_one_by_one() -> None:
    # GIVEN data and the resamples a seeded generator draws
    scores, y, groups = _scored(200, seed=11)
    draws = np.random.default_rng(5).integers(0, 200, size=(50, 200))
    # WHEN the report resamples with the same seed
    report = bias_report("boot", scores, y, groups, n_boot=50, seed=5)
    # THEN its interval is the percentile interval of sklearn's AUC over those resamples
    aucs = [roc_auc_score(y[idx], scores[idx]) for idx in draws]
    assert (report.overall_auc.lo, report.overall_auc.hi) == pytest.approx(
        tuple(np.percentile(aucs, [2.5, 97.5]))
    )
    a = _mask(groups, "a")
    bpsn = [
        roc_auc_score(y[i][m], scores[i][m])
        for i in draws
        for m in [(a[i] & (y[i] == 0)) | (~a[i] & (y[i] == 1))]
    ]
    row = report.subgroups[0]
    assert (row.bpsn_auc.lo, row.bpsn_auc.hi) == pytest.approx(tuple(np.percentile(bpsn, [2.5, 97.5])))
    # AND the same seed gives the same report
    assert bias_report("boot", scores, y, groups, n_boot=50, seed=5) == report


def test_the_report_is_json_and_flat_metric_names() -> None:
    # GIVEN a report
    report = bias_report("templated", *_scored(300), n_boot=20)
    # WHEN it is serialised and flattened
    restored = BiasReport.model_validate(json.loads(report.model_dump_json()))
    metrics = report.metrics()
    # THEN it survives JSON, and its metrics carry values and intervals under flat names
    assert restored == report
    assert metrics["bias.templated.final"] == report.final.value
    assert metrics["bias.templated.final.lo"] == report.final.lo
    assert metrics["bias.templated.bpsn_auc.hi"] == report.bpsn_auc.hi
    assert metrics["bias.templated.subgroup.a.bnsp_auc"] == report.subgroups[0].bnsp_auc.value
    assert metrics["bias.templated.n"] == 300
    assert all(isinstance(v, float) for v in metrics.values())


def test_the_templated_set_crosses_every_term_with_toxic_and_benign_templates() -> None:
    # GIVEN the templated identity set
    examples = templated_set()
    # THEN it holds ≥ 25 terms × ≥ 30 templates, both labels, every term in toxic and benign messages
    assert len(TERMS) >= 25
    assert len(TEMPLATES) >= 30
    assert len(examples) == len(TERMS) * len(TEMPLATES)
    assert {t.label for t in TEMPLATES} == {0, 1}
    for term in TERMS:
        mine = [e for e in examples if e.subgroup == term.term]
        assert {e.label for e in mine} == {0, 1}, term.term
        assert sum(e.label for e in mine) >= 10
        assert sum(1 - e.label for e in mine) >= 10
    assert len({t.group for t in TERMS}) >= 6  # race, religion, gender, orientation, disability, …
    # AND it is deterministic, with no sentence twice and no slot left unfilled
    assert templated_set() == examples
    assert len({dedupe_key(e.text) for e in examples}) == len(examples)
    assert not any("{" in e.text or "}" in e.text for e in examples)


def test_no_templated_sentence_is_a_text_of_any_data_set(data_dir: Path) -> None:
    # GIVEN every text of every labelled set the model may train on
    texts = {dedupe_key(e.text) for e in load_all(data_dir)}
    assert len(texts) > 50_000  # every set was read
    # WHEN the templated identity set is compared with them (case and white space ignored)
    copied = [e.text for e in templated_set() if dedupe_key(e.text) in texts]
    # THEN none is there: the set measures bias and is never trained on
    assert copied == []


def test_bias_reports_cover_the_templated_set_and_hatexplain_by_community(data_dir: Path) -> None:
    # GIVEN a scorer that knows the templates' labels and scores a HateXplain post by whether it has a target
    posts = load_hatexplain(data_dir)
    truth = {e.text: float(e.label) for e in templated_set()}
    targeted = {e.text: float(e.group != "") for e in posts}

    def score(texts: list[str]) -> NDArray[np.float64]:
        return np.array([truth[t] if t in truth else 0.2 + 0.6 * targeted[t] for t in texts])

    # WHEN the reports are computed
    reports = bias_reports(score, posts, n_boot=30)
    # THEN the templated set is scored perfectly across all its terms
    templated = reports["templated"]
    assert templated.final.value == 1.0
    assert {r.name for r in templated.subgroups} == {t.term for t in TERMS}
    assert templated.skipped == []
    # AND HateXplain is split by the communities at least 30 posts target, the rest reported as skipped
    for name in ("hatexplain_hate", "hatexplain_toxic"):
        report = reports[name]
        named = {r.name for r in report.subgroups}
        assert {"African", "Islam", "Jewish", "Homosexual", "Women", "Refugee", "Arab"} <= named
        assert "Other" not in named | {s.name for s in report.skipped}
        assert all(r.n >= 30 for r in report.subgroups)
        assert {"Men", "Disability"} <= {s.name for s in report.skipped}
    assert reports["hatexplain_hate"].positives < reports["hatexplain_toxic"].positives


def test_the_bias_plot_is_written(tmp_path: Path) -> None:
    # GIVEN a report WHEN it is plotted THEN a PNG named after the set is written
    path = save_bias_plot(tmp_path, bias_report("templated", *_scored(300), n_boot=20))
    assert path == tmp_path / "bias_templated.png"
    assert path.read_bytes().startswith(b"\x89PNG")
