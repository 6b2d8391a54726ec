"""The normal form: one versioned function that undoes evasions before rules, features, training and
serving see a text, in time linear in its length, with a map back to what the user wrote.

Steps, in order (each one pass; no regular expression here can backtrack over unbounded input):

1. bidi overrides: a run under RIGHT-TO-LEFT (or LEFT-TO-RIGHT) OVERRIDE is put in the order a reader
   sees it (explicit levels as UAX #9 nests them, depth ≤ 125, then its rule L2); the controls go;
2. per character (`_fold`): default-ignorable code points removed, blank-rendering characters and
   controls become spaces, NFKD with the combining diacritics dropped ("fück" → "fuck"), case folded,
   NFKC — NFKC_Casefold applied character by character, so no run of marks can cost more than linear
   time; other combining marks are capped at 30 in a row (UAX #15's stream-safe limit);
3. per word: the UTS #39 confusable prototypes (`confusables.tsv`) replace the letters of words that
   mix scripts or whose every letter has a Latin look-alike — never plain ASCII words, where the
   skeleton's m → rn, 0 → O, 1 → l would fight the leet map; leet digits and symbols inside words made
   of letters ("sh1t", "@ss"); "!" and "|" between letters; "#" masks become "*" ("f#ck" → "f*ck");
4. letters spelled out ("f u c k", "f.u.c.k", "f-u-c-k", "f*u*c*k") join into one word; runs of one
   character are capped at two ("fuuuuck" → "fuuck"; lookups also try the run collapsed to one, so
   "fuuck" meets "fuck" while "good" stays "good" — see `collapse_runs`).

The result is words separated by single spaces. `NormalText.spans` maps each of its words back to the
[start, end) characters of the original text, for reasons that point at what the user wrote.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from itertools import combinations

import numpy as np

# The version a model is trained with; a consumer refuses a model whose version it does not implement.
# It names the Unicode data the per-character mapping comes from (Python's `unicodedata`).
NORMAL_FORM_VERSION = f"2/unicode-{unicodedata.unidata_version}"

MAX_MARK_RUN = 30  # UAX #15 stream-safe text: at most 30 non-starters in a row
MAX_BIDI_DEPTH = 125  # UAX #9's max_depth

# Default_Ignorable_Code_Point (Unicode 15.1 DerivedCoreProperties; a test holds it to the `regex`
# module's property): removed, they render as nothing.
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# Characters that render as blank space: they separate words, so they become a space (the Hangul
# fillers are default-ignorable too, but fonts draw them as wide blanks).
BLANK = frozenset("\u2800\u115f\u1160\u3164\uffa0\U0001d159")

_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_LRE, _RLE, _PDF, _LRO, _RLO = "\u202a\u202b\u202c\u202d\u202e"
_LRI, _RLI, _FSI, _PDI = "\u2066\u2067\u2068\u2069"
_OPENERS = frozenset((_RLE, _LRE, _RLO, _LRO, _RLI, _LRI, _FSI))
_PARAGRAPH = frozenset("\n\r\x1c\x1d\x1e\x85\u2029")

# Digits and symbols that stand in for letters inside words made of letters ("sh1t", "@ss", "1d10t").
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_CHAR = re.compile(r"[013457@$]")
# Numbers (with a unit, an ordinal or money) and names ending in a number are not leet ("1st", "10am",
# "$100k", "covid19"); "5h17" and "1d10t" are.
_NOT_LEET = re.compile(r"\$?\d+(?:[.,]\d+)*[a-z]{0,3}|[a-z]{3,}\d+")
# "f.u.c.k", "d.o.e.s.n't" as one word: letters (an apostrophe may ride along) between separators.
_SPELLED = re.compile(r"[^\W\d_](?:'[^\W\d_])?(?:[._*-][^\W\d_](?:'[^\W\d_])?)+")
_SEPARATORS = re.compile(r"[._*-]")
_WORD = re.compile(r"\S+")
_GAPS = re.compile(r"\s+")
_RUN3 = re.compile(r"(\S)\1\1")
# Cheap checks (each a single-class or literal-led search) that a plain ASCII text needs no word-level
# step: no leet stand-in or mask next to a letter, no letters spelled out with separators or spaces.
_LEET_OR_MASK = re.compile(r"[013457@$!|#*]")
_LEET_OR_MASK_NEAR_LETTER = re.compile(r"[a-z][013457@$]|[013457@$][a-z]|[a-z][!|#*]+[a-z]")
_SEPARATED_LETTERS = re.compile(r"[a-z][._*-][a-z]")
_SPACED_LETTERS = re.compile(r" [a-z] [a-z](?!\w)")
_RUNS = re.compile(r"(\S)\1\1+")
EDGE_PUNCTUATION = "\"'()[]{}<>.,;:!?"
_WORD_CHAR = re.compile(r"\w")


def _load_confusables() -> dict[str, str]:
    table: dict[str, str] = {}
    text = (files("stream_consumer") / "confusables.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, prototype = line.split("\t")
            table[chr(int(code, 16))] = prototype
    return table


CONFUSABLES = _load_confusables()


def _is_ignorable(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in DEFAULT_IGNORABLE)


@lru_cache(maxsize=65_536)
def _fold(char: str) -> tuple[str, bool]:
    """One character's normal form, and whether it is a combining mark that survives (non-starter)."""
    if char in BLANK:
        return " ", False
    cp = ord(char)
    if _is_ignorable(cp):
        return "", False
    category = unicodedata.category(char)
    if category in {"Cc", "Zs", "Zl", "Zp"}:
        return " ", False
    if category == "Cs":  # a lone surrogate cannot be encoded: it carries nothing readable
        return "", False
    stripped = _DIACRITICS.sub("", unicodedata.normalize("NFKD", char))
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", stripped).casefold())
    return folded, unicodedata.combining(char) != 0 and folded == char


