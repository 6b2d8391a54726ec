"""What a verdict says besides its action: where each reason is in the message, what a dead letter's
detail names, the record's timing, the policy and model it was decided under, what a channel's
encoder setting and the window's key do, and what each message counts into its window. Each test
names the mutant of `stream_consumer/moderation.py` it was written against (`make mutation`)."""

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from contracts.dead_letter import DeadLetter, RejectReason
from contracts.lambda_event import KinesisRecord
from contracts.policy import CategoryPolicy, ChannelPolicy, ContextPolicy, PolicyBook, RaidRule, Thresholds
from contracts.verdict import Action, Stage, Verdict
from stream_consumer.context import WindowContext, context_key, near_duplicate_bands
from stream_consumer.moderation import (
    EARLIEST_SENT_AT,
    SENT_AT_AHEAD_OF_ARRIVAL,
    BatchOutcome,
    Champion,
    ModerationOptions,
    NoModelError,
    action_for,
    encoder_input,
    moderate,
    parse,
    reason_spans,
)
from stream_consumer.normalize import normal_form
from stream_consumer.policy import rules
from tests.builders import kinesis_record, message, word_cascade
from tests.fakes import KeywordScorer, WordEncoder

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
WORDS = {"toxicity": ("idiot", "moron"), "spam": ("casino",)}


def _spans(text: str, *features: str) -> list[list[str]]:
    """Each feature's located words, as the original text's characters."""
    return [[text[s.start : s.end] for s in r.spans] for r in reason_spans(normal_form(text), features)]


# --- where a reason is ----------------------------------------------------------------------------


def test_a_reason_points_at_every_word_holding_it_wherever_it_is() -> None:
    # the last word too (the scan reaches the end), each occurrence (not only the last), exact bounds
    text = "Idiot, you are an IDIOT"
    assert _spans(text, "idiot") == [["Idiot,", "IDIOT"]]
    (reason,) = reason_spans(normal_form(text), ["idiot"])
    assert [(s.start, s.end) for s in reason.spans] == [(0, 6), (18, 23)]


def test_a_pair_points_at_both_of_its_words_in_order_and_an_elongated_word_is_found() -> None:
    assert _spans("well you idiot then", "you idiot") == [["you", "idiot"]]
    assert _spans("idiot you then", "you idiot") == [[]]  # the words in the other order are not the pair
    assert _spans("what a fuuuuck up", "fuck") == [["fuuuuck"]]
    assert _spans("well hello there", "hello") == [["hello"]]  # a feature's own doubled letter


def test_only_words_and_pairs_are_located_never_style_rules_or_longer_features() -> None:
    text = "you are an idiot"
    assert _spans(text, "style:caps", "rule:block:idiot", "are an idiot", "moron", "an idiot") == [
        [],
        [],
        [],
        [],  # a word the message does not hold, beside one it does
        ["an", "idiot"],
    ]


def test_a_removed_messages_category_reasons_are_located_and_an_allowed_ones_are_not() -> None:
    # (spam does not act in the channel: the casino message is allowed with spam's reason)
    quiet_spam = ChannelPolicy(categories={"spam": CategoryPolicy(acts=False)})
    removed, allowed = _verdicts(["you idiot", "win at the casino"], quiet_spam)
    assert removed.action is Action.REMOVE
    (reason,) = removed.categories["toxicity"].reasons
    assert (reason.feature, [(s.start, s.end) for s in reason.spans]) == ("idiot", [(4, 9)])
    assert allowed.action is Action.ALLOW
    assert [(r.feature, r.spans) for r in allowed.categories["spam"].reasons] == [("casino", [])]


# --- what a verdict records -----------------------------------------------------------------------


def _verdicts(
    texts: list[str],
    policy: ChannelPolicy | None = None,
    options: ModerationOptions | None = None,
    arrival: datetime | None = None,
) -> list[Verdict]:
    book = PolicyBook(default=policy or ChannelPolicy())
    # sent as it arrived: a message the test dates is not dated by the machine's clock as well (sent
    # more than a day after its record's arrival, it would be refused)
    sent = {} if arrival is None else {"sent_at": arrival.isoformat()}
    records = [kinesis_record(message(text=t, **sent), arrival=arrival) for t in texts]
    champion = Champion("chat-moderation", "7", KeywordScorer(words=WORDS))
    return [
        m.verdict for m in moderate(records, champion, book, NOW, options or ModerationOptions()).moderated
    ]


def _cascaded(
    records: list[KinesisRecord],
    book: PolicyBook | None = None,
    budget_s: float = math.inf,
    clock: Callable[[], float] = time.monotonic,
) -> BatchOutcome:
    """A batch judged by a one-category keyword model with the test cascade and its encoder."""
    scorer = KeywordScorer(words={"removal": ("idiot",)}, cascade=word_cascade())
    options = ModerationOptions(encoder_budget_s=budget_s)
    champion = Champion("m", "1", scorer)
    return moderate(records, champion, book or PolicyBook(), NOW, options, encoder=WordEncoder(), clock=clock)


