"""The cascade's serving core: what escalates (the band, a language the fast model does not know or a
substantial share of one, a channel asking for the encoder), how languages combine with the fast score
(never lowering it), the batch's time budget and how it is shared, and what the verdict says of it."""

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.typing import NDArray

from contracts.policy import ChannelPolicy, PolicyBook
from contracts.verdict import Action, Stage
from stream_consumer import cascade
from stream_consumer.cascade import EncoderMismatchError
from stream_consumer.language import Languages, languages
from stream_consumer.moderation import Champion, ModerationOptions, encoder_input, moderate
from stream_consumer.normalize import normal_form
from stream_consumer.policy import rules
from tests.builders import SHA, kinesis_record, message
from tests.builders import word_cascade as _cascade
from tests.fakes import KeywordScorer, WordEncoder

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


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


def _verdicts(
    texts: list[str], policy: ChannelPolicy | None = None, encoder_budget_s: float = math.inf
) -> list[object]:
    scorer = KeywordScorer(words={"removal": ("idiot",)}, cascade=_cascade())
    book = PolicyBook(default=policy or ChannelPolicy())
    records = [kinesis_record(message(text=t)) for t in texts]
    options = ModerationOptions(encoder_budget_s=encoder_budget_s)
    out = moderate(records, Champion("m", "1", scorer), book, NOW, options, encoder=WordEncoder())
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
        def embed_parts(self, texts: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
            raise MemoryError("the encoder stopped answering")

    out = cascade.run(_cascade(), {"removal": np.array([0.5, 0.1])}, ["x", "y"], ["de", "en"], Broken())
    assert out.stage == [Stage.FAST_OVER_BUDGET, Stage.FAST]
    assert out.unjudged.tolist() == [True, False]  # the German message goes to review


# --- languages cannot route around the verdict ------------------------------------------------------

INSULT = "you are a worthless idiot and everyone knows it"  # the fast model removes it (0.95)
ITALIAN = (
    "Ieri sera siamo andati a cena in una piccola trattoria vicino al fiume e abbiamo parlato a lungo dei "
    "progetti per la prossima estate con tutta la famiglia, poi siamo tornati a casa a piedi."
)
FRENCH = (
    "Nous sommes allés au marché ce matin pour acheter du pain, des fromages et quelques légumes frais, "
    "puis nous avons pris un café sur la terrasse en regardant les passants. "
)
FRENCH_INSULT = "Espèce de connard, t'es qu'une grosse merde et tout le monde te déteste."  # the encoder's
FILLER = "Anyway, I hope everyone has a great weekend with their family and friends."


def test_a_foreign_sentence_appended_does_not_discard_the_fast_score() -> None:
    # GIVEN an insult the fast model removes, with an Italian sentence after it (the message reads Italian)
    (verdict,) = _verdicts([f"{INSULT} {ITALIAN}"])
    # THEN the encoder's reading of the Italian cannot lower the fast model's score
    assert verdict.language == "it"  # type: ignore[attr-defined]
    assert verdict.stage is Stage.ENCODER  # type: ignore[attr-defined]
    assert verdict.action is Action.REMOVE  # type: ignore[attr-defined]
    assert verdict.score == pytest.approx(0.95)  # type: ignore[attr-defined]


def test_foreign_text_in_front_does_not_discard_the_fast_score() -> None:
    # GIVEN 1,000 characters of French in front of the same insult
    (verdict,) = _verdicts([f"{(FRENCH * 8)[:1_000]} {INSULT}"])
    # THEN it is removed all the same
    assert verdict.language == "fr"  # type: ignore[attr-defined]
    assert verdict.action is Action.REMOVE  # type: ignore[attr-defined]


def test_the_encoder_reads_the_whole_text_and_keeps_its_worst_part() -> None:
    # GIVEN a French insult behind 2,000 characters of small talk in French (past the encoder's first part)
    text = f"{FRENCH * 12} {FRENCH_INSULT}"
    encoder = WordEncoder()
    out = cascade.run(_cascade(), {"removal": np.array([0.05])}, [text], ["fr"], encoder)
    # THEN every part was read, and the insult's part decides
    assert len(encoder.seen) == len(encoder.parts(text)) > 1
    assert out.probability["removal"][0] == pytest.approx(1 / (1 + np.exp(-4)))


def test_a_foreign_insult_behind_a_known_language_filler_goes_to_the_encoder() -> None:
    # GIVEN a French insult the fast model cannot read, and one English sentence to make it look English
    (verdict,) = _verdicts([f"{FRENCH_INSULT} {FILLER}"])
    # THEN its share of French sends it to the encoder, which removes it
    assert verdict.language in ("en", "und")  # type: ignore[attr-defined]
    assert verdict.stage is Stage.ENCODER  # type: ignore[attr-defined]
    assert verdict.action is Action.REMOVE  # type: ignore[attr-defined]


def test_each_language_of_a_message_is_read_apart() -> None:
    # GIVEN a French insult behind an English sentence, and an encoder that a longer part dilutes
    text = f"{FRENCH_INSULT} {FILLER}"
    encoder = WordEncoder(focus=20)
    out = cascade.run(_cascade(), {"removal": np.array([0.05])}, [text], [languages(text).primary], encoder)
    # THEN the encoder reads the French apart from the English, and the insult decides
    assert encoder.seen == [FRENCH_INSULT, FILLER]
    assert out.probability["removal"][0] == pytest.approx(1 / (1 + np.exp(-4)))


def test_a_mix_over_budget_goes_to_review_unless_the_fast_model_removes_it() -> None:
    # GIVEN a mixed message the fast model cannot read, and one it removes, with no encoder time
    mixed, removed = _verdicts([f"{FRENCH_INSULT} {FILLER}", f"{INSULT} {ITALIAN}"], encoder_budget_s=0.0)
    # THEN a person judges the first; the fast model's removal of the second stands
    assert (mixed.stage, mixed.action) == (Stage.FAST_OVER_BUDGET, Action.REVIEW)  # type: ignore[attr-defined]
    assert (removed.stage, removed.action) == (Stage.FAST_OVER_BUDGET, Action.REMOVE)  # type: ignore[attr-defined]


def test_the_language_identifier_reads_the_whole_text() -> None:
    english = "this is just an ordinary sentence about the weather and the town. " * 20  # 1,340 characters
    # WHEN Italian follows 1,340 characters of English
    mix = languages(f"{english} {ITALIAN * 10}")
    # THEN the Italian is seen, as a share of the text
    assert dict(mix.shares).get("it", 0.0) >= 0.5
    # AND one control character does not make a text's language undetermined
    assert languages(f"{FRENCH_INSULT}\x01").primary == "fr"


def _mixed_batch(raiders: list[tuple[str, str]], others: list[tuple[str, str]]) -> list[object]:
    """Verdicts of a batch: one long Italian message per raider (channel, user), then one uncertain
    English message per other sender, with an encoder that spends a millisecond per part and a budget
    of 100 ms."""
    italian = " ".join([ITALIAN] * 14)  # 2,500 characters: five parts
    texts = [(italian, c, u) for c, u in raiders] + [("maybe this is bad", c, u) for c, u in others]
    clock = [0.0]
    scorer = KeywordScorer(words={"removal": ("idiot",)}, cascade=_cascade())
    records = [kinesis_record(message(text=t, channel=c, user_id=u)) for t, c, u in texts]
    out = moderate(
        records,
        Champion("m", "1", scorer),
        PolicyBook(default=ChannelPolicy()),
        NOW,
        ModerationOptions(encoder_budget_s=0.1),
        encoder=WordEncoder(clock=clock),
        clock=lambda: clock[0],
    )
    return [m.verdict for m in out.moderated]


def test_one_sender_cannot_spend_every_other_senders_escalation() -> None:
    # GIVEN one user's 60 long Italian messages before 40 uncertain English messages of 40 other users
    # of the same channel, and encoder time for a fifth of the Italian
    verdicts = _mixed_batch([("c1", "raider")] * 60, [("c1", f"user-{k}") for k in range(40)])
    raider, others = verdicts[:60], verdicts[60:]
    # THEN every other sender's uncertain message still reaches the encoder (and is judged by it)
    assert all(v.stage is Stage.ENCODER for v in others)  # type: ignore[attr-defined]
    assert all(v.action is Action.REMOVE for v in others)  # type: ignore[attr-defined]
    # AND the raider's messages had their turns too; those past the budget go to a person, not through
    assert any(v.stage is Stage.ENCODER for v in raider)  # type: ignore[attr-defined]
    assert all(v.action is Action.REVIEW for v in raider if v.stage is Stage.FAST_OVER_BUDGET)  # type: ignore[attr-defined]


def test_one_channel_cannot_spend_every_other_channels_escalation() -> None:
    # GIVEN a raid: 60 users of one channel send one long Italian message each, ahead of 40 uncertain
    # English messages in another channel
    verdicts = _mixed_batch([("raided", f"raider-{k}") for k in range(60)], [("calm", "user")] * 40)
    # THEN the other channel's uncertain messages still reach the encoder
    assert all(v.stage is Stage.ENCODER for v in verdicts[60:])  # type: ignore[attr-defined]


def test_turns_are_fair_between_channels_then_senders_weighed_by_parts() -> None:
    # GIVEN two channels: in "a", one sender of long (4-part) messages and one of short ones; in "b",
    # one sender of short ones; the long messages must not fall back (a language the fast model lacks)
    senders = [("a", "long")] * 3 + [("a", "short")] * 3 + [("b", "short")] * 3
    must = [True] * 3 + [False] * 6
    cost = [4] * 3 + [1] * 6
    # WHEN the encoder's turns are ordered
    order = cascade.fair_order(list(range(9)), must, cost, senders)
    # THEN channel "b" has its three parts while "a" has the four of its first message, and in "a" the
    # short sender's three parts come before the long sender's second message
    assert order == [0, 6, 7, 8, 3, 4, 5, 1, 2]


def test_a_message_uncertain_in_any_category_escalates_and_the_band_holds_its_edges() -> None:
    # GIVEN two heads with the band [0.25, 0.75]; each message uncertain in one category only
    two = _cascade(band=(0.25, 0.75), heads=("toxicity", "removal"))
    fast = {
        "toxicity": np.array([0.5, 0.1, 0.25, 0.1, 0.24]),
        "removal": np.array([0.1, 0.5, 0.1, 0.75, 0.76]),
    }
    texts = ["hello there"] * 5
    # THEN the first (toxicity's band) and the second (removal's) escalate, and so do scores at either
    # edge of the band; one just outside it does not
    assert cascade.uncertain(two, fast, texts).tolist() == [True, True, True, True, False]


# --- the heads' arithmetic and their stored form (survivors of `make mutation`) ---------------------

HEAD = cascade.EncoderHead(
    weights=np.array([1.0, -2.0]),
    intercept=0.5,
    stacked=np.array([0.5, 1.5, -0.25]),
    alone=np.array([2.0, 0.75]),
    band=(0.3, 0.8),
)


def test_logit_and_sigmoid_are_each_others_inverse_and_bounded() -> None:
    p = np.array([0.0, 0.25, 0.5, 0.9, 1.0])
    assert cascade.logit(p) == pytest.approx(
        [math.log(1e-6 / (1 - 1e-6)), -math.log(3), 0.0, math.log(9), math.log((1 - 1e-6) / 1e-6)]
    )
    x = np.array([-1_000.0, -1.0, 0.0, 2.0, 1_000.0])
    expected = [
        1 / (1 + math.exp(50)),
        1 / (1 + math.e),
        0.5,
        1 / (1 + math.exp(-2)),
        1 / (1 + math.exp(-50)),
    ]
    assert cascade.sigmoid(x) == pytest.approx(expected, rel=1e-12, abs=0)


def test_a_head_stacks_the_fast_logit_with_the_encoder_and_reads_alone_with_its_bias() -> None:
    raw = HEAD.raw(np.array([[1.0, 0.25]], dtype=np.float32))
    assert raw == pytest.approx([1.0])  # 1 - 0.5 + 0.5
    assert HEAD.combine(np.array([0.5]), raw) == pytest.approx([1 / (1 + math.exp(-1.25))])
    assert HEAD.on_its_own(raw) == pytest.approx([1 / (1 + math.exp(-2.75))])


def test_a_foreign_message_keeps_a_sure_fast_score_and_reads_its_foreign_parts_alone() -> None:
    alone = {r: float(HEAD.on_its_own(np.array([r]))[0]) for r in (-3.0, 1.0)}
    fast = np.array([0.9, 0.89, 0.2, 0.2])
    raw = np.array([-3.0, -3.0, -3.0, -3.0])
    foreign_raw = np.array([-np.inf, -np.inf, 1.0, 1.0])
    known = np.array([False, False, False, True])
    mixed = np.array([False, False, False, True])
    readable = np.array([False, False, True, True])
    out = HEAD.judge(fast, raw, foreign_raw, known, mixed, readable)
    # a fast score at FAST_SURE stands in a language the fast model does not know; below it, it does not
    assert out[0] == pytest.approx(0.9)
    assert out[1] == pytest.approx(alone[-3.0])
    # where the fast model read some of the text, the encoder's reading of the foreign parts counts (and
    # would be raised to the fast score)
    assert alone[1.0] > 0.2
    assert out[2] == pytest.approx(alone[1.0])
    # a known language mixed with another is judged the foreign way too, not stacked
    assert out[3] == pytest.approx(alone[1.0])


def test_a_tenth_of_a_text_in_another_language_is_a_mix() -> None:
    two = cascade.Cascade("e", SHA, {}, ("en",))
    assert two.mixed(Languages("en", (("en", 0.9), ("it", 0.1))))
    assert not two.mixed(Languages("en", (("en", 0.91), ("it", 0.09))))
    assert two.foreign("it")
    assert not two.foreign("und")


def test_within_a_sender_the_messages_that_must_be_read_go_first() -> None:
    order = cascade.fair_order([0, 1, 2], [False, True, False], [1, 1, 1], [("c", "u")] * 3)
    assert order == [1, 0, 2]


def test_a_cascade_reads_back_what_it_stored() -> None:
    stored = cascade.Cascade(
        "test-encoder",
        SHA,
        {
            "toxicity": HEAD,
            "spam": cascade.EncoderHead(np.array([3.0, 4.0]), -1.0, HEAD.stacked, HEAD.alone, (0.1, 0.6)),
        },
        ("en", "de"),
    )
    # as the registry keeps it: the header as JSON (whole numbers come back as ints), the weights in 32 bits
    header = json.loads(json.dumps(stored.header()))
    header["heads"][0]["stacked"] = [1, 2, 0]
    header["heads"][0]["alone"] = [1, 0]
    arrays = {k: v.astype(np.float32) for k, v in stored.arrays().items()}
    again = cascade.Cascade.read(header, arrays)
    assert (again.encoder, again.encoder_sha256, again.languages) == ("test-encoder", SHA, ("en", "de"))
    assert list(again.heads) == ["toxicity", "spam"]
    spam = again.heads["spam"]
    assert (spam.intercept, spam.band) == (-1.0, (0.1, 0.6))
    assert spam.weights.tolist() == [3.0, 4.0]
    assert again.heads["toxicity"].band == (0.3, 0.8)
    for head in again.heads.values():
        assert all(a.dtype == np.float64 for a in (head.weights, head.stacked, head.alone))