_ASCII = {c: _fold(chr(c))[0] for c in range(128)}


class _FoldTable(dict[int, str]):
    """`str.translate`'s table for `_fold`, filled on first sight of a character; `irregular` holds the
    characters that do not map to exactly one (removed, expanded, or a surviving combining mark), for
    which positions must be tracked one by one. Bounded: cleared past 65,536 characters."""

    def __init__(self) -> None:
        super().__init__(_ASCII)
        self.irregular: set[str] = set()

    def __missing__(self, code: int) -> str:
        if len(self) > 65_536:
            self.clear()
            self.update(_ASCII)
        char = chr(code)
        folded, mark = _fold(char)
        if len(folded) != 1 or mark:
            self.irregular.add(char)
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


@lru_cache(maxsize=16_384)
def script(char: str) -> str:
    """A letter's script, from its Unicode name ("LATIN", "CYRILLIC", …); "" for non-letters."""
    if not char.isalpha():
        return ""
    if char.isascii():
        return "LATIN"
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return "CJK" if first in {"CJK", "HIRAGANA", "KATAKANA"} else first


# --- step 1: bidi overrides -------------------------------------------------------------------


def _levels(text: str, start: int, end: int) -> tuple[list[int], list[int]]:
    """Explicit embedding levels (UAX #9 X1–X8, simplified implicit rules) of one paragraph's
    characters; returns (indices of the non-control characters, their levels)."""
    stack: list[tuple[int, str | None, bool]] = [(0, None, False)]  # (level, override, isolate)
    overflow = 0
    indices: list[int] = []
    levels: list[int] = []
    for i in range(start, end):
        c = text[i]
        level, override, _ = stack[-1]
        if c in _OPENERS:
            odd = c in (_RLE, _RLO, _RLI)
            new = level + (1 if (level % 2 == 0) == odd else 2)
            if new <= MAX_BIDI_DEPTH and not overflow:
                forced = "R" if c == _RLO else "L" if c == _LRO else None
                stack.append((new, forced, c in (_RLI, _LRI, _FSI)))
            else:
                overflow += 1
        elif c == _PDF:
            if overflow:
                overflow -= 1
            elif len(stack) > 1 and not stack[-1][2]:
                stack.pop()
        elif c == _PDI:
            overflow = 0
            while len(stack) > 1 and not stack[-1][2]:
                stack.pop()
            if len(stack) > 1:
                stack.pop()
        else:
            indices.append(i)
            levels.append(_implicit(level, override or unicodedata.bidirectional(c)))
    return indices, levels


def _implicit(level: int, kind: str) -> int:
    """Rules I1–I2: a strong character against its level's direction goes one level up (numbers two)."""
    if kind in {"R", "AL"}:
        return level + (level % 2 == 0)
    if kind == "L":
        return level + (level % 2 == 1)
    if kind in {"EN", "AN"}:
        return level + (2 if level % 2 == 0 else 1)
    return level


