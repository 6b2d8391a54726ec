"""The chaos rig: the real consumer (local ESM runner) and the moderation bot, each in a thread of
this process and talking to LocalStack through whatever endpoint a test gives them (usually a
`FaultProxy`), fed by the real publisher, and an exact count of where every record ended.

The publisher and the checks talk to LocalStack directly: the faults are on the consumer's and the
bot's side of the network.
"""

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.dead_letter import DeadLetter
from contracts.on_failure import OnFailureRecord
from local_esm.runner import LocalRunner
from monitoring.archive import read_archive, read_feedback
from producer_sim.bot import Bot
from producer_sim.ledger import Ledger, reconcile
from producer_sim.publisher import PublishReport
from producer_sim.replay import OutgoingRecord
from producer_sim.settings import ProducerSettings
from producer_sim.traffic import publish
from runtime import aws
from runtime.checkpoints import CheckpointStore
from runtime.kinesis import Delivered
from runtime.queues import peek_bodies
from runtime.stack import Stack
from stream_consumer.handler import build_consumer
from tests.emulator import consumer_settings, read_verdicts


class _StopPublishingError(Exception):
    """Raised from the publisher's per-batch callback to end a `streaming` block."""


CONSUMER_LOGGER = "chat-moderation"  # the consumer's structured (Powertools) logger


