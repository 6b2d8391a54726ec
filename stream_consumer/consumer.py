"""One batch, end to end: moderate, write verdicts, dead-letter poison records, archive, report.

Wiring of the pure core to the sinks; what could not be written is reported as batch item failures
so that Kinesis retries it, and nothing is dropped.
"""

import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from contracts import metrics as emf
from contracts.lambda_event import (
    BadEnvelope,
    BatchResponse,
    KinesisRecord,
    TumblingWindow,
    read_event,
    read_window,
)
from contracts.policy import PolicyBook
from contracts.verdict import Action, Stage
from runtime.logs import structured_logger
from stream_consumer.cascade import Embedder
from stream_consumer.champion import ReloadEvent
from stream_consumer.context import Budget, Counted, WindowContext, context_key
from stream_consumer.moderation import (
    NO_MODEL_VERSION,
    BatchOutcome,
    Canary,
    Champion,
    Moderated,
    NoModelError,
    Rejected,
    moderate,
)
from stream_consumer.settings import ConsumerSettings
from stream_consumer.shadow import (
    Pending,
    ShadowOutcome,
    ShadowResult,
    ShadowScorer,
    SharedEmbeddings,
    shadow_draw,
)
from stream_consumer.sinks import ArchiveSink, DeadLetterSink, SinkError, VerdictSink, batch_archive_key

logger = structured_logger("chat-moderation")
metrics = Metrics(namespace=emf.NAMESPACE, service=emf.SERVICE)


def _failures(records: Sequence[KinesisRecord | BadEnvelope]) -> BatchResponse:
    return {"batchItemFailures": [{"itemIdentifier": r.sequence_number} for r in records]}


@dataclass
class BatchReport:
    """What one batch came to — written verdicts, delivered dead letters, records to retry — and the
    canonical log line and metrics that say so (a retried record counts once, when it is written)."""

    records: Sequence[KinesisRecord | BadEnvelope]
    outcome: BatchOutcome
    written: list[Moderated]  # verdicts written to the stream and archived
    undelivered: list[Rejected]  # dead letters the queue refused
    shadow: ShadowResult = field(default_factory=lambda: ShadowResult(ShadowOutcome.OFF))
    canary: Canary | None = None  # the canary serving its share of channels in this batch
    retry: set[str] = field(init=False)  # sequence numbers Kinesis must send again
    canary_served: int = field(init=False)  # written verdicts the canary gave

    def __post_init__(self) -> None:
        written = {id(m) for m in self.written}
        unwritten = {m.record.sequence_number for m in self.outcome.moderated if id(m) not in written}
        self.retry = unwritten | {r.sequence_number for r in self.undelivered}
        version = self.canary.model.version if self.canary else None
        self.canary_served = sum(m.verdict.model_version == version for m in self.written) if version else 0

    @property
    def dead_lettered(self) -> int:
        return len(self.outcome.rejected) - len(self.undelivered)

    @property
    def actions(self) -> dict[str, int]:
        mix = dict.fromkeys((a.value for a in Action), 0)
        for m in self.written:
            mix[m.verdict.action.value] += 1
        return mix

    @property
    def stages(self) -> dict[str, int]:
        """How the written verdicts were scored: the fast model, the encoder, or fast over budget."""
        mix = dict.fromkeys((s.value for s in Stage), 0)
        for m in self.written:
            if m.verdict.stage is not None:
                mix[m.verdict.stage.value] += 1
        return mix

    @property
    def signals(self) -> dict[str, int]:
        """Written verdicts for which each context signal fired."""
        return dict(Counter(s.signal for m in self.written for s in m.verdict.context))

    def response(self) -> BatchResponse:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r.sequence_number} for r in self.records if r.sequence_number in self.retry
            ]
        }

    def emit(self, champion: Champion | None, duration_ms: float) -> None:
        """One line per dead letter (ids and reason, never text), the batch's line, and its metrics."""
        for rejected in self.outcome.rejected:
            dl = rejected.dead_letter
            logger.warning(
                {
                    "event": "dead_letter",
                    "reason": dl.reason.value,
                    "detail": dl.detail,
                    "shard_id": dl.shard_id,
                    "sequence_number": dl.sequence_number,
                    "delivered": dl.sequence_number not in self.retry,
                }
            )
        if self.shadow.dropped:
            logger.warning(
                {
                    "event": "shadow_dropped",
                    "outcome": self.shadow.outcome.value,
                    "challenger_version": self.shadow.version,
                    "detail": self.shadow.detail,
                    "shard_id": self.records[0].shard_id,
                }
            )
        actions, stages, signals = self.actions, self.stages, self.signals
        logger.info(
            {
                "event": "batch",
                "batch_size": len(self.records),
                "verdicts": len(self.written),
                "dead_lettered": self.dead_lettered,
                "failed": len(self.retry),
                "actions": actions,
                "stages": stages,
                "signals": signals,
                "model_version": champion.version if champion else NO_MODEL_VERSION,
                "canary": {
                    "version": self.canary.model.version if self.canary else None,
                    "share": self.canary.share if self.canary else None,
                    "served": self.canary_served,
                },
                "shadow": {
                    "outcome": self.shadow.outcome.value,
                    "version": self.shadow.version,
                    "scored": len(self.shadow.verdicts),
                },
                "shard_id": self.records[0].shard_id,
                "duration_ms": round(duration_ms, 2),
            }
        )
        for action, n in actions.items():
            metrics.add_metric(name=emf.verdicts(action), unit=MetricUnit.Count, value=n)
        for stage, n in stages.items():
            metrics.add_metric(name=emf.stage(stage), unit=MetricUnit.Count, value=n)
        for signal, n in signals.items():
            metrics.add_metric(name=emf.signal(signal), unit=MetricUnit.Count, value=n)
        metrics.add_metric(name=emf.DEAD_LETTERS, unit=MetricUnit.Count, value=self.dead_lettered)
        metrics.add_metric(name=emf.RETRIED_RECORDS, unit=MetricUnit.Count, value=len(self.retry))
        metrics.add_metric(name=emf.HANDLER_DURATION, unit=MetricUnit.Milliseconds, value=duration_ms)
        metrics.add_metric(name=emf.SHADOW_SCORED, unit=MetricUnit.Count, value=len(self.shadow.verdicts))
        metrics.add_metric(name=emf.SHADOW_DROPPED, unit=MetricUnit.Count, value=int(self.shadow.dropped))
        metrics.add_metric(name=emf.CANARY_SERVED, unit=MetricUnit.Count, value=self.canary_served)
        if champion and champion.version.isdigit():
            metrics.add_metric(name=emf.CHAMPION_VERSION, unit=MetricUnit.NoUnit, value=int(champion.version))


