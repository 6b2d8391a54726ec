"""Drift decision rules on synthetic summaries."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import (
    TEXT_DESCRIPTORS,
    DriftRules,
    DriftSummary,
    assess,
    descriptors,
    evidently_report,
    reference_languages,
    summarise,
    unseen_word_share,
)

DESCRIPTORS = (*TEXT_DESCRIPTORS, "score.toxicity", "score.removal")

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def summary(
    n: int = 500, p_unseen: float = 0.5, unseen: float = 0.05, p_score: float = 0.5, category: str = "removal"
) -> DriftSummary:
    means = dict.fromkeys(DESCRIPTORS, 0.0) | {"unseen_word_share": unseen}
    reference = dict.fromkeys(DESCRIPTORS, 0.0) | {"unseen_word_share": 0.05}
    return DriftSummary(
        window_size=n,
        reference_size=800,
        pvalues=dict.fromkeys(DESCRIPTORS, 0.5)
        | {"unseen_word_share": p_unseen, f"score.{category}": p_score},
        means=means,
        reference_means=reference,
        action_rates={},
        text_drift_score=None,
    )


def test_a_quiet_window_is_not_drift() -> None:
    result = assess(summary(), DriftRules(), NOW)
    assert not result.drifted
    assert result.reasons == ["no rule fired"]


def test_a_small_window_is_never_judged() -> None:
    result = assess(summary(n=100, p_unseen=1e-20, unseen=0.5), DriftRules(min_window=300), NOW)
    assert not result.drifted
    assert "below the minimum" in result.reasons[0]


def test_unseen_words_drift_by_test_or_by_mean_increase() -> None:
    by_test = assess(summary(p_unseen=1e-5), DriftRules(), NOW)
    by_mean = assess(summary(unseen=0.08), DriftRules(), NOW)
    assert by_test.drifted
    assert by_test.trigger_retraining
    assert by_mean.drifted
    assert "rose by +0.030" in by_mean.reasons[0]


def test_prediction_drift_of_any_category_alone_counts_and_is_named() -> None:
    for category in ("removal", "toxicity"):
        result = assess(summary(p_score=1e-9, category=category), DriftRules(), NOW)
        assert result.drifted
        assert result.reasons == [f"{category} score distribution drifted (KS p=1e-09 < 1e-06)"]


def test_the_cool_down_turns_a_second_trigger_into_a_report_only() -> None:
    rules = DriftRules(cooldown=timedelta(minutes=30))
    soon = assess(summary(p_unseen=1e-9), rules, NOW, last_trigger=NOW - timedelta(minutes=5))
    later = assess(summary(p_unseen=1e-9), rules, NOW, last_trigger=NOW - timedelta(hours=2))
    assert soon.drifted
    assert not soon.trigger_retraining
    assert "cool-down" in soon.reasons[-1]
    assert later.trigger_retraining


def test_unseen_word_share_counts_words_not_punctuation() -> None:
    shares = unseen_word_share(["the cat sat !!!", "zebra cat", ""], frozenset({"the", "cat", "sat"}))
    assert shares.tolist() == [0.0, 0.5, 0.0]


def test_a_new_language_in_the_mix_is_drift() -> None:
    german = summary().model_copy(update={"means": summary().means | {"other_language_share": 0.2}})
    result = assess(german, DriftRules(), NOW)
    assert result.drifted
    assert result.reasons == [
        "language mix changed: messages in languages the reference does not hold rose by +0.200 (> 0.05)"
    ]
    few = summary().model_copy(update={"means": summary().means | {"other_language_share": 0.04}})
    assert not assess(few, DriftRules(), NOW).drifted


def test_the_reference_holds_its_common_languages_and_a_window_is_measured_against_them() -> None:
    known = reference_languages(["en"] * 97 + ["de"] * 3)
    assert known == frozenset({"en", "und"})
    frame = descriptors(
        ["hallo", "hello", "ok"], {"removal": [0.1, 0.2, 0.3]}, set(), ["de", "en", "und"], known
    )
    assert frame["other_language_share"].tolist() == [1.0, 0.0, 0.0]


def test_each_rule_fires_above_its_threshold_not_at_it() -> None:
    # GIVEN thresholds a window meets exactly (numbers exact in binary), and the window at the minimum size
    rules = DriftRules(
        min_window=500, unseen_pvalue=0.125, unseen_increase=0.25, language_increase=0.25, score_pvalue=0.125
    )
    at = summary(n=500, p_unseen=0.125, unseen=0.3, p_score=0.125)  # a rise of 0.25 from 0.05
    at = at.model_copy(
        update={
            "means": at.means | {"unseen_word_share": 0.3125, "other_language_share": 0.5},
            "reference_means": at.reference_means
            | {"unseen_word_share": 0.0625, "other_language_share": 0.25},
        }
    )
    # THEN a window of exactly the minimum is judged, and nothing at its threshold counts as drift
    result = assess(at, rules, NOW)
    assert result.reasons == ["no rule fired"]
    # AND just past each threshold, each rule fires on its own
    past = {
        "unseen-word share drifted": at.model_copy(
            update={"pvalues": at.pvalues | {"unseen_word_share": 0.0625}}
        ),
        "unseen-word share rose": at.model_copy(update={"means": at.means | {"unseen_word_share": 0.375}}),
        "language mix changed": at.model_copy(update={"means": at.means | {"other_language_share": 0.5625}}),
        "removal score distribution drifted": at.model_copy(
            update={"pvalues": at.pvalues | {"score.removal": 0.0625}}
        ),
    }
    for rule, window in past.items():
        fired = assess(window, rules, NOW)
        assert fired.trigger_retraining, rule
        assert len(fired.reasons) == 1, fired.reasons
        assert fired.reasons[0].startswith(rule), fired.reasons


def test_a_small_window_never_triggers_a_retraining_whatever_it_holds() -> None:
    result = assess(
        summary(n=299, p_unseen=1e-20, unseen=0.9, p_score=1e-20), DriftRules(min_window=300), NOW
    )
    assert (result.drifted, result.trigger_retraining) == (False, False)


def test_a_window_whose_language_mix_is_the_references_is_not_drift() -> None:
    # GIVEN a reference with a fifth of its messages in other languages, and a window with the same fifth
    same = summary().model_copy(
        update={
            "means": summary().means | {"other_language_share": 0.2},
            "reference_means": summary().reference_means | {"other_language_share": 0.2},
        }
    )
    assert not assess(same, DriftRules(), NOW).drifted


def test_a_window_without_an_unseen_word_test_is_judged_by_the_others() -> None:
    untested = summary(p_score=1e-9)
    untested = untested.model_copy(
        update={"pvalues": {k: v for k, v in untested.pvalues.items() if k != "unseen_word_share"}}
    )
    assert assess(untested, DriftRules(), NOW).reasons == [
        "removal score distribution drifted (KS p=1e-09 < 1e-06)"
    ]


def test_the_descriptor_table_names_and_measures_each_descriptor() -> None:
    # GIVEN three normalised texts, their scores (as the registry stores them: any numbers), a vocabulary
    table = descriptors(
        ["ab 12", "hello", "x"],
        {"toxicity": [0, 1, 0], "removal": [0.25, 0.5, 0.75]},
        {"hello", "x"},
        ["en", "fr", "und"],
        frozenset({"en", "und"}),
    )
    # THEN the table has the text, the text's descriptors and one float score per category, by name
    assert list(table.columns) == ["text", *TEXT_DESCRIPTORS, "score.removal", "score.toxicity"]
    assert table["text"].tolist() == ["ab 12", "hello", "x"]
    assert table["unseen_word_share"].tolist() == [1.0, 0.0, 0.0]
    assert table["length"].tolist() == [5.0, 5.0, 1.0]
    assert table["non_letter_share"].tolist() == [0.6, 0.0, 0.0]  # a one-letter text is all letters
    assert table["other_language_share"].tolist() == [0.0, 1.0, 0.0]
    assert table["score.toxicity"].tolist() == [0.0, 1.0, 0.0]
    assert all(table[c].dtype == "float64" for c in table.columns if c != "text")


def test_a_language_of_exactly_the_floors_share_is_the_references() -> None:
    # 1 of 20 texts is 5%, the floor: it is one of the reference's languages
    assert reference_languages(["de"] + ["en"] * 19) == frozenset({"de", "en", "und"})
    assert reference_languages(["de"] + ["en"] * 20) == frozenset({"en", "und"})


def test_a_reference_from_before_the_language_descriptor_holds_no_other_language() -> None:
    # GIVEN a window where 30% of messages are in other languages, against a reference stored without
    # the language descriptor
    window = summary()
    means = window.means | {"other_language_share": 0.3}
    reference = {k: v for k, v in window.reference_means.items() if k != "other_language_share"}
    result = assess(
        window.model_copy(update={"means": means, "reference_means": reference}), DriftRules(), NOW
    )
    # THEN the rise is the whole share
    assert result.drifted
    assert any(r.startswith("language mix changed") and "+0.300" in r for r in result.reasons)
    # AND a window without the descriptor either is no language drift
    means = {k: v for k, v in window.means.items() if k != "other_language_share"}
    assert not assess(window.model_copy(update={"means": means}), DriftRules(), NOW).drifted


def test_the_cool_down_ends_at_its_length() -> None:
    drifted = summary(unseen=0.2)
    rules = DriftRules()
    assert assess(drifted, rules, NOW, last_trigger=NOW - rules.cooldown).trigger_retraining
    assert not assess(
        drifted, rules, NOW, last_trigger=NOW - rules.cooldown + timedelta(seconds=1)
    ).trigger_retraining


def test_evidently_measures_each_descriptor_and_the_summary_collects_the_window() -> None:
    # GIVEN a reference of one community and a window where most words are new
    rng = np.random.default_rng(5)
    vocabulary = {f"w{k}" for k in range(50)}
    known = [" ".join(f"w{k}" for k in rng.integers(0, 50, 8)) for _ in range(120)]
    new = [" ".join(f"n{k}" for k in rng.integers(0, 50, 8)) for _ in range(120)]
    scores = {"toxicity": rng.uniform(0, 1, 120).tolist()}
    reference = descriptors(known, scores, vocabulary, ["en"] * 120, frozenset({"en", "und"}))
    window = descriptors(new, scores, vocabulary, ["en"] * 120, frozenset({"en", "und"}))
    # WHEN Evidently compares them (without its text classifier), and the window is summarised
    snapshot, pvalues, text_score = evidently_report(reference, window, text_drift=False)
    result = summarise(reference, window, pvalues, text_score, ["allow"] * 90 + ["remove"] * 30, {"auc": 0.9})
    # THEN every descriptor has its KS p-value: the unseen words' tiny, the unchanged scores' 1
    assert set(pvalues) == {*TEXT_DESCRIPTORS, "score.toxicity"}
    assert pvalues["unseen_word_share"] < 1e-6
    assert pvalues["score.toxicity"] == pytest.approx(1.0)
    assert text_score is None
    assert snapshot.dict()["metrics"]
    # AND the summary holds both sizes, both means per descriptor, the action rates and the quality
    assert (result.window_size, result.reference_size) == (120, 120)
    assert result.means["unseen_word_share"] == 1.0
    assert result.reference_means["unseen_word_share"] == 0.0
    assert result.action_rates == {"allow": 0.75, "remove": 0.25}
    assert result.quality == {"auc": 0.9}
    assert assess(result, DriftRules(min_window=100), NOW).drifted
    assert summarise(reference, window, pvalues, None, []).action_rates == {}
    # AND with its text classifier, Evidently scores the text's drift too (informational)
    _, with_text, text_score = evidently_report(reference, window)
    assert set(with_text) == set(pvalues)
    assert text_score is not None
    assert 0.0 <= text_score <= 1.0
    assert summarise(reference, window, with_text, text_score, []).text_drift_score == text_score


def test_each_descriptor_is_judged_by_a_ks_p_value_whatever_the_window_size() -> None:
    # GIVEN large samples (past 1,000 rows Evidently's default would be a distance, not a p-value, and
    # the rules read p-values): a reference, a window of the same scores, one of scores shifted up
    rng = np.random.default_rng(6)
    n = 1_500

    def table(low: float) -> pd.DataFrame:
        scores = {"toxicity": rng.uniform(low, low + 0.7, n).tolist()}
        return descriptors(["w1 w2"] * n, scores, {"w1"}, ["en"] * n, frozenset({"en"}))

    reference, same, shifted = table(0.0), table(0.0), table(0.3)
    # WHEN Evidently compares each with the reference
    _, unchanged, _ = evidently_report(reference, same, text_drift=False)
    _, drifted, _ = evidently_report(reference, shifted, text_drift=False)
    # THEN the score's test is a KS p-value: far from 0 for the same distribution, tiny for the shift
    assert unchanged["score.toxicity"] > 0.01
    assert drifted["score.toxicity"] < 1e-6
