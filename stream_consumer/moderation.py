"""Decode, validate, normalise, apply the channel's rules and score a batch: records in, verdicts and
dead letters out. Pure: no AWS, no model loading.
"""

import binascii
import json
import math
import re
import time
import unicodedata
from base64 import b64decode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from contracts.chat import ChatMessage
from contracts.dead_letter import DeadLetter, RejectReason, explain
from contracts.lambda_event import BadEnvelope, KinesisRecord
from contracts.policy import DEFAULT_THRESHOLDS, ChannelPolicy, PolicyBook, Thresholds, serves_canary
from contracts.storage import ShadowVerdict
from contracts.verdict import Action, CategoryScore, ContextSignal, Reason, Span, Verdict
from stream_consumer import cascade
from stream_consumer.cascade import Cascade, Cascaded, Embedder
from stream_consumer.context import (
    Counted,
    WindowContext,
    established,
    fired,
    near_duplicate_bands,
    observe,
    raised,
)
from stream_consumer.language import Languages, languages
from stream_consumer.normalize import TOKEN, NormalText, normal_form
from stream_consumer.policy import RuleOutcome, rules
from stream_consumer.scorer import Scores

NO_MODEL_VERSION = "none"
# `sent_at` is the sender's claim: before this, or this long after the record reached the stream, it is
# not a time at all. Time-based decisions in the consumer use the stream's arrival time instead.
EARLIEST_SENT_AT = datetime(2000, 1, 1, tzinfo=UTC)
SENT_AT_AHEAD_OF_ARRIVAL = timedelta(days=1)  # covers any time-zone mistake (at most 14 h)


class Scorer(Protocol):
    """What the consumer needs from a model: one vectorised call per batch, scores per category."""

    @property
    def categories(self) -> tuple[str, ...]: ...

    @property
    def cascade(self) -> Cascade | None: ...

    def score_categories(self, batch: Sequence[NormalText], top_k: int = 3) -> dict[str, Scores]: ...


@dataclass(frozen=True)
class Champion:
    """The model serving now, and the registry version it came from."""

    name: str
    version: str
    scorer: Scorer


@dataclass(frozen=True)
class Canary:
    """A version serving a share of channels before it serves all (`canary.json`): the channels
    `serves_canary` draws at `share` get its verdicts; the champion serves the others."""

    model: Champion
    share: float

    def serves(self, channel_id: str) -> bool:
        return serves_canary(channel_id, self.share)

    def split(self, prepared: Sequence["Prepared"]) -> tuple[list["Prepared"], list["Prepared"]]:
        """The messages the champion judges and those the canary does, in order (one draw per channel)."""
        served = {c: self.serves(c) for c in {p.message.channel_id for p in prepared}}
        return (
            [p for p in prepared if not served[p.message.channel_id]],
            [p for p in prepared if served[p.message.channel_id]],
        )


class NoModelError(RuntimeError):
    """No champion could be loaded; the batch must fail so that nothing passes unmoderated."""


