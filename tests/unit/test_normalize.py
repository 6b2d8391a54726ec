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
    _FoldTable,
    _implicit,
    _levels,
    _load_confusables,
    _reverse_runs,
    _unconfuse,
    collapse_runs,
    normal_form,
    normalize,
    run_variants,
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


# --- the bidi levels, word variants and tables (survivors of `make mutation`) ----------------------

LRE, RLE, PDF, LRO, RLO = "\u202a\u202b\u202c\u202d\u202e"
RLI, PDI = "\u2067", "\u2069"
ALEF = "\u05d0"  # a Hebrew letter: strong right-to-left


@pytest.mark.parametrize(
    ("level", "kind", "expected"),
    [
        # rule I1 (even levels): R and AL up one, numbers up two, L stays
        (0, "R", 1), (0, "AL", 1), (0, "EN", 2), (0, "AN", 2), (0, "L", 0),
        (2, "R", 3), (2, "AL", 3), (2, "EN", 4), (2, "AN", 4), (2, "L", 2),
        # rule I2 (odd levels): L and numbers up one, R stays
        (1, "L", 2), (1, "EN", 2), (1, "AN", 2), (1, "R", 1), (1, "AL", 1),
        (3, "L", 4), (3, "EN", 4), (3, "R", 3),
        # neutrals keep their level
        (0, "WS", 0), (1, "ON", 1),
    ],
)  # fmt: skip
def test_implicit_levels_raise_a_character_against_its_levels_direction(
    level: int, kind: str, expected: int
) -> None:
    assert _implicit(level, kind) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a{ALEF}1", [0, 1, 2]),  # no control: the implicit levels of each character
        (f"a{RLO}b{PDF}c", [0, 1, 0]),  # an override forces its direction
        (f"{RLO}x{LRO}y{ALEF}", [1, 2, 2]),  # nested: the next even level, forced left-to-right
        (f"{RLE}a{ALEF}", [2, 1]),  # an embedding without override: the characters' own directions
        (f"{RLI}a{RLO}b{PDI}c", [2, 3, 0]),  # an isolate's end closes what it holds and itself
        (f"{RLI}a{PDF}b{PDI}c", [2, 2, 0]),  # a PDF never closes an isolate
        (f"{RLI}{RLE}a{PDF}b{PDI}", [4, 2]),  # ...but closes the embedding inside it
    ],
)
def test_explicit_levels_follow_embeddings_overrides_and_isolates(text: str, expected: list[int]) -> None:
    indices, levels = _levels(text, 0, len(text))
    assert [text[i] for i in indices] == [c for c in text if c not in _CONTROLS]
    assert levels == expected


_CONTROLS = {LRE, RLE, PDF, LRO, RLO, RLI, PDI}


def test_embeddings_past_the_maximum_depth_overflow_and_are_closed_first() -> None:
    deepest = LRE * 62  # levels 2, 4, … 124
    # one more LRE would be 126: it overflows, and the first PDF closes the overflow, not level 124
    text = f"{deepest}{LRE}a{PDF}b{PDF}c"
    assert _levels(text, 0, len(text))[1] == [124, 124, 122]
    # an RLE from 124 reaches 125, the maximum itself
    text = f"{deepest}{RLE}a"
    assert _levels(text, 0, len(text))[1] == [126]  # a left-to-right letter at odd 125
    # an isolate's end clears the overflow: what follows embeds again
    text = f"{RLI}{LRE * 62}{LRE}{PDI}{LRE}a{PDF}b"
    assert _levels(text, 0, len(text))[1] == [2, 0]


def test_runs_are_reversed_from_the_highest_level_down_to_the_lowest_odd_one() -> None:
    # levels 1 2 2 1: the inner pair is reversed at 2, then the whole at 1 (the pair back in order)
    assert _reverse_runs([0, 1, 2, 3], [1, 2, 2, 1]) == [3, 1, 2, 0]
    # levels 1 3 2 3: at 3 two runs of one, at 2 the run [3 2 3] reversed, at 1 everything
    assert _reverse_runs([0, 1, 2, 3], [1, 3, 2, 3]) == [1, 2, 3, 0]
    assert _reverse_runs([0, 1, 2], [0, 2, 0]) == [0, 1, 2]  # even levels only: nothing to reverse
    assert _reverse_runs([], []) == []


