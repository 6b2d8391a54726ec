"""The cascade's serving core: what escalates (the band, a language the fast model does not know, a
channel asking for the encoder), the batch's time budget, and what the verdict says of it."""

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.typing import NDArray

from contracts.policy import ChannelPolicy, PolicyBook
from contracts.verdict import Action, Stage
from stream_consumer import cascade
from stream_consumer.cascade import Cascade, EncoderHead, EncoderMismatchError
from stream_consumer.encoder import DIMENSIONS
from stream_consumer.moderation import Champion, encoder_input, moderate
from stream_consumer.normalize import normal_form
from stream_consumer.policy import rules
from tests.builders import kinesis_record, message
from tests.fakes import KeywordScorer

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SHA = "e" * 64


class WordEncoder:
    """Dimension 0 is 1 when a text holds "bad" (in any language's spelling here), else 0."""

    sha256 = SHA

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.seen += texts
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        out[:, 0] = [any(w in t.lower() for w in ("bad", "schlecht")) for t in texts]
        return out


def _cascade(band: tuple[float, float] = (0.4, 0.7), languages: tuple[str, ...] = ("en",)) -> Cascade:
    weights = np.zeros(DIMENSIONS)
    weights[0] = 8.0
    head = EncoderHead(
        weights=weights,
        intercept=-4.0,
        stacked=np.array([0.0, 1.0, 0.0]),  # the encoder's word decides an escalated English message
        alone=np.array([1.0, 0.0]),
        band=band,
    )
    return Cascade("test-encoder", SHA, {"removal": head}, languages)


def _run(fast: list[float], languages: list[str], **kwargs: object) -> cascade.Cascaded:
    texts = ["this is bad" if i % 2 else "this is fine" for i in range(len(fast))]
    return cascade.run(
        _cascade(),
        {"removal": np.array(fast)},
        texts,
        languages,
        WordEncoder(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_only_the_band_and_unknown_languages_escalate() -> None:
    out = _run([0.1, 0.5, 0.9, 0.6], ["en", "en", "en", "de"])
    assert out.stage == [Stage.FAST, Stage.ENCODER, Stage.FAST, Stage.ENCODER]
    # out of the band the fast score stands; in it (or in German) the encoder's word decides
    assert out.probability["removal"][0] == 0.1
    assert out.probability["removal"][2] == 0.9
    assert out.probability["removal"][1] == pytest.approx(1 / (1 + np.exp(-4)))
    assert out.probability["removal"][3] == pytest.approx(1 / (1 + np.exp(-4)))
    assert not out.unjudged.any()


def test_an_undetermined_language_is_the_fast_models() -> None:
    out = _run([0.1, 0.95], ["und", "und"])
    assert out.stage == [Stage.FAST, Stage.FAST]


def test_a_channel_can_ask_for_the_encoder_on_everything() -> None:
    out = _run([0.01, 0.99], ["en", "en"], forced=[True, True])
    assert out.stage == [Stage.ENCODER, Stage.ENCODER]
    assert out.probability["removal"][0] == pytest.approx(1 / (1 + np.exp(4)))


def test_past_the_budget_the_rest_keep_their_fast_score_and_unknown_languages_go_first() -> None:
    ticks = iter(float(t) for t in range(100))
    n = cascade.CHUNK + 5
    fast = [0.5] * n
    languages = ["en"] * (n - 1) + ["de"]  # the German message is last in the batch
    out = _run(fast, languages, budget_s=1.5, clock=lambda: next(ticks))  # one look at 1 s, then 2 s
    # one chunk was embedded before the clock passed the budget: the German message was in it
    assert out.stage[-1] is Stage.ENCODER
    assert out.stage.count(Stage.ENCODER) == cascade.CHUNK
    assert out.stage.count(Stage.FAST_OVER_BUDGET) == n - cascade.CHUNK
    over = [i for i, s in enumerate(out.stage) if s is Stage.FAST_OVER_BUDGET]
    assert all(out.probability["removal"][i] == 0.5 for i in over)


def test_an_unknown_language_with_no_encoder_score_is_unjudged() -> None:
    out = _run([0.5, 0.1], ["de", "en"], budget_s=0.0)
    assert out.stage == [Stage.FAST_OVER_BUDGET, Stage.FAST]
    assert out.unjudged.tolist() == [True, False]


def test_heads_of_another_encoder_are_refused() -> None:
    other = WordEncoder()
    other.sha256 = "f" * 64
    with pytest.raises(EncoderMismatchError):
        cascade.run(_cascade(), {"removal": np.array([0.5])}, ["x"], ["en"], other)


def _verdicts(texts: list[str], policy: ChannelPolicy | None = None, **kwargs: object) -> list[object]:
    scorer = KeywordScorer(words={"removal": ("idiot",)}, cascade=_cascade())
    book = PolicyBook(default=policy or ChannelPolicy())
    records = [kinesis_record(message(text=t)) for t in texts]
    out = moderate(records, Champion("m", "1", scorer), book, NOW, encoder=WordEncoder(), **kwargs)  # type: ignore[arg-type]
    return [m.verdict for m in out.moderated]


def test_verdicts_carry_stage_and_language() -> None:
    english = "maybe this comment about the weather is bad for you"  # "maybe": fast 0.6, in the band
    german = "Das ist wirklich eine schlechte Idee, du Dummkopf, wirklich schlecht"
    v_en, v_de = _verdicts([english, german])
    assert (v_en.stage, v_en.language) == (Stage.ENCODER, "en")  # type: ignore[attr-defined]
    assert (v_de.stage, v_de.language) == (Stage.ENCODER, "de")  # type: ignore[attr-defined]


def test_an_unknown_language_over_budget_goes_to_review() -> None:
    german = "Das ist wirklich eine schlechte Idee und ich finde es nicht gut, ehrlich gesagt"
    (verdict,) = _verdicts([german], encoder_budget_s=0.0)
    assert verdict.stage is Stage.FAST_OVER_BUDGET  # type: ignore[attr-defined]
    assert verdict.action is Action.REVIEW  # type: ignore[attr-defined]
    assert "sent to human review" in verdict.reasons[0]  # type: ignore[attr-defined]


def test_the_encoder_does_not_read_the_words_a_channel_allows() -> None:
    policy = ChannelPolicy(allow_terms=("gg",))
    text = normal_form("gg this is bad gg")
    assert encoder_input("gg this is bad gg", text, rules(policy, text)) == "this is bad"


def test_the_encoder_reads_through_an_obfuscation_the_normal_form_undid() -> None:
    for text in ("Das Straße ist schön, wirklich", "Hello, world! How are you?"):
        assert encoder_input(text, normal_form(text), rules(ChannelPolicy(), normal_form(text))) == text
    spaced = "t h a n k s for the help"
    assert encoder_input(spaced, normal_form(spaced), rules(ChannelPolicy(), normal_form(spaced))) == (
        "thanks for the help"
    )


def test_an_encoder_that_fails_is_spent_budget_not_a_failed_batch() -> None:
    class Broken(WordEncoder):
        def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
            raise MemoryError("the encoder stopped answering")

    out = cascade.run(_cascade(), {"removal": np.array([0.5, 0.1])}, ["x", "y"], ["de", "en"], Broken())
    assert out.stage == [Stage.FAST_OVER_BUDGET, Stage.FAST]
    assert out.unjudged.tolist() == [True, False]  # the German message goes to review
