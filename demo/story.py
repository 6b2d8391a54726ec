"""The demo's story, step by step: services up, a champion trained on r/science, r/science traffic,
a drift check that stays quiet, the community switching to tweets, a drift check that flags it and
retrains on the moderators' labels, the retrained model shadow-scored beside the champion, promoted on
the moderators' live labels to a canary on half the channels, completed on the canary's evidence, and
tweets served better. Every step runs the project's own deployables (CLIs as subprocesses, the consumer
through the local event-source-mapping runner); the live view reads the consumer's EMF metrics from its
log."""

import json
import secrets
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from contracts.categories import Category
from contracts.policy import POLICY_SCHEMA_VERSION, CategoryPolicy, ChannelPolicy, PolicyBook, SamplingPolicy
from contracts.storage import GroundTruth, appeal_outcomes_prefix
from contracts.strikes import Escalation
from contracts.verdict import Verdict
from demo.review import CHANNELS, MODERATORS, moderator_accounts, review_results
from demo.services import Service, ui_services
from demo.settings import DemoSettings, child_env
from demo.strikes import StrikesResult, strikes_result
from demo.summary import (
    Summary,
    build_summary,
    phase_result,
    read_bot_counts,
    read_outcomes,
    read_truth,
    retrained,
)
from demo.supervisor import DemoError, Supervisor
from demo.traffic import Traffic, unseen_texts
from demo.view import LiveView
from infra.bootstrap import bootstrap
from infra.settings import InfraSettings
from monitoring.archive import read_feedback
from producer_sim.communities import Community
from producer_sim.escalations import APPLIED_FILE, read_applied
from producer_sim.settings import ProducerSettings
from producer_sim.shapes import shape_results, users_fired
from producer_sim.traffic import publish
from review.store import ReviewStore
from runtime import aws
from runtime.checkpoints import CheckpointStore
from runtime.stack import Stack, load_stack
from strikes.core import expected_strikes
from strikes.store import StrikeStore

STEPS = {
    "services": "LocalStack, MLflow, Prefect, Evidently and the review app up; stack bootstrapped",
    "train": "champion trained on r/science, registered, published",
    "rscience": "r/science traffic through the consumer",
    "check1": "drift check on the r/science window",
    "tweets": "the community switches: tweets, with spam posted into it",
    "check2": "drift check → retrain on the moderators' labels → the offline gate → the challenger",
    "shadow": "more tweets, judged by both: the champion acts, the challenger's verdicts are archived",
    "promote": "both models on the same labelled messages (queue and audit sample) → a canary",
    "canary": "the challenger serves half the channels; the champion shadow-scores them",
    "canary_check": "the canary's evidence → completed: the new champion serves every channel",
    "raid": "context across messages: a raid, a flooder and harmless bursts in the tweets",
    "german": "a German channel: the fast model never saw German, the encoder reads it",
    "check3": "drift check (language mix) → retrain on the German labels → promote",
    "german_reload": "the new champion on German it never saw",
    "appeals": "users appeal restrictions; other moderators decide; the bot restores what they overturn",
    "summary": "closing summary",
}

# The second community: tweets, with one message in ten promotion or a scam from the spam sets.
TWEETS_MIX = f"{Community.TWEETS}=0.9+{Community.SPAM}=0.1"

# Ten seconds of tweets with the shapes no single message shows (message-index onsets at 300 msg/s):
# a channel cheering "gg" (harmless), forty new accounts pasting one spam line with small edits (a raid)
# and one user posting five messages a second (a flood).
RAID_MIX = (
    f"{TWEETS_MIX}:3000|burst@300/users=60/spread=3s|raid@600/users=40/spread=5s|flood@900/messages=30/rate=5"
)

