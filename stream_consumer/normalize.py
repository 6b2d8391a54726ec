"""Text normalisation applied once, before the policy rules and the model, so trivial evasions fail.

The model is trained on text normalised by this same function, so training and serving agree.
"""

import re
import unicodedata

# Zero-width and formatting characters used to split words invisibly ("i\u200bdiot").
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
        "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
        "\u3164\ufeff\uffa0",
    ),
    None,
)
# Control characters become spaces (a tab or newline still separates words).
_CONTROLS = dict.fromkeys((*range(0, 32), *range(127, 160)), " ")
# Letters from other scripts that look like Latin ones (after case folding).
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ј": "j",
        "ԁ": "d",
        "ɡ": "g",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
    }
)
_TABLE = {**_INVISIBLE, **_CONTROLS, **_CONFUSABLES}

# Digits and symbols that stand in for letters, replaced only inside words that also hold letters,
# so "sh1t" and "@ss" are caught while "3 studies" and "$5" are left alone.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_CHAR = re.compile(r"[013457@$]")
_LEET_NEXT_TO_LETTER = re.compile(r"[a-z][013457@$]|[013457@$][a-z]")
_MIXED_WORD = re.compile(r"(?=[\w@$]*[a-z])(?=[\w@$]*[013457@$])[\w@$]+")
_INNER_BANG = re.compile(r"(?<=[a-z])[!|](?=[a-z])")  # "d!ck", "fa|l"
# "fuuuuck" -> "fuuck", "!!!!!" -> "!!" (written `\1\1+`: 4x faster than `\1{2,}` in CPython's engine)
_REPEATS = re.compile(r"(.)\1\1+")


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return _COMBINING.sub("", decomposed) if decomposed != text else text


def _unleet(match: re.Match[str]) -> str:
    word = match.group(0)
    return word if word.isdigit() else word.translate(_LEET)


def normalize(text: str) -> str:
    """NFKC, case folding, invisible and control characters removed, look-alikes and leet mapped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = _strip_marks(text)  # "fück" -> "fuck"
    text = text.casefold().translate(_TABLE)
    # Most texts have no leet at all: two cheap searches spare them the costly rewrite.
    if _LEET_CHAR.search(text) and _LEET_NEXT_TO_LETTER.search(text):
        text = _MIXED_WORD.sub(_unleet, text)
    if "!" in text or "|" in text:
        text = _INNER_BANG.sub(lambda m: "i" if m.group(0) == "!" else "l", text)
    text = _REPEATS.sub(r"\1\1", text)
    return " ".join(text.split())
