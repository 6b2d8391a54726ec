"""Messages naming an identity group go to the encoder: the word list, its matching, and the cascade's
use of it (the fast model's words carry the history of each group's name in its training sets)."""

import numpy as np

from contracts.verdict import Stage
from stream_consumer import cascade
from stream_consumer.identity import IDENTITY_WORDS, SHORT_WORDS, names_identity, short_and_names_identity
from stream_consumer.normalize import normal_form
from tests.builders import word_cascade as _cascade
from tests.fakes import WordEncoder
from training.identity import TERMS


def test_every_form_the_templated_identity_set_uses_is_a_listed_word() -> None:
    # the bias gate's subgroups are exactly the groups whose mention escalates
    forms = {w.lower() for t in TERMS for f in (t.adjective, t.person, t.people) for w in f.split()}
    assert forms - {"a", "an", "person", "people"} <= IDENTITY_WORDS


def test_a_group_is_named_by_a_whole_word_in_any_case() -> None:
    assert names_identity("Muslims are welcome here")
    assert names_identity("my neighbour is GAY.")
    assert names_identity("we met two deaf students")
    assert not names_identity("a blackberry and a mangold")  # part of a word is no name
    assert not names_identity("this is fine")
    assert not names_identity("")


def test_only_a_short_message_naming_a_group_escalates_for_it() -> None:
    short = " ".join(["the", "muslims", *["here"] * (SHORT_WORDS - 2)])
    assert short_and_names_identity(short)
    assert not short_and_names_identity(short + " too")  # one word longer: the fast model's windows
    assert not short_and_names_identity("this is fine")
    # small talk padding an insult that names a group ("the old mill") does not send it to the encoder
    padded = "you stupid idiot " + "the weather was mild and we walked past the old mill " * 3
    assert not short_and_names_identity(padded)


def test_a_message_naming_a_group_is_read_by_the_encoder_for_hate_whatever_its_fast_score() -> None:
    texts = ["this is fine", "the muslims are fine", "this is bad", "all the women are bad"]
    fast = np.array([0.05, 0.05, 0.95, 0.95])  # every one far outside the band (0.4, 0.7)
    scores = {"hate": fast, "toxicity": fast.copy()}
    out = cascade.run(_cascade(heads=("hate", "toxicity")), scores, texts, ["en"] * 4, WordEncoder())
    assert out.stage == [Stage.FAST, Stage.ENCODER, Stage.FAST, Stage.ENCODER]
    # the encoder's word decides hate for the named ones: "bad" high, "fine" low
    hate = out.probability["hate"]
    assert hate[0] == 0.05
    assert hate[2] == 0.95
    assert hate[1] < 0.05
    assert hate[3] > 0.95
    # the other heads keep the fast model's score: a group's name is no reason to doubt them
    assert out.probability["toxicity"].tolist() == fast.tolist()


def test_a_message_in_a_band_is_read_for_every_head_whether_or_not_it_names_a_group() -> None:
    texts = ["the muslims are fine"]
    scores = {"hate": np.array([0.05]), "toxicity": np.array([0.5])}  # toxicity in its band
    out = cascade.run(_cascade(heads=("hate", "toxicity")), scores, texts, ["en"], WordEncoder())
    assert out.probability["toxicity"][0] < 0.05
    assert out.probability["hate"][0] < 0.05


def test_without_a_hate_head_a_group_is_no_reason_to_escalate() -> None:
    out = cascade.run(
        _cascade(), {"removal": np.array([0.05])}, ["the muslims are fine"], ["en"], WordEncoder()
    )
    assert out.stage == [Stage.FAST]


def test_the_escalated_share_counts_messages_naming_a_group() -> None:
    from training.cascade import escalation  # noqa: PLC0415 - training's side of the same rule

    texts = ["this is fine", "the muslims are fine"]
    fast = {"hate": np.array([0.05, 0.05])}
    assert escalation(_cascade(heads=("hate",)), fast, texts, ["en", "en"]) == 0.5


def test_invisible_or_look_alike_letters_do_not_hide_a_group_from_the_cascade() -> None:
    texts = ["mus\u200blims are vermin", "musl\u0456ms are vermin"]  # a zero-width space; a Cyrillic i
    fast = {"hate": np.array([0.05, 0.05])}
    normal = [normal_form(t).text for t in texts]
    out = cascade.run(_cascade(heads=("hate",)), fast, texts, ["en", "en"], WordEncoder(), normal=normal)
    assert out.stage == [Stage.ENCODER, Stage.ENCODER]
