"""The local event source mapping: polls every shard of the input stream and drives the real
`lambda_handler` in-process through the pure `esm.ShardMachine`. A thin adapter: the semantics live
in `esm.py`; this file only talks to Kinesis, SQS and the checkpoint file.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Event
from typing import TYPE_CHECKING, Any

from local_esm.esm import (
    Checkpoint,
    Completed,
    Discard,
    EsmConfig,
    FunctionError,
    Invoke,
    ShardMachine,
    StreamRecord,
    Window,
    lambda_event,
    on_failure_record,
    parse_response,
    roundtrip,
)
from runtime.checkpoints import CheckpointStore
from runtime.errors import AwsError, RequestError, aws_errors
from runtime.kinesis import resume_iterator
from runtime.logs import structured_logger
from runtime.retry import idle_backoff
from stream_consumer.settings import ConsumerSettings

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_sqs import SQSClient

log = structured_logger("chat-moderation")
Handler = Callable[[dict[str, Any], object], object]


@dataclass
class _Shard:
    machine: ShardMachine
    iterator: str | None
    closed: bool = False
    pending: list[Discard | Checkpoint] = field(default_factory=list)  # effects not yet carried out


@dataclass
class RunnerStats:
    invocations: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    discarded: int = 0
    records_in: int = 0
    io_errors: int = 0  # passes that could not reach the emulator or AWS


class LocalRunner:
    """Polls a stream's shards and invokes the handler with byte-identical Lambda events."""

    def __init__(
        self,
        settings: ConsumerSettings,
        handler: Handler,
        kinesis: "KinesisClient",
        sqs: "SQSClient",
        checkpoints: CheckpointStore,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.config = EsmConfig(
            batch_size=settings.batch_size,
            batching_window_s=settings.batching_window_s,
            maximum_retry_attempts=settings.maximum_retry_attempts,
            maximum_record_age_s=settings.maximum_record_age_s,
            bisect_on_error=settings.bisect_on_error,
            retry_backoff_s=settings.retry_backoff_s,
            tumbling_window_s=settings.tumbling_window_s,
        )
        self._handler = handler
        self._kinesis = kinesis
        self._sqs = sqs
        self._checkpoints = checkpoints
        self._clock = clock
        self._wall = wall_clock
        self._shards: dict[str, _Shard] = {}
        self._listed_at: float | None = None
        summary = kinesis.describe_stream_summary(StreamName=settings.input_stream)[
            "StreamDescriptionSummary"
        ]
        self.stream_arn = summary["StreamARN"]
        self._failure_queue_url = sqs.get_queue_url(QueueName=settings.on_failure_queue)["QueueUrl"]
        self.function_arn = f"arn:aws:lambda:{settings.aws_region}:000000000000:function:local-esm-runner"
        self.stats = RunnerStats()

    # --- shards ------------------------------------------------------------------------------

    def _iterator(self, shard_id: str) -> str:
        return resume_iterator(
            self._kinesis,
            self.settings.input_stream,
            shard_id,
            self._checkpoints.sequence(shard_id),
            self.settings.starting_position,
        )

    def _refresh_shards(self) -> None:
        """Start shards whose parents are done (resharding: parents before children)."""
        with aws_errors("ListShards"):
            shards = self._kinesis.list_shards(StreamName=self.settings.input_stream)["Shards"]
        present = {s["ShardId"] for s in shards}
        for s in shards:
            sid = s["ShardId"]
            if sid in self._shards or self._checkpoints.finished(sid):
                continue
            parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p]
            if any(p in present and not self._checkpoints.finished(p) for p in parents):
                continue
            machine = ShardMachine(sid, self.config)
            machine.sequence_number = self._checkpoints.sequence(sid)
            machine.closed_until = self._checkpoints.closed_until(sid)
            saved = self._checkpoints.window(sid) if self.config.tumbling_window_s else None
            if saved is not None:
                machine.window = Window.from_json(saved)  # the window goes on where it was
            self._shards[sid] = _Shard(machine, self._iterator(sid))
            log.info({"event": "shard_started", "shard_id": sid, "window_resumed": saved is not None})

    # --- one pass ----------------------------------------------------------------------------

    def _fetch(self, shard: _Shard) -> None:
        machine = shard.machine
        if shard.closed or shard.iterator is None:
            return
        # Read ahead at most two batches (by count and by size): the rest waits in the stream.
        if machine.buffered >= 2 * self.config.batch_size:
            return
        if machine.buffered_bytes >= 2 * self.config.max_payload_bytes:
            return
        try:
            with aws_errors("GetRecords"):
                resp = self._kinesis.get_records(
                    ShardIterator=shard.iterator, Limit=self.config.batch_size * 2
                )
        except RequestError as err:
            if err.code == "ExpiredIteratorException":
                shard.iterator = None  # re-opened from the checkpoint once the buffer drains
                return
            raise
        records = [
            StreamRecord(
                r["SequenceNumber"],
                r["PartitionKey"],
                r["Data"],
                r["ApproximateArrivalTimestamp"].timestamp(),
            )
            for r in resp["Records"]
        ]
        self.stats.records_in += len(records)
        shard.machine.add(records, self._clock())
        shard.iterator = resp.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True

    def _carry_out(self, shard: _Shard, effects: list[Any]) -> None:
        shard.pending.extend(effects)
        while shard.pending:
            effect = shard.pending[0]
            if isinstance(effect, Discard):
                body = on_failure_record(
                    effect, shard.machine.shard_id, self.stream_arn, self.function_arn, self._wall()
                )
                with aws_errors("SendMessage on-failure"):
                    self._sqs.send_message(QueueUrl=self._failure_queue_url, MessageBody=body.to_json())
                self.stats.discarded += len(effect.records)
                log.warning(
                    {
                        "event": "esm_discard",
                        "condition": effect.condition,
                        **body.batch.model_dump(mode="json", by_alias=True),
                    }
                )
            elif isinstance(effect, Checkpoint):
                window = effect.window.to_json() if effect.window else None
                self._checkpoints.save(
                    shard.machine.shard_id,
                    effect.sequence_number,
                    window=window,
                    windowed=effect.windowed,
                    closed_until=effect.closed_until,
                )
            shard.pending.pop(0)

    def _invoke(self, shard: _Shard, invoke: Invoke) -> None:
        event = roundtrip(
            lambda_event(
                shard.machine.shard_id,
                self.stream_arn,
                self.settings.aws_region,
                invoke.records,
                invoke.window,
            )
        )
        self.stats.invocations += 1
        try:
            outcome: Completed | FunctionError = parse_response(self._handler(event, None))
        except Exception as err:  # the function's error: the mapping retries or bisects
            self.stats.function_errors += 1
            log.error(
                {
                    "event": "function_error",
                    "shard_id": shard.machine.shard_id,
                    "error": type(err).__name__,
                }
            )
            outcome = FunctionError(f"{type(err).__name__}: {err}")
        else:
            if isinstance(outcome, Completed) and outcome.failures:
                self.stats.partial_failures += 1
        self._carry_out(shard, shard.machine.complete(outcome, self._clock()))

    def step(self) -> bool:
        """One pass over every shard; True when any work was done."""
        now = self._clock()
        if self._listed_at is None or now - self._listed_at > 10:
            self._listed_at = now
            self._refresh_shards()
        busy = False
        for sid, shard in list(self._shards.items()):
            try:
                if shard.pending:
                    self._carry_out(shard, [])
                if shard.iterator is None and not shard.closed and shard.machine.idle:
                    shard.iterator = self._iterator(sid)
                self._fetch(shard)
                # `next` answers one invocation, or discards to carry out before asking again.
                while effects := shard.machine.next(self._clock(), self._wall()):
                    busy = True
                    if isinstance(effects[0], Invoke):
                        self._invoke(shard, effects[0])
                        break
                    self._carry_out(shard, effects)
                if shard.closed and shard.machine.idle:
                    shard.machine.end_of_shard()  # its window closes with the final invocation
                    if not shard.machine.window_open and not shard.pending:
                        self._checkpoints.save(sid, finished=True)
                        del self._shards[sid]
                        self._listed_at = None  # children may start now
            except AwsError as err:  # emulator or network down: try again next pass
                self.stats.io_errors += 1
                log.warning({"event": "runner_io_error", "shard_id": sid, "error": err.code})
        return busy

    @property
    def pending(self) -> bool:
        """Records fetched but not yet checkpointed (a batch waiting for its retry counts)."""
        return any(not s.machine.idle or s.machine.window_open or s.pending for s in self._shards.values())

    def run(self, stop: Event, idle_exit_s: float | None = None) -> RunnerStats:
        """Poll until `stop` is set (or, with `idle_exit_s`, until idle that long with nothing pending)."""
        last_work = self._clock()
        wait = self.settings.poll_interval_s
        while not stop.is_set():
            errors = self.stats.io_errors
            try:
                busy = self.step()
            except AwsError as err:
                self.stats.io_errors += 1
                log.warning({"event": "runner_io_error", "error": err.code})
                busy = False
            if busy or self.stats.io_errors > errors:  # an outage is not idleness: keep waiting for it
                last_work = self._clock()
            if busy:
                wait = self.settings.poll_interval_s
                continue
            # Idle means nothing new arrived AND nothing is waiting (a batch in retry backoff is work).
            if idle_exit_s is not None and not self.pending and self._clock() - last_work > idle_exit_s:
                break
            stop.wait(wait)
            # a record waiting (a batching window, a retry) keeps the pace; an idle stream is read less
            idle = not self.pending and self.stats.io_errors == errors
            pace = self.settings.poll_interval_s
            wait = idle_backoff(wait, self.settings.idle_poll_max_s) if idle else pace
        return self.stats
