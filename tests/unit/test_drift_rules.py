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
