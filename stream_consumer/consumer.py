"""One batch, end to end: moderate, write verdicts, dead-letter poison records, archive, report.

Wiring of the pure core to the sinks; what could not be written is reported as batch item failures
so that Kinesis retries it, and nothing is dropped.
"""

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from contracts import metrics as emf
from contracts.lambda_event import BadEnvelope, BatchResponse, KinesisRecord
from contracts.policy import PolicyBook
from stream_consumer.champion import ReloadEvent
from stream_consumer.moderation import Champion, NoModelError, moderate
from stream_consumer.settings import ConsumerSettings
from stream_consumer.sinks import ArchiveSink, DeadLetterSink, SinkError, VerdictSink, batch_archive_key

logger = Logger(service="chat-moderation")
metrics = Metrics(namespace=emf.NAMESPACE, service=emf.SERVICE)


def _failures(records: Sequence[KinesisRecord | BadEnvelope]) -> BatchResponse:
    return {"batchItemFailures": [{"itemIdentifier": r.sequence_number} for r in records]}


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
    ) -> None:
        self._settings = settings
        self._champion = champion
        self._policies = policies
        self._verdicts = verdicts
        self._dead_letters = dead_letters
        self._archive = archive
        self.totals: Counter[str] = Counter()  # since start: verdicts by action, dead letters, retried

    def handle(self, records: Sequence[KinesisRecord | BadEnvelope]) -> BatchResponse:
        """Moderate one batch; returns the records Kinesis must retry (none on full success)."""
        started = time.perf_counter()
        if not records:
            return {"batchItemFailures": []}
        champion = self._champion()
        version = champion.version if champion else "none"
        try:
            outcome = moderate(
                records,
                champion,
                self._policies(),
                datetime.now(UTC),
                payload_cap=self._settings.payload_cap_chars,
                top_k=self._settings.reasons_top_k,
                without_model=self._settings.without_model,
            )
        except NoModelError:
            logger.error(
                {"event": "no_model", "batch_size": len(records), "action": "batch failed for retry"}
            )
            metrics.add_metric(name=emf.BATCHES_WITHOUT_MODEL, unit=MetricUnit.Count, value=1)
            return _failures(records)
        try:
            unwritten = self._verdicts.put(outcome.moderated)
            undelivered = self._dead_letters.send(outcome.rejected)
            unwritten_ids = {id(m) for m in unwritten}
            archived = [m for m in outcome.moderated if id(m) not in unwritten_ids]
            if archived:
                self._archive.write(batch_archive_key(self._settings.archive_prefix, archived), archived)
        except SinkError as err:
            logger.error({"event": "sink_error", "batch_size": len(records), "error": str(err)})
            metrics.add_metric(name=emf.SINK_ERRORS, unit=MetricUnit.Count, value=1)
            return _failures(records)
        failed_seq = {m.record.sequence_number for m in unwritten} | {r.sequence_number for r in undelivered}
        for rejected in outcome.rejected:
            dl = rejected.dead_letter
            logger.warning(
                {
                    "event": "dead_letter",
                    "reason": dl.reason.value,
                    "detail": dl.detail,
                    "shard_id": dl.shard_id,
                    "sequence_number": dl.sequence_number,
                    "delivered": dl.sequence_number not in failed_seq,
                }
            )
        mix = dict.fromkeys(("allow", "review", "remove"), 0)
        for m in archived:  # written verdicts only: the unwritten come back in a retry and count then
            mix[m.verdict.action.value] += 1
        duration_ms = (time.perf_counter() - started) * 1000
        logger.info(
            {
                "event": "batch",
                "batch_size": len(records),
                "verdicts": len(outcome.moderated) - len(unwritten),
                "dead_lettered": len(outcome.rejected) - len(undelivered),
                "failed": len(failed_seq),
                "actions": mix,
                "model_version": version,
                "shard_id": records[0].shard_id,
                "duration_ms": round(duration_ms, 2),
            }
        )
        self.totals.update(
            {**mix, "dead_lettered": len(outcome.rejected) - len(undelivered), "retried": len(failed_seq)}
        )
        for action, n in mix.items():
            metrics.add_metric(name=emf.verdicts(action), unit=MetricUnit.Count, value=n)
        metrics.add_metric(
            name=emf.DEAD_LETTERS, unit=MetricUnit.Count, value=len(outcome.rejected) - len(undelivered)
        )
        metrics.add_metric(name=emf.RETRIED_RECORDS, unit=MetricUnit.Count, value=len(failed_seq))
        metrics.add_metric(name=emf.HANDLER_DURATION, unit=MetricUnit.Milliseconds, value=duration_ms)
        if champion and champion.version.isdigit():
            metrics.add_metric(name=emf.CHAMPION_VERSION, unit=MetricUnit.NoUnit, value=int(champion.version))
        return {
            "batchItemFailures": [
                {"itemIdentifier": r.sequence_number} for r in records if r.sequence_number in failed_seq
            ]
        }


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
