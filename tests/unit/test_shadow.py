"""Shadow scoring in the consumer's core: the challenger judges the drawn messages beside the champion,
only the champion acts, and a challenger that raises or stalls never touches the champion's verdicts."""

import gzip
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from contracts.lambda_event import KinesisRecord
from contracts.policy import ChannelPolicy, PolicyBook, SamplingPolicy, drawn
from contracts.storage import ShadowVerdict, parse_object
from contracts.verdict import Action, Stage
from runtime.paths import PROJECT_ROOT
from stream_consumer.consumer import Consumer
from stream_consumer.moderation import Champion, ModerationOptions, moderate
from stream_consumer.normalize import NormalText
from stream_consumer.scorer import Scores
from stream_consumer.settings import ConsumerSettings
from stream_consumer.shadow import Pending, ShadowOutcome, ShadowResult, ShadowScorer, SharedEmbeddings
from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink, archive_lines
from tests.builders import message
from tests.fakes import KeywordScorer, WordEncoder

Record = Callable[..., KinesisRecord]
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TEXTS = ("you idiot", "you moron", "nice stream today", "maybe later", "thanks all")


def champion() -> Champion:
    return Champion("chat-moderation", "7", KeywordScorer(bad=("idiot",)))


def challenger(scorer: Any = None) -> Champion:
    return Champion("chat-moderation", "8", scorer or KeywordScorer(bad=("idiot", "moron")))


def book(default: float = 1.0, **channels: float) -> PolicyBook:
    return PolicyBook(
        default=ChannelPolicy(sampling=SamplingPolicy(shadow=default)),
        channels={c: ChannelPolicy(sampling=SamplingPolicy(shadow=s)) for c, s in channels.items()},
    )


class _Run:
    """A consumer over in-memory sinks, with or without a challenger."""

    def __init__(
        self, policies: PolicyBook, challenger: Champion | None = None, wait_ms: float = 5_000
    ) -> None:
        self.verdicts, self.dead, self.archive = (
            MemoryVerdictSink(),
            MemoryDeadLetterSink(),
            MemoryArchiveSink(),
        )
        self.consumer = Consumer(
            ConsumerSettings(shadow_wait_ms=wait_ms),
            champion,
            lambda: policies,
            self.verdicts,
            self.dead,
            self.archive,
            challenger=(lambda: challenger) if challenger is not None else None,
        )

    def archived(self) -> list[Any]:
        return [m for items in self.archive.objects.values() for m in items]


def _decisions(run: _Run) -> list[tuple[str, str, float | None, str]]:
    """What the verdicts stream got, without the times a run cannot repeat."""
    return sorted(
        (str(m.verdict.message_id), m.verdict.action, m.verdict.score, m.verdict.model_version)
        for m in run.verdicts.written
    )


def test_a_message_is_drawn_by_its_id_alone_at_its_share() -> None:
    ids = [uuid.UUID(int=i * 7919 + 13) for i in range(20_000)]
    quarter = [drawn(i, 0.25, "shadow") for i in ids]
    # about the share, the same however often it is asked (a redelivered message is drawn again the same)
    assert abs(sum(quarter) / len(ids) - 0.25) < 0.015
    assert quarter == [drawn(i, 0.25, "shadow") for i in ids]
    # none at 0, every one at 1, and a larger share draws a superset of a smaller one
    assert not any(drawn(i, 0.0, "shadow") for i in ids)
    assert all(drawn(i, 1.0, "shadow") for i in ids)
    tenth = [drawn(i, 0.1, "shadow") for i in ids]
    assert all(q for q, t in zip(quarter, tenth, strict=True) if t)
    # another purpose draws independently: about a quarter of a quarter in both
    other = [drawn(i, 0.25, "audit") for i in ids]
    both = sum(q and o for q, o in zip(quarter, other, strict=True)) / len(ids)
    assert abs(both - 0.0625) < 0.01