class Consumer:
    """Holds the sinks and the model/policy providers; `handle` is called once per batch."""

    def __init__(
        self,
        settings: ConsumerSettings,
        champion: Callable[[], Champion | None],
        policies: Callable[[], PolicyBook],
        verdicts: VerdictSink,
        dead_letters: DeadLetterSink,
        archive: ArchiveSink,
        encoder: Embedder | None = None,
        challenger: Callable[[], Champion | None] | None = None,
        canary: Callable[[], Canary | None] | None = None,
    ) -> None:
        self._settings = settings
        self._options = settings.moderation_options()
        self._encoder = encoder
        self._champion = champion
        self._challenger = challenger or (lambda: None)
        self._canary = canary or (lambda: None)
        self._shadow = ShadowScorer()
        self._shadow_wait_s = settings.shadow_wait_ms / 1000.0
        self._policies = policies
        self._verdicts = verdicts
        self._dead_letters = dead_letters
        self._archive = archive
        self.totals: Counter[str] = Counter()  # since start: verdicts by action, dead letters, retried
        self._budget = Budget(settings.context_users, settings.context_texts, settings.context_channels)
        self._key = context_key(settings.context_key.get_secret_value())
        if not settings.context_key.get_secret_value():
            logger.warning({"event": "context_key_builtin", "setting": "CONSUMER_CONTEXT_KEY"})
        self._last: tuple[dict[str, Any], WindowContext] | None = None  # the state last returned, read

    def handle_event(self, event: dict[str, Any]) -> BatchResponse:
        """A Lambda Kinesis event in, the partial batch response (and window state) out."""
        return self.handle(read_event(event), read_window(event))

    def handle(
        self, records: Sequence[KinesisRecord | BadEnvelope], window: TumblingWindow | None = None
    ) -> BatchResponse:
        """Moderate one batch; returns the records Kinesis must retry (none on full success) and, with a
        tumbling window, the window's state: after every record, or — when some must be retried — after
        the records before the first of them, so a record that comes again is not counted twice."""
        if window is None:
            return self._handle(records, None)[0]
        read = self._context(window)
        if window.final:
            self._close(window, read)
            return {"batchItemFailures": [], "state": {}}
        context = read or WindowContext(
            self._budget, self._key
        )  # an unreadable state was logged: a fresh one
        response, counted = self._handle(records, context)
        retry = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        if retry and len(retry) == len(records):
            response["state"] = window.state  # nothing counted: the state stays as it came
            return response
        if retry:
            first = next(i for i, r in enumerate(records) if r.sequence_number in retry)
            before = {r.sequence_number for r in records[:first]}
            context = self._read(window.state) or WindowContext(self._budget, self._key)
            context.recount(c for c in counted if c.sequence_number in before)
        response["state"] = context.encode()
        self._last = (response["state"], context)
        return response

    def _context(self, window: TumblingWindow) -> WindowContext | None:
        """The window's counts: the context last returned when the state is that one, unchanged since
        (no decoding), else read from the state."""
        if self._last is not None and self._last[0] == window.state and not self._last[1].dirty:
            return self._last[1]
        return self._read(window.state)

    def _read(self, state: dict[str, Any]) -> WindowContext | None:
        try:
            return WindowContext.decode(state, self._budget, self._key)
        except (ValueError, TypeError, zlib.error) as err:
            logger.error({"event": "window_state_unreadable", "error": str(err)[:200]})
            metrics.add_metric(name=emf.WINDOW_STATE_ERRORS, unit=MetricUnit.Count, value=1)
            return None

    def _close(self, window: TumblingWindow, context: WindowContext | None) -> None:
        """The window's final invocation: its line (what it counted, which signals fired) and metrics."""
        fired = dict(context.fired) if context else {}
        logger.info(
            {
                "event": "window_closed",
                "shard_id": window.shard_id,
                "start": window.window.start.isoformat(),
                "end": window.window.end.isoformat(),
                "terminated_early": window.terminated_early,
                "messages": context.messages if context else 0,
                "users": len(context.users.rows) if context else 0,
                "fired": fired,
            }
        )
        metrics.add_metric(name=emf.WINDOWS_CLOSED, unit=MetricUnit.Count, value=1)
        self.totals["windows_closed"] += 1

    def _handle(
        self, records: Sequence[KinesisRecord | BadEnvelope], context: WindowContext | None
    ) -> tuple[BatchResponse, list[Counted]]:
        """The batch's response, and what it counted into the window (in record order)."""
        started = time.perf_counter()
        if not records:
            return {"batchItemFailures": []}, []
        champion, canary = self._champion(), self._canary()
        if canary is not None and champion is not None and canary.model.version == champion.version:
            canary = None  # completed: the champion serves every channel
        # a canary's channels are shadow-scored by the champion, else the challenger's drawn share
        shadow = champion if canary is not None else self._challenger()
        policies, now = self._policies(), datetime.now(UTC)
        # with a model to shadow-score, the batch's embeddings are kept for it to read again
        encoder = self._encoder
        if encoder is not None and shadow is not None:
            encoder = SharedEmbeddings(encoder)
        try:
            outcome = moderate(
                records,
                champion,
                policies,
                now,
                self._options,
                encoder=encoder,
                context=context,
                canary=canary,
            )
            pending = self._shadow.start(
                shadow, shadow_draw(outcome, canary), policies.version, now, self._options, encoder
            )
            report = self._write(records, outcome, pending, canary)
        except NoModelError:
            logger.error(
                {"event": "no_model", "batch_size": len(records), "action": "batch failed for retry"}
            )
            metrics.add_metric(name=emf.BATCHES_WITHOUT_MODEL, unit=MetricUnit.Count, value=1)
            return _failures(records), []
        except SinkError as err:
            logger.error({"event": "sink_error", "batch_size": len(records), "error": str(err)})
            metrics.add_metric(name=emf.SINK_ERRORS, unit=MetricUnit.Count, value=1)
            return _failures(records), []
        report.emit(champion, (time.perf_counter() - started) * 1000)
        self.totals.update(
            {
                **report.actions,
                **{f"stage.{k}": v for k, v in report.stages.items()},
                **{f"context.{k}": v for k, v in report.signals.items()},
                "dead_lettered": report.dead_lettered,
                "retried": len(report.retry),
                "shadow.scored": len(report.shadow.verdicts),
                "shadow.dropped": int(report.shadow.dropped),
                "canary.served": report.canary_served,
            }
        )
        return report.response(), outcome.counted

    def _write(
        self,
        records: Sequence[KinesisRecord | BadEnvelope],
        outcome: BatchOutcome,
        pending: Pending,
        canary: Canary | None,
    ) -> BatchReport:
        """Verdicts to the stream, dead letters to the queue, the written verdicts to the archive (with
        the shadow-scoring model's beside those it judged, which it does while the others are written)."""
        unwritten = {id(m) for m in self._verdicts.put(outcome.moderated)}
        undelivered = self._dead_letters.send(outcome.rejected)
        written = [m for m in outcome.moderated if id(m) not in unwritten]
        shadow = pending.result(self._shadow_wait_s)
        if written:
            found = shadow.verdicts.get
            archived = (
                [replace(m, shadow=found(m.message.message_id)) for m in written]
                if shadow.verdicts
                else written
            )
            self._archive.write(batch_archive_key(self._settings.archive_prefix, archived), archived)
        return BatchReport(records, outcome, written, undelivered, shadow, canary)


def log_reload(event: ReloadEvent) -> None:
    """A champion check's canonical line and metric (failures keep the last good model serving)."""
    if event.outcome == "unchanged":
        return
    payload = {
        "event": "champion_reload",
        "outcome": event.outcome,
        "version": event.version,
        "detail": event.detail,
    }
    if event.outcome == "failed":
        logger.error(payload)
        metrics.add_metric(name=emf.MODEL_RELOAD_FAILURES, unit=MetricUnit.Count, value=1)
    else:
        logger.info(payload)
        metrics.add_metric(name=emf.MODEL_RELOADS, unit=MetricUnit.Count, value=1)


def log_challenger_reload(event: ReloadEvent, name: str = "challenger") -> None:
    """A challenger (or canary) check's line (no metric: the champion's alarms are not the shadow's; a
    challenger that fails to load scores nothing, which `ShadowScored` shows; a canary that fails to load
    serves no channel, which `CanaryServed` shows)."""
    if event.outcome == "unchanged":
        return
    payload = {"event": f"{name}_reload", "outcome": event.outcome, "version": event.version}
    (logger.error if event.outcome == "failed" else logger.info)(payload | {"detail": event.detail})