def test_a_score_at_a_threshold_earns_its_action() -> None:
    limits = Thresholds(review=0.5, remove=0.85)
    assert [action_for(s, limits) for s in (0.85, 0.5, 0.4999)] == [
        Action.REMOVE,
        Action.REVIEW,
        Action.ALLOW,
    ]


def test_the_latency_is_from_the_records_arrival_and_never_negative() -> None:
    (late,) = _verdicts(["hello"], arrival=NOW - timedelta(seconds=2.5))
    assert late.latency_ms == pytest.approx(2500.0)
    (clock_skew,) = _verdicts(["hello"], arrival=NOW + timedelta(seconds=3))
    assert clock_skew.latency_ms == 0.0


def test_a_verdict_names_the_policy_version_and_model_it_was_decided_under() -> None:
    book = PolicyBook(default=ChannelPolicy(block_terms=("casino",)))
    (verdict,) = [
        m.verdict for m in moderate([kinesis_record(message())], None, book, NOW, _REVIEW).moderated
    ]
    assert verdict.policy_version == book.version
    assert (verdict.model_name, verdict.model_version, verdict.action) == ("", "none", Action.REVIEW)


_REVIEW = ModerationOptions(without_model="review")


def test_no_model_says_so_when_it_fails_the_batch() -> None:
    with pytest.raises(NoModelError, match=r"^no champion model is loaded$"):
        moderate([kinesis_record(message())], None, PolicyBook(), NOW)


def test_a_category_that_does_not_act_in_the_channel_is_scored_but_asks_for_nothing() -> None:
    # GIVEN a channel where spam does not act, and a message the spam model is sure of
    policy = ChannelPolicy(categories={"spam": CategoryPolicy(acts=False)})
    (verdict,) = _verdicts(["win at the casino"], policy)
    # THEN its score is kept for the moderators, its action is allow, and it decides nothing
    spam = verdict.categories["spam"]
    assert spam.score == pytest.approx(0.95)
    assert (spam.acts, spam.action) == (False, Action.ALLOW)
    assert (verdict.action, verdict.category) == (Action.ALLOW, "toxicity")


def test_the_scorer_is_asked_for_the_options_number_of_reasons() -> None:
    (verdict,) = _verdicts(["idiot moron"], options=ModerationOptions(top_k=1))
    assert [r.feature for r in verdict.categories["toxicity"].reasons] == ["idiot"]
    (default,) = _verdicts(["idiot moron"])
    assert [r.feature for r in default.categories["toxicity"].reasons] == ["idiot", "moron"]


def test_an_unread_language_names_every_language_of_the_message() -> None:
    italian = (
        "Ieri sera siamo andati a cena in una piccola trattoria vicino al fiume e abbiamo parlato a lungo "
        "dei progetti per la prossima estate con tutta la famiglia, poi siamo tornati a casa a piedi."
    )
    french = (
        "Nous sommes allés au marché ce matin pour acheter du pain, des fromages et quelques légumes "
        "frais, puis nous avons pris un café sur la terrasse en regardant les passants."
    )
    records = [kinesis_record(message(text=italian)), kinesis_record(message(text=f"{italian} {french}"))]
    one, two = [m.verdict for m in _cascaded(records, budget_s=0.0).moderated]
    assert (one.stage, one.action) == (Stage.FAST_OVER_BUDGET, Action.REVIEW)
    assert one.reasons == ["language it: no encoder score, sent to human review"]
    assert two.reasons == ["language fr, it: no encoder score, sent to human review"]


def test_a_channel_asking_for_the_encoder_has_every_message_read_by_it() -> None:
    book = PolicyBook(channels={"small": ChannelPolicy(scoring="encoder")})
    records = [
        kinesis_record(message(text="a calm word about the weather", channel=c)) for c in ("small", "big")
    ]
    out = _cascaded(records, book)
    assert [m.verdict.stage for m in out.moderated] == [Stage.ENCODER, Stage.FAST]


def test_the_batch_clock_is_the_callers() -> None:
    # GIVEN a clock the caller controls that never moves, and a budget of 0.5 s: every escalation is read
    records = [kinesis_record(message(text="maybe this is bad")) for _ in range(3)]
    out = _cascaded(records, budget_s=0.5, clock=lambda: 1_000_000.0)
    assert [m.verdict.stage for m in out.moderated] == [Stage.ENCODER] * 3
    # AND with a clock that jumps a second per reading, none is
    ticks = iter(range(1_000))
    out = _cascaded(records, budget_s=0.5, clock=lambda: float(next(ticks)))
    assert [m.verdict.stage for m in out.moderated] == [Stage.FAST_OVER_BUDGET] * 3


# --- what the model and the encoder read ----------------------------------------------------------


def test_the_encoder_reads_the_message_as_written_without_its_allowed_words() -> None:
    policy = ChannelPolicy(allow_terms=("gg",))
    for original, expected in [
        ("Hello gg world", "Hello world"),  # the words before the first allowed one are kept whole
        ("GG wp, Idiot", "wp, Idiot"),
        ("you 1d1ot gg", "you idiot"),  # an undone obfuscation: the normal form, still without it
    ]:
        text = normal_form(original)
        assert encoder_input(original, text, rules(policy, text)) == expected
    assert encoder_input("Hello gg world", normal_form("Hello gg world")) == "Hello gg world"  # no rules
    # AND a channel's batch gives the encoder the same
    out = _cascaded([kinesis_record(message(text="Hello gg world"))], PolicyBook(default=policy))
    assert [p.encoder_input for p in out.prepared] == ["Hello world"]


