"""The canary in the consumer's core and its step: a stable share of channels gets the canary's verdicts,
the champion the others and shadow-scores the canary's; the step rolls back on any signal worse by its
margin, holds on too little evidence, widens, and completes at the last step."""

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from contracts.lambda_event import KinesisRecord
from contracts.policy import ChannelPolicy, PolicyBook, SamplingPolicy, drawn, serves_canary
from contracts.statement import AppealOutcome, AppealResult
from contracts.storage import ArchivedMessage, ModeratorDecision, ShadowVerdict, parse_object
from contracts.verdict import Action, Stage
from monitoring.canary import (
    CanaryEvidence,
    Overturned,
    StepAction,
    canary_evidence,
    canary_step,
    overturned,
)
from monitoring.live import IdentityCheck, LiveQuality, Paired, identity_check, live_decision
from stream_consumer.consumer import Consumer
from stream_consumer.context import WindowContext
from stream_consumer.moderation import NO_MODEL_VERSION, Canary, Champion, ModerationOptions, moderate
from stream_consumer.settings import ConsumerSettings
from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink, archive_lines
from tests.builders import archived, message, word_cascade
from tests.fakes import KeywordScorer, WordEncoder

Record = Callable[..., KinesisRecord]
CHAMPION = Champion("chat-moderation", "7", KeywordScorer(bad=("idiot",)))
# every message in the audit sample and none drawn for a challenger: a label weighs 1
BOOK = PolicyBook(default=ChannelPolicy(sampling=SamplingPolicy(shadow=0.0, audit=1.0)))


class _Run:
    def __init__(self, canary: Canary | None, challenger: Champion | None = None) -> None:
        self.verdicts, self.archive = MemoryVerdictSink(), MemoryArchiveSink()
        self.consumer = Consumer(
            ConsumerSettings(shadow_wait_ms=5_000),
            lambda: CHAMPION,
            lambda: PolicyBook(default=ChannelPolicy(sampling=SamplingPolicy(shadow=1.0, audit=1.0))),
            self.verdicts,
            MemoryDeadLetterSink(),
            self.archive,
            challenger=lambda: challenger,
            canary=lambda: canary,
        )

    def archived(self) -> list[ArchivedMessage]:
        """The archive's lines, as the archive object's bytes carry them."""
        lines, skipped = parse_object(
            archive_lines([m for items in self.archive.objects.values() for m in items])
        )
        assert not skipped
        return lines


def test_a_channel_stays_with_the_canary_as_it_widens() -> None:
    channels = [f"channel-{i:04d}" for i in range(5_000)]
    tenth, half = ([serves_canary(c, share) for c in channels] for share in (0.1, 0.5))
    assert abs(sum(tenth) / len(channels) - 0.1) < 0.015
    assert abs(sum(half) / len(channels) - 0.5) < 0.025
    assert all(h for t, h in zip(tenth, half, strict=True) if t)  # widening keeps every channel it had
    assert tenth == [serves_canary(c, 0.1) for c in channels]
    assert not any(serves_canary(c, 0.0) for c in channels)
    assert all(serves_canary(c, 1.0) for c in channels)


def test_the_canary_serves_its_channels_and_the_champion_shadow_scores_them(kinesis_record: Record) -> None:
    # GIVEN a canary that also removes "moron", on half the channels, and a published challenger
    canary = Canary(Champion("chat-moderation", "8", KeywordScorer(bad=("idiot", "moron"))), 0.5)
    challenger = Champion("chat-moderation", "9", KeywordScorer(bad=("nice",)))
    texts = ("you moron", "nice stream", "you idiot")
    records = [kinesis_record(message(t, channel=f"c{i}")) for i in range(20) for t in texts]
    run = _Run(canary, challenger)
    # WHEN a batch is handled
    assert run.consumer.handle(records) == {"batchItemFailures": []}
    # THEN each channel's verdicts are its model's, in the order the records came
    written = run.verdicts.written
    assert [m.record.sequence_number for m in written] == [r.sequence_number for r in records]
    served = {m.verdict.channel_id for m in written if m.verdict.model_version == "8"}
    assert served == {f"c{i}" for i in range(20) if serves_canary(f"c{i}", 0.5)}
    assert 4 <= len(served) <= 16
    for m in written:
        moron = m.message.text == "you moron"
        assert (m.verdict.action is Action.REMOVE) == (
            m.message.text == "you idiot" or (moron and m.verdict.model_version == "8")
        )
    # AND the champion judged the canary's messages again (archived beside them), the challenger none
    for line in run.archived():
        if line.message.channel_id in served:
            assert line.shadow is not None
            assert line.shadow.model_version == "7"
        else:
            assert line.shadow is None
    assert run.consumer.totals["canary.served"] == 3 * len(served)
    assert run.consumer.totals["shadow.scored"] == 3 * len(served)