def test_the_challenger_judges_the_drawn_messages_and_only_the_champion_acts(kinesis_record: Record) -> None:
    # GIVEN a champion that removes "idiot", a challenger that also removes "moron", every message drawn
    records = [kinesis_record(message(t)) for t in TEXTS]
    alone, beside = _Run(book()), _Run(book(), challenger())
    # WHEN the same batch is handled without a challenger and with one
    assert alone.consumer.handle(records) == {"batchItemFailures": []}
    assert beside.consumer.handle(records) == {"batchItemFailures": []}
    # THEN the verdicts stream gets the champion's verdicts alone, exactly as without a challenger
    assert _decisions(beside) == _decisions(alone)
    assert {m.verdict.model_version for m in beside.verdicts.written} == {"7"}
    assert all(m.shadow is None for m in beside.verdicts.written)
    # AND the archive keeps the challenger's verdict beside each: "you moron" it would have removed
    shadows = {m.message.text: m.shadow for m in beside.archived()}
    assert set(shadows) == set(TEXTS)
    assert all(s is not None and s.model_version == "8" for s in shadows.values())
    assert shadows["you moron"].action is Action.REMOVE
    assert {m.message.text: m.verdict.action for m in beside.archived()}["you moron"] is Action.ALLOW
    assert shadows["nice stream today"].scores == {"removal": 0.05}
    assert beside.consumer.totals["shadow.scored"] == len(TEXTS)
    # the archive object's bytes carry them, and a line without one stays as it was
    lines, skipped = parse_object(archive_lines(beside.archived()))
    assert not skipped
    assert {line.message.text: line.shadow for line in lines} == shadows
    assert b"shadow" not in gzip.decompress(archive_lines(alone.archived()))
    assert all(m.shadow is None for m in alone.archived())


def test_only_the_drawn_share_of_each_channel_is_shadow_scored(kinesis_record: Record) -> None:
    # GIVEN a quiet channel that opts out (share 0) and the default share of a half
    records = [
        kinesis_record(message(f"note {i}", channel=("quiet" if i % 2 else "busy"))) for i in range(200)
    ]
    run = _Run(book(0.5, quiet=0.0), challenger())
    # WHEN a batch is handled
    run.consumer.handle(records)
    # THEN exactly the busy channel's messages its share draws carry a shadow verdict
    archived = run.archived()
    assert len(archived) == 200
    expected = {
        m.message.message_id
        for m in archived
        if m.message.channel_id == "busy" and drawn(m.message.message_id, 0.5, "shadow")
    }
    assert {m.message.message_id for m in archived if m.shadow is not None} == expected
    assert 30 < len(expected) < 70


class _Raising(KeywordScorer):
    def score_categories(self, batch: Sequence[NormalText], top_k: int = 3) -> dict[str, Scores]:
        raise RuntimeError("weights of the wrong shape")


class _Stalling(KeywordScorer):
    """Blocks every scoring until `release` is set."""

    def __init__(self) -> None:
        super().__init__(bad=("idiot", "moron"))
        self.release, self.returned = threading.Event(), threading.Event()

    def score_categories(self, batch: Sequence[NormalText], top_k: int = 3) -> dict[str, Scores]:
        self.release.wait(30)
        try:
            return super().score_categories(batch, top_k)
        finally:
            self.returned.set()


def test_a_challenger_that_raises_is_dropped_for_the_batch(
    kinesis_record: Record, caplog: pytest.LogCaptureFixture
) -> None:
    records = [kinesis_record(message(t)) for t in TEXTS]
    alone, beside = _Run(book()), _Run(book(), challenger(_Raising()))
    alone.consumer.handle(records)
    with caplog.at_level("WARNING"):
        response = beside.consumer.handle(records)
    # the batch succeeds with the champion's verdicts, archived without shadows, and the drop is said
    assert response == {"batchItemFailures": []}
    assert _decisions(beside) == _decisions(alone)
    assert len(beside.archived()) == len(TEXTS)
    assert all(m.shadow is None for m in beside.archived())
    assert beside.consumer.totals["shadow.dropped"] == 1
    assert "shadow_dropped" in caplog.text
    assert "RuntimeError" in caplog.text
    assert "idiot" not in caplog.text  # ids and reasons, never the text


