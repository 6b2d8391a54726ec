"""Trivial evasions are undone before the rules and the model see a text."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_consumer.normalize import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("You  are\tan\nIDIOT", "you are an idiot"),
        ("i\u200bdi\u200dot", "idiot"),  # zero-width characters
        ("ｉｄｉｏｔ", "idiot"),  # full-width forms (NFKC)
        ("іdіоt", "idiot"),  # Cyrillic look-alikes
        ("fück", "fuck"),  # diacritics
        ("sh1t and @ss and 1d10t", "shit and ass and idiot"),  # leet inside words
        ("d!ck", "dick"),
        ("stuuuuupid!!!!!", "stuupid!!"),  # runs capped at two
        ("bell\x07 and\x00null", "bell and null"),  # control characters
    ],
)
def test_evasions_are_normalised(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("text", ["3 studies cost $5 in 2017", "p < 0.05, n = 1200", "covid-19"])
def test_numbers_in_ordinary_text_are_left_alone(text: str) -> None:
    assert normalize(text) == text


@given(st.text(max_size=300))
def test_normalisation_is_idempotent_and_total(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
