"""What a hostile user sends: obfuscation families (the evasion suite) and texts built to cost time.

Pure: texts in, texts out, seeded. The evasion suite measures, per family, how many toxic messages the
model removed in clean form it still removes (and still flags) once obfuscated, and how many more benign
messages it flags under the same transform; the promotion gate holds challengers to floors on it.
"""

import random
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from contracts.policy import Thresholds

Obfuscation = Callable[[str, random.Random], str]
ScoreTexts = Callable[[Sequence[str]], NDArray[np.float64]]  # raw texts in, calibrated scores out

_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
_CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"})
_HOMOGLYPHS = str.maketrans(  # look-alikes from several scripts, none in the Cyrillic table above
    {"u": "ս", "o": "օ", "c": "ϲ", "i": "ɩ", "a": "ɑ", "h": "һ", "n": "ո", "s": "ꜱ", "t": "ᴛ", "l": "ӏ"}
)
_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}
_EMOJI = ("😀", "🔥", "💯", "👍", "🙃", "😂")
NEUTRAL_TEXT = (
    "the weather was fine today and we walked to the market to buy some bread and apples while the "
    "children played in the park near the old library then we had lunch at a small cafe by the river "
    "and talked about the plans for next week before going back home in the late afternoon"
)
NEUTRAL_WORDS = tuple(NEUTRAL_TEXT.split())
ALLOWED_TERM = "gg"  # the suite's channel allows it, as a gaming channel would


def _per_word(fn: Callable[[str], str]) -> Callable[[str, random.Random], str]:
    return lambda text, _rng: " ".join(fn(w) for w in text.split())


def _between_letters(mark: str) -> Obfuscation:
    """The mark between every two letters of a word ("b.i.t.c.h,"); mentions, hashtags, links and
    numbers are left alone, as an attacker spelling out a word would."""

    def spread(word: str) -> str:
        if any(c in "@#/" or c.isdigit() for c in word):
            return word
        out = [word[:1]]
        for a, b in pairwise(word):
            out.append(mark + b if a.isalpha() and b.isalpha() else b)
        return "".join(out)

    return _per_word(spread)


def _repeat_letters(word: str) -> str:
    for i, c in enumerate(word):
        if c.lower() in "aeiou":
            return word[:i] + c * 5 + word[i + 1 :]
    return word


def _mask_vowel(word: str) -> str:
    vowels = [i for i, c in enumerate(word) if c.lower() in "aeiou"]
    if len(word) < 3 or not vowels:
        return word
    i = vowels[0] if vowels[0] > 0 or len(vowels) == 1 else vowels[1]
    return word[:i] + "*" + word[i + 1 :]


def _zalgo(text: str, rng: random.Random) -> str:
    return "".join(
        c + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(3)) if c.isalpha() else c for c in text
    )


def _tags(text: str, rng: random.Random) -> str:
    return " ".join(chr(rng.randrange(0xE0020, 0xE0080)).join(w) for w in text.split())


OBFUSCATIONS: dict[str, Obfuscation] = {
    "letters repeated x5": _per_word(_repeat_letters),
    "right-to-left override, reversed": lambda t, _r: "\u202e" + t[::-1] + "\u202c",
    "spaced letters": lambda t, r: "  ".join(_between_letters(" ")(w, r) for w in t.split()),
    "dots between letters": _between_letters("."),
    "dashes between letters": _between_letters("-"),
    "underscores between letters": _between_letters("_"),
    "asterisk for a vowel": _per_word(_mask_vowel),
    "homoglyphs (Armenian, Greek, Latin)": lambda t, _r: t.lower().translate(_HOMOGLYPHS),
    "Cyrillic look-alikes": lambda t, _r: t.lower().translate(_CYRILLIC),
    "leet digits": lambda t, _r: t.lower().translate(_LEET),
    "full-width forms": lambda t, _r: "".join(_FULLWIDTH.get(c, c) for c in t),
    "combining marks (zalgo)": _zalgo,
    "zero-width joiners": _between_letters("\u200d"),
    "zero-width spaces": _between_letters("\u200b"),
    "soft hyphens": _between_letters("\u00ad"),
    "variation selectors": _between_letters("\ufe0f"),
    "tag characters": _tags,
    "braille blanks for spaces": lambda t, _r: t.replace(" ", "\u2800"),
    "Hangul fillers for spaces": lambda t, _r: t.replace(" ", "\u3164"),
    "emoji between words": lambda t, r: " ".join(f"{w} {r.choice(_EMOJI)}" for w in t.split()),
    "mixed case": lambda t, r: "".join(c.upper() if r.random() < 0.5 else c.lower() for c in t),
    "50 neutral words appended": lambda t, r: t + " " + " ".join(r.choice(NEUTRAL_WORDS) for _ in range(50)),
    "allowed term appended": lambda t, _r: f"{t} {ALLOWED_TERM}",
}