def visual_order(text: str) -> list[int]:
    """The indices of `text` in the order a reader sees them (rule L2), bidi controls left out.

    Only texts holding an override are reordered: elsewhere logical order is what a model reads.
    """
    if _RLO not in text and _LRO not in text:
        return list(range(len(text)))
    order: list[int] = []
    start = 0
    for end in [*(i for i, c in enumerate(text) if c in _PARAGRAPH), len(text)]:
        indices, levels = _levels(text, start, end)
        order.extend(_reverse_runs(indices, levels))
        if end < len(text):
            order.append(end)
        start = end + 1
    return order


def _reverse_runs(indices: list[int], levels: list[int]) -> list[int]:
    """Rule L2: from the highest level down to the lowest odd one, reverse every run at or above it.

    Run boundaries need a level change, which needs a control character, so the runs over all levels
    number at most about twice the text's length: the whole is linear. The levels themselves need no
    reversing: a run reversed at level k is at or above every lower level taken after it.
    """
    if not indices:
        return []
    lev = np.asarray(levels, dtype=np.int16)
    pos = np.asarray(indices, dtype=np.int64)
    highest = int(lev.max())
    lowest_odd = int(lev[lev % 2 == 1].min()) if (lev % 2 == 1).any() else highest + 1
    for k in range(highest, lowest_odd - 1, -1):
        edges = np.diff(np.concatenate(([0], (lev >= k).view(np.int8), [0])))
        for s, e in zip(
            np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True
        ):
            pos[s:e] = pos[s:e][::-1].copy()
    return pos.tolist()


# --- step 2: characters -----------------------------------------------------------------------


def _characters(text: str) -> tuple[str, list[int] | None]:
    """The per-character normal form and, unless it is position for position, each character's source."""
    if text.isascii():
        return text.translate(_ASCII), None
    if _RLO not in text and _LRO not in text:
        folded = text.translate(_FOLD_TABLE)
        if _FOLD_TABLE.irregular.isdisjoint(text):  # every character mapped to exactly one
            return folded, None
    order = visual_order(text)
    out: list[str] = []
    src: list[int] = []
    marks = 0
    for i in order:
        folded, mark = _fold(text[i])
        if mark:
            marks += 1
            if marks > MAX_MARK_RUN:
                continue
        else:
            marks = 0
        if len(folded) == 1:
            out.append(folded)
            src.append(i)
        elif folded:
            out.extend(folded)
            src.extend([i] * len(folded))
    return "".join(out), src


def stream_safe(text: str) -> str:
    """`text` with runs of combining marks capped at 30 (UAX #15), so NFC/NFKC cost stays linear."""
    out: list[str] = []
    run = 0
    for c in text:
        if unicodedata.combining(c):
            run += 1
            if run > MAX_MARK_RUN:
                continue
        else:
            run = 0
        out.append(c)
    return "".join(out) if len(out) != len(text) else text


# --- step 3: words ----------------------------------------------------------------------------


def _unconfuse(word: str) -> tuple[str, bool]:
    """Latin prototypes for the letters of a mixed-script or wholly look-alike word; (word, mixed)."""
    scripts = {s for s in map(script, word) if s}
    mixed = len(scripts) > 1
    if mixed or all(c.isascii() or c in CONFUSABLES for c in word if c.isalpha()):
        return "".join(CONFUSABLES.get(c, c) for c in word), mixed
    return word, mixed


def _unleet(word: str) -> str:
    """Leet inside a word of letters: mapped when every character is a letter or a leet stand-in."""
    if not _LEET_CHAR.search(word) or _NOT_LEET.fullmatch(word):
        return word
    if word[0] == "@" and len(word) > 3 and not _LEET_CHAR.search(word, 1):
        return word  # a mention ("@kobe"); "@ss" and "@ssh0le" are leet
    mapped = word.translate(_LEET)
    return mapped if mapped.isalpha() and any(c.isalpha() for c in word) else word


def _inner_marks(word: str) -> str:
    """ "!" and "|" between letters are "i" and "l"; "#" between letters masks one, like "*"."""
    if "!" not in word and "|" not in word and "#" not in word:
        return word
    chars = list(word)
    for i in range(1, len(chars) - 1):
        if chars[i] in "!|#" and chars[i - 1].isalpha() and chars[i + 1].isalpha():
            chars[i] = {"!": "i", "|": "l", "#": "*"}[chars[i]]
    return "".join(chars)