def test_a_stalled_challenger_costs_a_batch_its_wait_and_is_skipped_until_it_returns(
    kinesis_record: Record,
) -> None:
    stalling = _Stalling()
    run = _Run(book(), challenger(stalling), wait_ms=50)
    first, second, third = ([kinesis_record(message(t)) for t in TEXTS] for _ in range(3))
    try:
        # WHEN the challenger stalls on the first batch
        assert run.consumer.handle(first) == {"batchItemFailures": []}
        # THEN that batch is written and archived without shadows; the next does not start another run
        assert run.consumer.handle(second) == {"batchItemFailures": []}
        assert len(run.verdicts.written) == 2 * len(TEXTS)
        assert all(m.shadow is None for m in run.archived())
        assert run.consumer.totals["shadow.dropped"] == 2
    finally:
        stalling.release.set()
    # AND once it returns, the next batch is shadow-scored again
    assert stalling.returned.wait(10)
    time.sleep(0.2)  # its thread hands back the result it no longer has a batch for
    assert run.consumer.handle(third) == {"batchItemFailures": []}
    assert run.consumer.totals["shadow.scored"] == len(TEXTS)


def test_the_challenger_reads_the_embeddings_the_champions_batch_made() -> None:
    encoder = WordEncoder(part_words=3)
    texts = ["a bad day for all of us", "fine", "merde alors", "fine", "another bad one here today"]
    direct_rows, direct_owner = WordEncoder(part_words=3).embed_parts(texts)
    shared = SharedEmbeddings(encoder)
    first_rows, first_owner = shared.embed_parts(texts[:3])  # the champion's escalations
    rows, owner = shared.embed_parts(texts)  # the challenger's, some the same
    # the same rows as the encoder's own, and no text embedded twice
    assert np.array_equal(rows, direct_rows)
    assert np.array_equal(owner, direct_owner)
    assert np.array_equal(first_rows, direct_rows[direct_owner < 3])
    assert first_owner.tolist() == direct_owner[direct_owner < 3].tolist()
    assert len(encoder.seen) == len(WordEncoder(part_words=3).embed_parts(list(dict.fromkeys(texts)))[1])
    assert shared.sha256 == encoder.sha256
    assert shared.embed_parts([])[0].shape[0] == 0


STUCK_FOR_GOOD = """
import sys, threading
from contracts.policy import ChannelPolicy, PolicyBook, SamplingPolicy
from stream_consumer.consumer import Consumer
from stream_consumer.moderation import Champion
from stream_consumer.settings import ConsumerSettings
from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink, archive_lines
from tests.builders import kinesis_record, message
from tests.fakes import KeywordScorer

class Stuck(KeywordScorer):
    def score_categories(self, batch, top_k=3):
        threading.Event().wait()  # never returns

book = PolicyBook(default=ChannelPolicy(sampling=SamplingPolicy(shadow=1.0)))
consumer = Consumer(
    ConsumerSettings(shadow_wait_ms=50),
    lambda: Champion("chat-moderation", "7", KeywordScorer()),
    lambda: book,
    MemoryVerdictSink(),
    MemoryDeadLetterSink(),
    MemoryArchiveSink(),
    challenger=lambda: Champion("chat-moderation", "8", Stuck()),
)
response = consumer.handle([kinesis_record(message("hello there"))])
sys.exit(0 if response == {"batchItemFailures": []} else 3)
"""