class LogCapture(logging.Handler):
    """The consumer's structured log events, kept as dicts (its stdout copy is silenced meanwhile)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[dict[str, Any]] = []
        self._lock_events = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            with self._lock_events:
                self.events.append({**record.msg, "_at": record.created})  # wall-clock time

    def reloads(self, outcome: str, version: str | None = None) -> list[dict[str, Any]]:
        """The champion checks that ended in `outcome` ("loaded", "failed"), for `version` if given."""
        with self._lock_events:
            return [
                e
                for e in self.events
                if e.get("event") == "champion_reload"
                and e["outcome"] == outcome
                and (version is None or e["version"] == version)
            ]


@contextmanager
def captured_consumer_log() -> Iterator[LogCapture]:
    logger = logging.getLogger(CONSUMER_LOGGER)
    capture = LogCapture()
    quiet = [(h, h.level) for h in logger.handlers]
    for handler, _ in quiet:
        handler.setLevel(logging.CRITICAL + 1)  # keep `pytest -s` readable: the summary line shows
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        for handler, level in quiet:
            handler.setLevel(level)


@dataclass
class Tally:
    """Where every published record ended (the run's ledger), and what the bot suppressed."""

    ledger: Ledger
    duplicates_suppressed: int  # verdict records the bot saw again and ignored

    @property
    def messages_in(self) -> int:
        return self.ledger.published

    @property
    def distinct_verdicts(self) -> int:
        return self.ledger.judged_messages

    @property
    def dead_letters(self) -> int:
        """Distinct records in the DLQ (`account` asserts that each was published)."""
        return self.ledger.dead_lettered

    def line(self, name: str, faults: str) -> str:
        return (
            f"CHAOS {name}: messages in={self.messages_in} verdicts={self.distinct_verdicts} "
            f"(records {self.ledger.verdict_records}) DLQ entries={self.dead_letters} "
            f"(messages {self.ledger.dead_letter_messages}) "
            f"duplicates suppressed={self.duplicates_suppressed} faults injected: {faults}"
        )


@dataclass
class Rig:
    """One consumer and one bot, run in threads until `stop`; traffic from `streaming`."""

    endpoint_url: str  # LocalStack itself
    stack: Stack
    tmp_path: Path
    consumer_endpoint: str
    bot_endpoint: str
    data_dir: Path
    delivered: list[Delivered[OutgoingRecord]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Unlimited retries: an outage may outlast the stack's 5 attempts, and a discarded batch
        # (ESM on-failure destination) would be neither a verdict nor a DLQ entry. Asserted below.
        self.settings = consumer_settings(
            self.stack,
            self.consumer_endpoint,
            self.tmp_path,
            maximum_retry_attempts=-1,
            reload_interval_s=0.5,
        )
        self.truth_path = self.tmp_path / "ground_truth.jsonl"
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.crashes: dict[str, BaseException] = {}
        self.runner: LocalRunner | None = None
        self.bot: Bot | None = None

    # --- the processes under test ----------------------------------------------------------------

    def start(self) -> None:
        consumer = build_consumer(self.settings)

        def handler(event: dict[str, Any], context: object) -> object:
            return consumer.handle_event(event)

        self.runner = LocalRunner(
            self.settings,
            handler,
            aws.client("kinesis", self.consumer_endpoint),
            aws.client("sqs", self.consumer_endpoint),
            CheckpointStore(self.settings.checkpoint_dir / "cp.json"),
        )
        self.bot = Bot(
            aws.client("kinesis", self.bot_endpoint),
            aws.client("s3", self.bot_endpoint),
            self.stack.output_stream.name,
            self.stack.archive_bucket.name,
            self.stack.archive_bucket.feedback_prefix,
            self.truth_path,
            self.tmp_path / "bot",
            review_share=1.0,
            sample_share=0.2,
            moderators=5,
        )
        runner, bot = self.runner, self.bot
        self._spawn("runner", lambda: runner.run(self._stop))
        self._spawn("bot", lambda: bot.run(self._stop, interval_s=0.1))

    def _spawn(self, name: str, target: Callable[[], object]) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException as err:  # a crash is what the test is looking for
                self.crashes[name] = err
                raise

        self._threads[name] = threading.Thread(target=guarded, name=f"chaos-{name}", daemon=True)
        self._threads[name].start()

    def acted(self) -> int:
        """How many messages the bot has acted on."""
        assert self.bot is not None
        return len(self.bot.state.seen)

    def alive(self) -> dict[str, bool]:
        return {name: t.is_alive() for name, t in self._threads.items()}

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads.values():
            t.join(60)

    # --- traffic ---------------------------------------------------------------------------------

    @contextmanager
    def streaming(self, rate: float, malformed: float = 0.03, seed: int = 0) -> Iterator[None]:
        """Chat traffic at `rate` msg/s (the real publisher) for as long as the block runs."""
        settings = ProducerSettings(
            aws_endpoint_url=self.endpoint_url,
            data_dir=self.data_dir,
            input_stream=self.stack.input_stream.name,
            ground_truth_path=self.truth_path,
        )
        stop = threading.Event()
        reports: list[PublishReport] = []

        def on_delivered(report: PublishReport, _: list[Delivered[OutgoingRecord]]) -> None:
            if not reports:
                reports.append(report)
            if stop.is_set():
                raise _StopPublishingError

        def run() -> None:
            with contextlib.suppress(_StopPublishingError):
                publish(
                    settings,
                    "rscience=0.7+tweets=0.3:1000000",
                    rate,
                    malformed,
                    seed or None,
                    quiet=True,
                    on_delivered=on_delivered,
                )

        thread = threading.Thread(target=run, name="chaos-publisher", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(60)
        [report] = reports
        assert not report.undelivered
        self.delivered.extend(report.delivered)

    # --- waiting and counting ------------------------------------------------------------------

    def wait_until_drained(self, timeout: float = 150.0) -> None:
        """Until the bot acted on every good message, every poison one is dead-lettered and the
        runner holds nothing unfinished (or a thread died: the assertions then say so)."""
        good = {d.entry.message_id for d in self.delivered if d.entry.malformed is None}
        poison = sum(d.entry.malformed is not None for d in self.delivered)
        sqs = aws.client("sqs", self.endpoint_url)
        url = sqs.get_queue_url(QueueName=self.stack.dead_letter_queue.name)["QueueUrl"]
        bot, runner = self.bot, self.runner
        assert bot is not None
        assert runner is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and all(self.alive().values()):
            if all(m in bot.state.seen for m in good) and not runner.pending:
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                if int(attrs["Attributes"]["ApproximateNumberOfMessages"]) >= poison:
                    return
            time.sleep(0.3)

    def account(self) -> Tally:
        """Every record: exactly one verdict effect (the bot) or one DLQ entry; nothing else."""
        verdicts = read_verdicts(self.endpoint_url, self.stack.output_stream.name)
        sqs = aws.client("sqs", self.endpoint_url)

        def bodies(queue: str) -> list[str]:
            return peek_bodies(sqs, sqs.get_queue_url(QueueName=queue)["QueueUrl"])

        letters = [DeadLetter.model_validate_json(b) for b in bodies(self.stack.dead_letter_queue.name)]
        failures = [OnFailureRecord.read(b).batch for b in bodies(self.stack.on_failure_queue.name)]
        ledger = reconcile(self.delivered, verdicts, letters, failures)

        missing = ledger.missing
        assert not missing, f"{missing} published records have neither a verdict nor a DLQ entry"
        # Verdicts for exactly the published good messages, DLQ entries for exactly the poison records.
        not_good = "a verdict for something that is not a published good message"
        assert ledger.with_verdict == ledger.valid, not_good
        assert ledger.verdicts_for_poison + ledger.unpublished_verdicts == 0, not_good
        not_poison = "a DLQ entry for something that is not a published poison record"
        assert ledger.dead_lettered == ledger.poison, not_poison
        assert ledger.valid_dead_lettered + ledger.unpublished_dead_letters == 0, not_poison
        assert not ledger.with_both
        assert not ledger.mismatched_verdicts
        assert ledger.judged_messages == ledger.valid

        # The bot: exactly one effect per message, every repeat suppressed.
        assert self.bot is not None
        assert self.runner is not None
        counts = self.bot.state.counts
        assert counts["hidden"] + counts["queued"] + counts["allowed"] == ledger.valid
        assert self.bot.state.seen == {
            d.entry.message_id for d in self.delivered if d.entry.malformed is None
        }
        assert counts["duplicates_ignored"] == ledger.verdict_records - ledger.judged_messages
        assert counts["unreadable_verdicts"] == 0
        # Moderator feedback is written once per decided message, never twice.
        feedback = read_feedback(
            aws.client("s3", self.endpoint_url),
            self.stack.archive_bucket.name,
            self.stack.archive_bucket.feedback_prefix,
        )
        decided = Counter(d.message_id for d in feedback.decisions)
        assert decided, "the moderators decided nothing"
        assert max(decided.values()) == 1, "a moderator decision was written twice"
        assert sum(decided.values()) == counts["decisions"]
        # Nothing went to the ESM's on-failure destination, and every good message was archived.
        assert self.runner.stats.discarded == 0
        assert ledger.retries_exhausted == 0
        archive = read_archive(
            aws.client("s3", self.endpoint_url),
            self.stack.archive_bucket.name,
            self.stack.archive_bucket.archive_prefix,
        )
        assert {m.message.message_id for m in archive.messages} == self.bot.state.seen
        return Tally(ledger, duplicates_suppressed=counts["duplicates_ignored"])
