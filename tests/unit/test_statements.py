"""Statements of reasons: every restriction the bot applies is explained to its user (what, on which
ground of the channel's policy, the facts, automated or not, the versions, how to appeal), and each
exports in the DSA Transparency Database's documented vocabulary without any of the message's words."""

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from contracts.policy import ChannelPolicy, PolicyBook, ReviewPolicy, Thresholds
from contracts.statement import (
    MIN_APPEAL_WINDOW_DAYS,
    AutomatedDecision,
    Restriction,
    StatementOfReasons,
    statement_for,
)
from contracts.verdict import Action, CategoryScore, ContextSignal, Reason, Span, Verdict
from producer_sim.bot import BotState, act, statements
from tests.builders import verdict

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=MIN_APPEAL_WINDOW_DAYS)
APPEALS = "https://chat.example/moderation"

# The DSA Transparency Database's statement fields and values (its API documentation, `POST
# /api/v1/statement`): the export may use these and no others.
DSA_VALUES: dict[str, set[str]] = {
    "decision_visibility": {
        "DECISION_VISIBILITY_CONTENT_REMOVED",
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER",
    },
    "decision_ground": {"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"},
    "incompatible_content_illegal": {"Yes", "No"},
    "category": {
        "STATEMENT_CATEGORY_ANIMAL_WELFARE",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "STATEMENT_CATEGORY_SELF_HARM",
        "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
        "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS",
        "STATEMENT_CATEGORY_VIOLENCE",
    },
    "category_specification": {
        "KEYWORD_HATE_SPEECH",
        "KEYWORD_ONLINE_BULLYING_INTIMIDATION",
        "KEYWORD_COORDINATED_HARM",
        "KEYWORD_DISCRIMINATION",
        "KEYWORD_OTHER",
    },
    "content_type": {"CONTENT_TYPE_TEXT"},
    "source_type": {
        "SOURCE_ARTICLE_16",
        "SOURCE_TRUSTED_FLAGGER",
        "SOURCE_TYPE_OTHER_NOTIFICATION",
        "SOURCE_VOLUNTARY",
    },
    "automated_detection": {"Yes", "No"},
    "automated_decision": {
        "AUTOMATED_DECISION_FULLY",
        "AUTOMATED_DECISION_PARTIALLY",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    },
    "content_language": set(
        "BG CS DA DE EL EN ES ET FI FR GA HR HU IT LT LV MT NL PL PT RO SK SL SV".split()  # noqa: SIM905
    ),
    "territorial_scope": set(
        "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK".split()  # noqa: SIM905
    ),
}
FREE_TEXT = {  # field: the database's length limit
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "decision_facts": 5000,
    "category_specification_other": 500,
    "puid": 500,
}
DATES = {"content_date", "application_date"}
REQUIRED = {
    "decision_ground",
    "category",
    "content_type",
    "content_date",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "territorial_scope",
    "puid",
}
REQUIRED_FOR_INCOMPATIBLE = {"incompatible_content_ground", "incompatible_content_explanation"}


def _scored(category: str, score: float, feature: str, span: tuple[int, int], action: Action) -> Verdict:
    scores = {
        category: CategoryScore(
            score=score,
            acts=True,
            thresholds=Thresholds(review=0.5, remove=0.9),
            action=action,
            reasons=[Reason(feature=feature, spans=[Span(start=span[0], end=span[1])])],
        )
    }
    return verdict(action, score=score).model_copy(
        update={"category": category, "categories": scores, "language": "en", "policy_version": "p1"}
    )


def _hide_by_raid() -> Verdict:
    signal = ContextSignal(signal="raid", value=7, threshold=5, action=Action.REMOVE)
    return verdict(Action.REMOVE).model_copy(update={"context": [signal], "category": None})


def _examples() -> list[StatementOfReasons]:
    toxic = _scored("toxicity", 0.97, "idiot", (9, 14), Action.REMOVE)
    hateful = _scored("hate", 0.93, "vermin", (4, 10), Action.REMOVE)
    spam = _scored("spam", 0.99, "followers", (4, 13), Action.REMOVE)
    ruled = verdict(Action.REMOVE).model_copy(update={"reasons": ["rule:block:slur"], "category": None})
    reviewed = _scored("toxicity", 0.7, "idiot", (9, 14), Action.REVIEW)
    # a channel named with a direction override and 40 block terms firing at once (its ground is long)
    many = [f"rule:block:{'x' * 30}{i}" for i in range(40)]
    spoofed = verdict(Action.REMOVE, channel="\u202eevil\u200b" + "c" * 100).model_copy(
        update={"reasons": many, "category": None, "policy": "\u202eevil\u200b" + "c" * 100}
    )
    return [
        *(statement_for(v, Restriction.HIDE, NOW, WINDOW, APPEALS) for v in (toxic, hateful, spam, ruled)),
        statement_for(_hide_by_raid(), Restriction.HIDE, NOW, WINDOW, APPEALS),
        statement_for(spoofed, Restriction.HIDE, NOW, WINDOW, APPEALS),
        statement_for(reviewed, Restriction.REMOVE, NOW, WINDOW, APPEALS, moderator="moderator-3"),
    ]


