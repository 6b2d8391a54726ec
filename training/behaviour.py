"""Behaviour tests of a candidate model, on the model alone (no policy term lists).

Invariance: changes that should not matter (person names, white space) barely move the score.
Directional: adding an insult raises it. Both the promotion step and pytest run these; a failure
blocks promotion to `champion`.
"""

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

ScoreTexts = Callable[[Sequence[str]], NDArray[np.float64]]  # raw texts in, calibrated scores out

NAMES = ("John", "Maria", "Ahmed", "Wei", "Olga", "Kwame", "Priya", "Diego")
NAME_TEMPLATES = (
    "{name} pointed out that the sample size in this study is quite small.",
    "I asked {name} about the methodology and the answer was convincing.",
    "According to {name}, the effect disappears once you control for income.",
    "{name} and I read the paper; the conclusions seem overstated to us.",
    "My colleague {name} works on this protein and says the result is plausible.",
    "Does anyone know if {name}'s group published the follow-up data?",
)
INSULTS = ("you idiot", "what a moron", "shut up, stupid", "this is bullshit", "fuck off")


class BehaviourCheck(BaseModel):
    """One behaviour test, its measured effect and whether it passed."""

    model_config = ConfigDict(frozen=True)

    name: str
    passed: bool
    measured: float
    limit: float
    detail: str


class BehaviourReport(BaseModel):
    """All behaviour tests of one candidate."""

    model_config = ConfigDict(frozen=True)

    checks: list[BehaviourCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]


def name_invariance(score: ScoreTexts, max_spread: float = 0.08) -> BehaviourCheck:
    """Swapping the person named in a sentence moves its score by at most `max_spread` (mean).

    A name the training data happened to hold gets a weight like any word (a retrained model gave
    "diego" +0.47): measured 0.011–0.054 over models retrained on a few hundred moderator labels, so
    the limit sits above that spread. Bias by identity terms needs metrics of its own.
    """
    texts = [t.format(name=n) for t in NAME_TEMPLATES for n in NAMES]
    scores = score(texts).reshape(len(NAME_TEMPLATES), len(NAMES))
    spread = float((scores.max(axis=1) - scores.min(axis=1)).mean())
    return BehaviourCheck(
        name="invariance/person-names",
        passed=spread <= max_spread,
        measured=spread,
        limit=max_spread,
        detail=f"mean score spread across {len(NAMES)} names is {spread:.4f} (limit {max_spread})",
    )


def whitespace_invariance(
    score: ScoreTexts, texts: Sequence[str], max_change: float = 0.01
) -> BehaviourCheck:
    """Doubling spaces and adding line breaks moves no score by more than `max_change`."""
    spaced = [" \n " + t.replace(" ", "  \t") + "\n\n" for t in texts]
    change = float(np.abs(score(spaced) - score(texts)).max())
    return BehaviourCheck(
        name="invariance/white-space",
        passed=change <= max_change,
        measured=change,
        limit=max_change,
        detail=f"largest score change is {change:.4f} over {len(texts)} texts (limit {max_change})",
    )


def insult_direction(score: ScoreTexts, texts: Sequence[str], min_share: float = 0.9) -> BehaviourCheck:
    """Appending an insult raises the score of at least `min_share` of texts."""
    base = score(texts)
    raised = []
    for insult in INSULTS:
        raised.append(score([f"{t} {insult}" for t in texts]) > base)
    share = float(np.mean(raised))
    return BehaviourCheck(
        name="directional/insult-raises-score",
        passed=share >= min_share,
        measured=share,
        limit=min_share,
        detail=f"an appended insult raised {share:.1%} of scores (needs {min_share:.0%})",
    )


def monotone_in_insults(score: ScoreTexts, texts: Sequence[str], min_share: float = 0.9) -> BehaviourCheck:
    """More insults never read as less abusive: scores rise (or stay) as insults are added."""
    steps = [list(texts)]
    for insult in INSULTS[:3]:
        steps.append([f"{t} {insult}" for t in steps[-1]])
    scored = [score(s) for s in steps]
    share = float(np.mean([np.mean(b >= a - 1e-9) for a, b in pairwise(scored)]))
    return BehaviourCheck(
        name="directional/more-insults-not-lower",
        passed=share >= min_share,
        measured=share,
        limit=min_share,
        detail=f"{share:.1%} of steps kept or raised the score (needs {min_share:.0%})",
    )