@dataclass(frozen=True, slots=True)
class Moderated:
    """A message that got a verdict (and, when it was drawn for shadow scoring, the challenger's)."""

    record: KinesisRecord
    message: ChatMessage
    verdict: Verdict
    shadow: ShadowVerdict | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that went to the dead-letter queue (`record` is None when its envelope was malformed)."""

    record: KinesisRecord | None
    dead_letter: DeadLetter

    @property
    def sequence_number(self) -> str:
        return self.dead_letter.sequence_number


@dataclass(frozen=True)
class BatchOutcome:
    moderated: list[Moderated]
    rejected: list[Rejected]
    # What each moderated record added to the window's context, by sequence number, in order (so the
    # state returned with batch item failures can leave out the records that come again).
    counted: list[Counted] = field(default_factory=list)
    # The moderated records as the model read them (what a challenger judges again, `judge`).
    prepared: list["Prepared"] = field(default_factory=list)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


def parse(record: KinesisRecord, now: datetime, payload_cap: int) -> ChatMessage | DeadLetter:
    """Turn one stream record into a message, or a dead letter with a reason."""

    def reject(reason: RejectReason, detail: str) -> DeadLetter:
        return DeadLetter.of(record, reason, detail, now, payload_cap)

    try:
        raw = b64decode(record.kinesis.data, validate=True)
    except (binascii.Error, ValueError) as err:
        return reject(RejectReason.BAD_BASE64, f"data is not base64: {err}")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return reject(RejectReason.NOT_UTF8, f"payload is not UTF-8 (byte {err.start})")
    try:
        obj = json.loads(decoded, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKeyError as err:
        named = err.key if err.key in ChatMessage.model_fields else "a key"
        return reject(RejectReason.AMBIGUOUS_JSON, f"{named} appears twice in one object")
    except (ValueError, RecursionError) as err:
        return reject(RejectReason.NOT_JSON, f"payload is not JSON: {type(err).__name__}")
    try:
        message = ChatMessage.model_validate(obj)
    except ValidationError as err:  # wrong schema, empty or too-long text, unknown fields
        return reject(RejectReason.from_validation(err), explain(err))
    arrival = datetime.fromtimestamp(record.kinesis.approximate_arrival_timestamp, UTC)
    if message.sent_at < EARLIEST_SENT_AT or message.sent_at > arrival + SENT_AT_AHEAD_OF_ARRIVAL:
        return reject(
            RejectReason.BAD_TIMESTAMP,
            f"sent_at {message.sent_at.isoformat()} is before 2000 or more than a day after arrival",
        )
    return message


def action_for(score: float, thresholds: Thresholds) -> Action:
    """The action a calibrated score earns under a channel's thresholds."""
    if score >= thresholds.remove:
        return Action.REMOVE
    if score >= thresholds.review:
        return Action.REVIEW
    return Action.ALLOW


_RANK = {Action.ALLOW: 0, Action.REVIEW: 1, Action.REMOVE: 2}
_DOUBLES = re.compile(r"(.)\1+")


def _undoubled(token: str) -> str:
    return _DOUBLES.sub(r"\1", token)


def reason_spans(text: NormalText, features: Sequence[str]) -> list[Reason]:
    """Each reason with the characters of the original message it stands for: the words holding the
    token (or both tokens of a pair), doubled letters ignored ("fuuck" is where "fuck" is); style
    features and rules have none. One pass over the text's tokens, whatever the number of reasons."""
    wanted = {
        f: tuple(map(_undoubled, f.split(" "))) for f in features if not f.startswith(("style:", "rule:"))
    }
    hits: dict[tuple[str, ...], list[int]] = {parts: [] for parts in wanted.values()}
    if hits:
        firsts = {parts[0] for parts in hits}
        tokens = [
            (w, _undoubled(t)) for w, word in enumerate(text.text.split(" ")) for t in TOKEN.findall(word)
        ]
        for k, (w, token) in enumerate(tokens):
            if token not in firsts:
                continue
            if (token,) in hits:
                hits[(token,)].append(w)
            if k + 1 < len(tokens) and (pair := (token, tokens[k + 1][1])) in hits:
                hits[pair] += [w, tokens[k + 1][0]]
    spans = text.spans if any(hits.values()) else ()  # found again from the original: only when used
    return [
        Reason(
            feature=f,
            spans=[Span(start=spans[w][0], end=spans[w][1]) for w in sorted(set(hits[wanted[f]]))]
            if f in wanted
            else [],
        )
        for f in features
    ]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record read, normalised and put under its channel's policy: what a model judges."""

    record: KinesisRecord
    message: ChatMessage
    policy_name: str
    policy: ChannelPolicy
    rules: RuleOutcome
    model_input: NormalText  # the normal form without the words an allow term covers
    encoder_input: str  # the message as written, without the words an allow term covers
    languages: Languages  # read from `encoder_input`

    @property
    def language(self) -> str:
        return self.languages.primary


def model_input(text: NormalText, rules: RuleOutcome) -> NormalText:
    """What the model reads of a message: its normal form without the words an allow term covers."""
    return text.without_words(rules.allowed) if rules.allowed else text


