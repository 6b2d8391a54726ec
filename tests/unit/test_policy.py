"""Channel term lists: whole words of the normal form, both ways, and allow terms that exempt their own
words without ever letting the rest of a message through."""

from datetime import UTC, datetime

import pytest

from contracts.categories import Category
from contracts.lambda_event import KinesisRecord
from contracts.policy import (
    CATEGORY_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    CategoryPolicy,
    CategoryRule,
    ChannelPolicy,
    PolicyBook,
    Thresholds,
)
from contracts.verdict import Action
from stream_consumer.moderation import Champion, moderate
from stream_consumer.normalize import normal_form
from stream_consumer.policy import RuleOutcome, _compiled, rules
from tests.builders import lambda_record, message
from tests.fakes import KeywordScorer

BLOCK = ChannelPolicy(block_terms=("cunt", "fuck", "spam link"))


@pytest.fixture(autouse=True)
def _compile_afresh() -> None:
    """Each test compiles its term lists (the compiled lists are cached per process: a test after
    another with the same terms would not run the compilation it means to check)."""
    _compiled.cache_clear()


@pytest.mark.parametrize(
    "text",
    [
        "c u n t",
        "C.U.N.T",
        "cuuuunt",
        "c*nt",
        "ϲunt",  # a Greek look-alike
        "\u202etnuc\u202c",  # right-to-left override
        "f\u200bu\u200bc\u200bk",
        "F U C K you",
        "click this SPAM   link",
        "fück!",
    ],
)
def test_obfuscated_block_terms_are_blocked(text: str) -> None:
    assert rules(BLOCK, normal_form(text)).block is not None, normal_form(text).text


@pytest.mark.parametrize("text", ["Scunthorpe United", "a classic assessment", "fuckery aside", "spam"])
def test_terms_match_whole_words_only(text: str) -> None:
    assert rules(BLOCK, normal_form(text)).block is None


def test_a_block_hit_names_the_term_and_points_at_the_original() -> None:
    raw = "well  c u n t  then"
    hit = rules(BLOCK, normal_form(raw)).block
    assert hit is not None
    assert hit.reason == "rule:block:cunt"
    assert raw[slice(*hit.span)] == "c u n t"


def test_an_allow_term_exempts_its_own_words_from_block_terms() -> None:
    policy = ChannelPolicy(block_terms=("hell",), allow_terms=("hell yeah",))
    assert rules(policy, normal_form("hell yeah, we won")).block is None
    assert rules(policy, normal_form("hell yeah, go to hell")).block is not None


def _moderate(text: str, policy: ChannelPolicy) -> tuple[Action, list[str]]:
    record = KinesisRecord.model_validate(lambda_record(message(text, channel="gaming")))
    book = PolicyBook(channels={"gaming": policy})
    out = moderate([record], Champion("m", "1", KeywordScorer()), book, datetime.now(UTC))
    verdict = out.moderated[0].verdict
    return verdict.action, verdict.reasons


def test_an_allow_term_never_turns_a_remove_into_allow() -> None:
    gg = ChannelPolicy(allow_terms=("gg",))
    assert _moderate("you idiot gg", gg) == (Action.REMOVE, ["idiot"])
    assert _moderate("GG", gg) == (Action.ALLOW, ["rule:allow:gg"])


def test_allowed_words_are_not_what_the_model_reads() -> None:
    # The keyword scorer flags "moron"; a channel that allows the word lets it through, and only it.
    moron_ok = ChannelPolicy(allow_terms=("moron",))
    assert _moderate("moron", moron_ok) == (Action.ALLOW, ["rule:allow:moron"])
    assert _moderate("moron moron idiot", moron_ok) == (Action.REMOVE, ["idiot"])


def test_a_masked_word_meets_only_a_term_whose_other_letters_it_shares() -> None:
    shit = ChannelPolicy(block_terms=("shit",))
    assert rules(shit, normal_form("s**t!")).block is not None  # edge punctuation is not a letter
    assert rules(shit, normal_form("b**d")).block is None  # same length, other letters
    assert rules(shit, normal_form("a**")).block is None  # no term of its length


def test_every_term_starting_at_a_word_is_tried_and_each_place_judged_on_its_own() -> None:
    # a longer term that runs past the end does not stop a shorter one at the same word
    both = ChannelPolicy(block_terms=("spam link", "spam"))
    hit = rules(both, normal_form("buy spam")).block
    assert hit is not None
    assert hit.term == "spam"
    # a term's first word that does not go on to the term at one place may at the next
    pair = ChannelPolicy(block_terms=("spam link",))
    hit = rules(pair, normal_form("spam site, spam link")).block
    assert hit is not None
    assert hit.span == (11, 20)
    # and the first word alone, followed by another word, is not the term
    assert rules(pair, normal_form("spam site")).block is None


def test_a_channel_without_terms_has_no_rule_outcome() -> None:
    assert rules(ChannelPolicy(), normal_form("anything at all")) == RuleOutcome(None, frozenset(), ())


def test_terms_are_read_in_the_normal_form_without_their_edge_punctuation() -> None:
    # terms as a moderator types them: punctuation at a word's edge is no part of it
    policy = ChannelPolicy(block_terms=("idiot!", "spam! link"))
    assert rules(policy, normal_form("you idiot")).block is not None
    hit = rules(policy, normal_form("a spam link here")).block
    assert hit is not None
    assert hit.term == "spam link"


def test_each_category_acts_and_scores_by_the_channels_setting_else_its_default() -> None:
    # a version-1 policy (thresholds, no categories) keeps `removal` acting at its thresholds
    v1 = ChannelPolicy(thresholds=Thresholds(review=0.3, remove=0.6))
    assert v1.rule("removal") == CategoryRule(acts=True, thresholds=Thresholds(review=0.3, remove=0.6))
    assert ChannelPolicy().rule("removal") == CategoryRule(acts=False, thresholds=DEFAULT_THRESHOLDS)
    # a category's own default thresholds, and a setting that names thresholds only keeps its default acting
    assert ChannelPolicy().rule("toxicity") == CategoryRule(
        acts=True, thresholds=CATEGORY_THRESHOLDS[Category.TOXICITY]
    )
    own = Thresholds(review=0.2, remove=0.4)
    assert ChannelPolicy(categories={"spam": CategoryPolicy(thresholds=own)}).rule("spam") == CategoryRule(
        acts=True, thresholds=own
    )
    # a category no model knows acts nowhere, at the default thresholds
    assert ChannelPolicy().rule("harassment") == CategoryRule(acts=False, thresholds=DEFAULT_THRESHOLDS)
