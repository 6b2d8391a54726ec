"""The evasion suite's language families: the default suite (the one the promotion gate runs) holds
them, the cascade keeps its removals under them, and a family the model removes nothing of in clean
form is held to its benign floor only."""

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from contracts.policy import ChannelPolicy, PolicyBook, Thresholds
from stream_consumer.cascade import Cascade, EncoderHead
from stream_consumer.encoder import DIMENSIONS
from stream_consumer.moderation import Champion, moderate
from tests.builders import kinesis_record, message
from tests.fakes import KeywordScorer, WordEncoder
from training.adversarial import (
    FOREIGN_CHAT,
    FOREIGN_FAMILIES,
    FOREIGN_INSULTS,
    OBFUSCATIONS,
    EvasionFloors,
    EvasionReport,
    FamilyResult,
    evasion_suite,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HIDING_IN_LANGUAGES = ("foreign sentence appended", "foreign text in front")
GOALS = EvasionFloors()  # 95% still flagged, 90% still removed, at most +2 points of benign flags


def _cascade() -> Cascade:
    weights = np.zeros(DIMENSIONS)
    weights[0] = 8.0
    head = EncoderHead(weights, -4.0, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0]), (0.4, 0.7))
    return Cascade("test-encoder", "e" * 64, {"removal": head}, ("en",))


def _served(texts: Sequence[str]) -> NDArray[np.float64]:
    """Scores as the consumer computes them, with a keyword fast model and a keyword encoder."""
    champion = Champion("m", "1", KeywordScorer(words={"removal": ("idiot",)}, cascade=_cascade()))
    records = [kinesis_record(message(text=t)) for t in texts]
    out = moderate(records, champion, PolicyBook(default=ChannelPolicy()), NOW, encoder=WordEncoder())
    return np.array([m.verdict.score for m in out.moderated])


def test_the_default_suite_holds_every_language_family() -> None:
    # GIVEN the suite run as the promotion gate runs it (no families named)
    read: list[str] = []

    def score(texts: Sequence[str]) -> NDArray[np.float64]:
        read.extend(texts)
        return np.ones(len(texts))

    report = evasion_suite(score, ["you idiot"], ["nice day"], Thresholds())
    # THEN its rows are every obfuscation, messages hidden in other languages among them, then the
    # foreign insults hidden behind English, measured on the suite's own insults and small talk
    assert set(HIDING_IN_LANGUAGES) <= set(OBFUSCATIONS)
    assert [f.family for f in report.families] == [*OBFUSCATIONS, *FOREIGN_FAMILIES]
    assert set(FOREIGN_INSULTS) <= set(read)
    assert set(FOREIGN_CHAT) <= set(read)
    assert report.families[-1].toxic == len(FOREIGN_INSULTS)


def test_the_cascade_keeps_its_removals_whatever_the_language_around_them() -> None:
    # GIVEN insults the fast model removes, small talk, and the cascade as the consumer runs it
    toxic = [f"you are an idiot number {k}" for k in range(20)]
    benign = [f"see you at the game tonight, number {k}" for k in range(20)]
    families = {name: OBFUSCATIONS[name] for name in HIDING_IN_LANGUAGES}
    # WHEN the language families are applied
    report = evasion_suite(_served, toxic, benign, Thresholds(), families)
    # THEN every family keeps the goals, foreign insults behind an English sentence included
    assert [f.family for f in report.families] == [*HIDING_IN_LANGUAGES, *FOREIGN_FAMILIES]
    assert all(f.toxic > 0 for f in report.families)
    assert report.failures(GOALS) == []


def test_a_family_removed_of_nothing_in_clean_form_keeps_its_benign_floor_only() -> None:
    # GIVEN a family whose toxic messages the model removes none of in clean form (a fast model alone
    # cannot read the foreign insults), and whose benign messages it flags more
    row = FamilyResult(
        family="foreign insult, English sentence appended",
        toxic=0,
        still_removed=0.0,
        still_flagged=0.0,
        benign=30,
        benign_flagged_clean=0.0,
        benign_flagged=0.1,
    )
    # THEN only the benign floor is read
    assert EvasionReport(families=[row]).failures(GOALS) == [
        "foreign insult, English sentence appended: benign false flags +10.0% (at most +2%)"
    ]
