"""The live-quality estimator against a simulated channel whose truth is known: weighted by each label's
inclusion probability it lands on the truth; counting every label once (the queue's bias) does not."""

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from contracts.verdict import Action
from monitoring.live import Labelled, estimate, inclusion, weighted_auc

AUDIT = 0.02  # the default policy's audit share
REVIEW, REMOVE = 0.5, 0.9  # the default thresholds


def _population(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """A channel's messages: 8% harmful; the model's scores separate them well, not perfectly."""
    y = (rng.random(n) < 0.08).astype(np.int_)
    s = np.where(y == 1, rng.beta(4.0, 2.0, n), rng.beta(1.2, 5.0, n))
    return s, y


def _actions(s: NDArray[np.float64]) -> list[Action]:
    return [Action.REMOVE if v >= REMOVE else Action.REVIEW if v >= REVIEW else Action.ALLOW for v in s]


def _labelled(rng: np.random.Generator, s: NDArray[np.float64], y: NDArray[np.int_]) -> list[Labelled]:
    """What moderators label: every queued verdict (review) and the audit draw, whatever the verdict."""
    actions = _actions(s)
    audited = rng.random(len(s)) < AUDIT
    out = []
    for score, label, action, drawn in zip(s.tolist(), y.tolist(), actions, audited.tolist(), strict=True):
        pi = inclusion(action is Action.REVIEW, drawn, AUDIT)
        if pi is not None:
            out.append(Labelled(score, action, label, pi))
    return out


def test_the_weighted_auc_is_scikit_learns_with_sample_weights() -> None:
    rng = np.random.default_rng(3)
    s = np.round(rng.random(500), 2)  # ties
    y = (rng.random(500) < 0.3).astype(np.int_)
    w = rng.uniform(0.5, 50.0, 500)
    assert weighted_auc(s, y, w) == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    assert weighted_auc(s, y, np.ones(500)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert weighted_auc(s, np.zeros(500, dtype=np.int_), w) is None


def test_inclusion_follows_the_design() -> None:
    assert inclusion(queued=True, audited=False, audit_share=AUDIT) == 1.0
    assert inclusion(queued=True, audited=True, audit_share=AUDIT) == 1.0
    assert inclusion(queued=False, audited=True, audit_share=AUDIT) == AUDIT
    assert inclusion(queued=False, audited=False, audit_share=AUDIT) is None  # outside the design
    assert inclusion(queued=False, audited=True, audit_share=0.0) is None


def test_the_weighted_estimate_lands_on_the_truth_and_the_naive_one_does_not() -> None:
    for seed in range(5):
        rng = np.random.default_rng(seed)
        s, y = _population(rng, 60_000)
        truth = float(roc_auc_score(y, s))
        labelled = _labelled(rng, s, y)
        live, naive = estimate(labelled), estimate(labelled, weighted=False)
        assert live.roc_auc is not None
        assert naive.roc_auc is not None
        # within 0.03 of the truth on a channel's 60,000 messages at the default audit share
        assert abs(live.roc_auc - truth) < 0.03, (seed, live.roc_auc, truth)
        # the queue's labels over-represent the messages the model was unsure of: far off
        assert abs(naive.roc_auc - truth) > 0.05, (seed, naive.roc_auc, truth)


def test_the_precisions_are_unbiased_over_many_channels() -> None:
    rng = np.random.default_rng(11)
    removal, allow, true_removal, true_allow = [], [], [], []
    for _ in range(150):
        s, y = _population(rng, 20_000)
        actions = np.array([a.value for a in _actions(s)])
        true_removal.append(float(y[actions == "remove"].mean()))
        true_allow.append(float(1 - y[actions == "allow"].mean()))
        live = estimate(_labelled(rng, s, y))
        if live.remove_precision is not None:
            removal.append(live.remove_precision)
        assert live.allow_precision is not None
        allow.append(live.allow_precision)
    assert np.mean(removal) == pytest.approx(np.mean(true_removal), abs=0.02)
    assert np.mean(allow) == pytest.approx(np.mean(true_allow), abs=0.002)
