"""The demo's story, step by step: services up, a champion trained on r/science, r/science traffic,
a drift check that stays quiet, the community switching to tweets, a drift check that flags it and
retrains on the moderators' labels, the consumer hot-reloading the new champion, and tweets served
better. Every step runs the project's own deployables (CLIs as subprocesses, the consumer through the
local event-source-mapping runner); the live view reads the consumer's EMF metrics from its log."""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from demo.live import ConsumerFigures, LogFollower
from demo.services import Service, ServiceError, evidently_service, mlflow_service, prefect_service
from demo.settings import DemoSettings
from infra.bootstrap import bootstrap
from infra.localstack import LocalStack, is_ready
from infra.settings import InfraSettings
from producer_sim.replay import GroundTruth, OutgoingRecord
from runtime import aws
from runtime.checkpoints import CheckpointStore
from runtime.kinesis import Delivered, read_stream
from runtime.paths import PROJECT_ROOT
from runtime.queues import peek_bodies
from runtime.stack import Stack, load_stack
from stream_consumer.schemas import DeadLetter, Verdict
from stream_consumer.settings import ConsumerSettings
from training.data import Community, LabelledText


class DemoError(RuntimeError):
    """A step of the story failed; the message says which and where its log is."""


@dataclass
class Step:
    title: str
    status: str = "pending"  # pending, running, done
    started: float | None = None
    ended: float | None = None
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.monotonic()) - self.started


class PhaseResult(BaseModel):
    """What one traffic phase sent and how it was served (filled in at the end)."""

    name: str
    published: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    actions: dict[str, int] = {}
    versions: dict[str, int] = {}
    served_roc_auc: dict[str, float] = {}  # by model version, against the ground-truth labels


class Summary(BaseModel):
    """The closing figures, also written to `summary.json` in the run's directory."""

    tag: str
    model_name: str
    wall_time_s: float
    steps: dict[str, float]
    phases: list[PhaseResult]
    drift_checks: list[dict[str, Any]]
    champion_versions: list[str]
    published: int
    with_verdict: int
    dead_lettered: int
    with_both: int  # a record with a verdict and a dead letter: must be 0
    unaccounted: int  # a record with neither: must be 0
    duplicate_verdicts: int  # redelivered verdict records (at-least-once); the bot acts once per id
    duplicate_dead_letters: int
    retries_exhausted: int  # entries in the event source mapping's on-failure queue
    bot: dict[str, int]
    urls: dict[str, str]


@dataclass
class Traffic:
    """What the chat servers delivered, by phase (the live view reads it while it grows)."""

    phase: str = ""
    ids: dict[str, list[str]] = field(default_factory=dict)  # message ids by phase (valid records)
    records: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # (shard, sequence) by phase
    tips: dict[str, int] = field(default_factory=dict)  # the highest sequence number per shard

    @property
    def published(self) -> int:
        return sum(len(keys) for keys in self.records.values())

    def add(self, delivered: list[Delivered[OutgoingRecord]]) -> None:
        keys, ids = self.records[self.phase], self.ids[self.phase]
        for d in delivered:
            keys.add((d.shard_id, d.sequence_number))
            self.tips[d.shard_id] = max(self.tips.get(d.shard_id, 0), int(d.sequence_number))
            if d.entry.truth is not None:
                ids.append(str(d.entry.truth.message_id))


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