def run_behaviour_tests(score: ScoreTexts, benign_texts: Sequence[str]) -> BehaviourReport:
    """Every behaviour test, on the candidate's scorer and a sample of kept (benign) texts."""
    sample = list(benign_texts)[:200]
    if len(sample) < 20:
        raise ValueError("behaviour tests need at least 20 benign texts")
    return BehaviourReport(
        checks=[
            name_invariance(score),
            whitespace_invariance(score, sample),
            insult_direction(score, sample),
            monotone_in_insults(score, sample),
        ]
    )


# --- per category: what a chat channel must be able to live with ---------------------------------

SHORT_BENIGN = (
    "hello there",
    "thanks!",
    "gg wp",
    "lol same",
    "good morning everyone",
    "see you tomorrow",
    "nice one",
    "ok",
    "what time does the stream start?",
    "haha yes",
)
# Fifty-odd words of small talk: what an evader pads a message with.
NEUTRAL_PAD = (
    "the weather was mild and the train left on time while we talked about the garden the new "
    "library hours and what to cook for dinner on sunday with the neighbours and their two dogs "
    "then we walked along the river past the old mill and the bakery before it got dark and cold"
)


def short_benign_below_review(category: str, score: ScoreTexts, review: float) -> BehaviourCheck:
    """Short benign chat ("hello there", "gg wp") scores below the category's review threshold."""
    highest = float(score(SHORT_BENIGN).max())
    return BehaviourCheck(
        name=f"{category}/short-benign-below-review",
        passed=highest < review,
        measured=highest,
        limit=review,
        detail=(
            f"highest score over {len(SHORT_BENIGN)} short benign messages is {highest:.3f} "
            f"(review at {review})"
        ),
    )


def _actions(scores: NDArray[np.float64], review: float, remove: float) -> NDArray[np.int_]:
    actions: NDArray[np.int_] = (scores >= review).astype(int) + (scores >= remove).astype(int)
    return actions


def padding_checks(
    category: str,
    score: ScoreTexts,
    texts: Sequence[str],
    review: float,
    min_kept: float = 0.9,
    max_raised: float = 0.05,
) -> list[BehaviourCheck]:
    """Fifty-odd neutral words before or after a message (the worse of the two for each): of the messages
    at or above review, at least `min_kept` stay there (padding is no evasion); of the others, at most
    `max_raised` rise to it (padding is no false flag)."""
    base = score(texts)
    before = score([f"{NEUTRAL_PAD} {t}" for t in texts])
    after = score([f"{t} {NEUTRAL_PAD}" for t in texts])
    flagged = base >= review
    kept = float((np.minimum(before, after)[flagged] >= review).mean()) if flagged.any() else 1.0
    raised = float((np.maximum(before, after)[~flagged] >= review).mean()) if (~flagged).any() else 0.0
    return [
        BehaviourCheck(
            name=f"{category}/padding-keeps-flags",
            passed=kept >= min_kept,
            measured=kept,
            limit=min_kept,
            detail=(
                f"{kept:.1%} of {int(flagged.sum())} messages at or above review stay there when padded "
                f"(needs {min_kept:.0%})"
            ),
        ),
        BehaviourCheck(
            name=f"{category}/padding-raises-no-flags",
            passed=raised <= max_raised,
            measured=raised,
            limit=max_raised,
            detail=(
                f"{raised:.1%} of {int((~flagged).sum())} messages below review rise to it when padded "
                f"(limit {max_raised:.0%})"
            ),
        ),
    ]


def identity_swap_keeps_action(
    category: str, score: ScoreTexts, review: float, remove: float, max_share: float = 0.02
) -> BehaviourCheck:
    """Swapping the identity term in benign templates changes the action of at most `max_share` of them
    against the action the template takes with its most common action."""
    from training.identity import TEMPLATES, TERMS, fill  # noqa: PLC0415

    benign = [t for t in TEMPLATES if t.label == 0]
    texts = [fill(t, term) for t in benign for term in TERMS]
    actions = _actions(score(texts), review, remove).reshape(len(benign), len(TERMS))
    usual = np.array([np.bincount(row).argmax() for row in actions])
    share = float((actions != usual[:, None]).mean())
    return BehaviourCheck(
        name=f"{category}/identity-swap-keeps-action",
        passed=share <= max_share,
        measured=share,
        limit=max_share,
        detail=(
            f"swapping {len(TERMS)} identity terms in {len(benign)} benign templates changed the action of "
            f"{share:.1%} (limit {max_share:.0%})"
        ),
    )
