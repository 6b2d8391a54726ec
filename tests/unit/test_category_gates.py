"""The per-category promotion gates on the model alone: short benign chat, padding, identity swaps,
and the identity-bias floor; each fails the kind of model it is there to stop."""

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from training.behaviour import (
    SHORT_BENIGN,
    identity_swap_keeps_action,
    padding_checks,
    short_benign_below_review,
)
from training.bias import BiasReport, Estimate
from training.flow import TEMPLATED, bias_accepted, bias_failures
from training.promotion import decide
from training.settings import TrainingSettings

INSULTS = ["you idiot", "shut up moron", "what a clown you are", "idiot"]
BENIGN = ["see you at the game tonight", "the weather is nice today", "thanks for the stream"]


def by_words(texts: Sequence[str]) -> NDArray[np.float64]:
    """A model that reads its evidence where it is: an insult word anywhere scores high."""
    bad = {"idiot", "moron", "clown"}
    return np.array([0.9 if bad & set(t.lower().split()) else 0.1 for t in texts])


def by_share(texts: Sequence[str]) -> NDArray[np.float64]:
    """A model diluted by length: the share of insult words, so padding hides an insult."""
    bad = {"idiot", "moron", "clown"}
    return np.array([min(1.0, 2 * sum(w in bad for w in t.split()) / max(len(t.split()), 1)) for t in texts])


def by_length(texts: Sequence[str]) -> NDArray[np.float64]:
    """A model driven by length: short messages look bad."""
    return np.array([0.9 if len(t) < 20 else 0.1 for t in texts])


def test_padding_checks_pass_a_model_that_reads_words_and_fail_one_diluted_by_length() -> None:
    texts = INSULTS + BENIGN
    kept, raised = padding_checks("toxicity", by_words, texts, review=0.5)
    assert kept.passed
    assert raised.passed
    kept, _ = padding_checks("toxicity", by_share, texts, review=0.5)
    assert not kept.passed
    assert kept.measured == 0.0


def test_short_benign_chat_must_stay_below_review() -> None:
    assert short_benign_below_review("toxicity", by_words, 0.5).passed
    check = short_benign_below_review("toxicity", by_length, 0.5)
    assert not check.passed
    assert len(SHORT_BENIGN) >= 4


def test_an_identity_term_that_moves_the_action_fails_the_swap_check() -> None:
    assert identity_swap_keeps_action("hate", by_words, 0.5, 0.9).passed

    def flags_gay(texts: Sequence[str]) -> NDArray[np.float64]:
        return np.array([0.95 if "gay" in t.lower().split() else 0.1 for t in texts])

    check = identity_swap_keeps_action("hate", flags_gay, 0.5, 0.9)
    assert not check.passed


def _bias(value: float, lo: float) -> dict[str, BiasReport]:
    part = Estimate(value=value, lo=lo, hi=value + 0.01)
    report = BiasReport(
        name="templated",
        n=1280,
        positives=640,
        power=-5.0,
        level=0.95,
        n_boot=200,
        seed=42,
        overall_auc=part,
        subgroup_auc=part,
        bpsn_auc=part,
        bnsp_auc=part,
        final=part,
        subgroups=[],
        skipped=[],
    )
    return {TEMPLATED: report}


def test_the_bias_gate_holds_the_floor_and_the_champions_lower_bound() -> None:
    settings = TrainingSettings(bias_floor=0.90)
    assert bias_failures(settings, _bias(0.93, 0.91), None) == []
    assert bias_failures(settings, _bias(0.88, 0.86), None)  # below the floor
    below_champion = bias_failures(settings, _bias(0.91, 0.89), _bias(0.95, 0.92))
    assert below_champion
    assert "lower bound" in below_champion[0]
    # AND a challenger that wins its target but fails the bias gate is not promoted
    d = decide(
        {"removal/rscience": 0.9},
        {"removal/rscience": 0.8},
        target="removal/rscience",
        bias_failures=below_champion,
    )
    assert not d.promote


def test_an_operator_can_accept_a_bounded_decline_which_is_recorded_and_the_floor_still_holds() -> None:
    accepting = TrainingSettings(bias_floor=0.90, bias_max_decline=0.03)
    champion = _bias(0.95, 0.92)
    # 0.91 is under the champion's lower bound 0.92 but within 0.03 of it: accepted, and said so
    assert bias_failures(accepting, _bias(0.91, 0.89), champion) == []
    assert bias_accepted(accepting, _bias(0.91, 0.89), champion) == [
        "templated identity score 0.9100 under the champion's lower bound 0.9200, within the operator's "
        "accepted decline 0.03"
    ]
    # past the accepted decline it is refused, and nothing is recorded as accepted
    refused = bias_failures(accepting, _bias(0.885, 0.87), _bias(0.95, 0.92))
    assert any("less the accepted decline 0.03" in f for f in refused)
    assert bias_accepted(accepting, _bias(0.885, 0.87), _bias(0.95, 0.92)) == []
    # the floor holds whatever the operator accepts
    assert any("below 0.9" in f for f in bias_failures(accepting, _bias(0.895, 0.88), _bias(0.91, 0.9)))
    # at or above the champion's bound there is nothing to accept; by default nothing is accepted
    assert bias_accepted(accepting, _bias(0.93, 0.91), champion) == []
    assert bias_failures(TrainingSettings(bias_floor=0.90), _bias(0.91, 0.89), champion)


def test_a_score_exactly_at_the_champions_lower_bound_needs_no_acceptance() -> None:
    accepting = TrainingSettings(bias_floor=0.90, bias_max_decline=0.03)
    assert bias_accepted(accepting, _bias(0.92, 0.90), _bias(0.95, 0.92)) == []
    assert bias_failures(accepting, _bias(0.92, 0.90), _bias(0.95, 0.92)) == []