def _roc_auc(labels: list[int], scores: list[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - only for the closing summary

    return round(float(roc_auc_score(labels, scores)), 3)


class Story:
    """Runs the demo; `run()` returns the summary. Ctrl-C stops every process it started."""

    def __init__(self, settings: DemoSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.infra = InfraSettings()
        self.tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.stack: Stack = load_stack().renamed(self.tag)
        self.model_name = f"{self.stack.model_name}-{self.tag}"
        self.run_dir = settings.state_dir / "demo" / self.tag
        services_dir = settings.state_dir / "services"
        self.services: list[Service] = [
            mlflow_service(services_dir, settings.mlflow_port),
            prefect_service(services_dir, settings.prefect_port),
            evidently_service(services_dir, settings.evidently_port, settings.state_dir / "evidently"),
        ]
        self.started_services: list[Service] = []
        self.localstack: LocalStack | None = None
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.steps = {
            key: Step(title)
            for key, title in (
                ("services", "LocalStack, MLflow, Prefect and Evidently up; stack bootstrapped"),
                ("train", "champion trained on r/science, registered, published"),
                ("rscience", "r/science traffic through the consumer"),
                ("check1", "drift check on the r/science window"),
                ("tweets", "the community switches: tweets"),
                ("check2", "drift check → retrain on the moderators' labels → promote"),
                ("reload", "consumer hot-reloads the new champion; more tweets"),
                ("summary", "closing summary"),
            )
        }
        self.traffic = Traffic()
        self.figures = ConsumerFigures()
        self.follower = LogFollower(self.run_dir / "consumer.log")
        self.checks: list[dict[str, Any]] = []
        self.champions: list[str] = []
        self.bot_counts: dict[str, int] = {}
        self.t0 = time.monotonic()
        self._lock = threading.Lock()  # the live view's thread and the main thread both fold the log

    # --- environment -----------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return self.infra.endpoint_url

    @property
    def urls(self) -> dict[str, str]:
        mlflow, prefect, evidently = self.services
        return {
            "MLflow (runs, registry, champion alias)": f"{mlflow.url}/#/models/{self.model_name}",
            "Prefect (flow runs: train_flow, drift_check_flow)": prefect.ui_url,
            "Evidently (drift reports per window)": evidently.ui_url,
            "LocalStack (AWS endpoint)": self.endpoint_url,
        }

    def child_env(self) -> dict[str, str]:
        s, run = self.stack, self.run_dir
        mlflow, prefect, _ = self.services
        consumer = ConsumerSettings.for_stack(s, checkpoint_dir=run / "checkpoints", reload_interval_s=2.0)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",  # the live view and the waits read the consumer's log as it goes
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "MLFLOW_TRACKING_URI": mlflow.url,
            "PREFECT_API_URL": f"{prefect.url}/api",
            **consumer.to_env(),
            "PRODUCER_INPUT_STREAM": s.input_stream.name,
            "PRODUCER_OUTPUT_STREAM": s.output_stream.name,
            "PRODUCER_ARCHIVE_BUCKET": s.archive_bucket.name,
            "PRODUCER_DEAD_LETTER_QUEUE": s.dead_letter_queue.name,
            "PRODUCER_GROUND_TRUTH_PATH": str(run / "ground_truth.jsonl"),
            "PRODUCER_BOT_STATE_DIR": str(run / "bot"),
            "TRAINING_MODEL_NAME": self.model_name,
            "TRAINING_MODELS_BUCKET": s.models_bucket.name,
            "TRAINING_STATE_DIR": str(self.settings.state_dir),
            "MONITORING_ARCHIVE_BUCKET": s.archive_bucket.name,
            "MONITORING_MODELS_BUCKET": s.models_bucket.name,
            "MONITORING_DEAD_LETTER_QUEUE": s.dead_letter_queue.name,
            "MONITORING_WORKSPACE_DIR": str(self.settings.state_dir / "evidently"),
            "MONITORING_WINDOW_LAST_N": str(self.settings.check_window),
        }
        env.pop("POWERTOOLS_METRICS_DISABLED", None)  # the live view reads the EMF metrics
        return env

    # --- steps -----------------------------------------------------------------------------------

    def _begin(self, key: str) -> Step:
        step = self.steps[key]
        step.status, step.started = "running", time.monotonic()
        if not self.console.is_terminal:
            self.console.print(f"== {step.title}")
        return step

    def _end(self, key: str, detail: str = "") -> None:
        step = self.steps[key]
        step.status, step.ended, step.detail = "done", time.monotonic(), detail
        if not self.console.is_terminal:
            self.console.print(f"   done in {step.seconds or 0:.1f} s{': ' + detail if detail else ''}")

    def start_services(self) -> None:
        """Start what does not answer yet (each registered at once, so Ctrl-C stops it), then wait."""
        self._begin("services")
        procs: dict[str, subprocess.Popen[bytes]] = {}
        reused = []
        for svc in self.services:
            if svc.answers():
                reused.append(svc.name)
                continue
            try:
                procs[svc.name] = svc.start()
            except ServiceError as err:
                raise DemoError(str(err)) from None
            self.started_services.append(svc)
        if is_ready(self.endpoint_url):
            reused.append("LocalStack")
        elif self.infra.aws_endpoint_url:
            raise DemoError(f"AWS_ENDPOINT_URL={self.infra.aws_endpoint_url} does not answer")
        else:
            self.localstack = LocalStack(self.infra.localstack_port, self.infra.data_dir)
            self.localstack.start(self.infra.ready_timeout_s)
        for svc in self.services:
            try:
                svc.wait(procs.get(svc.name), timeout=120)
            except ServiceError as err:
                raise DemoError(str(err)) from None
        bootstrap(self.stack, self.endpoint_url)
        self._end("services", f"reused: {', '.join(reused)}" if reused else "all started here")

    def _cli(self, name: str, *args: str) -> str:
        """Run a project CLI to completion; stdout is returned, stderr goes to the run's log."""
        log = (self.run_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=self.child_env(),
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.children[name] = proc
        try:
            out, _ = proc.communicate(timeout=self.settings.step_timeout_s)
        except subprocess.TimeoutExpired:
            self._stop_child(name)
            raise DemoError(f"`{' '.join(args)}` took over {self.settings.step_timeout_s:.0f} s") from None
        finally:
            log.close()
        self.children.pop(name, None)
        with (self.run_dir / f"{name}.log").open("ab") as fh:
            fh.write(out)
        if proc.returncode != 0:
            raise DemoError(f"`{' '.join(args)}` exited with {proc.returncode}; see {log.name}")
        return out.decode()

    def _background(self, name: str, *args: str) -> None:
        log = (self.run_dir / f"{name}.log").open("ab")
        self.children[name] = subprocess.Popen(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=self.child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def _stop_child(self, name: str, timeout: float = 30) -> None:
        proc = self.children.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # each child leads its own process group
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def train(self) -> None:
        self._begin("train")
        out = self._cli("train", "-m", "training", "train", "--json")
        result = _last_json_line(out, self.run_dir / "train.log")
        if not result["promoted"]:
            raise DemoError(f"the first model was not promoted: {result['reasons']}")
        self.champions.append(result["version"])
        aucs = ", ".join(f"{k} {v:.3f}" for k, v in result["test_roc_auc"].items())
        self._end("train", f"version {result['version']}, test ROC-AUC {aucs}")

    def start_consumer_and_bot(self) -> None:
        self._background("consumer", "-m", "stream_consumer", "run-local")
        self._background("bot", "-m", "producer_sim", "bot")

    def publish(self, key: str, phase: str, mix: str, seed: int, tweets_half: int = 0) -> None:
        from producer_sim.__main__ import publish  # noqa: PLC0415 - loads the data sets
        from producer_sim.settings import ProducerSettings  # noqa: PLC0415

        self._begin(key)
        self.refresh()
        with self._lock:
            at_start = Counter(self.figures.counts)
        self.traffic.phase = phase
        self.traffic.ids[phase], self.traffic.records[phase] = [], set()
        settings = ProducerSettings(
            aws_endpoint_url=self.endpoint_url,
            input_stream=self.stack.input_stream.name,
            ground_truth_path=self.run_dir / "ground_truth.jsonl",
        )
        report = publish(
            settings,
            mix,
            self.settings.rate,
            self.settings.malformed,
            seed=seed,
            quiet=True,
            on_delivered=lambda _, delivered: self.traffic.add(delivered),
            select=lambda community, pool: unseen_texts(community, pool, tweets_half),
        )
        if report.undelivered:
            raise DemoError(f"{len(report.undelivered)} messages could not be published")
        self._wait_until(self._consumer_settled, "the consumer to check-point every published record")
        self._wait_until(self._bot_settled, "the bot to act on every verdict")
        mix_share = self._mix_line(since=at_start)
        self._end(key, f"{report.sent} messages; {mix_share}")

    def _consumer_settled(self) -> bool:
        """Every shard's checkpoint has passed the last record published to it."""
        self.refresh()
        store = CheckpointStore(self.run_dir / "checkpoints" / f"{self.stack.input_stream.name}.json")
        return all(int(store.sequence(shard) or 0) >= tip for shard, tip in self.traffic.tips.items())

    @property
    def bot_seen_path(self) -> Path:
        """The bot's record of the message ids it acted on (one per line)."""
        return self.run_dir / "bot" / f"{self.stack.output_stream.name}.seen"

    def _bot_settled(self) -> bool:
        """The bot has seen a verdict for every valid message published (it acts once per id)."""
        try:
            seen = set(self.bot_seen_path.read_text().split())
        except FileNotFoundError:
            seen = set()
        return all(i in seen for ids in self.traffic.ids.values() for i in ids)

    def _wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.settings.step_timeout_s
        while not ready():
            for name in ("consumer", "bot"):
                proc = self.children.get(name)
                if proc is not None and proc.poll() is not None:
                    raise DemoError(f"the {name} stopped ({proc.returncode}); see {self.run_dir}/{name}.log")
            if time.monotonic() > deadline:
                raise DemoError(f"timed out waiting for {what}")
            time.sleep(0.5)

    def drift_check(self, key: str) -> dict[str, Any]:
        self._begin(key)
        out = self._cli(key, "-m", "monitoring", "check", "--json")
        check = _last_json_line(out, self.run_dir / f"{key}.log")
        training = check["training"]
        self.checks.append(check)
        verdict = "drift" if check["drifted"] else "no drift"
        detail = f"{verdict} (unseen-word share {check['unseen_word_share']:.3f})"
        if training:
            detail += f"; retrained: version {training['version']} " + (
                "promoted" if training["promoted"] else "kept out"
            )
            if training["promoted"]:
                self.champions.append(training["version"])
        self._end(key, detail)
        return check

    def hot_reload(self, version: str, count: int, seed: int) -> None:
        self.publish("reload", "tweets after promotion", f"tweets:{count}", seed, tweets_half=1)
        serving = self.figures.champion_version
        note = f"; serving version {serving}" + (
            "" if str(serving) == version else f" [red](promoted: {version})"
        )
        self.steps["reload"].detail += note

    # --- live view -------------------------------------------------------------------------------

    def refresh(self) -> None:
        with self._lock:
            for line in self.follower.new_lines():
                self.figures.ingest(line)

    def _mix_line(self, since: Counter[str] | None = None) -> str:
        with self._lock:
            counts = self.figures.counts - (since or Counter())
        verdicts = sum(counts[f"Verdicts_{a}"] for a in ("allow", "review", "remove"))
        shares = " ".join(
            f"{a} {100 * counts[f'Verdicts_{a}'] / max(verdicts, 1):.0f}%"
            for a in ("allow", "review", "remove")
        )
        return f"verdicts {verdicts:,} ({shares}), dead letters {counts['DeadLetters']:,}"

    def render(self) -> Group:
        self.refresh()
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(width=2)
        table.add_column()
        table.add_column(justify="right", width=8)
        table.add_column(style="dim")
        marks = {"pending": "·", "running": "[yellow]▶", "done": "[green]✓"}
        for step in self.steps.values():
            secs = f"{step.seconds:.1f} s" if step.seconds is not None else ""
            table.add_row(marks[step.status], step.title, secs, step.detail)
        f, t = self.figures, self.traffic
        lag = t.published - f.verdicts - f.counts["DeadLetters"]
        p50 = f"{f.handler_p50_ms:.0f} ms" if f.handler_p50_ms is not None else "-"
        bot_seen = _count_lines(self.bot_seen_path)
        stats = Text.from_markup(
            f"[bold]in[/] {t.published:,} ({t.phase})   [bold]out[/] {self._mix_line()}   "
            f"[bold]in flight[/] {max(lag, 0):,}   [bold]retried[/] {f.counts['RetriedRecords']:,}\n"
            f"[bold]champion[/] v{f.champion_version or '-'}   reloads {f.counts['ModelReloads']}"
            f" (failed {f.counts['ModelReloadFailures']})   [bold]handler p50[/] {p50} over {f.batches:,}"
            f" batches   [bold]bot[/] read {bot_seen:,} verdicts   "
            f"[dim]elapsed {time.monotonic() - self.t0:.0f} s, stack tag {self.tag}[/]"
        )
        return Group(table, Text(""), stats)

    # --- the end ---------------------------------------------------------------------------------

    def summarise(self) -> Summary:
        self._begin("summary")
        self._stop_child("bot")
        bot_log = (self.run_dir / "bot.log").read_text(errors="replace").splitlines()
        for line in reversed(bot_log):
            if '"bot_report"' in line:
                self.bot_counts = {k: v for k, v in json.loads(line).items() if isinstance(v, int)}
                break
        self._stop_child("consumer")
        kinesis = aws.client("kinesis", self.endpoint_url)
        records = [r for rs in read_stream(kinesis, self.stack.output_stream.name).values() for r in rs]
        verdicts = [Verdict.model_validate_json(r["Data"]) for r in records]
        truth = {
            str(g.message_id): g
            for g in (
                GroundTruth.model_validate_json(line)
                for line in (self.run_dir / "ground_truth.jsonl").read_text().splitlines()
            )
        }
        sqs = aws.client("sqs", self.endpoint_url)
        letters = [
            DeadLetter.model_validate_json(body)
            for body in peek_bodies(
                sqs, sqs.get_queue_url(QueueName=self.stack.dead_letter_queue.name)["QueueUrl"]
            )
        ]
        failures = peek_bodies(sqs, sqs.get_queue_url(QueueName=self.stack.on_failure_queue.name)["QueueUrl"])
        verdict_at = {(v.shard_id, v.sequence_number): v for v in verdicts}
        dead_at = {(d.shard_id, d.sequence_number) for d in letters}
        phases = []
        for name, keys in self.traffic.records.items():
            served = [verdict_at[k] for k in keys if k in verdict_at]
            result = PhaseResult(
                name=name,
                published=len(keys),
                verdicts=len(served),
                dead_letters=len(keys & dead_at),
                actions=dict(Counter(v.action.value for v in served)),
                versions=dict(Counter(v.model_version for v in served)),
            )
            for version in result.versions:
                scored = [
                    v
                    for v in served
                    if v.model_version == version and v.score is not None and str(v.message_id) in truth
                ]
                auc = _roc_auc(
                    [1 if truth[str(v.message_id)].label == "remove" else 0 for v in scored],
                    [v.score for v in scored if v.score is not None],
                )
                if auc is not None:
                    result.served_roc_auc[version] = auc
            phases.append(result)
        published_at = set().union(*self.traffic.records.values())
        self._end("summary")
        return Summary(
            tag=self.tag,
            model_name=self.model_name,
            wall_time_s=round(time.monotonic() - self.t0, 1),
            steps={k: round(s.seconds or 0, 1) for k, s in self.steps.items()},
            phases=phases,
            drift_checks=[{k: v for k, v in c.items() if k != "pvalues"} for c in self.checks],
            champion_versions=self.champions,
            published=len(published_at),
            with_verdict=len(published_at & verdict_at.keys()),
            dead_lettered=len(published_at & dead_at),
            with_both=len(verdict_at.keys() & dead_at),
            unaccounted=len(published_at - verdict_at.keys() - dead_at),
            duplicate_verdicts=len(verdicts) - len(verdict_at),
            duplicate_dead_letters=len(letters) - len(dead_at),
            retries_exhausted=len(failures),
            bot=self.bot_counts,
            urls=self.urls,
        )

    def shutdown(self, keep_services: bool) -> list[str]:
        """Stop the consumer, the bot and any running CLI; the servers too unless they are kept.

        Runs with SIGINT/SIGTERM/SIGHUP ignored (a second Ctrl-C must not abandon half the cleanup);
        the servers stop in parallel.
        """
        stopped = list(self.children)
        with ignoring_signals():
            for name in stopped:
                self._stop_child(name)
            if not keep_services:
                stoppers: list[tuple[str, Callable[[], object]]] = [
                    (svc.name, svc.stop) for svc in self.started_services
                ]
                if self.localstack is not None:
                    stoppers.append(("LocalStack", self.localstack.stop))
                threads = [threading.Thread(target=stop) for _, stop in stoppers]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                stopped += [name for name, _ in stoppers]
        return stopped


def unseen_texts(community: Community, pool: list[LabelledText], tweets_half: int) -> list[LabelledText]:
    """Traffic no model has trained on, like a real community's new messages: r/science's held-out
    rows (the champion's validation and test splits), and one half of the tweets (split by a hash of
    the text) before the retraining, the other half after it, so served quality is measured on unseen
    text."""
    from training.data import split  # noqa: PLC0415
    from training.settings import TrainingSettings  # noqa: PLC0415

    if community is Community.RSCIENCE:
        t = TrainingSettings()
        parts = split(pool, t.seed, t.validation_share, t.test_share)
        return parts.validation + parts.test
    return [
        x for x in pool if int(hashlib.sha256(x.text.casefold().encode()).hexdigest(), 16) % 2 == tweets_half
    ]


def _last_json_line(out: str, log: Path) -> dict[str, Any]:
    """The result a CLI run with `--json` printed last."""
    try:
        doc: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise DemoError(f"no result was printed; see {log}") from None
    return doc


def summary_tables(summary: Summary) -> Group:
    """The closing tables: traffic by phase, the drift checks, and where to look next."""
    phases = Table(title=f"The story in numbers (stack tag {summary.tag}, {summary.wall_time_s:.0f} s)")
    for col in (
        "phase",
        "messages",
        "verdicts",
        "dead letters",
        "allow / review / remove",
        "served by",
        "ROC-AUC served",
    ):
        phases.add_column(col, justify="left" if col in {"phase", "served by"} else "right")
    for p in summary.phases:
        mix = " / ".join(str(p.actions.get(a, 0)) for a in ("allow", "review", "remove"))
        served = ", ".join(f"v{v} ({n})" for v, n in sorted(p.versions.items()))
        aucs = ", ".join(f"v{v} {a:.3f}" for v, a in sorted(p.served_roc_auc.items()))
        phases.add_row(
            p.name, f"{p.published:,}", f"{p.verdicts:,}", f"{p.dead_letters:,}", mix, served, aucs
        )
    checks = Table(title="Drift checks (Evidently over the archive)")
    for col in ("check", "window", "drifted", "unseen words", "reasons", "retraining"):
        checks.add_column(col)
    for i, c in enumerate(summary.drift_checks, 1):
        t = c.get("training")
        retrain = "-"
        if t:
            aucs = ", ".join(f"{k} {v:.3f}" for k, v in t["test_roc_auc"].items())
            retrain = f"v{t['version']} {'promoted' if t['promoted'] else 'kept out'} ({aucs})"
        checks.add_row(
            str(i),
            str(c["window"]),
            "[red]yes" if c["drifted"] else "[green]no",
            f"{c['reference_unseen_word_share']:.3f} → {c['unseen_word_share']:.3f}",
            "; ".join(c["reasons"]) or "-",
            retrain,
        )
    problems = [
        f"{n} {what}"
        for n, what in (
            (summary.unaccounted, "with neither a verdict nor a dead letter"),
            (summary.with_both, "with both"),
            (summary.retries_exhausted, "discarded after their retries (on-failure queue)"),
        )
        if n
    ]
    ledger = Text.from_markup(
        f"[bold]Ledger:[/] {summary.published:,} records published = {summary.with_verdict:,} with a verdict"
        f" + {summary.dead_lettered:,} dead-lettered"
        + (f" [red]({'; '.join(problems)})[/]" if problems else " — nothing lost, nothing twice")
        + f"; redelivered verdict records {summary.duplicate_verdicts} (the bot acts once per message id)."
        + f"\n[bold]Champions:[/] {' → '.join('v' + v for v in summary.champion_versions)}"
        + f" of {summary.model_name}.  [bold]Bot:[/] "
        + ", ".join(f"{k} {v:,}" for k, v in summary.bot.items())
    )
    urls = Table(title="Look closer", show_header=False)
    urls.add_column()
    urls.add_column()
    for name, url in summary.urls.items():
        urls.add_row(name, url)
    return Group(phases, checks, ledger, Text(""), urls)


def run_story(settings: DemoSettings, console: Console, story: Story) -> Summary:
    """The steps in order; the caller owns the live view and the cleanup."""
    story.run_dir.mkdir(parents=True, exist_ok=True)
    rsci, tweets, tweets_after = settings.sizes
    story.start_services()
    story.train()
    story.start_consumer_and_bot()
    story.publish("rscience", "r/science", f"rscience:{rsci}", seed=1)
    story.drift_check("check1")
    story.publish("tweets", "tweets", f"tweets:{tweets}", seed=2)
    check = story.drift_check("check2")
    training = check.get("training")
    if not (training and training["promoted"]):
        raise DemoError("the drift check did not promote a new champion; see the check's log")
    story.hot_reload(training["version"], tweets_after, seed=3)
    summary = story.summarise()
    (story.run_dir / "summary.json").write_text(summary.model_dump_json(indent=2))
    return summary


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def stop_on_signal() -> None:
    """SIGTERM and SIGHUP (a closed terminal) end the demo like Ctrl-C does: the cleanup runs."""

    def _raise(*_: object) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        for sig in STOP_SIGNALS:
            signal.signal(sig, _raise)


@contextlib.contextmanager
def ignoring_signals() -> Iterator[None]:
    """Hold off Ctrl-C and the stop signals while cleaning up."""
    sigs = (signal.SIGINT, *STOP_SIGNALS)
    try:
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    except ValueError:  # not the main thread: nothing to hold off
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
