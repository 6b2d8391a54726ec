"""A statement of reasons: what the affected user is told about a restriction of their message (EU
Digital Services Act, Art. 17) — what was restricted, on which ground of the channel's policy, the facts
relied on, whether automated means detected it and decided it, the model and policy versions, and how to
appeal — and its export in the field vocabulary of the DSA Transparency Database's statements of reasons
(`dsa_record`).

The statement names the message's own flagged words (its reasons) for the user it was sent to; the export
for the public database names none of the message's text, only scores, thresholds and character spans.
"""

import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.review import ReviewItem
from contracts.verdict import Action, CategoryScore, ContextSignal, Reason, Verdict

STATEMENT_SCHEMA_VERSION = 1
# The DSA asks for an internal complaint-handling system open for at least six months after a decision.
MIN_APPEAL_WINDOW_DAYS = 183


class Restriction(StrEnum):
    """What was done to the message."""

    HIDE = "hide"  # hidden at once by the model's removal (a moderator may still restore it)
    REMOVE = "remove"  # removed by a moderator's decision


class AutomatedDecision(StrEnum):
    """Who decided, in the Transparency Database's vocabulary."""

    FULLY = "AUTOMATED_DECISION_FULLY"  # the model (or a channel rule) alone
    PARTIALLY = "AUTOMATED_DECISION_PARTIALLY"  # a moderator, on the model's flag
    NOT_AUTOMATED = "AUTOMATED_DECISION_NOT_AUTOMATED"


# The database's categories and keywords for each of the project's categories (the community's own
# removals and the context signals are restrictions under the platform's terms of service).
DSA_CATEGORY = {
    "toxicity": ("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", "KEYWORD_ONLINE_BULLYING_INTIMIDATION"),
    "hate": ("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", "KEYWORD_HATE_SPEECH"),
    "spam": ("STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", "KEYWORD_OTHER"),
    "removal": ("STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", "KEYWORD_OTHER"),
    "raid": ("STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", "KEYWORD_COORDINATED_HARM"),
}
DSA_OTHER_SPECIFICATION = {"spam": "spam", "removal": "the community's own rules"}
DSA_VISIBILITY = {
    Restriction.HIDE: "DECISION_VISIBILITY_CONTENT_DISABLED",
    Restriction.REMOVE: "DECISION_VISIBILITY_CONTENT_REMOVED",
}
# The database's languages (ISO 639-1, upper case) and the member states a decision applies in.
DSA_LANGUAGES = frozenset("BG CS DA DE EL EN ES ET FI FR GA HR HU IT LT LV MT NL PL PT RO SK SL SV".split())  # noqa: SIM905
EU_MEMBER_STATES = tuple(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()  # noqa: SIM905
)


class StatementOfReasons(BaseModel):
    """One restriction of one message, explained to the user who wrote it."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # a reader ignores fields it does not know

    schema_version: int = Field(default=STATEMENT_SCHEMA_VERSION, ge=1)
    statement_id: str  # the platform's unique id of the statement (the database's `puid`)
    message_id: UUID
    channel_id: str
    user_id: str
    restriction: Restriction
    category: str  # the project's category, or the rule or signal's kind ("rule", "raid", …)
    ground: str  # the channel policy's rule the message broke
    facts: list[str]  # what the decision relied on: scores against thresholds, flagged words, spans
    spans: list[tuple[int, int]] = []  # the characters of the message the flagged words stand for
    automated_detection: bool
    automated_decision: AutomatedDecision
    decided_by: str  # "model <name> <version>" or the moderator's account
    model_version: str
    policy_version: str
    language: str | None = None
    sent_at: AwareDatetime
    applied_at: AwareDatetime
    appeal_until: AwareDatetime
    how_to_appeal: str

    def dsa_record(self, territorial_scope: tuple[str, ...] = EU_MEMBER_STATES) -> dict[str, object]:
        """The statement in the DSA Transparency Database's API fields (its `POST /api/v1/statement`
        body): a restriction under the platform's terms, of text, on the platform's own initiative.
        `decision_facts` gives scores, thresholds and spans, never the message's words."""
        dsa_category, keyword = DSA_CATEGORY.get(self.category, DSA_CATEGORY["removal"])
        record: dict[str, object] = {
            "decision_visibility": [DSA_VISIBILITY[self.restriction]],
            "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "incompatible_content_ground": _public(self.ground, 500),
            "incompatible_content_explanation": _public(
                f"The message broke the channel's policy on {self.category}.", 2000
            ),
            "incompatible_content_illegal": "No",
            "category": dsa_category,
            "category_specification": [keyword],
            "content_type": ["CONTENT_TYPE_TEXT"],
            "content_date": f"{self.sent_at:%Y-%m-%d}",
            "application_date": f"{self.applied_at:%Y-%m-%d}",
            "decision_facts": self.public_facts(),
            "source_type": "SOURCE_VOLUNTARY",
            "automated_detection": "Yes" if self.automated_detection else "No",
            "automated_decision": self.automated_decision.value,
            "territorial_scope": list(territorial_scope),
            "puid": self.statement_id,
        }
        if keyword == "KEYWORD_OTHER":
            record["category_specification_other"] = _public(
                DSA_OTHER_SPECIFICATION.get(self.category, self.category), 500
            )
        if self.language and self.language.upper() in DSA_LANGUAGES:
            record["content_language"] = self.language.upper()
        return record

    def public_facts(self) -> str:
        """The facts without the message's words: for the public database."""
        spans = ", ".join(f"characters {a}-{b}" for a, b in self.spans[:10])
        who = "a moderator" if self.automated_decision is not AutomatedDecision.FULLY else "automated means"
        parts = [f"Detected by automated means (model version {self.model_version}); decided by {who}."]
        parts += [f for f in self.facts if f.startswith(("score ", "signal "))]
        if spans:
            parts.append(f"Flagged parts of the message: {spans}.")
        return _public(" ".join(parts), 5000)


