"""The chat servers' traffic: the mix schedule of real messages replayed into the input stream at a
rate, with the ground-truth side file written as records are delivered."""

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producer_sim.activity import Shape
from producer_sim.communities import Community, load_community
from producer_sim.publisher import Publisher, PublishReport
from producer_sim.replay import OutgoingRecord, Replay, parse_mix
from producer_sim.settings import ProducerSettings
from runtime import aws
from runtime.kinesis import Delivered, batches
from training.corpora import Example


def paced(
    records: Iterable[OutgoingRecord], rate: float | None, batch: int
) -> Iterator[list[OutgoingRecord]]:
    """Release records in chunks so that, on average, `rate` records per second go out."""
    started = time.monotonic()
    released = 0
    chunk: list[OutgoingRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == batch:
            if rate:
                delay = started + (released + len(chunk)) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            released += len(chunk)
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def publish(
    settings: ProducerSettings,
    mix: str,
    rate: float | None = None,
    malformed: float = 0.0,
    seed: int | None = None,
    stream: str | None = None,
    ground_truth: Path | None = None,
    quiet: bool = False,
    on_delivered: Callable[[PublishReport, list[Delivered[OutgoingRecord]]], None] | None = None,
    select: Callable[[Community, list[Example]], list[Example]] | None = None,
) -> PublishReport:
    """Replay the mix schedule into the input stream and write the ground-truth side file.

    `on_delivered` sees the running report and each batch's records once delivered (live views);
    `select` narrows a community's texts (e.g. to those a model never trained on).
    """
    phases = parse_mix(mix, rate)
    total = sum(p.total for p in phases)
    communities = {c for p in phases for c in p.weights}
    if any(s.kind is Shape.RAID for p in phases for s in p.shapes):
        communities.add(Community.SPAM)  # raids paste spam lines
    pools = {c: load_community(settings.data_dir, c) for c in communities}
    if select is not None:
        pools = {c: select(c, pool) for c, pool in pools.items()}
    replay = Replay(
        pools,
        settings.channels,
        settings.users,
        malformed,
        seed or settings.seed,
        settings.offenders,
        settings.offender_share,
    )
    kinesis = aws.client("kinesis", settings.aws_endpoint_url, settings.aws_region)
    publisher = Publisher(kinesis, stream or settings.input_stream, settings.max_put_attempts)
    report = PublishReport()
    # Chunks of ~1/10 s of traffic keep a paced stream smooth; unpaced, fill whole PutRecords calls.
    chunk = max(1, min(500, int(rate / 10))) if rate else 500
    truth_path = ground_truth or settings.ground_truth_path
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (
        truth_path.open("a", encoding="utf-8") as truth_file,
        Progress(
            TextColumn("[bold]publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.0f} msg/s  retried {task.fields[retried]}"),
            TimeElapsedColumn(),
            disable=quiet,
        ) as progress,
    ):
        task = progress.add_task("publish", total=total, rate=0.0, retried=0)
        for released in paced(replay.records(phases), rate, chunk):
            for batch in batches(released):
                before = report.sent
                publisher.publish_batch(batch, report)
                delivered = report.delivered[before:]
                for d in delivered:
                    if d.entry.truth is not None:
                        truth_file.write(d.entry.truth.model_dump_json() + "\n")
                truth_file.flush()  # the bot reads the side file while messages are still going out
                if on_delivered is not None:
                    on_delivered(report, delivered)
                elapsed = max(time.monotonic() - started, 1e-9)
                progress.update(
                    task, advance=len(batch), rate=report.sent / elapsed, retried=report.retried_records
                )
    return report
