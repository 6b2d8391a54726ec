"""The normal form: evasions are undone, ordinary text is left alone, it is idempotent and total, its
fast path agrees with its word-by-word path, and its spans point at what the user wrote."""

import subprocess
import sys
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stream_consumer.normalize import (
    DEFAULT_IGNORABLE,
    MAX_MARK_RUN,
    _by_words,
    _characters,
    normal_form,
    normalize,
    stream_safe,
    visual_order,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("You  are\tan\nIDIOT", "you are an idiot"),
        ("i\u200bdi\u200dot", "idiot"),  # zero-width characters
        ("ｉｄｉｏｔ", "idiot"),  # full-width forms (NFKC)
        ("іdіоt", "idiot"),  # Cyrillic look-alikes
        ("սօϲɩɑһոꜱᴛ", "uociahnst"),  # look-alikes from Armenian, Greek, Latin (UTS #39 prototypes)
        ("fück", "fuck"),  # diacritics
        ("f\u0301\u0302u\u0323c\u0324k", "fuck"),  # combining marks
        ("sh1t and @ss and 1d10t and 5h17", "shit and ass and idiot and shit"),  # leet inside words
        ("d!ck", "dick"),
        ("stuuuuupid!!!!!", "stuupid!!"),  # runs capped at two
        ("bell\x07 and\x00null", "bell and null"),  # control characters
        ("f u c k you", "fuck you"),  # letters spelled out
        ("f  u  c  k  y o u", "fuck you"),  # a wider gap separates spelled-out words
        ("y o u  a r e  a n  i d i o t!", "you are an idiot!"),
        ("f.u.c.k off", "fuck off"),
        ("f-u-c-k f_u_c_k f*u*c*k", "fuck fuck fuck"),
        ("d.o.e.s.n't", "doesn't"),
        ("f*ck f#ck h*e", "f*ck f*ck h*e"),  # masks stay masks (lookups resolve them)
        ("\u202ekcuf uoy\u202c now", "you fuck now"),  # right-to-left override: the order a reader sees
        ("you\u2800idiot", "you idiot"),  # a blank that is not default-ignorable separates words
        ("you\u3164idiot", "you idiot"),  # a Hangul filler renders blank too
        ("i\U000e0041d\ufe0fi\U000e007fot", "idiot"),  # tag characters and variation selectors
        ("@kobe @ss", "@kobe ass"),  # a mention is not leet
        ("e.g. i.e.", "eg. ie."),
    ],
)
def test_evasions_are_normalised(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3 studies cost $5 in 2017",
        "p < 0.05, n = 1200",
        "covid-19",
        "a b testing",
        "good",
        "1st 2nd 10am $100k covid19 10.5mg",
        "**bold** text",
        "dual-n-back",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert normalize(text) == text


def test_nested_overrides_read_as_uax9_orders_them() -> None:
    # RLO a LRO b c PDF d PDF: the inner left-to-right run keeps its order inside the reversed outer one.
    text = "\u202ea\u202dbc\u202cd\u202c"
    assert "".join(text[i] for i in visual_order(text)) == "dbca"
    assert normalize("\u202eab \u202dcd\u202c\u202c") == "cd ba"


def test_an_override_ends_at_the_paragraph() -> None:
    assert normalize("\u202ekcuf\nyou") == "fuck you"


def test_invisible_only_text_is_empty() -> None:
    text = "\u200b\ufe0f\U000e0041\u2800\u00ad\u3164" * 100
    assert normal_form(text).text == ""


def test_default_ignorable_table_is_unicodes() -> None:
    # GIVEN the `regex` module's Default_Ignorable_Code_Point property (Unicode's own data)
    prop = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    expected = [cp for cp in range(sys.maxunicode + 1) if prop.match(chr(cp))]
    # THEN the normal form's table lists exactly those code points
    ours = [cp for lo, hi in DEFAULT_IGNORABLE for cp in range(lo, hi + 1)]
    assert ours == expected


def test_confusables_table_is_the_one_the_script_generates() -> None:
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "scripts/generate_confusables.py", "--check"], check=True, cwd=root)


def test_runs_of_combining_marks_are_capped_stream_safe() -> None:
    marks = "\u05b0\u05b4" * 50  # Hebrew points: not diacritics the normal form drops
    text = "a" + marks + "b"
    assert stream_safe(text) == "a" + marks[:MAX_MARK_RUN] + "b"
    assert normal_form(text).text == "a" + marks[:MAX_MARK_RUN] + "b"


def test_spans_point_at_what_the_user_wrote() -> None:
    raw = "hey  Y O U  a\u200br\u200be  an  1d10t!"
    nt = normal_form(raw)
    assert nt.text == "hey you are an idiot!"
    words = [raw[a:b] for a, b in nt.spans]
    assert words == ["hey", "Y O U", "a\u200br\u200be", "an", "1d10t!"]
    start = nt.text.index("idiot")
    assert raw[slice(*nt.source_span(start, start + 5))] == "1d10t!"


def test_spans_of_plain_text_come_from_the_word_path_when_asked() -> None:
    raw = "you   are an idiot...."
    nt = normal_form(raw)
    assert nt.text == "you are an idiot.."
    assert [raw[a:b] for a, b in nt.spans] == ["you", "are", "an", "idiot...."]


_TRICKY = st.sampled_from(
    [
        *"abcfuktAB  .-_*#!|@$'0134579",
        *("\u200b", "\u202e", "\u202d", "\u202c", "\u2066", "\u2069", "\u0301", "\u05b0", "а", "о", "ɩ"),
        *("ս", "\u2800", "\u3164", "ﬁ", "ß", "\n", "\t", "😀", "\U000e0041", "\ufe0f", "\ud800"),
    ]
)
_TEXTS = st.one_of(st.text(max_size=200), st.lists(_TRICKY, max_size=80).map("".join))


@settings(max_examples=1500, suppress_health_check=list(HealthCheck), deadline=None)
@given(_TEXTS)
@example("\u202eA\x1bA\x1bA")  # letters spelled out under a right-to-left override: a span read backwards
@example("\u202eA A A")
def test_normal_form_is_idempotent_total_and_maps_every_word(text: str) -> None:
    nt = normal_form(text)
    assert normalize(nt.text) == nt.text
    assert nt.text == nt.text.strip()
    assert "  " not in nt.text
    assert len(nt.spans) == (len(nt.text.split(" ")) if nt.text else 0)
    assert all(0 <= a < b <= len(text) for a, b in nt.spans)


@settings(max_examples=1500, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.lists(st.sampled_from(list("abcfuk  .-_*#!|@$'0134579\t\n,")), max_size=60).map("".join))
def test_the_fast_path_gives_the_word_paths_text(text: str) -> None:
    assert normal_form(text).text == _by_words(*_characters(text)).text