def _public(text: str, limit: int) -> str:
    """Free text for the public database: no control or format characters (a direction override in a
    channel's name would reorder what readers see), within the field's length limit (many channel
    rules firing at once make a long ground)."""
    plain = "".join(c for c in text if unicodedata.category(c) not in {"Cc", "Cf"})
    return plain if len(plain) <= limit else plain[: limit - 1] + "…"


def statement_id(message_id: UUID, restriction: Restriction, decided_by: str) -> str:
    """A statement's id: the same restriction of the same message by the same decider always gets the
    same id, so a repeated write (a redelivered verdict) replaces the first instead of adding one."""
    digest = hashlib.blake2b(f"{message_id}:{restriction}:{decided_by}".encode(), digest_size=10)
    return f"sor-{digest.hexdigest()}"


@dataclass(frozen=True)
class _Flagged:
    """What a statement of the system's restriction is made of: the verdict, as the bot read it or as
    the review queue keeps it (`reasons`: the verdict's, or a rule's when no category decided)."""

    message_id: UUID
    channel_id: str
    user_id: str
    action: Action
    category: str | None
    categories: Mapping[str, CategoryScore]
    reasons: Sequence[str]
    context: Sequence[ContextSignal]
    policy: str
    model_name: str
    model_version: str
    policy_version: str
    language: str | None
    sent_at: datetime
    processed_at: datetime


def _of_verdict(v: Verdict) -> _Flagged:
    return _Flagged(
        v.message_id,
        v.channel_id,
        v.user_id,
        v.action,
        v.category,
        v.categories,
        v.reasons,
        v.context,
        v.policy,
        v.model_name,
        v.model_version,
        v.policy_version,
        v.language,
        v.sent_at,
        v.processed_at,
    )


def _facts(verdict: _Flagged) -> tuple[str, str, list[str], list[tuple[int, int]]]:
    """The category, the ground, the facts and the spans behind a verdict's action."""
    acting = [s for s in verdict.context if s.action is verdict.action]
    rules = [r for r in verdict.reasons if r.startswith("rule:")]
    if verdict.category and verdict.category in verdict.categories:
        decider = verdict.categories[verdict.category]
        limit = decider.thresholds.remove if verdict.action is Action.REMOVE else decider.thresholds.review
        outcome = "hidden" if verdict.action is Action.REMOVE else "sent to a moderator"
        ground = (
            f"channel policy '{verdict.policy}': a message scored {limit:.2f} or more for "
            f"{verdict.category} is {outcome}"
        )
        facts = _score_facts(verdict.category, decider.score, f"threshold {limit:.2f}", decider.reasons)
        return verdict.category, ground, facts, _spans(decider.reasons)
    if rules:
        return "rule", f"channel policy '{verdict.policy}': {', '.join(rules)}", list(rules), []
    if acting:
        return (
            acting[0].signal,
            _signal_ground(verdict.policy, acting[0]),
            [_signal_fact(s) for s in acting],
            [],
        )
    return "rule", f"channel policy '{verdict.policy}'", list(verdict.reasons), []


def _score_facts(category: str, score: float, threshold: str, reasons: list[Reason]) -> list[str]:
    """A score against its threshold, then the words it flagged."""
    return [f"score {score:.3f} for {category} ({threshold})", *(f"flagged: {r.feature}" for r in reasons)]


def _appeal_terms(
    message_id: UUID, applied_at: datetime, window: timedelta, appeal_url: str
) -> tuple[datetime, str]:
    """Until when the restriction of a message may be appealed, and how (where)."""
    until = applied_at + window
    return until, f"Appeal until {until:%Y-%m-%d} at {appeal_url.rstrip('/')}/appeals/{message_id}"


def _signal_ground(policy: str, signal: ContextSignal) -> str:
    return f"channel policy '{policy}': {signal.signal} at or above {signal.threshold:g} in a window"


def _signal_fact(signal: ContextSignal) -> str:
    return f"signal {signal.signal} {signal.value:g} (threshold {signal.threshold:g})"


def _spans(reasons: list[Reason]) -> list[tuple[int, int]]:
    return [(s.start, s.end) for r in reasons for s in r.spans]