@pytest.mark.parametrize("statement", _examples(), ids=lambda s: f"{s.category}-{s.restriction}")
def test_every_export_holds_to_the_transparency_databases_vocabulary(statement: StatementOfReasons) -> None:
    record = statement.dsa_record()
    assert set(record) >= REQUIRED
    assert (
        record["decision_ground"] != "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        or set(record) >= REQUIRED_FOR_INCOMPATIBLE
    )
    for name, value in record.items():
        if name in DSA_VALUES:
            values = value if isinstance(value, list) else [value]
            assert values, name
            assert set(values) <= DSA_VALUES[name], (name, value)
        elif name in FREE_TEXT:
            assert isinstance(value, str)
            assert 0 < len(value) <= FREE_TEXT[name], name
            assert not any(c in value for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b")
        elif name in DATES:
            assert isinstance(value, str)
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), (name, value)
        else:
            pytest.fail(f"{name} is not a field of the database's statements")


def test_who_decided_is_told_as_the_database_asks() -> None:
    *by_model, by_moderator = _examples()
    assert {s.dsa_record()["automated_decision"] for s in by_model} == {"AUTOMATED_DECISION_FULLY"}
    assert by_moderator.dsa_record()["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert by_moderator.decided_by == "moderator-3"
    assert by_moderator.dsa_record()["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert by_model[0].dsa_record()["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert all(s.dsa_record()["automated_detection"] == "Yes" for s in _examples())


def test_the_user_is_told_the_ground_the_facts_and_how_to_appeal() -> None:
    toxic = _examples()[0]
    assert toxic.ground == "channel policy 'default': a message scored 0.90 or more for toxicity is hidden"
    assert toxic.facts == ["score 0.970 for toxicity (threshold 0.90)", "flagged: idiot"]
    assert toxic.spans == [(9, 14)]
    assert (toxic.model_version, toxic.policy_version) == ("1", "p1")
    assert toxic.appeal_until == NOW + WINDOW
    assert toxic.how_to_appeal == f"Appeal until 2027-06-06 at {APPEALS}/appeals/{toxic.message_id}"
    raid = _examples()[4]
    assert (raid.category, raid.facts) == ("raid", ["signal raid 7 (threshold 5)"])
    assert raid.dsa_record()["category_specification"] == ["KEYWORD_COORDINATED_HARM"]


def test_the_public_export_names_none_of_the_messages_words() -> None:
    for statement in _examples():
        flagged = [f.removeprefix("flagged: ") for f in statement.facts if f.startswith("flagged: ")]
        exported = str(statement.dsa_record())
        assert all(word not in exported for word in flagged), statement.category
    assert "flagged: idiot" in _examples()[0].facts  # the user is told their own flagged words


def test_the_same_restriction_always_gets_the_same_statement() -> None:
    v = _scored("toxicity", 0.97, "idiot", (9, 14), Action.REMOVE)
    first = statement_for(v, Restriction.HIDE, v.processed_at, WINDOW, APPEALS)
    again = statement_for(v, Restriction.HIDE, v.processed_at, WINDOW, APPEALS)
    assert first == again
    by_moderator = statement_for(v, Restriction.REMOVE, NOW, WINDOW, APPEALS, moderator="m1")
    assert by_moderator.statement_id != first.statement_id


def test_a_channel_may_lengthen_its_appeal_window_but_never_below_six_months() -> None:
    with pytest.raises(ValueError, match="183"):
        ReviewPolicy(appeal_window_days=30)
    book = PolicyBook(channels={"long": ChannelPolicy(review=ReviewPolicy(appeal_window_days=365))})
    hidden = [verdict(Action.REMOVE, channel="long"), verdict(Action.REMOVE, channel="other")]
    long, default = statements(hidden, book, APPEALS)
    assert long.appeal_until - long.applied_at == timedelta(days=365)
    assert default.appeal_until - default.applied_at == timedelta(days=MIN_APPEAL_WINDOW_DAYS)


def test_the_bot_explains_each_message_it_hid_once_and_nothing_it_did_not_hide() -> None:
    hidden, queued, allowed = verdict(Action.REMOVE), verdict(Action.REVIEW), verdict(Action.ALLOW)
    kept_up = verdict(Action.REMOVE)  # a moderator allowed it in the review app: the bot applies that
    state = BotState()
    act(
        [hidden, hidden, queued, allowed, kept_up],
        state,
        {},
        1.0,
        0.0,
        1,
        NOW,
        human={kept_up.message_id: "allow"},
    )
    made = statements(state.hidden, PolicyBook(), APPEALS)
    assert [s.message_id for s in made] == [hidden.message_id]
    assert made[0].automated_decision is AutomatedDecision.FULLY
    assert made[0].applied_at == hidden.processed_at  # when the model decided: a redelivery repeats it
    assert isinstance(made[0].message_id, UUID)