def _spelled(word: str) -> str:
    """Letters one by one with separators join: "f.u.c.k", "f-u-c-k", "f_u_c_k", "f*u*c*k", "e.g" (two
    "*"-separated letters are a masked word instead: "h*e"); a mention's or hashtag's sign stays in front
    ("@b.o.b" → "@bob")."""
    inner = word.strip("._*-@#")
    if len(inner) < 3 or not _SEPARATORS.search(inner) or not _SPELLED.fullmatch(inner):
        return word
    if "*" in inner and inner.count("*") + inner.count(".") + inner.count("-") + inner.count("_") < 2:
        return word  # "h*e" is a masked word, not two letters spelled out
    start = len(word) - len(word.lstrip("._*-@#"))
    return word[:start] + _SEPARATORS.sub("", inner) + word[start + len(inner) :]


def cap_runs(word: str) -> str:
    """Runs of one character capped at two ("fuuuuck" → "fuuck", "!!!!" → "!!"); one pass."""
    out: list[str] = []
    prev, run = "", 0
    for c in word:
        run = run + 1 if c == prev else 1
        prev = c
        if run <= 2:
            out.append(c)
    return "".join(out)


def run_variants(word: str, most_runs: int = 4) -> list[str]:
    """The spellings a word with doubled letters may stand for, fewest collapses first: "puussy" →
    ["puussy", "pussy", "puusy", "pusy"]. Over `most_runs` doubles, only the fully collapsed one."""
    runs = [i for i in range(1, len(word)) if word[i] == word[i - 1]]
    if len(runs) > most_runs:
        return [word, collapse_runs(word)]
    out = []
    for k in range(len(runs) + 1):
        for drop in combinations(runs, k):
            out.append("".join(c for i, c in enumerate(word) if i not in drop))
    return out


def collapse_runs(word: str) -> str:
    """Doubled characters collapsed to one ("fuuck" → "fuck"): the second key that lookups try."""
    return "".join(c for i, c in enumerate(word) if i == 0 or c != word[i - 1])


@lru_cache(maxsize=65_536)
def _word(word: str, runs: bool) -> tuple[str, bool]:
    """One white-space-delimited word in normal form (its edge punctuation kept); (word, mixed script).

    `runs` says whether the whole text holds a run of three, so most words skip that check.
    """
    mixed = False
    if not word.isascii():
        word, mixed = _unconfuse(word)
        runs = True
    if runs and _RUN3.search(word):
        word = cap_runs(word)
    if word.isalpha():
        return word, mixed
    lead = len(word) - len(word.lstrip(EDGE_PUNCTUATION))
    trail = len(word) - len(word.rstrip(EDGE_PUNCTUATION))
    core = word[lead : len(word) - trail]
    changed = _unleet(_spelled(_inner_marks(core))) if core else core
    if changed == core:
        return word, mixed
    out = word[:lead] + changed + word[len(word) - trail :]
    return (cap_runs(out) if _RUN3.search(out) else out), mixed


