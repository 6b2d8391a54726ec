"""Copies of training texts that teach what must not matter: padding (what an evader does to dilute a
message) and which identity a benign message names (counterfactual copies, after Dixon et al., 2018)."""

import random
import re
from collections.abc import Sequence

PAD_WORDS = (20, 60)  # the fewest and most benign words a padded copy carries


def pad(texts: Sequence[str], benign: Sequence[str], seed: int) -> list[str]:
    """Each text with a run of benign words (`PAD_WORDS`, drawn from `benign`) before or after it, drawn
    from one random stream."""
    words = _pad_words(benign)
    if words is None:
        return list(texts)
    rng = random.Random(seed)
    return [_padded(text, words, rng) for text in texts]


def pad_each(texts: Sequence[str], benign: Sequence[str], seed: int) -> list[str]:
    """Each text padded as `pad` does, from a random stream of its own (the seed and the text): adding or
    removing a text never changes another's copy."""
    words = _pad_words(benign)
    if words is None:
        return list(texts)
    return [_padded(text, words, random.Random(f"{seed}:{text}")) for text in texts]


def _pad_words(benign: Sequence[str]) -> list[str] | None:
    """The benign texts' words to draw runs from (None: too few for the longest run)."""
    words = [w for t in benign for w in t.split()]
    return words if len(words) > PAD_WORDS[1] else None


def _padded(text: str, words: Sequence[str], rng: random.Random) -> str:
    n = rng.randint(*PAD_WORDS)
    start = rng.randrange(len(words) - n)
    run = " ".join(words[start : start + n])
    return f"{run} {text}" if rng.random() < 0.5 else f"{text} {run}"


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