# The demo's communities moderate by their own standard too: `removal` acts beside the defaults. A
# published challenger scores every message, and the channels opted into a 20% audit sample: labels of
# allowed messages too, with known inclusion probabilities, for the live comparison. The tweets' phases
# allow few messages, and an allowed message the draw reached weighs 1 / share in the estimate: at 5%
# the paired interval of a gain near +0.2 reached below 0 in one of six runs on record and the story
# stopped; at 20% the queue of the shadow phase is as long (its audited messages are mostly queued
# ones) and the interval narrower.
DEMO_POLICY = PolicyBook(
    schema_version=POLICY_SCHEMA_VERSION,
    default=ChannelPolicy(
        categories={Category.REMOVAL: CategoryPolicy(acts=True)},
        sampling=SamplingPolicy(shadow=1.0, audit=0.2),
    ),
)
# The live gates of the story, on the category the retraining was for (the moderators' removals): a
# few hundred messages give it tens of labels, not the production default's 200. Its canary is one
# step: half the channels (a hash of the channel id: seven of the eight, by chance), then all.
LIVE_GATE = ("--category", str(Category.REMOVAL), "--min-labels", "50")
CANARY_SHARE = "0.5"


class Story:
    """The steps over a stack of the run's own; `shutdown()` stops every process the run started."""

    def __init__(self, settings: DemoSettings, console: Console) -> None:
        self.settings = settings
        self.started = datetime.now(UTC)
        self.tag = self.started.strftime("%Y%m%d%H%M%S")
        self.stack: Stack = load_stack().renamed(self.tag)
        self.model_name = f"{self.stack.model_name}-{self.tag}"
        self.run_dir = settings.state_dir / "demo" / self.tag
        # The review app takes appeals with it; the simulated users file theirs with it (the platform's)
        self.appeal_token = secrets.token_urlsafe(24)
        self.context_key = secrets.token_urlsafe(32)  # the consumer's raid signal draws its hashes from it
        infra = InfraSettings()
        services = ui_services(settings, infra.endpoint_url, self.stack, self.appeal_token)
        self.processes = Supervisor(self.run_dir, services, infra, settings.step_timeout_s)
        self.traffic = Traffic()
        consumer_log = self.run_dir / "consumer.log"
        self.view = LiveView(console, STEPS, self.traffic, consumer_log, self.bot_seen_path, self.tag)
        self.checks: list[dict[str, Any]] = []
        self.promotion: list[dict[str, Any]] = []  # the live promotion check, then the canary's checks
        self.champions: list[str] = []
        self._settling: dict[str, float] = {}  # when each stage of the review path last caught up
        self.transparency: dict[str, Any] = {}

    @property
    def endpoint_url(self) -> str:
        return self.processes.endpoint_url

    @property
    def bot_seen_path(self) -> Path:
        """The bot's record of the message ids it acted on (one per line)."""
        return self.run_dir / "bot" / f"{self.stack.output_stream.name}.seen"

    def _service(self, name: str) -> Service:
        return next(s for s in self.processes.services if s.name == name)

    @property
    def urls(self) -> dict[str, str]:
        mlflow, prefect = self._service("mlflow"), self._service("prefect")
        credentials = self.settings.state_dir / "review" / "credentials.json"
        return {
            "MLflow (runs, registry, champion alias)": f"{mlflow.url}/#/models/{self.model_name}",
            "Prefect (flow runs: train_flow, drift_check_flow)": prefect.ui_url,
            "Evidently (drift reports per window)": self._service("evidently").ui_url,
            f"Review queue (sign in as admin or moderator-1…5: passwords in {credentials})": self._service(
                "review"
            ).ui_url,
            "LocalStack (AWS endpoint)": self.endpoint_url,
        }

    def _env(self) -> dict[str, str]:
        mlflow, prefect = self._service("mlflow"), self._service("prefect")
        return child_env(
            self.settings,
            self.stack,
            self.run_dir,
            self.model_name,
            self.endpoint_url,
            mlflow.url,
            prefect.url,
            self.appeal_token,
            self.context_key,
        )

    def _cli(self, name: str, *args: str, env: dict[str, str] | None = None) -> str:
        return self.processes.run(name, args, self._env() | (env or {}))

    def start_services(self) -> None:
        """LocalStack and the UI servers up (reusing those that answer), the run's stack bootstrapped."""
        self.view.begin("services")
        reused = self.processes.start_servers()
        bootstrap(self.stack, self.endpoint_url)
        moderator_accounts(self.settings.state_dir / "review", MODERATORS, CHANNELS)
        bucket = self.stack.models_bucket
        aws.client("s3", self.endpoint_url).put_object(
            Bucket=bucket.name, Key=bucket.policy_key, Body=DEMO_POLICY.model_dump_json(exclude_unset=True)
        )
        self.view.end("services", f"reused: {', '.join(reused)}" if reused else "all started here")

    def train(self) -> None:
        """The first champion, trained on r/science and promoted."""
        self.view.begin("train")
        out = self._cli("train", "-m", "training", "train", "--json")
        result = _last_json_line(out, self.run_dir / "train.log")
        if not result["promoted"]:
            raise DemoError(f"the first model was not promoted: {result['reasons']}")
        self.champions.append(result["version"])
        aucs = ", ".join(f"{k} {v:.3f}" for k, v in result["test_roc_auc"].items())
        self.view.end("train", f"version {result['version']}, test ROC-AUC {aucs}")

    def start_consumer_and_bot(self) -> None:
        """The consumer (local event-source-mapping runner) and the moderation bot, in the background."""
        self.processes.start("consumer", ("-m", "local_esm", "run"), self._env())
        self.processes.start("bot", ("-m", "producer_sim", "bot"), self._env())
        # strikes from the verdicts and the moderators' decisions; their escalations the bot applies
        self.processes.start("strikes", ("-m", "strikes"), self._env())
        # the review path: the archive followed into the queue, the moderators deciding it in the app
        self.processes.start("review-worker", ("-m", "review", "follow"), self._env())
        self.processes.start("moderators", ("-m", "producer_sim", "moderate"), self._env())
        # the users whose messages were restricted, reading their statements and appealing some
        self.processes.start("appellants", ("-m", "producer_sim", "appeal"), self._env())

    def publish(self, key: str, phase: str, mix: str, seed: int, half: int = 0, review: bool = True) -> None:
        """One phase of chat traffic, until the consumer and the bot have caught up with it — and the
        review path too (every reviewed message decided, its feedback written), unless `review` is off:
        a phase the next one follows without a drift check in between leaves its reviews to be settled
        with the next phase's."""
        self.view.begin(key)
        at_start = self.view.counts()
        self.traffic.begin(phase)
        settings = ProducerSettings.for_stack(
            self.stack,
            aws_endpoint_url=self.endpoint_url,
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
            select=lambda community, pool: unseen_texts(community, pool, half),
        )
        if report.undelivered:
            raise DemoError(f"{len(report.undelivered)} messages could not be published")
        wait_until = self.processes.wait_until
        wait_until(self._consumer_settled, "the consumer to check-point every published record")
        settled_at = time.time()
        wait_until(self._bot_settled, "the bot to act on every verdict")
        if review:
            self._settling = {"consumer": settled_at}
            wait_until(
                self._review_settled, "the moderators to decide the queue and their feedback to be written"
            )
        self.view.end(key, f"{report.sent} messages; {self.view.mix_line(since=at_start)}")

    def _consumer_settled(self) -> bool:
        """Every shard's checkpoint has passed the last record published to it."""
        self.view.refresh()
        store = CheckpointStore(self.run_dir / "checkpoints" / f"{self.stack.input_stream.name}.json")
        return all(int(store.sequence(shard) or 0) >= tip for shard, tip in self.traffic.tips.items())

    def _bot_settled(self) -> bool:
        """The bot has seen a verdict for every valid message published (it acts once per id)."""
        try:
            seen = set(self.bot_seen_path.read_text().split())
        except FileNotFoundError:
            seen = set()
        return all(i in seen for ids in self.traffic.ids.values() for i in ids)

    def _review_settled(self) -> bool:
        """The review path has caught up, stage by stage, each stage judged on a pass that started
        after the one before caught up: the archive read to its end (a follower pass reading nothing
        new), then a moderators' pass with nothing left to decide, then every decision's feedback
        written (a pass with none pending, undo windows over)."""
        worker = _progress(self.run_dir / "review" / "progress.json")
        moderators = _progress(self.run_dir / "bot" / "moderators.json")
        if worker is None or moderators is None:
            return False
        marks = self._settling
        if "archive" not in marks:
            if worker["started_at"] > marks["consumer"] and worker["objects"] == 0:
                marks["archive"] = worker["pass_at"]
            return False
        if "moderators" not in marks:
            if moderators["started_at"] > marks["archive"] and moderators["decided"] == 0:
                marks["moderators"] = moderators["pass_at"]
            return False
        return bool(worker["started_at"] > marks["moderators"] and worker["pending"] == 0)

    def settle_appeals(self) -> None:
        """The appeals of the run's restrictions, to their end: the users have read every statement and
        filed the appeals due, the moderators (never the one who restricted) decided them, their
        outcomes are written, and the bot has applied every outcome (restoring what was overturned);
        then the transparency report of the run's period."""
        self.view.begin("appeals")
        asked = time.time()
        self.processes.wait_until(lambda: self._appeals_filed(asked), "the users to file the appeals due")
        self._settling = {"consumer": time.time()}
        self.processes.wait_until(self._review_settled, "the moderators to decide every appeal")
        s3 = aws.client("s3", self.endpoint_url)
        self.processes.wait_until(
            lambda: self._outcomes_applied(s3), "the bot to apply every appeal's outcome"
        )
        self.transparency = self._transparency_report()
        t = self.transparency
        self.view.end(
            "appeals",
            f"{t['appeals_received']} appealed, {t['appeals_overturned']} overturned, "
            f"{t['appeals_confirmed']} confirmed",
        )

    def _appeals_filed(self, after: float) -> bool:
        """The users' pass that started after `after` filed nothing and left nothing to file again."""
        self.view.refresh()
        doc = _progress(self.run_dir / "bot" / "appellants.json")
        return doc is not None and doc["started_at"] > after and doc["filed"] == doc["pending"] == 0

    def _outcomes_applied(self, s3: Any) -> bool:
        """The bot has read every appeal outcome written under the statements prefix."""
        bucket = self.stack.archive_bucket
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket.name, Prefix=appeal_outcomes_prefix(bucket.statements_prefix)
        )
        written = {o["Key"] for page in pages for o in page.get("Contents", [])}
        try:
            read = set((self.run_dir / "bot" / "outcomes-read.txt").read_text().split())
        except FileNotFoundError:
            read = set()
        return written <= read

    def _transparency_report(self) -> dict[str, Any]:
        """The run's transparency report, as `python -m monitoring transparency` writes it."""
        start = self.started.date()
        end = datetime.now(UTC).date() + timedelta(days=1)
        out = self.run_dir / "reports"
        self._cli(
            "transparency",
            "-m",
            "monitoring",
            "transparency",
            "--from",
            str(start),
            "--to",
            str(end),
            "--out",
            str(out),
        )
        report: dict[str, Any] = json.loads((out / f"transparency-{start}-{end}.json").read_text())
        return report

    def drift_check(self, key: str, promotion_path: str = "offline") -> dict[str, Any]:
        """A drift check over the latest window (retraining when it drifted, a version the offline gate
        passes then champion or, `promotion_path` live, the challenger); its result."""
        self.view.begin(key)
        path = {"TRAINING_PROMOTION_PATH": promotion_path}
        out = self._cli(key, "-m", "monitoring", "check", "--json", env=path)
        check = _last_json_line(out, self.run_dir / f"{key}.log")
        training = check["training"]
        self.checks.append(check)
        verdict = "drift" if check["drifted"] else "no drift"
        detail = f"{verdict} (unseen-word share {check['unseen_word_share']:.3f})"
        if training:
            detail += f"; retrained: version {training['version']} {retrained(training)}"
            if training["promoted"]:
                self.champions.append(training["version"])
        labels = check.get("labels") or {}
        if labels.get("held_out"):
            detail += f"; label guard held out {len(labels['held_out'])} of {labels['decisions']} labels"
        self.view.end(key, detail)
        return check

    def live_promotion(self, key: str) -> None:
        """The challenger's shadow period judged on the moderators' labels: both models on the same
        messages, and its canary started on a win (the story cannot go on without one)."""
        self.view.begin(key)
        out = self._cli(
            key, "-m", "monitoring", "promote", "--json", *LIVE_GATE, "--canary-share", CANARY_SHARE
        )
        result = _last_json_line(out, self.run_dir / f"{key}.log")
        self.promotion.append({"check": "live promotion", **result})
        if not result["promoted"]:
            raise DemoError(f"the live evidence kept the challenger out: {'; '.join(result['reasons'])}")
        self.view.end(
            key,
            f"version {result['challenger']}: canary on {result['canary_share']:.0%} of channels; "
            + result["reasons"][0],
        )

    def canary_check(self, key: str) -> None:
        """The canary's step judged on its channels' labels and appeals: completed (the story cannot go
        on with the canary held or rolled back)."""
        self.view.begin(key)
        out = self._cli(key, "-m", "monitoring", "canary", "--json", *LIVE_GATE, "--steps", CANARY_SHARE)
        result = _last_json_line(out, self.run_dir / f"{key}.log")
        self.promotion.append({"check": "canary", **result})
        if result["action"] != "complete":
            raise DemoError(
                f"the canary was not completed ({result['action']}): {'; '.join(result['reasons'])}"
            )
        self.champions.append(result["canary"])
        self.view.end(key, f"version {result['canary']} is champion; " + result["reasons"][0])

    def hot_reload(
        self, key: str, phase: str, mix: str, version: str, seed: int, review: bool = True
    ) -> None:
        """More traffic of the community the champion was retrained for (its other half, which no
        model trained on), served by whichever champion the consumer has loaded by now."""
        self.publish(key, phase, mix, seed, half=1, review=review)
        serving = self.view.figures.champion_version
        note = f"; serving version {serving}" + (
            "" if str(serving) == version else f" [red](promoted: {version})"
        )
        self.view.steps[key].detail += note

    def summarise(self) -> Summary:
        """Stop the bot and the consumer, read back what came out, and reconcile it with what went in."""
        self.view.begin("summary")
        self.processes.stop("appellants")
        self.processes.stop("moderators")
        self.processes.stop("review-worker")
        self._settle_strikes()
        self.processes.stop("strikes")
        self.processes.stop("bot")
        bot = read_bot_counts(self.run_dir / "bot.log")
        review = review_results(self._review_store(), self.traffic.ids)
        self.processes.stop("consumer")
        outcomes = read_outcomes(self.endpoint_url, self.stack)
        truth = read_truth(self.run_dir / "ground_truth.jsonl")
        phases = [phase_result(name, sent, outcomes, truth) for name, sent in self.traffic.delivered.items()]
        shapes = shape_results(
            outcomes.verdicts,
            truth,
            sent=lambda v: v.sent_at.timestamp(),
            flagged=lambda v: v.processed_at.timestamp(),
        )
        self.view.end("summary")
        return build_summary(
            tag=self.tag,
            model_name=self.model_name,
            wall_time_s=round(time.monotonic() - self.view.t0, 1),
            steps=self.view.timings(),
            phases=phases,
            outcomes=outcomes,
            published=[d for sent in self.traffic.delivered.values() for d in sent],
            drift_checks=self.checks,
            promotion=self.promotion,
            champion_versions=self.champions,
            bot=bot,
            urls=self.urls,
            shapes=shapes,
            users_fired=users_fired(outcomes.verdicts, truth),
            review=review,
            transparency=self.transparency,
            strikes=self._strikes(outcomes.verdicts, bot, truth),
        )

    def _settle_strikes(self) -> None:
        """Until the strikes writer has read every verdict and decision (a pass that started after the
        decisions stopped coming read both inputs to their end and found nothing new), and the bot has
        applied every escalation it sent."""
        mark = time.time()

        def read_all() -> bool:
            doc = _progress(self.run_dir / "strikes" / "progress.json")
            return doc is not None and doc["started_at"] > mark and doc["read"] == 0 and bool(doc["complete"])

        self.processes.wait_until(read_all, "the strikes writer to read every verdict and decision")
        sqs = aws.client("sqs", self.endpoint_url)
        url = sqs.get_queue_url(QueueName=self.stack.escalations_queue.name)["QueueUrl"]

        def applied() -> bool:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            waiting = attributes.get("ApproximateNumberOfMessages", "0")
            in_flight = attributes.get("ApproximateNumberOfMessagesNotVisible", "0")
            return int(waiting) == 0 and int(in_flight) == 0

        self.processes.wait_until(applied, "the bot to apply every escalation")

    def _strikes(
        self, verdicts: list[Verdict], bot: dict[str, int], truth: dict[str, GroundTruth]
    ) -> StrikesResult:
        """The strikes table against the ledger (the verdicts and decisions), and the ladder, with how
        many of each user's messages were harmful by the ground truth."""
        dynamodb = aws.client("dynamodb", f"http://127.0.0.1:{self.settings.dynamodb_port}")
        store = StrikeStore(dynamodb, self.stack.strikes_table.name)
        held = {(s.channel_id, s.user_id, s.key) for s in store.every_strike()}
        bucket = self.stack.archive_bucket
        decisions = read_feedback(aws.client("s3", self.endpoint_url), bucket.name, bucket.feedback_prefix)
        window_s = self.stack.event_source_mapping.tumbling_window_seconds
        expected = expected_strikes(verdicts, decisions.decisions, DEMO_POLICY, window_s)
        applied = [Escalation.model_validate(a) for a in read_applied(self.run_dir / "bot" / APPLIED_FILE)]
        posters = {(v.channel_id, v.user_id) for v in verdicts}
        authors = {str(v.message_id): (v.channel_id, v.user_id) for v in verdicts}
        harmful = Counter(
            author for mid, author in authors.items() if mid in truth and truth[mid].label == "remove"
        )
        repeats = bot.get("escalations_repeated", 0)
        return strikes_result(held, expected, applied, posters, repeats, harmful)

    def _review_store(self) -> ReviewStore:
        dynamodb = aws.client("dynamodb", f"http://127.0.0.1:{self.settings.dynamodb_port}")
        return ReviewStore(dynamodb, self.settings.review_table)

    def shutdown(self, keep_services: bool) -> list[str]:
        """Stop the consumer, the bot and any running CLI; the servers too unless they are kept."""
        return self.processes.shutdown(keep_services)