# --- the whole ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NormalText:
    """A text in normal form: `text` is words separated by single spaces; `spans[i]` is the
    [start, end) of the i-th word in the original text; `mixed_script` counts words that mixed scripts."""

    text: str
    mixed_script: int = 0
    _spans: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)
    # Spans are found only if someone asks (most messages are never shown to a moderator): the
    # word-by-word path runs again on the original, keeping positions, and gives the same text.
    _original: str | None = field(default=None, repr=False)

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        if self._spans is not None:
            return self._spans
        return _by_words(*_characters(self._original or "")).spans

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The original characters behind normal-form characters [start, end)."""
        first = self.text.count(" ", 0, start)
        last = self.text.count(" ", 0, max(end - 1, start))
        spans = self.spans
        return spans[first][0], spans[last][1]

    def without_words(self, drop: frozenset[int]) -> "NormalText":
        """The same text with the words at the given positions removed (and their spans)."""
        words = self.text.split(" ")
        spans = self.spans
        kept = [i for i in range(len(words)) if i not in drop]
        return NormalText(" ".join(words[i] for i in kept), self.mixed_script, tuple(spans[i] for i in kept))


def _source(src: list[int] | None, start: int, end: int) -> tuple[int, int]:
    if src is None:
        return start, end
    if start >= end:
        return src[start], src[start] + 1
    first, last = src[start], src[end - 1]
    if first <= last:
        return first, last + 1
    return min(src[start:end]), max(src[start:end]) + 1  # reordered by a bidi override


def normal_form(text: str) -> NormalText:
    """The normal form of one text, with the map back to it (see the module's docstring).

    Plain ASCII text (most chat) takes a path of whole-string operations; the word-by-word path gives
    the same text (a test holds the two together) and is run only when a span is asked for.
    """
    chars, src = _characters(text)
    if src is None and chars.isascii():
        joined = " ".join(chars.split())
        if _plain(joined):  # nothing for a word-level step: only runs to cap (ellipses, "!!!!")
            return NormalText(_RUNS.sub(r"\1\1", joined) if _RUN3.search(joined) else joined, 0, None, text)
    return _by_words(chars, src, text)


def _plain(text: str) -> bool:
    if _LEET_OR_MASK.search(text) and _LEET_OR_MASK_NEAR_LETTER.search(text):
        return False
    if _SEPARATED_LETTERS.search(text):
        return False
    return not _SPACED_LETTERS.search(text)


def _by_words(chars: str, src: list[int] | None, original: str | None = None) -> NormalText:
    """The word-level steps, one word at a time. Given the `original`, the spans are left to be found
    when asked for (this path runs again then); otherwise each word's span is kept."""
    runs = _RUN3.search(chars) is not None
    if original is not None:
        raw = chars.split()
        gaps = [0, *map(len, _GAPS.findall(chars.strip()))]  # white space before each word
        spans = [(0, 0)] * len(raw)
    else:
        found = list(_WORD.finditer(chars))
        raw = [m.group() for m in found]
        gaps = [m.start() - (found[k - 1].end() if k else 0) for k, m in enumerate(found)]
        spans = [_source(src, *m.span()) for m in found]
    done = [_word(w, runs) for w in raw]
    words, spans = _join_spelled_out([w for w, _ in done], spans, gaps)
    mixed = sum(m for _, m in done)
    if original is not None:
        return NormalText(" ".join(words), mixed, None, original)
    return NormalText(" ".join(words), mixed, tuple(spans))


def _single_letter(word: str) -> bool:
    """A one-letter word, edge punctuation aside ("f", "k,", "(f")."""
    core = word.strip(EDGE_PUNCTUATION) if len(word) > 1 else word
    return len(core) == 1 and core.isalpha()


def _continues(previous: str, word: str) -> bool:
    """Inside a spelled-out run only the first word may open with punctuation, the last close with it."""
    return previous[-1].isalpha() and word[0].isalpha()


def _join_spelled_out(
    words: list[str], spans: list[tuple[int, int]], gaps: list[int]
) -> tuple[list[str], list[tuple[int, int]]]:
    """Runs of three or more one-letter words join ("f u c k" → "fuck"); a wider gap than the run's
    narrowest splits it ("f u c k  y o u" → "fuck you"), and stranded single letters join each other,
    so that the result never holds three one-letter words in a row (the normal form stays idempotent)."""
    out_words: list[str] = []
    out_spans: list[tuple[int, int]] = []
    i, n = 0, len(words)
    while i < n:
        j = i
        while j < n and _single_letter(words[j]) and (j == i or _continues(words[j - 1], words[j])):
            j += 1
        if j - i < 3:
            j = max(j, i + 1)
            out_words.extend(words[i:j])
            out_spans.extend(spans[i:j])
            i = j
            continue
        narrowest = min(gaps[i + 1 : j])
        segments: list[list[int]] = [[i]]
        for k in range(i + 1, j):
            if gaps[k] > narrowest:
                segments.append([k])
            else:
                segments[-1].append(k)
        merged: list[list[int]] = []
        lone = False  # the last group was started by a lone letter
        for seg in segments:  # neighbouring lone letters join each other
            if lone and len(seg) == 1:
                merged[-1].extend(seg)
            else:
                merged.append(list(seg))
                lone = len(seg) == 1
        for seg in merged:
            first, last = words[seg[0]], words[seg[-1]]
            lead = first[: len(first) - len(first.lstrip(EDGE_PUNCTUATION))]
            trail = last[len(last.rstrip(EDGE_PUNCTUATION)) :]
            letters = "".join(words[k].strip(EDGE_PUNCTUATION) for k in seg)
            out_words.append(lead + cap_runs(letters) + trail)
            # The words' own spans, wherever a bidi override put them in the original.
            out_spans.append((min(spans[k][0] for k in seg), max(spans[k][1] for k in seg)))
        i = j
    return out_words, out_spans


def normalize(text: str) -> str:
    """The normal form's text alone (see `normal_form`)."""
    return normal_form(text).text


# Tokens of a normal-form text: words (with inner "*" masks and apostrophes: "f*ck", "don't"), or one
# other character. Linear: "*" and "'" never match \w, so no split of a word is tried twice.
TOKEN = re.compile(r"\w+(?:[*']+\w+)*|[^\w\s]")


def words_of(text: str) -> list[str]:
    """The word tokens of a normal-form text (punctuation left out), as rules match them."""
    return [t for t in TOKEN.findall(text) if _WORD_CHAR.match(t)]