def _plain(text: str) -> str:
    """A text with case, accents and spacing folded, and nothing else: what its normal form is when
    the normal form undid no obfuscation."""
    folded = text.casefold()
    if folded.isascii():
        return " ".join(folded.split())
    # Character by character: a whole-string NFKD sorts a run of combining marks in quadratic time,
    # and the marks are dropped anyway, so their order does not matter.
    decomposed = "".join(unicodedata.normalize("NFKD", c) for c in folded)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def encoder_input(original: str, text: NormalText, rules: RuleOutcome | None = None) -> str:
    """What the cascade's encoder reads: the message as written (its vocabulary knows real text in
    every script), or — when the normal form undid an obfuscation (spaced-out letters, digits for
    letters, look-alikes, invisible characters) — the normal form, so that a spelling the fast model
    sees through does not blind the encoder; either way without the words an allow term covers."""
    allowed = rules.allowed if rules is not None else frozenset()
    if _plain(original) != text.text:
        return text.without_words(allowed).text if allowed else text.text
    if not allowed:
        return original
    cut = sorted(text.spans[j] for j in allowed)
    kept, at = [], 0
    for start, end in cut:
        kept.append(original[at:start])
        at = max(at, end)
    kept.append(original[at:])
    return " ".join(" ".join(kept).split())


def _prepare(
    entry: KinesisRecord | BadEnvelope, policies: PolicyBook, now: datetime, payload_cap: int
) -> Prepared | Rejected:
    if isinstance(entry, BadEnvelope):
        return Rejected(None, DeadLetter.of(entry, RejectReason.BAD_ENVELOPE, entry.detail, now, payload_cap))
    result = parse(entry, now, payload_cap)
    if isinstance(result, DeadLetter):
        return Rejected(entry, result)
    text = normal_form(result.text)
    if not text.text:
        detail = "text is empty after normalisation (white space or invisible characters only)"
        return Rejected(entry, DeadLetter.of(entry, RejectReason.EMPTY_TEXT, detail, now, payload_cap))
    policy_name, policy = policies.for_channel(result.channel_id)
    outcome = rules(policy, text)
    # The language identifier reads what the encoder reads (all of it): look-alike letters cannot make
    # a message look foreign to the fast model.
    for_encoder = encoder_input(result.text, text, outcome)
    return Prepared(
        entry,
        result,
        policy_name,
        policy,
        outcome,
        model_input(text, outcome),
        for_encoder,
        languages(for_encoder),
    )


@dataclass(frozen=True, slots=True)
class ModerationOptions:
    """How batches are judged: fixed for a deployment (the consumer builds them once from its settings)."""

    payload_cap: int = 65_536  # characters of a poison record's base64 payload its dead letter keeps
    top_k: int = 3  # reasons (features with their spans) per category
    without_model: Literal["fail", "review"] = "fail"  # no champion loaded: fail the batch, or review all
    encoder_budget_s: float = math.inf  # the cascade's encoder time per batch


def moderate(
    records: Sequence[KinesisRecord | BadEnvelope],
    champion: Champion | None,
    policies: PolicyBook,
    now: datetime,
    options: ModerationOptions = ModerationOptions(),
    *,
    encoder: Embedder | None = None,
    clock: Callable[[], float] = time.monotonic,
    context: WindowContext | None = None,
    canary: Canary | None = None,
) -> BatchOutcome:
    """Verdicts for every good record and dead letters for every poison one, scoring in one call (the
    cascade's encoder, when the champion has heads for it, within the options' encoder budget for the
    batch). With a window's `context`, each message is counted into it in order, and the signals it
    fires (under its channel's thresholds) can raise its action. With a `canary`, the channels it
    serves are judged by its model, the others by the champion (each with its share of the encoder
    budget; a channel's messages stay in order, so its window counts them as they came). A canary that
    has become the champion is the caller's to leave out."""
    parsed: list[Prepared] = []
    rejected: list[Rejected] = []
    for entry in records:
        result = _prepare(entry, policies, now, options.payload_cap)
        (rejected if isinstance(result, Rejected) else parsed).append(result)  # type: ignore[arg-type]
    if canary is None:
        moderated, counted = judge(
            parsed, champion, policies.version, now, options, encoder=encoder, clock=clock, context=context
        )
        return BatchOutcome(moderated, rejected, counted, parsed)
    moderated, counted = [], []
    for model, part in zip((champion, canary.model), canary.split(parsed), strict=True):
        if not part:
            continue
        budget = options.encoder_budget_s * len(part) / len(parsed)
        judged, seen = judge(
            part,
            model,
            policies.version,
            now,
            replace(options, encoder_budget_s=budget),
            encoder=encoder,
            clock=clock,
            context=context,
        )
        moderated += judged
        counted += seen
    place = {p.record.sequence_number: i for i, p in enumerate(parsed)}
    moderated.sort(key=lambda m: place[m.record.sequence_number])
    counted.sort(key=lambda c: place[c.sequence_number])
    return BatchOutcome(moderated, rejected, counted, parsed)