class FamilyResult(BaseModel):
    """One obfuscation family: what stays caught, and what it does to benign messages."""

    model_config = ConfigDict(frozen=True)

    family: str
    toxic: int  # toxic messages removed in clean form
    still_removed: float
    still_flagged: float
    benign: int
    benign_flagged_clean: float
    benign_flagged: float

    @property
    def false_flag_increase(self) -> float:
        return self.benign_flagged - self.benign_flagged_clean


class EvasionFloors(BaseModel):
    """The least a model must keep under every family (the promotion gate)."""

    model_config = ConfigDict(frozen=True)

    still_flagged: float = 0.95
    still_removed: float = 0.90
    false_flag_increase: float = 0.02


class EvasionReport(BaseModel):
    """The evasion suite's result, one row per family."""

    model_config = ConfigDict(frozen=True)

    families: list[FamilyResult]

    def failures(self, floors: EvasionFloors) -> list[str]:
        """Every family below a floor, with the numbers."""
        out = []
        for f in self.families:
            if f.still_flagged < floors.still_flagged:
                out.append(
                    f"{f.family}: {f.still_flagged:.1%} still flagged (floor {floors.still_flagged:.0%})"
                )
            if f.still_removed < floors.still_removed:
                out.append(
                    f"{f.family}: {f.still_removed:.1%} still removed (floor {floors.still_removed:.0%})"
                )
            if f.false_flag_increase > floors.false_flag_increase:
                out.append(
                    f"{f.family}: benign false flags +{f.false_flag_increase:.1%} "
                    f"(at most +{floors.false_flag_increase:.0%})"
                )
        return out

    def table(self) -> list[dict[str, float | str | int]]:
        """Rows for a results file or a printed table."""
        return [
            {
                "family": f.family,
                "toxic": f.toxic,
                "still_removed": round(f.still_removed, 4),
                "still_flagged": round(f.still_flagged, 4),
                "benign": f.benign,
                "benign_flagged_clean": round(f.benign_flagged_clean, 4),
                "benign_flagged": round(f.benign_flagged, 4),
            }
            for f in self.families
        ]


def evasion_suite(
    score: ScoreTexts,
    toxic: Sequence[str],
    benign: Sequence[str],
    thresholds: Thresholds,
    families: dict[str, Obfuscation] | None = None,
    seed: int = 7,
) -> EvasionReport:
    """Every family applied to the toxic messages the model removes in clean form and to benign ones.

    `score` must apply the channel's rules as the consumer does (the suite's channel allows
    `ALLOWED_TERM`), so that "allowed term appended" measures the policy path too.
    """
    clean_toxic = score(toxic)
    removed = [t for t, p in zip(toxic, clean_toxic, strict=True) if p >= thresholds.remove]
    benign_clean = score(benign) >= thresholds.review
    rows = []
    for name, fn in (families or OBFUSCATIONS).items():
        rng = random.Random(seed)
        toxic_scores = score([fn(t, rng) for t in removed]) if removed else np.zeros(0)
        benign_scores = score([fn(t, rng) for t in benign])
        rows.append(
            FamilyResult(
                family=name,
                toxic=len(removed),
                still_removed=float(np.mean(toxic_scores >= thresholds.remove)) if removed else 0.0,
                still_flagged=float(np.mean(toxic_scores >= thresholds.review)) if removed else 0.0,
                benign=len(benign),
                benign_flagged_clean=float(np.mean(benign_clean)),
                benign_flagged=float(np.mean(benign_scores >= thresholds.review)),
            )
        )
    return EvasionReport(families=rows)


# --- texts built to cost time (the cost-ratio test, the fuzzing and the benchmark) -------------


def _repeat_to(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


HOSTILE_TEXTS: dict[str, Callable[[int], str]] = {
    "one long word": lambda n: _repeat_to("a1", n),
    "leet pairs then a long word": lambda n: "a1 " * (n // 6) + "b" * (n - 3 * (n // 6)),
    "long leet run": lambda n: _repeat_to("4$5@1!3|0", n),
    "combining marks": lambda n: "a" + _repeat_to("\u0301\u0302\u0303\u0323\u0324", n - 1),
    "combining marks, other scripts": lambda n: (
        "\u05d0" + _repeat_to("\u05b0\u05b4\u0591\u0f71\u0f72", n - 1)
    ),
    "invisible characters": lambda n: _repeat_to("\u200b\ufe0f\U000e0041\u2800\u00ad\u3164", n),
    "alternating scripts": lambda n: _repeat_to("aа", n),
    "nested brackets": lambda n: "(" * (n // 2) + ")" * (n - n // 2),
    "nested bidi overrides": lambda n: _repeat_to("\u202ea\u202db", n),
    "spelled-out letters": lambda n: _repeat_to("f ", n),
    "letter run": lambda n: "f" + "u" * (n - 2) + "k",
    "masked words": lambda n: _repeat_to("f*ck ", n),
    "dots between letters": lambda n: _repeat_to("a.", n),
    "emoji": lambda n: _repeat_to("😀🔥", n),
    "ordinary text": lambda n: _repeat_to("the quick brown fox jumps over the lazy dog ", n),
}
