"""Copies of training texts that teach what must not matter: padding (what an evader does to dilute a
message) and which identity a benign message names (counterfactual copies, after Dixon et al., 2018)."""

import random
import re
from collections.abc import Sequence

PAD_WORDS = (20, 60)  # the fewest and most benign words a padded copy carries


def pad(texts: Sequence[str], benign: Sequence[str], seed: int) -> list[str]:
    """Each text with a run of benign words (`PAD_WORDS`, drawn from `benign`) before or after it."""
    words = [w for t in benign for w in t.split()]
    rng = random.Random(seed)
    if len(words) <= PAD_WORDS[1]:
        return list(texts)
    out = []
    for text in texts:
        n = rng.randint(*PAD_WORDS)
        start = rng.randrange(len(words) - n)
        run = " ".join(words[start : start + n])
        out.append(f"{run} {text}" if rng.random() < 0.5 else f"{text} {run}")
    return out


def identity_swaps(
    texts: Sequence[str], adjectives: Sequence[str], seed: int, copies: int = 1
) -> list[tuple[int, str]]:
    """For each text naming an identity (one of `adjectives`, as a word, any case), its index and
    `copies` copies each naming another, drawn at random without repeats (every mention swapped)."""
    rng = random.Random(seed)
    words = "|".join(map(re.escape, sorted(adjectives, key=len, reverse=True)))
    pattern = re.compile(rf"\b(?:{words})\b", re.IGNORECASE)
    out = []
    for i, text in enumerate(texts):
        named = pattern.search(text)
        if named is not None:
            others = [a for a in adjectives if a != named.group(0).lower()]
            out += [(i, pattern.sub(other, text)) for other in rng.sample(others, min(copies, len(others)))]
    return out
