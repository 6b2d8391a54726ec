"""Drift decision rules on synthetic summaries."""

from datetime import UTC, datetime, timedelta

from monitoring.drift import (
    TEXT_DESCRIPTORS,
    DriftRules,
    DriftSummary,
    assess,
    descriptors,
    reference_languages,
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
