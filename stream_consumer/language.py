"""Each message's languages, by Compact Language Detector 2 (`pycld2`: its tables are compiled into the
wheel, ~20 µs for a tweet). It reads what the encoder's parts read (`encoder.read`: the whole NFC text,
in linear time), twice: the whole text names the primary language — `und` (undetermined) when it is not
sure, e.g. for a two-word tweet of slang and handles — and the share of the text in each language it
found; then each sentence (at most `MAX_CHUNKS` groups of them) is named on its own, and consecutive
sentences of one language make a segment. A text mostly in one language with a substantial part in
another is seen as the mix it is, and a sentence in one language cannot hide behind sentences in
another: the cascade's encoder reads each segment apart.
"""

import re
from dataclasses import dataclass
from itertools import pairwise

import pycld2

from stream_consumer.encoder import read

UNDETERMINED = "und"
MAX_CHUNKS = 64  # sentences (or groups of them) named per text
MAX_SEGMENTS = 16  # runs of one language kept apart per text (beyond, neighbours are read together)
_MIN_PERCENT = 60  # share of the text in the top language for a confident answer
_NOT_A_LANGUAGE = ("un", "xx")
# What CLD2 refuses outright (controls, noncharacters, lone surrogates): read as spaces, so that one
# such character cannot make a message's language undetermined.
_CONTROLS = dict.fromkeys((*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)), " ")
_REFUSED = re.compile(
    "[\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17))
    + "]"
)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])\s+|\n+")
_NOT_WORDS = re.compile(r"[@#]\w+|https?://\S+|www\.\S+")  # handles, tags and links name no language
_MIN_LETTERS = 12  # a shorter sentence (once handles, tags and links are left out) is read with the next


@dataclass(frozen=True)
class Languages:
    """A text's primary language (ISO 639-1, or `und`), the share of its bytes in each language found,
    and its segments: (language, text) runs of sentences in one language, in order, covering it."""

    primary: str
    shares: tuple[tuple[str, float], ...] = ()
    segments: tuple[tuple[str, str], ...] = ()

    def share_outside(self, languages: tuple[str, ...]) -> float:
        """The share of the text in identified languages other than `languages` (the larger of the
        whole text's reading and its sentences')."""
        whole = sum(share for code, share in self.shares if code not in languages)
        total = sum(len(text) for _, text in self.segments)
        outside = sum(len(text) for code, text in self.segments if _outside(code, languages))
        return max(whole, outside / total if total else 0.0)

    def holds_any(self, languages: tuple[str, ...]) -> bool:
        """Whether any part of the text was identified as one of `languages`."""
        return any(code in languages for code, _ in self.shares + self.segments)


def _outside(code: str, languages: tuple[str, ...]) -> bool:
    return code != UNDETERMINED and code not in languages


def _detect(text: str) -> tuple[str, tuple[tuple[str, float], ...]]:
    """CLD2's primary language of a text (`und` when unsure) and its languages' shares."""
    try:
        reliable, _, found = pycld2.detect(text.encode("utf-8", "replace"), isPlainText=True)
    except pycld2.error:  # bytes it still refuses: no language
        return UNDETERMINED, ()
    shares = tuple(
        (str(code), percent / 100) for _name, code, percent, _ in found if code not in _NOT_A_LANGUAGE
    )
    _name, code, percent, _score = found[0]
    if not reliable or code in _NOT_A_LANGUAGE or percent < _MIN_PERCENT:
        return UNDETERMINED, shares
    return str(code), shares


def _grouped(pieces: list[str], most: int) -> list[str]:
    """`pieces` joined into at most `most` consecutive groups of about equal count."""
    if len(pieces) <= most:
        return pieces
    bounds = [round(k * len(pieces) / most) for k in range(most + 1)]
    return ["".join(pieces[a:b]) for a, b in pairwise(bounds)]


def _readable(text: str) -> str:
    """The text with what CLD2 refuses read as spaces."""
    text = text.translate(_CONTROLS)
    return text if text.isascii() else _REFUSED.sub(" ", text)


def _letters(text: str) -> int:
    return sum(map(str.isalpha, _NOT_WORDS.sub(" ", text)))


def sentences(text: str) -> list[str]:
    """The text's sentences, in order, covering it; one too short to name a language (fewer than
    `_MIN_LETTERS` letters in words) is joined to the next one (the last to the one before)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    out: list[str] = []
    pending, letters = "", 0
    for a, b in zip([0, *ends], [*ends, len(text)], strict=True):
        pending += text[a:b]
        letters += _letters(text[a:b])
        if letters >= _MIN_LETTERS:
            out.append(pending)
            pending, letters = "", 0
    if pending and out:
        out[-1] += pending
    elif pending:
        out.append(pending)
    return out


def segments(text: str, whole: str | None = None) -> tuple[tuple[str, str], ...]:
    """The (language, text) runs of a text's sentences, in order; past `MAX_SEGMENTS` runs, neighbours
    are read together, and a group of several languages is named `mul` (multiple languages). `whole` is
    the text's language when known (a text of one sentence is not named twice)."""
    pieces = sentences(text)
    if len(pieces) <= 1 and whole is not None:
        return ((whole, text),)
    runs: list[tuple[str, str]] = []
    for chunk in _grouped(pieces, MAX_CHUNKS):
        code, _ = _detect(_NOT_WORDS.sub(" ", chunk))
        if runs and runs[-1][0] == code:
            runs[-1] = (code, runs[-1][1] + chunk)
        else:
            runs.append((code, chunk))
    if len(runs) <= MAX_SEGMENTS:
        return tuple(runs)
    bounds = [round(k * len(runs) / MAX_SEGMENTS) for k in range(MAX_SEGMENTS + 1)]
    merged = []
    for a, b in pairwise(bounds):
        named = {code for code, _ in runs[a:b]} - {UNDETERMINED}
        code = named.pop() if len(named) == 1 else UNDETERMINED if not named else "mul"
        merged.append((code, "".join(t for _, t in runs[a:b])))
    return tuple(merged)


def languages(text: str) -> Languages:
    """The text's primary language, its mix and its segments, read over the whole text."""
    clean = _readable(read(text))
    primary, shares = _detect(clean)
    return Languages(primary, shares, segments(clean, primary))


def identify(text: str) -> str:
    """The ISO 639-1 code of the text's primary language (`zh-Hant`-style for a few), or `und`."""
    return _detect(_readable(read(text)))[0]