def judge(
    parsed: Sequence[Prepared],
    champion: Champion | None,
    policy_version: str,
    now: datetime,
    options: ModerationOptions = ModerationOptions(),
    *,
    encoder: Embedder | None = None,
    clock: Callable[[], float] = time.monotonic,
    context: WindowContext | None = None,
) -> tuple[list[Moderated], list[Counted]]:
    """Each prepared message's verdict by `champion` (and, with a window's `context`, what each
    counted into it): `moderate` after reading the batch, and a challenger's shadow scoring of the
    messages the champion's batch read."""
    top_k, without_model = options.top_k, options.without_model
    to_score = [p for p in parsed if p.model_input.text]
    if champion is None and to_score and without_model == "fail":
        raise NoModelError("no champion model is loaded")
    scores = (
        champion.scorer.score_categories([p.model_input for p in to_score], top_k)
        if champion and to_score
        else None
    )
    cascaded = (
        cascade.run(
            champion.scorer.cascade,
            {name: s.probability for name, s in scores.items()},
            [p.encoder_input for p in to_score],
            [p.language for p in to_score],
            encoder,
            forced=[p.policy.scoring == "encoder" for p in to_score],
            mixes=[p.languages for p in to_score],
            senders=[(p.message.channel_id, p.message.user_id) for p in to_score],
            normal=[p.model_input.text for p in to_score],
            budget_s=options.encoder_budget_s,
            clock=clock,
        )
        if champion is not None and scores is not None
        else None
    )
    # A model of one category (the format before categories) acts with it in every channel, as it did.
    single = champion is not None and len(champion.scorer.categories) == 1
    position = {id(p): i for i, p in enumerate(to_score)}
    moderated = []
    counted: list[Counted] = []
    bands = (
        near_duplicate_bands(
            [p.model_input.text for p in parsed],
            [p.policy.context.raid.min_letters for p in parsed],
            context.key,
        )
        if context is not None
        else []
    )
    for k, p in enumerate(parsed):
        i = position.get(id(p))
        judged = (
            _judge(p, scores, cascaded, i, single)
            if scores is not None and cascaded is not None and i is not None
            else None
        )
        score, thresholds, category = None, DEFAULT_THRESHOLDS, None
        categories: dict[str, CategoryScore] = {}
        if judged is not None:
            categories, category = judged
            if category is not None:
                score, thresholds = categories[category].score, categories[category].thresholds
        unread = cascaded is not None and i is not None and bool(cascaded.unjudged[i])
        action, reasons, category = decide_action(
            p.rules,
            bool(p.model_input.text),
            judged,
            ", ".join(code for code, _ in p.languages.shares) or p.language if unread else None,
        )
        action, reasons, signals = _in_context(
            p, action, reasons, context, bands[k] if bands else (), counted
        )
        if action is not Action.ALLOW and categories:  # shown to a moderator: say where, in their text
            features = list(dict.fromkeys(r.feature for c in categories.values() for r in c.reasons))
            located = {r.feature: r for r in reason_spans(p.model_input, features)}  # once per message
            categories = {
                name: c.model_copy(update={"reasons": [located[r.feature] for r in c.reasons]})
                for name, c in categories.items()
            }
        verdict = Verdict(
            message_id=p.message.message_id,
            channel_id=p.message.channel_id,
            user_id=p.message.user_id,
            action=action,
            score=score,
            thresholds=thresholds,
            policy=p.policy_name,
            reasons=reasons,
            model_name=champion.name if champion else "",
            model_version=champion.version if champion else NO_MODEL_VERSION,
            shard_id=p.record.shard_id,
            sequence_number=p.record.sequence_number,
            sent_at=p.message.sent_at,
            processed_at=now,
            latency_ms=max(now.timestamp() - p.record.kinesis.approximate_arrival_timestamp, 0.0) * 1000.0,
            category=category,
            categories=categories,
            policy_version=policy_version,
            stage=cascaded.stage[i] if cascaded is not None and i is not None else None,
            language=p.language,
            context=signals,
        )
        moderated.append(Moderated(p.record, p.message, verdict))
    return moderated, counted