def _progress(path: Path) -> dict[str, float] | None:
    """A background process's last pass (None before its first)."""
    try:
        doc: dict[str, float] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return doc


def _last_json_line(out: str, log: Path) -> dict[str, Any]:
    """The result a CLI run with `--json` printed last."""
    try:
        doc: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise DemoError(f"no result was printed; see {log}") from None
    return doc


def run_story(settings: DemoSettings, story: Story) -> Summary:
    """The steps in order; the caller owns the live view and the cleanup."""
    story.run_dir.mkdir(parents=True, exist_ok=True)
    rsci, tweets, tweets_after = settings.sizes
    german, german_after = settings.german_sizes
    story.start_services()
    story.train()
    story.start_consumer_and_bot()
    story.publish("rscience", "r/science", f"{Community.RSCIENCE}:{rsci}", seed=1)
    story.drift_check("check1")
    story.publish("tweets", "tweets", f"{TWEETS_MIX}:{tweets}", seed=2)
    version = _retrained_as(story.drift_check("check2", promotion_path="live"), "the challenger")
    # (each phase's first batch finds the consumer idle past its reload interval: it checks the champion,
    # challenger and canary manifests before judging anything, so no message of a phase misses a change)
    story.publish("shadow", "tweets, v2 in shadow", f"{TWEETS_MIX}:{tweets_after}", seed=3, half=1)
    story.live_promotion("promote")
    story.publish("canary", "tweets, v2 on a canary", f"{TWEETS_MIX}:{tweets_after}", seed=7, half=1)
    story.canary_check("canary_check")
    # the raid's reviews are settled with the German phase's, before its drift check (the raid itself
    # starts on a settled system: how soon it is flagged is measured); the completed canary serves it
    story.hot_reload("raid", "raid, flood and bursts", RAID_MIX, version, seed=6, review=False)
    story.publish("german", "German", f"{Community.GERMAN}:{german}", seed=4)
    version = _retrained_as(story.drift_check("check3"), "promoted")
    story.hot_reload(
        "german_reload", "German after promotion", f"{Community.GERMAN}:{german_after}", version, 5
    )
    story.settle_appeals()
    summary = story.summarise()
    (story.run_dir / "summary.json").write_text(summary.model_dump_json(indent=2))
    return summary


def _retrained_as(check: dict[str, Any], outcome: str) -> str:
    """The version a drift check's retraining made `outcome` (`retrained`: promoted, the challenger);
    the story cannot go on without one."""
    training = check.get("training")
    if not training or retrained(training) != outcome:
        raise DemoError(f"the drift check's retraining was not {outcome}; see the check's log")
    return str(training["version"])