# --- what a record's reading refuses ---------------------------------------------------------------


def test_base64_with_characters_outside_its_alphabet_is_refused_not_skipped() -> None:
    record = kinesis_record(message())
    data = record.kinesis.data
    spoiled = record.model_copy(
        update={"kinesis": record.kinesis.model_copy(update={"data": f"{data[:8]}*{data[8:]}"})}
    )
    result = parse(spoiled, NOW, payload_cap=1024)
    assert isinstance(result, DeadLetter)
    assert result.reason is RejectReason.BAD_BASE64


def test_a_key_twice_is_named_only_when_it_is_the_schemas() -> None:
    body = message().decode()
    twice_text = body[:-1] + ', "text": "again"}'
    twice_other = body[:-1] + ', "zq_private": 1, "zq_private": 2}'
    named = parse(kinesis_record(twice_text.encode()), NOW, payload_cap=1024)
    unnamed = parse(kinesis_record(twice_other.encode()), NOW, payload_cap=1024)
    assert isinstance(named, DeadLetter)
    assert isinstance(unnamed, DeadLetter)
    assert named.reason is unnamed.reason is RejectReason.AMBIGUOUS_JSON
    assert named.detail == "text appears twice in one object"
    assert unnamed.detail == "a key appears twice in one object"


def test_a_payload_that_is_not_json_names_the_parsers_complaint() -> None:
    result = parse(kinesis_record(b"{not json"), NOW, payload_cap=1024)
    assert isinstance(result, DeadLetter)
    assert result.detail == "payload is not JSON: JSONDecodeError"


@pytest.mark.parametrize("edge", ["earliest", "latest"])
def test_a_sent_at_on_either_edge_is_a_time(edge: str) -> None:
    arrival = NOW
    sent_at = EARLIEST_SENT_AT if edge == "earliest" else arrival + SENT_AT_AHEAD_OF_ARRIVAL
    record = kinesis_record(message(sent_at=sent_at.isoformat()), arrival=arrival)
    assert not isinstance(parse(record, NOW, payload_cap=1024), DeadLetter)
    just_past = sent_at + timedelta(microseconds=-1 if edge == "earliest" else 1)
    record = kinesis_record(message(sent_at=just_past.isoformat()), arrival=arrival)
    result = parse(record, NOW, payload_cap=1024)
    assert isinstance(result, DeadLetter)
    assert result.reason is RejectReason.BAD_TIMESTAMP


def test_a_text_of_nothing_visible_is_dead_lettered_with_its_record_and_reason() -> None:
    record = kinesis_record(message(text="\u200b \u200d\u2060"))
    out = moderate([record], None, PolicyBook(), NOW, _REVIEW)
    (rejected,) = out.rejected
    assert rejected.record is record
    assert rejected.dead_letter.reason is RejectReason.EMPTY_TEXT
    assert rejected.dead_letter.detail == (
        "text is empty after normalisation (white space or invisible characters only)"
    )


# --- what each message counts into its window -----------------------------------------------------


def test_each_message_counts_into_its_window_as_flagged_or_not_with_the_signals_it_fired() -> None:
    # GIVEN a channel whose raid rule fires at 2 near-duplicates from new accounts
    policy = ChannelPolicy(context=ContextPolicy(raid=RaidRule(threshold=2, min_letters=8)))
    book = PolicyBook(default=policy)
    paste = "join the best giveaway in town today"
    texts = ["you idiot", paste, paste]
    records = [kinesis_record(message(text=t, user_id=f"u{k}")) for k, t in enumerate(texts)]
    context = WindowContext()
    out = moderate(records, Champion("m", "1", KeywordScorer(words=WORDS)), book, NOW, context=context)
    # THEN each is counted flagged only when its models flagged it, with the signals it fired
    assert [c.observation.flagged for c in out.counted] == [True, False, False]
    assert [c.fired for c in out.counted] == [(), (), ("raid",)]
    assert context.fired["raid"] == 1


def test_near_duplicates_are_keyed_by_the_deployments_secret() -> None:
    # GIVEN a window keyed by a deployment's secret
    key = context_key("a deployment's secret")
    paste = "join the best giveaway in town today"
    record = kinesis_record(message(text=paste, user_id="u1"))
    out = moderate(
        [record],
        Champion("m", "1", KeywordScorer(words=WORDS)),
        PolicyBook(),
        NOW,
        context=WindowContext(key=key),
    )
    # THEN the message's near-duplicate keys are drawn from that secret, not the public default
    (counted,) = out.counted
    keyed = near_duplicate_bands([normal_form(paste).text], [16], key)[0]
    assert counted.observation.bands == keyed
    assert keyed != near_duplicate_bands([normal_form(paste).text], [16])[0]
