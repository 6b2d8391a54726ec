"""The live-quality estimator against a simulated channel whose truth is known: weighted by each label's
inclusion probability it lands on the truth; counting every label once (the queue's bias) does not."""

import uuid

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from contracts.chat import ChatMessage
from contracts.policy import ChannelPolicy, PolicyBook, SamplingPolicy, Thresholds, drawn
from contracts.storage import ArchivedMessage, ModeratorDecision, ShadowVerdict
from contracts.verdict import Action, CategoryScore
from monitoring.live import (
    Labelled,
    LiveQuality,
    estimate,
    inclusion,
    live_decision,
    shadow_comparisons,
    weighted_auc,
)
from tests.builders import verdict

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
    for score, label, action, picked in zip(s.tolist(), y.tolist(), actions, audited.tolist(), strict=True):
        pi = inclusion(action is Action.REVIEW, picked, AUDIT)
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


def _shadowed_channel(
    rng: np.random.Generator, n: int, better: bool
) -> tuple[list[ArchivedMessage], list[ModeratorDecision], float, float]:
    """A channel whose every message was shadow-scored, the decisions its moderators made (the queued
    verdicts and the audit draw), and both models' true ROC-AUC on all of its messages."""
    y = (rng.random(n) < 0.15).astype(np.int_)
    sharp, blunt = 2.5 * (2 * y - 1) + rng.normal(0, 1.0, n), 1.5 * (2 * y - 1) + rng.normal(0, 1.5, n)
    champion, challenger = (blunt, sharp) if better else (sharp, blunt)
    p_champion, p_challenger = 1 / (1 + np.exp(-champion)), 1 / (1 + np.exp(-challenger))
    lines, decisions = [], []
    for k in range(n):
        mid = uuid.UUID(int=int(rng.integers(1, 2**63)))
        action = _actions(p_champion[k : k + 1])[0]
        theirs = _actions(p_challenger[k : k + 1])[0]
        v = verdict(action, mid, channel="audited", score=float(p_champion[k])).model_copy(
            update={
                "category": "toxicity",
                "categories": {
                    "toxicity": CategoryScore(
                        score=float(p_champion[k]), acts=True, thresholds=Thresholds(), action=action
                    )
                },
            }
        )
        shadow = ShadowVerdict(
            model_version="2", action=theirs, category="toxicity", scores={"toxicity": float(p_challenger[k])}
        )
        message = ChatMessage(message_id=mid, channel_id="audited", user_id="u", text="t", sent_at=v.sent_at)
        lines.append(
            ArchivedMessage(
                shard_id="s",
                sequence_number=str(k),
                approximate_arrival=0.0,
                message=message,
                verdict=v,
                shadow=shadow,
            )
        )
        if action is Action.REVIEW or drawn(mid, AUDIT_HIGH, "audit"):
            label = "remove" if y[k] else "allow"
            decisions.append(
                ModeratorDecision(
                    message_id=mid, label=label, decided_by="m", decided_at=v.sent_at, category="toxicity"
                )
            )
    return lines, decisions, float(roc_auc_score(y, p_champion)), float(roc_auc_score(y, p_challenger))


AUDIT_HIGH = 0.1
BOOK = PolicyBook(channels={"audited": ChannelPolicy(sampling=SamplingPolicy(audit=AUDIT_HIGH))})


def test_a_better_challenger_is_promoted_on_live_evidence_and_a_worse_one_is_not() -> None:
    rng = np.random.default_rng(5)
    lines, decisions, true_champion, true_challenger = _shadowed_channel(rng, 4_000, better=True)
    # a label outside the design (an allowed message nobody drew, decided the wrong way) changes nothing
    outside = [
        ModeratorDecision(
            message_id=m.message.message_id,
            label="remove",
            decided_by="m",
            decided_at=m.verdict.sent_at,
            category="toxicity",
        )
        for m in lines
        if m.verdict.action is Action.ALLOW and not drawn(m.message.message_id, AUDIT_HIGH, "audit")
    ][:200]
    (live,) = shadow_comparisons(lines, decisions + outside, BOOK, ["toxicity"], resamples=100)
    (within,) = shadow_comparisons(lines, decisions, BOOK, ["toxicity"], resamples=100)
    assert live == within
    # both estimates near their truth, the paired interval above zero, the disagreements counted
    assert live.champion.roc_auc == pytest.approx(true_champion, abs=0.03)
    assert live.challenger.roc_auc == pytest.approx(true_challenger, abs=0.03)
    assert live.interval is not None
    assert live.interval[0] > 0
    assert live.shadow_scored == 4_000
    assert 0 < live.disagreed < 4_000
    # and each model's share of the traffic sent to a person: the moderators' load either way
    assert live.review_shares == (
        sum(m.verdict.action is Action.REVIEW for m in lines) / 4_000,
        sum(m.shadow is not None and m.shadow.action is Action.REVIEW for m in lines) / 4_000,
    )
    assert live_decision([live], margin=0.01, min_labels=100).promote
    # too few labels: not promoted, and the reason says so
    few = live_decision([live], margin=0.01, min_labels=100_000)
    assert not few.promote
    assert "labelled messages" in few.reasons[0]
    # the roles swapped: the worse challenger is kept out
    lines, decisions, _, _ = _shadowed_channel(np.random.default_rng(5), 4_000, better=False)
    (worse,) = shadow_comparisons(lines, decisions, BOOK, ["toxicity"], resamples=100)
    assert worse.difference is not None
    assert worse.difference < 0
    assert not live_decision([worse], margin=0.01, min_labels=100).promote
    assert not live_decision([], margin=0.01, min_labels=100).promote


def test_nothing_labelled_estimates_nothing() -> None:
    assert estimate([]) == LiveQuality(0, 0, None, None, None)
    # one class only: no ROC-AUC, yet the precisions of what was labelled
    only = [Labelled(0.95, Action.REMOVE, 1, 1.0), Labelled(0.1, Action.ALLOW, 1, 0.5)]
    assert estimate(only) == LiveQuality(2, 2, None, 1.0, 0.0)