def test_a_challenger_stuck_for_good_never_keeps_the_consumer_from_exiting() -> None:
    # the batch is answered, and the process ends (an executor's threads would be joined at exit)
    done = subprocess.run(
        [sys.executable, "-c", STUCK_FOR_GOOD],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_archive_keeps_the_challengers_action_category_scores_and_stage(kinesis_record: Record) -> None:
    run = _Run(book(), challenger(KeywordScorer(words={"toxicity": ("moron",), "spam": ("buy",)})))
    run.consumer.handle([kinesis_record(message("you moron")), kinesis_record(message("hello all"))])
    shadows = {m.message.text: m.shadow for m in run.archived()}
    moron, hello = shadows["you moron"], shadows["hello all"]
    assert moron is not None
    assert hello is not None
    assert (moron.model_version, moron.action, moron.category) == ("8", Action.REMOVE, "toxicity")
    assert moron.scores == {"toxicity": 0.95, "spam": 0.05}
    assert (hello.action, hello.scores) == (Action.ALLOW, {"toxicity": 0.05, "spam": 0.05})
    assert moron.stage is hello.stage is Stage.FAST  # no encoder heads: the fast model judged both


def test_nothing_is_started_without_a_challenger_or_a_drawn_message(kinesis_record: Record) -> None:
    records = [kinesis_record(message(t)) for t in TEXTS]
    none_drawn = _Run(book(0.0), challenger())
    none_drawn.consumer.handle(records)
    assert none_drawn.consumer.totals["shadow.scored"] == 0
    assert none_drawn.consumer.totals["shadow.dropped"] == 0
    assert all(m.shadow is None for m in none_drawn.archived())


# --- what each shadow run reports (survivors of `make mutation`) ----------------------------------


def test_each_shadow_outcome_names_the_challengers_version_and_why() -> None:
    done: Future[dict[uuid.UUID, ShadowVerdict]] = Future()
    done.set_result({})
    assert Pending(future=done, version="9").result(1.0) == ShadowResult(ShadowOutcome.SCORED, {}, "9")
    failed: Future[dict[uuid.UUID, ShadowVerdict]] = Future()
    failed.set_exception(KeyError("the text it choked on"))
    assert Pending(future=failed, version="9").result(1.0) == ShadowResult(
        ShadowOutcome.FAILED, version="9", detail="KeyError"
    )
    waiting: Future[dict[uuid.UUID, ShadowVerdict]] = Future()
    assert Pending(future=waiting, version="9").result(0.01) == ShadowResult(
        ShadowOutcome.STALLED, version="9", detail="over 0.01 s"
    )
    # an outcome known at once is the one reported, whatever else the pending run holds
    busy = ShadowResult(ShadowOutcome.BUSY, version="9", detail="a run goes on")
    assert Pending(busy, future=done, version="9").result(1.0) is busy
    assert Pending().result(1.0) == ShadowResult(ShadowOutcome.OFF)


def test_a_shadow_run_is_off_without_a_challenger_or_a_message_and_busy_while_one_runs(
    kinesis_record: Record,
) -> None:
    scorer, stalling = ShadowScorer(), _Stalling()
    prepared = moderate([kinesis_record(message("hello"))], challenger(), book(), NOW).prepared
    options = ModerationOptions()
    assert scorer.start(None, prepared, "p", NOW, options, None).result(1.0) == ShadowResult(
        ShadowOutcome.OFF
    )
    assert scorer.start(challenger(), [], "p", NOW, options, None).result(1.0) == ShadowResult(
        ShadowOutcome.OFF, version="8"
    )
    try:
        running = scorer.start(challenger(stalling), prepared, "p", NOW, options, None)
        assert scorer.start(challenger(), prepared, "p", NOW, options, None).result(1.0) == ShadowResult(
            ShadowOutcome.BUSY, version="8", detail="a run goes on"
        )
    finally:
        stalling.release.set()
    scored = running.result(10.0)
    assert (scored.outcome, scored.version) == (ShadowOutcome.SCORED, "8")
    (shadow,) = scored.verdicts.values()
    assert (shadow.model_version, shadow.action) == ("8", Action.ALLOW)