def decide_action(
    rules: RuleOutcome,
    has_words: bool,
    judged: tuple[dict[str, CategoryScore], str | None] | None,
    unread_language: str | None,
) -> tuple[Action, list[str], str | None]:
    """A message's action before its context (which can only raise it), its reasons and the deciding
    category, by precedence:

    1. the channel's block rule removes (no category decides);
    2. a message whose every word the channel allows is allowed;
    3. a message in a language the encoder should have read but did not (`unread_language`, past the
       batch's budget) goes to review — unless its deciding category removes on the fast model's
       evidence, which stands;
    4. the deciding category's action (`judged`: every category's score and the decider, see
       `deciding_category`);
    5. allow when no scored category acts in the channel;
    6. review when there was no model to score with (`judged` None).
    """
    categories, category = judged if judged is not None else ({}, None)
    if rules.block is not None:
        return Action.REMOVE, [rules.block.reason], None
    if not has_words:
        return Action.ALLOW, [f"rule:allow:{t}" for t in rules.allow_terms], category
    removes = category is not None and categories[category].action is Action.REMOVE
    if unread_language is not None and not removes:
        return (
            Action.REVIEW,
            [f"language {unread_language}: no encoder score, sent to human review"],
            category,
        )
    if category is not None:
        return categories[category].action, [r.feature for r in categories[category].reasons], category
    if judged is not None:
        return Action.ALLOW, ["no scored category acts in this channel"], None
    return Action.REVIEW, ["no model available: sent to human review"], None


def deciding_category(categories: Mapping[str, CategoryScore]) -> str | None:
    """The acting category that decides a verdict: the one asking for the strongest action, the
    highest score among equals; None when none acts in the channel."""
    acting = [name for name, c in categories.items() if c.acts]
    if not acting:
        return None
    return max(acting, key=lambda n: (_RANK[categories[n].action], categories[n].score))


def _in_context(
    p: Prepared,
    action: Action,
    reasons: list[str],
    context: WindowContext | None,
    bands: tuple[int, ...],
    counted: list[Counted],
) -> tuple[Action, list[str], list[ContextSignal]]:
    """Count a message into its window; its action and reasons after the signals it fires (as they
    were, without a window)."""
    if context is None:
        return action, reasons, []
    normal = p.model_input.text
    arrived = datetime.fromtimestamp(p.record.kinesis.approximate_arrival_timestamp, UTC)
    regular = established(p.message.account_created_at, arrived, p.policy.context.raid.established_days)
    seen = observe(
        p.message.channel_id, p.message.user_id, normal, bands, action is not Action.ALLOW, regular
    )
    signals = fired(context.add(seen), p.policy.context)
    context.fired.update(s.signal for s in signals)
    counted.append(Counted(p.record.sequence_number, seen, tuple(s.signal for s in signals)))
    lifted = raised(action, signals)
    if lifted is not action:
        reasons = [f"context:{s.signal}" for s in signals if s.action is lifted] + reasons
    if lifted is Action.ALLOW:  # a report-only signal is context for a moderator: none looks at this
        signals = []
    return lifted, reasons, signals


def _judge(
    p: Prepared, scores: dict[str, Scores], cascaded: Cascaded, i: int, single: bool
) -> tuple[dict[str, CategoryScore], str | None]:
    """Every category's score under the channel's policy, and the acting category that decides: the
    one asking for the strongest action, the highest score among equals (None when none acts)."""
    categories = {}
    for name, s in scores.items():
        rule = p.policy.rule(name)
        acts = rule.acts or single
        probability = float(cascaded.probability[name][i])
        categories[name] = CategoryScore(
            score=probability,
            acts=acts,
            thresholds=rule.thresholds,
            action=action_for(probability, rule.thresholds) if acts else Action.ALLOW,
            reasons=[Reason(feature=f) for f in s.reasons[i]],
        )
    return categories, deciding_category(categories)