def statement_for(
    verdict: Verdict,
    restriction: Restriction,
    applied_at: datetime,
    appeal_window: timedelta,
    appeal_url: str,
    moderator: str | None = None,
) -> StatementOfReasons:
    """The statement of a verdict's restriction: decided by the model alone, or by `moderator` on the
    model's flag. `applied_at` is when the restriction took effect (a repeated write repeats it)."""
    return _statement(_of_verdict(verdict), restriction, applied_at, appeal_window, appeal_url, moderator)


def item_statement(item: ReviewItem, appeal_window: timedelta, appeal_url: str) -> StatementOfReasons | None:
    """The statement the bot sent the user of a message it hid (`statement_for` of the verdict, applied
    when the verdict was made), rebuilt from the review queue's item; None for an item that was not
    hidden, or was enqueued before items kept what a statement names."""
    if item.action is not Action.REMOVE or item.processed_at is None or not item.model_name:
        return None
    flagged = _Flagged(
        item.message_id,
        item.channel_id,
        item.user_id,
        item.action,
        item.category,
        item.scores,
        item.rule_reasons,
        item.context,
        item.policy,
        item.model_name,
        item.model_version,
        item.policy_version,
        item.language,
        item.sent_at,
        item.processed_at,
    )
    return _statement(flagged, Restriction.HIDE, item.processed_at, appeal_window, appeal_url)


def _statement(
    verdict: _Flagged,
    restriction: Restriction,
    applied_at: datetime,
    appeal_window: timedelta,
    appeal_url: str,
    moderator: str | None = None,
) -> StatementOfReasons:
    category, ground, facts, spans = _facts(verdict)
    decided_by = moderator or f"model {verdict.model_name} {verdict.model_version}"
    until, how = _appeal_terms(verdict.message_id, applied_at, appeal_window, appeal_url)
    return StatementOfReasons(
        statement_id=statement_id(verdict.message_id, restriction, decided_by),
        message_id=verdict.message_id,
        channel_id=verdict.channel_id,
        user_id=verdict.user_id,
        restriction=restriction,
        category=category,
        ground=ground,
        facts=facts,
        spans=spans,
        automated_detection=True,
        automated_decision=AutomatedDecision.PARTIALLY if moderator else AutomatedDecision.FULLY,
        decided_by=decided_by,
        model_version=verdict.model_version,
        policy_version=verdict.policy_version,
        language=verdict.language,
        sent_at=verdict.sent_at,
        applied_at=applied_at,
        appeal_until=until,
        how_to_appeal=how,
    )


def moderator_statement(
    item: ReviewItem,
    moderator: str,
    category: str,
    decided_at: datetime,
    appeal_window: timedelta,
    appeal_url: str,
) -> StatementOfReasons:
    """The statement of a moderator's removal in the review queue: a person decided, on what the model
    (or a channel rule, or a context signal) flagged — the facts are the item's, as the moderator saw it."""
    scored = item.scores.get(category)
    if scored is not None:
        threshold = f"review threshold {scored.thresholds.review:.2f}"
        facts = _score_facts(category, scored.score, threshold, scored.reasons)
        spans = _spans(scored.reasons)
    else:
        facts = [*item.rule_reasons, *(_signal_fact(c) for c in item.context)]
        spans = []
    until, how = _appeal_terms(item.message_id, decided_at, appeal_window, appeal_url)
    return StatementOfReasons(
        statement_id=statement_id(item.message_id, Restriction.REMOVE, moderator),
        message_id=item.message_id,
        channel_id=item.channel_id,
        user_id=item.user_id,
        restriction=Restriction.REMOVE,
        category=category,
        ground=f"the channel's policy on {category}: a moderator reviewed the message and removed it",
        facts=facts,
        spans=spans,
        automated_detection=True,
        automated_decision=AutomatedDecision.PARTIALLY,
        decided_by=moderator,
        model_version=item.model_version,
        policy_version=item.policy_version,
        sent_at=item.sent_at,
        applied_at=decided_at,
        appeal_until=until,
        how_to_appeal=how,
    )


class AppealResult(StrEnum):
    RESTORED = "restored"  # the restriction was wrong: the message is shown again
    CONFIRMED = "confirmed"  # the restriction stands


class AppealOutcome(BaseModel):
    """The outcome of an appeal: the user's statement of it, and the bot's instruction to restore a
    message whose restriction was overturned. Ids only: no words of the message or the appeal."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(default=1, ge=1)
    message_id: UUID
    channel_id: str
    user_id: str
    result: AppealResult
    category: str  # what the appeal was decided on
    appealed_at: AwareDatetime
    decided_at: AwareDatetime
    decided_by: str  # the moderator who decided the appeal: never the one who made the restriction
    original_by: str  # who made the restriction: a moderator, or `model:<version>`
    # A person decided the appeal, whoever made the restriction (DSA Art. 20(6): not solely automated).
    automated_decision: AutomatedDecision = AutomatedDecision.NOT_AUTOMATED
