"""The verdict's precedence, one rung at a time (stream_consumer.moderation.decide_action and
deciding_category): rules, then an unread language, then the deciding category — the strongest
action among the categories acting in the channel, the highest score among equals."""

import pytest

from contracts.policy import Thresholds
from contracts.verdict import Action, CategoryScore, Reason
from stream_consumer.moderation import decide_action, deciding_category
from stream_consumer.policy import RuleHit, RuleOutcome

NO_RULES = RuleOutcome(block=None, allowed=frozenset(), allow_terms=())
BLOCKED = RuleOutcome(block=RuleHit("scam", (0, 4)), allowed=frozenset(), allow_terms=())


def cat(score: float, action: Action, acts: bool = True, reason: str = "") -> CategoryScore:
    return CategoryScore(
        score=score,
        acts=acts,
        thresholds=Thresholds(),
        action=action if acts else Action.ALLOW,
        reasons=[Reason(feature=reason)] if reason else [],
    )


def test_the_strongest_action_decides_not_the_highest_score() -> None:
    # a review at 0.95 must not beat a remove at 0.6 (the remove's category has a lower remove threshold)
    categories = {"spam": cat(0.95, Action.REVIEW), "hate": cat(0.6, Action.REMOVE)}
    assert deciding_category(categories) == "hate"


def test_among_equal_actions_the_highest_score_decides() -> None:
    categories = {"spam": cat(0.7, Action.REVIEW), "toxicity": cat(0.8, Action.REVIEW)}
    assert deciding_category(categories) == "toxicity"
    assert deciding_category(dict(reversed(categories.items()))) == "toxicity"  # whatever the order


def test_a_category_that_does_not_act_in_the_channel_never_decides() -> None:
    categories = {"removal": cat(0.99, Action.REMOVE, acts=False), "spam": cat(0.1, Action.ALLOW)}
    assert deciding_category(categories) == "spam"
    assert deciding_category({"removal": cat(0.99, Action.REMOVE, acts=False)}) is None


def test_a_block_rule_removes_whatever_the_categories_say() -> None:
    judged = ({"spam": cat(0.01, Action.ALLOW)}, "spam")
    assert decide_action(BLOCKED, True, judged, None) == (Action.REMOVE, ["rule:block:scam"], None)
    assert decide_action(BLOCKED, True, None, "de")[0] is Action.REMOVE


def test_a_message_of_allowed_words_only_is_allowed_with_the_terms_as_reasons() -> None:
    rules = RuleOutcome(block=None, allowed=frozenset({0}), allow_terms=("scunthorpe",))
    assert decide_action(rules, False, None, None) == (Action.ALLOW, ["rule:allow:scunthorpe"], None)


@pytest.mark.parametrize(
    ("fast", "expected"), [(Action.ALLOW, Action.REVIEW), (Action.REVIEW, Action.REVIEW)]
)
def test_an_unread_language_goes_to_review_below_a_remove(fast: Action, expected: Action) -> None:
    judged = ({"toxicity": cat(0.5, fast)}, "toxicity")
    action, reasons, category = decide_action(NO_RULES, True, judged, "de, en")
    assert action is expected
    assert reasons == ["language de, en: no encoder score, sent to human review"]
    assert category == "toxicity"


def test_an_unread_language_keeps_a_remove_on_the_fast_models_evidence() -> None:
    judged = ({"toxicity": cat(0.97, Action.REMOVE, reason="idiot")}, "toxicity")
    assert decide_action(NO_RULES, True, judged, "de") == (Action.REMOVE, ["idiot"], "toxicity")


def test_the_deciding_categorys_action_and_reasons_are_the_verdicts() -> None:
    judged = ({"hate": cat(0.6, Action.REMOVE, reason="vermin"), "spam": cat(0.95, Action.REVIEW)}, "hate")
    assert decide_action(NO_RULES, True, judged, None) == (Action.REMOVE, ["vermin"], "hate")


def test_scores_without_an_acting_category_allow_and_no_model_reviews() -> None:
    judged = ({"removal": cat(0.99, Action.REMOVE, acts=False)}, None)
    assert decide_action(NO_RULES, True, judged, None) == (
        Action.ALLOW,
        ["no scored category acts in this channel"],
        None,
    )
    assert decide_action(NO_RULES, True, None, None) == (
        Action.REVIEW,
        ["no model available: sent to human review"],
        None,
    )