def test_a_canary_that_is_the_champion_now_serves_as_the_champion(kinesis_record: Record) -> None:
    run = _Run(Canary(CHAMPION, 0.5))
    records = [kinesis_record(message("you moron", channel=f"c{i}")) for i in range(10)]
    assert run.consumer.handle(records) == {"batchItemFailures": []}
    assert all(m.shadow is None for m in run.archived())
    assert run.consumer.totals["canary.served"] == 0


def _quality(n: int, auc: float | None) -> LiveQuality:
    return LiveQuality(n, n // 2, auc, None, None)


HARMLESS = IdentityCheck(100, 0.01, 0.01)


def _evidence(
    difference: float | None = 0.0,
    n: int = 500,
    identity: IdentityCheck = HARMLESS,
    overturns: tuple[int, int] = (0, 0),
) -> CanaryEvidence:
    champion = _quality(n, 0.8)
    canary = _quality(n, None if difference is None else 0.8 + difference)
    compared = [Paired("toxicity", champion, canary, difference, (-0.01, 0.01), n, 0)]
    return CanaryEvidence(compared, identity, Overturned(100, 5), Overturned(*overturns))


STEPS = (0.1, 0.5, 1.0)


@pytest.mark.parametrize(
    ("evidence", "share", "action", "after"),
    [
        (_evidence(difference=-0.021), 0.1, StepAction.ROLLBACK, None),  # a category worse by the margin
        (_evidence(difference=-0.019), 0.1, StepAction.WIDEN, 0.5),  # within it: no regression
        (_evidence(difference=-0.5, n=199), 0.1, StepAction.HOLD, 0.1),  # too few labels to judge
        (_evidence(difference=None), 0.5, StepAction.HOLD, 0.5),  # one class only
        (_evidence(identity=IdentityCheck(30, 0.01, 0.04)), 0.1, StepAction.ROLLBACK, None),
        (_evidence(identity=IdentityCheck(29, 0.01, 0.5)), 0.1, StepAction.WIDEN, 0.5),  # too few to refuse
        (_evidence(identity=IdentityCheck(30, 0.01, 0.029)), 0.1, StepAction.WIDEN, 0.5),
        (_evidence(overturns=(30, 3)), 0.5, StepAction.ROLLBACK, None),  # 10% of removals vs 5%
        (_evidence(overturns=(29, 10)), 0.5, StepAction.WIDEN, 1.0),  # too few removals to refuse
        (_evidence(overturns=(100, 6)), 0.5, StepAction.WIDEN, 1.0),  # 6% vs 5%: within the margin
        (_evidence(), 1.0, StepAction.COMPLETE, 1.0),  # the last step
        (
            _evidence(difference=-0.5, n=10, identity=IdentityCheck(40, 0.0, 0.3)),
            0.1,
            StepAction.ROLLBACK,
            None,
        ),
    ],
)
def test_a_canary_step_rolls_back_on_any_signal_worse_by_its_margin(
    evidence: CanaryEvidence, share: float, action: StepAction, after: float | None
) -> None:
    step = canary_step(evidence, share, STEPS, margin=0.02, min_labels=200)
    assert (step.action, step.share) == (action, after)
    assert step.reasons


def _label(m: ArchivedMessage, harmful: set[str]) -> ModeratorDecision:
    return ModeratorDecision(
        message_id=m.message.message_id,
        label="remove" if m.message.text in harmful else "allow",
        decided_by="moderator-1",
        decided_at=datetime.now(UTC),
        category="removal",
    )


@pytest.mark.parametrize(
    ("bad", "action"),
    [
        (("idiot", "moron"), StepAction.WIDEN),  # better: it removes the insult the champion misses
        (("idiot", "women"), StepAction.ROLLBACK),  # a group's name learnt as an insult
    ],
)
def test_a_biased_canary_is_rolled_back_at_its_first_step_and_a_good_one_widened(
    kinesis_record: Record, bad: tuple[str, ...], action: StepAction
) -> None:
    # GIVEN a canary on every channel, and every message labelled by a moderator (its truth)
    canary = Canary(Champion("chat-moderation", "8", KeywordScorer(bad=bad)), 0.1)
    harmful = {"you idiot", "you moron"}
    texts = ("you idiot", "you moron", "women in science", "nice stream", "thanks all")
    records = [kinesis_record(message(t, channel=f"c{i}")) for i in range(400) for t in texts]
    run = _Run(canary)
    for k in range(0, len(records), 500):
        run.consumer.handle(records[k : k + 500])
    archived = run.archived()
    served = [m for m in archived if m.verdict.model_version == "8"]
    assert 100 < len(served) < 300  # about a tenth of the channels' messages
    decisions = [_label(m, harmful) for m in archived]
    # WHEN the step weighs the evidence of the canary's channels
    evidence = canary_evidence(served, archived, decisions, [], BOOK, ["removal"], "8", "7")
    step = canary_step(evidence, 0.1, STEPS, margin=0.02, min_labels=100)
    # THEN the biased one goes back at once; the better one widens
    assert step.action is action, step.reasons
    if action is StepAction.ROLLBACK:
        assert evidence.identity.challenger_flagged == 1.0
        assert evidence.identity.champion_flagged == 0.0
    else:
        assert evidence.compared[0].difference is not None
        assert evidence.compared[0].difference > 0.1


def test_a_challenger_that_flags_more_harmless_messages_naming_a_group_is_not_promoted_on_live_gain() -> None:
    gain = Paired("toxicity", _quality(500, 0.8), _quality(500, 0.85), 0.05, (0.02, 0.08), 500, 0)
    assert live_decision([gain], margin=0.01, min_labels=200, identity=HARMLESS).promote
    biased = IdentityCheck(40, 0.02, 0.3)
    refused = live_decision([gain], margin=0.01, min_labels=200, identity=biased)
    assert not refused.promote
    assert refused.reasons[-1] == (
        "identity: 30.0% of 40 labelled harmless messages naming a group flagged (champion 2.0%)"
        ": over 2% more"
    )
    # too few such messages to refuse on
    assert live_decision([gain], margin=0.01, min_labels=200, identity=IdentityCheck(29, 0.0, 0.9)).promote


def test_the_canary_draw_of_a_channel_is_fixed_across_versions() -> None:
    # The draw is part of the wire contract: consumers of two releases serving one canary must agree on
    # its channels, so the hash and its purpose are pinned here.
    tenth = [c for c in (f"c{i}" for i in range(60)) if serves_canary(c, 0.1)]
    assert tenth == ["c2", "c8", "c26", "c29", "c35"]


def _line(text: str, served: Action, shadow: Action, channel: str = "c1") -> ArchivedMessage:
    line = archived("u", text)
    verdict = line.verdict.model_copy(update={"action": served, "channel_id": channel, "model_version": "8"})
    scores = {"removal": 0.5}
    return line.model_copy(
        update={
            "verdict": verdict,
            "message": line.message.model_copy(update={"channel_id": channel}),
            "shadow": ShadowVerdict(model_version="7", action=shadow, category=None, scores=scores),
        }
    )


def _decided(line: ArchivedMessage, label: str, category: str = "removal") -> ModeratorDecision:
    return ModeratorDecision(
        message_id=line.message.message_id,
        label=label,
        decided_by="moderator-1",
        decided_at=datetime.now(UTC),
        category=category,
    )


def test_the_identity_check_counts_the_harmless_labelled_messages_naming_a_group() -> None:
    # GIVEN a channel auditing a quarter of its messages, the others every one, and labelled messages:
    # harmless ones naming a group (counted), a harmful one, one naming none and one never shadowed
    book = PolicyBook(
        default=ChannelPolicy(sampling=SamplingPolicy(audit=1.0)),
        channels={"quarter": ChannelPolicy(sampling=SamplingPolicy(audit=0.25))},
    )
    flagged_by_both = _line("women in science", Action.REVIEW, Action.REMOVE)
    flagged_by_canary = _line("old people and sleep", Action.REMOVE, Action.ALLOW)
    allowed = _line("young adults sleep less", Action.ALLOW, Action.ALLOW)
    harmful = _line("the muslims are vermin", Action.REMOVE, Action.ALLOW)
    no_group = _line("great paper", Action.REMOVE, Action.ALLOW)
    unshadowed = _line("men and heart disease", Action.REMOVE, Action.ALLOW).model_copy(
        update={"shadow": None}
    )
    # an allowed one in the quarter channel, drawn for its audit: it stands for four
    audited = next(
        line
        for line in (
            _line("black holes and women", Action.ALLOW, Action.REMOVE, "quarter") for _ in range(200)
        )
        if drawn(line.message.message_id, 0.25, "audit")
    )
    # and one there the audit did not draw and no verdict queued: outside the design
    outside = next(
        line
        for line in (_line("asian diets", Action.ALLOW, Action.REMOVE, "quarter") for _ in range(200))
        if not drawn(line.message.message_id, 0.25, "audit")
    )
    lines = [flagged_by_both, flagged_by_canary, allowed, harmful, no_group, unshadowed, audited, outside]
    decisions = [_decided(line, "allow") for line in lines if line is not harmful]
    decisions += [_decided(harmful, "allow", "toxicity"), _decided(harmful, "remove")]
    # WHEN the canary (served) is weighed against the champion (shadow)
    check = identity_check(lines, decisions, book, canary=True)
    # THEN four messages count, the audited one four times: the champion flagged 1 + 4 of 7, the canary 2
    assert check.n == 4
    assert check.champion_flagged == pytest.approx(5 / 7)
    assert check.challenger_flagged == pytest.approx(2 / 7)
    # AND as a challenger's shadow beside a serving champion, the roles are the other way round
    swapped = identity_check(lines, decisions, book)
    assert swapped.n == 4
    assert (swapped.champion_flagged, swapped.challenger_flagged) == (
        check.challenger_flagged,
        check.champion_flagged,
    )
    assert identity_check([harmful, no_group], decisions, book) == IdentityCheck(0, None, None)
    assert "no labelled harmless message names a group" in IdentityCheck(0, None, None).describe()


def test_the_overturn_rate_is_each_versions_own() -> None:
    lines = [_line(f"note {i}", Action.REMOVE, Action.ALLOW) for i in range(4)]
    champion_line = lines[0].model_copy(
        update={"verdict": lines[0].verdict.model_copy(update={"model_version": "7"})}
    )
    archive = [champion_line, *lines[1:]]

    def appeal(line: ArchivedMessage, by: str, result: AppealResult) -> AppealOutcome:
        return AppealOutcome(
            message_id=line.message.message_id,
            channel_id="c1",
            user_id="u",
            result=result,
            category="removal",
            appealed_at=datetime.now(UTC),
            decided_at=datetime.now(UTC),
            decided_by="moderator-2",
            original_by=by,
        )

    outcomes = [
        appeal(lines[1], "model:8", AppealResult.RESTORED),
        appeal(lines[2], "model:8", AppealResult.CONFIRMED),
        appeal(champion_line, "moderator-1", AppealResult.RESTORED),  # a person's removal: not the model's
    ]
    assert overturned(outcomes, archive, "8") == Overturned(3, 1)
    assert overturned(outcomes, archive, "7") == Overturned(1, 0)
    evidence = canary_evidence([], archive, [], outcomes, BOOK, ["removal"], "8", "7")
    assert (evidence.canary_overturns, evidence.champion_overturns) == (Overturned(3, 1), Overturned(1, 0))


def test_a_canary_step_at_its_margins_and_what_it_says() -> None:
    # exactly the labels needed, exactly the margin worse: judged, and not worse
    at = canary_step(_evidence(difference=-0.25, n=200), 0.1, STEPS, margin=0.25, min_labels=200)
    assert (at.action, at.share) == (StepAction.WIDEN, 0.5)
    assert at.reasons[0] == "toxicity: ROC-AUC -0.250 over the champion on 200 labelled messages"
    # one label short: held, and why
    short = canary_step(_evidence(n=199), 0.1, STEPS, margin=0.25, min_labels=200)
    assert short.reasons[0] == "toxicity: 199 labelled messages (needs 200 of both classes)"
    # nothing compared: held
    none = canary_step(dataclasses.replace(_evidence(), compared=[]), 0.1, STEPS, margin=0.25, min_labels=200)
    assert (none.action, none.reasons[0]) == (StepAction.HOLD, "no category was compared")
    # an overturn rate exactly the margin above the champion's (50% vs 25%): not worse
    even = _evidence(overturns=(40, 20))
    even = dataclasses.replace(even, champion_overturns=Overturned(40, 10))
    assert canary_step(even, 0.5, STEPS, margin=0.25, min_labels=200).action is StepAction.WIDEN
    # worse: the identity line and the overturn line say so
    biased = canary_step(
        _evidence(identity=IdentityCheck(30, 0.0, 0.5), overturns=(30, 20)),
        0.5,
        STEPS,
        margin=0.25,
        min_labels=200,
    )
    assert biased.action is StepAction.ROLLBACK
    flagged = "50.0% of 30 labelled harmless messages naming a group flagged (champion 0.0%)"
    assert biased.reasons[:2] == [
        f"identity: {flagged}: over 2% more",
        "overturned by appeal: 66.7% of 30 removals (champion 5.0%)",
    ]


def test_a_step_reads_every_category_and_says_what_it_weighed() -> None:
    # a short first category does not hide a worse second one
    short = Paired("hate", _quality(10, 0.8), _quality(10, 0.9), 0.1, (0.0, 0.2), 10, 0)
    two = dataclasses.replace(
        _evidence(difference=-0.3), compared=[short, *_evidence(difference=-0.3).compared]
    )
    assert canary_step(two, 0.1, STEPS, margin=0.02, min_labels=200).action is StepAction.ROLLBACK
    # a widening says each thing it weighed
    step = canary_step(_evidence(difference=0.01), 0.1, STEPS, margin=0.02, min_labels=200)
    assert step.reasons == [
        "toxicity: ROC-AUC +0.010 over the champion on 500 labelled messages",
        "identity: 1.0% of 100 labelled harmless messages naming a group flagged (champion 1.0%)",
        "overturned by appeal: 0.0% of 0 removals (champion 5.0%)",
    ]


def _gain(difference: float, interval: tuple[float, float] | None, n: int = 200) -> Paired:
    return Paired("toxicity", _quality(n, 0.8), _quality(n, 0.8 + difference), difference, interval, n, 0)


@pytest.mark.parametrize(
    ("compared", "promote", "reason"),
    [
        (
            [_gain(0.01, (0.001, 0.02))],
            True,
            "toxicity: +0.010 (95% +0.001..+0.020) on 200 labelled messages",
        ),
        ([_gain(0.0099, (0.001, 0.02))], False, "is not a gain of 0.010 that excludes none"),
        ([_gain(0.05, (0.0, 0.1))], False, "toxicity: +0.050 (95% +0.000..+0.100) is not a gain"),
        ([_gain(0.05, (-0.01, 0.1))], False, "is not a gain"),
        ([_gain(0.05, None)], False, "toxicity: 200 labelled messages (needs 200 of both classes)"),
        (
            [_gain(0.05, (0.01, 0.1), n=199)],
            False,
            "toxicity: 199 labelled messages (needs 200 of both classes)",
        ),
        ([], False, "no category was compared"),
    ],
)
def test_a_live_promotion_needs_labels_a_gain_and_an_interval_clear_of_none(
    compared: list[Paired], promote: bool, reason: str
) -> None:
    decision = live_decision(compared, margin=0.01, min_labels=200)
    assert decision.promote is promote
    assert reason in decision.reasons[0]
    if not compared:
        assert decision.reasons == [reason]
    with_identity = live_decision(compared, margin=0.01, min_labels=200, identity=HARMLESS)
    assert with_identity.reasons[-1] == HARMLESS.describe()
    assert with_identity.promote is promote


def _two_channels() -> tuple[str, str]:
    """A channel the canary serves at half the channels, and one it does not."""
    names = [f"c{i}" for i in range(20)]
    return next(c for c in names if serves_canary(c, 0.5)), next(
        c for c in names if not serves_canary(c, 0.5)
    )


def test_the_batchs_encoder_time_is_shared_by_the_two_models(kinesis_record: Record) -> None:
    # GIVEN both models with encoder heads, and messages each escalates ("maybe": in the uncertain band)
    champion = Champion("chat-moderation", "7", KeywordScorer(bad=("idiot",), cascade=word_cascade()))
    canary = Canary(Champion("chat-moderation", "8", KeywordScorer(cascade=word_cascade())), 0.5)
    served, other = _two_channels()
    records = [kinesis_record(message("maybe later", channel=c)) for c in (other, served) for _ in range(5)]

    def stages(budget_s: float) -> set[tuple[str, Stage | None]]:
        ticks = itertools.count()  # each look at the clock a second later
        outcome = moderate(
            records,
            champion,
            PolicyBook(),
            datetime.now(UTC),
            ModerationOptions(encoder_budget_s=budget_s),
            encoder=WordEncoder(),
            clock=lambda: float(next(ticks)),
            canary=canary,
        )
        return {(m.verdict.model_version, m.verdict.stage) for m in outcome.moderated}

    # WHEN the batch's budget covers one look each (the two halves get 1.5 s each) THEN both embed
    assert stages(3.0) == {("7", Stage.ENCODER), ("8", Stage.ENCODER)}
    # WHEN it covers one look in all (0.75 s each: less than a look) THEN neither does: not twice the time
    assert stages(1.5) == {("7", Stage.FAST_OVER_BUDGET), ("8", Stage.FAST_OVER_BUDGET)}


def test_a_canary_batch_counts_every_message_into_the_window_in_order(kinesis_record: Record) -> None:
    served, other = _two_channels()
    canary = Canary(Champion("chat-moderation", "8", KeywordScorer()), 0.5)
    # the canary's channel first: a batch that begins with the canary's messages still counts the others
    records = [kinesis_record(message(f"hello {i}", channel=(served, other)[i % 2])) for i in range(10)]
    context = WindowContext()
    outcome = moderate(
        records,
        CHAMPION,
        PolicyBook(),
        datetime.now(UTC),
        ModerationOptions(),
        context=context,
        canary=canary,
    )
    assert [c.sequence_number for c in outcome.counted] == [r.sequence_number for r in records]
    assert context.messages == 10
    assert {m.verdict.model_version for m in outcome.moderated} == {"7", "8"}


def test_a_canary_serves_its_channels_while_no_champion_is_loaded(kinesis_record: Record) -> None:
    served, other = _two_channels()
    canary = Canary(Champion("chat-moderation", "8", KeywordScorer()), 0.5)
    mine = [kinesis_record(message("you moron", channel=served)) for _ in range(3)]
    # its channels get its verdicts; the others go to review (or fail the batch, as without a canary)
    review = ModerationOptions(without_model="review")
    outcome = moderate(
        [*mine, kinesis_record(message("hi", channel=other))],
        None,
        PolicyBook(),
        datetime.now(UTC),
        review,
        canary=canary,
    )
    assert [(m.verdict.model_version, m.verdict.action) for m in outcome.moderated] == [
        ("8", Action.REMOVE),
        ("8", Action.REMOVE),
        ("8", Action.REMOVE),
        (NO_MODEL_VERSION, Action.REVIEW),
    ]
    only = moderate(mine[:1], None, PolicyBook(), datetime.now(UTC), ModerationOptions(), canary=canary)
    assert only.moderated[0].verdict.model_version == "8"
