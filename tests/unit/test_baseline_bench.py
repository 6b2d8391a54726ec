"""The baseline benchmark's rules: what counts as a win, which sources are left out, what it renders."""

import numpy as np

from benchmarks.baseline import MIN_MARGIN, compare, fit_baseline, left_out_sources, render
from contracts.categories import Category
from training.corpora import Example, Source


def _scores(seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 600)
    return y, y + rng.normal(0, noise, 600)


def test_a_row_is_won_only_by_the_larger_of_the_margin_and_the_baselines_half_interval() -> None:
    y, good = _scores(1, 0.6)
    _, worse = _scores(1, 1.2)
    row = compare(y, good, worse + np.random.default_rng(2).normal(0, 0.5, 600), resamples=100)
    half = (row["baseline"]["hi"] - row["baseline"]["lo"]) / 2
    assert row["margin"] == max(MIN_MARGIN, half)
    assert row["won"]
    assert row["ahead"]
    assert row["difference"]["lo"] > 0
    # the same scores on both sides: neither won nor ahead
    same = compare(y, good, good, resamples=100)
    assert not same["won"]
    assert not same["ahead"]
    # a gain smaller than the margin is ahead, not won
    nudged = compare(y, good + 1e-9 * y, good, resamples=100)
    assert nudged["ahead"] or nudged["difference"]["value"] == 0
    assert not nudged["won"]


def test_sources_left_out_are_the_annotated_ones_with_both_classes() -> None:
    examples = [
        Example("a", Source.OLID, {Category.TOXICITY: 1}),
        Example("b", Source.OLID, {Category.TOXICITY: 0}),
        Example("c", Source.SMS, {Category.TOXICITY: 0, Category.SPAM: 1}),
        Example("d", Source.SMS, {Category.SPAM: 0}),
        Example("e", Source.YOUTUBE, {Category.SPAM: 1}, group="Psy"),
        Example("f", Source.YOUTUBE, {Category.SPAM: 0}, group="Psy"),
        Example("g", Source.RSCIENCE, {Category.TOXICITY: 0, Category.REMOVAL: 1}),
    ]
    # SMS's toxicity labels are assumed negatives, r/science's too: only OLID is left out for toxicity
    assert left_out_sources(examples, Category.TOXICITY) == ["olid"]
    assert left_out_sources(examples, Category.SPAM) == ["sms", "youtube/Psy"]


def test_the_baseline_is_the_plain_pipeline_and_ranks_what_it_learnt() -> None:
    texts = ["you idiot", "you moron", "nice day", "good game"] * 5
    labels = [1, 1, 0, 0] * 5
    model = fit_baseline(texts, labels)
    p = model.predict_proba(["idiot moron", "nice game"])[:, 1]
    assert p[0] > p[1]


def test_render_names_every_row_and_the_previous_design() -> None:
    y, good = _scores(3, 0.6)
    row = {"category": "toxicity", "kind": "test", "source": "olid", **compare(y, good, good, 50)}
    loso = {"category": "toxicity", "kind": "loso", "source": "davidson", **compare(y, good, good, 50)}
    load = {"review_share": 0.1, "remove_share": 0.4, "allow_share": 0.5}
    results = {
        "rows": [row, loso],
        "load": [{"category": "toxicity", "n": 600, "champion": load, "baseline": load}],
        "previous": {
            "rows": [{"category": "toxicity", "source": "olid", "roc_auc": 0.5, "lo": 0.4, "hi": 0.6}],
            "load": [{"category": "toxicity", **load}],
        },
        "remove_precision": 0.95,
        "allow_precision": 0.99,
        "speed": {"texts": 10, "champion_msg_per_s": 1.0, "baseline_msg_per_s": 2.0},
    }
    text = render(results)
    assert "| toxicity | test | olid |" in text
    assert "| toxicity | loso | davidson |" in text
    assert "0.500 |" in text  # the previous design's ROC-AUC beside the test row
    assert "behind" in text