def test_a_run_of_marks_is_capped_wherever_it_starts() -> None:
    mark = "\u0301"
    assert stream_safe(mark * MAX_MARK_RUN) == mark * MAX_MARK_RUN  # a text that starts with marks
    assert stream_safe(mark * (MAX_MARK_RUN + 1)) == mark * MAX_MARK_RUN
    assert stream_safe(f"a{mark * 31}b{mark * 2}") == f"a{mark * 30}b{mark * 2}"


def test_doubled_letters_collapse_and_each_spelling_they_may_stand_for_is_tried() -> None:
    assert collapse_runs("aabbba") == "aba"
    assert collapse_runs("") == ""
    assert run_variants("puussy") == ["puussy", "pussy", "puusy", "pusy"]
    assert run_variants("aab") == ["aab", "ab"]
    assert run_variants("ab") == ["ab"]
    # over the most runs, only the word and its fully collapsed form
    assert run_variants("aabbccdd", most_runs=4) == [
        "aabbccdd", "abbccdd", "aabccdd", "aabbcdd", "aabbccd",
        "abccdd", "abbcdd", "abbccd", "aabcdd", "aabccd", "aabbcd",
        "abcdd", "abccd", "abbcd", "aabcd", "abcd",
    ]  # fmt: skip
    assert run_variants("aabbccddee", most_runs=4) == ["aabbccddee", "abcde"]
    assert run_variants("aabbccdd", most_runs=3) == ["aabbccdd", "abcd"]


def test_a_word_of_two_scripts_is_mixed_and_one_of_one_is_not() -> None:
    cyrillic_a = "\u0430"
    assert _unconfuse(f"b{cyrillic_a}d") == ("bad", True)
    assert _unconfuse("bad") == ("bad", False)
    assert _unconfuse("\u0436\u0443\u043a") == ("\u0436\u0443\u043a", False)  # Russian "жук": no look-alike
    assert _unconfuse("\u0431\u0430\u0433") == ("bar", False)  # "баг": every letter a look-alike


def test_a_span_covers_the_original_words_behind_normal_form_characters() -> None:
    raw = "Hello   W0rld  again"
    text = normal_form(raw)
    assert text.text == "hello world again"
    assert raw[slice(*text.source_span(0, 5))] == "Hello"
    assert raw[slice(*text.source_span(6, 11))] == "W0rld"
    assert raw[slice(*text.source_span(6, 17))] == "W0rld  again"
    assert raw[slice(*text.source_span(12, 12))] == "again"  # an empty range: the word it is in
    kept = text.without_words(frozenset({1}))
    assert (kept.text, kept.spans, kept.mixed_script) == (
        "hello again",
        (text.spans[0], text.spans[2]),
        False,
    )
    mixed = normal_form("b\u0430d word").without_words(frozenset({1}))
    assert (mixed.text, mixed.mixed_script) == ("bad", True)


def test_the_look_alike_table_is_read_from_the_bundled_file() -> None:
    table = _load_confusables()
    assert table["\u0430"] == "a"  # Cyrillic a
    assert table["\u03bf"] == "o"  # Greek omicron
    assert len(table) > 400
    assert all(len(k) == 1 for k in table)


def test_the_fold_table_fills_on_first_sight_and_remembers_irregular_characters() -> None:
    table = _FoldTable()
    assert "\u00e9".translate(table) == "e"  # é: an accent folded away
    assert "\ufb01".translate(table) == "fi"  # the fi ligature: one character, two
    assert table.irregular == {"\ufb01"}
    assert ord("\u00e9") in table
    # past 65,536 characters it starts again from the ASCII ones
    table = _FoldTable()
    for code in range(0x4E00, 0x4E00 + 65_537 - len(table)):
        table[code] = "x"
    assert len(table) == 65_537
    assert "\u00e8".translate(table) == "e"  # one past the bound: cleared, then filled again
    assert len(table) < 1_000
    assert ord("A") in table  # the ASCII characters are back
