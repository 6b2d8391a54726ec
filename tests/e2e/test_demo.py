"""`make demo QUICK=1` as a user runs it: the whole story to its summary, and Ctrl-C midway stopping
everything the run started."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from uuid import UUID

import pytest

from contracts.statement import AppealResult, Restriction
from contracts.verdict import Action
from infra.localstack import free_port, read_pid
from monitoring.archive import read_archive, read_statements
from monitoring.archive import read_outcomes as read_statement_outcomes
from monitoring.audit import message_story
from producer_sim.shapes import FIRST_UNCAUGHT
from runtime import aws
from runtime.audit import read_trail, verify_trail
from runtime.paths import PROJECT_ROOT
from runtime.stack import load_stack
from tests.emulator import child_env

pytestmark = pytest.mark.e2e

UI_PORTS = (
    "DEMO_MLFLOW_PORT",
    "DEMO_PREFECT_PORT",
    "DEMO_EVIDENTLY_PORT",
    "DEMO_DYNAMODB_PORT",
    "DEMO_REVIEW_PORT",
)


def _demo_env(endpoint_url: str, state_dir: Path, data_dir: Path) -> dict[str, str]:
    return child_env(
        ("DEMO_", "TRAINING_"),
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "DATA_DIR": str(data_dir),
            "DEMO_STATE_DIR": str(state_dir),
            "DEMO_MLFLOW_PORT": str(free_port()),
            "DEMO_PREFECT_PORT": str(free_port()),
            "DEMO_EVIDENTLY_PORT": str(free_port()),
            "DEMO_REVIEW_PORT": str(free_port()),
            "DEMO_DYNAMODB_PORT": str(free_port()),
        },
    )


def _answers(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _group_alive(pgid: int, grace: float = 5.0) -> bool:
    deadline = time.monotonic() + grace  # SIGKILL is delivered asynchronously
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.slow(1_500)
# Three trainings of every category with the cascade, and the traffic, beside the rest of the suite on
# the other worker of a 2-core machine: the limits leave room for a slow machine, not for a hang.
@pytest.mark.timeout(3_300)
def test_quick_demo_tells_the_whole_story(endpoint_url: str, data_dir: Path, tmp_path: Path) -> None:
    env = _demo_env(endpoint_url, tmp_path, data_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "demo", "--quick", "--stop"],
        check=False,
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=3_200,
    )
    print(proc.stdout[-6000:])  # the closing tables, shown with `pytest -s`
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (summary_path,) = tmp_path.glob("demo/*/summary.json")
    summary = json.loads(summary_path.read_text())
    # every record published has exactly one outcome: a verdict or a dead letter
    assert summary["unaccounted"] == 0
    assert summary["with_both"] == 0
    assert summary["retries_exhausted"] == 0
    assert summary["published"] == summary["with_verdict"] + summary["dead_lettered"]
    assert summary["dead_lettered"] > 0  # the 1% malformed records
    # quiet on r/science, drift on tweets, a retrained model past the offline gate published as the
    # challenger; then the German channel: the language mix drifts and a champion that learnt German is
    # promoted
    first, second, third = summary["drift_checks"]
    assert not first["drifted"]
    assert second["drifted"]
    assert second["training"]["challenger"]
    assert not second["training"]["promoted"]
    assert any("language mix" in r for r in third["reasons"]), third["reasons"]
    assert third["training"]["promoted"]
    assert summary["champion_versions"] == ["1", "2", "3"]
    phases = {p["name"]: p for p in summary["phases"]}
    # the challenger was only shadow-scored at first: the champion served every message of its period;
    # the moderators' labels showed the live win on the same messages (an interval excluding no gain),
    # and its canary served some channels while the champion served the others
    assert set(phases["tweets, v2 in shadow"]["versions"]) == {"1"}
    live, canary = summary["promotion"]
    assert (live["challenger"], live["champion_before"], live["promoted"]) == ("2", "1", True)
    (gain,) = live["compared"]
    assert (gain["category"], gain["champion"]["n"] >= 50) == ("removal", True), gain
    assert gain["interval"][0] > 0, gain
    assert gain["shadow_scored"] >= 0.9 * phases["tweets, v2 in shadow"]["verdicts"], gain
    assert set(phases["tweets, v2 on a canary"]["versions"]) == {"1", "2"}
    # the canary's own step: both models on the canary's labelled messages, then completed
    assert (canary["canary"], canary["champion"], canary["action"]) == ("2", "1", "complete"), canary
    assert canary["compared"][0]["champion"]["n"] >= 50, canary
    assert "How the new model reached users" in proc.stdout
    before, after = phases["tweets"], phases["raid, flood and bursts"]
    assert set(after["versions"]) == {"2"}
    # retrained on its moderators' decisions, the champion serves the new community better
    assert after["served_roc_auc"]["2"] > before["served_roc_auc"]["1"]
    # every category scored every phase; the tweets' truth judges toxicity and hate too (a set the
    # champion never trained on), and each category's review share and precision are in the table
    for phase in phases.values():
        assert set(phase["categories"]) == {"toxicity", "hate", "spam", "removal"}
    assert before["categories"]["toxicity"]["served_roc_auc"]["1"] > 0.7
    assert set(after["categories"]["hate"]["served_roc_auc"]) == {"2"}
    assert (
        after["categories"]["removal"]["served_roc_auc"]["2"]
        > before["categories"]["removal"]["served_roc_auc"]["1"]
    )
    german, german_after = phases["German"], phases["German after promotion"]
    assert set(german_after["versions"]) == {"3"}
    assert german_after["served_roc_auc"]["3"] > german["served_roc_auc"]["2"]
    # before the champion learnt German, the fast model never judged German alone: the cascade's
    # encoder did, or the fast model because the batch's encoder time was spent (on a busy machine)
    de = german["stages"]["de"]
    assert de.get("fast", 0) == 0, german["stages"]
    assert de.get("encoder", 0) > 0, german["stages"]
    assert "Verdicts by category" in proc.stdout
    # the raid phase: the context signals caught the raid and the flooder, not the harmless burst
    shapes = {s["shape"]: s for s in summary["shapes"]}
    # every raider after the fifth of a window is caught; the windows are 30 s of arrival and the raid 5 s
    # of the schedule, so one window boundary may fall inside it, where the count starts again: up to
    # five more pass. On a busy two-core machine (CI: another test training beside the demo) the
    # publisher falls behind its schedule and the raid's records arrive over more than 30 s: a second
    # boundary, five more (27 of 35 in one CI run; 100% on a quiet machine, `benchmarks.context`)
    raiders = shapes["raid"]["messages"]
    floor = (raiders - 3 * FIRST_UNCAUGHT) / (raiders - FIRST_UNCAUGHT)
    # (the summary's shares are rounded to four places: 25 of 35 caught reads 0.7143, under 25/35)
    assert shapes["raid"]["caught_after_first_5"] >= round(floor, 4), shapes
    # the signal needs the raid's first six messages, or up to five more when a window boundary falls
    # among them; counted in messages, since a publisher falling behind on a busy two-core machine
    # stretches the raid's seconds (CI: 5.65 s where 1.3 s was scheduled). The flag's arrival adds the
    # consumer's lag behind the traffic, the machine's and not the signal's: bounded loosely here (CI saw
    # 15.5 and 18.5 s), measured on a quiet machine by `benchmarks.context`
    assert shapes["raid"]["detected_after_messages"] <= 2 * FIRST_UNCAUGHT, shapes
    assert shapes["raid"]["first_flag_s"] <= 60, shapes
    assert shapes["flood"]["caught"] > 0, shapes
    assert shapes["burst"]["caught"] == 0, shapes
    assert (
        summary["users_fired"]["ordinary"]["fired_on_allowed"]
        <= 0.001 * summary["users_fired"]["ordinary"]["users"] + 1
    )
    assert "Context across messages" in proc.stdout
    # the UI servers were started by the run and stopped with --stop
    for var in UI_PORTS:
        assert not _answers(env[var]), var
    assert "nothing lost, nothing twice" in proc.stdout
    # no message text reached the consumer's log: every archived text of 25 characters or more looked for
    bucket = load_stack().renamed(summary["tag"]).archive_bucket
    archived = read_archive(aws.client("s3", endpoint_url), bucket.name, bucket.archive_prefix).messages
    assert len(archived) >= summary["with_verdict"]
    log_text = (summary_path.parent / "consumer.log").read_text()
    assert '"event":"batch"' in log_text
    leaked = [
        m.message.message_id for m in archived if len(m.message.text) >= 25 and m.message.text in log_text
    ]
    assert not leaked, f"{len(leaked)} message texts found in the consumer's log"
    # the moderators decided the queue in the review app: every phase's reviews, none left waiting,
    # each decision minutes at most after its enqueueing (the simulated moderators share the machine with
    # the consumer, the trainings and, in CI, the rest of the suite: the raid's thousand reviews waited
    # 4 minutes at p95 there, about a minute at most on a quiet machine; a stuck queue waits the rest of
    # the run)
    review = {r["name"]: r for r in summary["review"]}
    assert set(review) == set(phases)
    assert sum(r["decided"] for r in review.values()) > 0
    assert sum(r["audited"] for r in review.values()) > 0  # the channels' 20% audit sample reached them
    for r in review.values():
        assert r["decided"] == r["queued"], r  # every reviewed message has ground truth: all decided
        assert r["open_at_end"] == 0, r
        assert r["p95_wait_s"] is None or r["p95_wait_s"] < 600, r
    assert "Review queue" in proc.stdout
    # every reviewed message was left to the queue, or decided there before the bot read its verdict
    bot = summary["bot"]
    assert bot["left_to_queue"] + bot.get("human_decision_kept_on_review", 0) == sum(
        r["queued"] for r in review.values()
    )
    assert 0 < bot["statements"] <= bot["hidden"]  # one statement of reasons for each message the model hid
    # the users appealed some restrictions through the review app; moderators other than the restrictor
    # decided every appeal and the bot restored each message they overturned; the run's transparency
    # report counts it all, and the closing tables print it
    t = summary["transparency"]
    assert t["appeals_received"] > 0, t
    assert t["appeals_decided"] == t["appeals_received"], t
    assert t["appeals_decided_by_restrictor"] == 0, t
    assert bot.get("restored", 0) == t["appeals_overturned"], (bot, t)
    assert t["restrictions"] >= bot["statements"], t  # the model's hides and the moderators' removals
    assert "Appeals and the transparency report" in proc.stdout
    # strikes: the table holds exactly what the verdicts and decisions call for; the repeat offenders
    # climbed the ladder (most of them to a timeout by their third strike); hardly anyone with at most
    # one harmful message went beyond a warning; the bot read every escalation
    strikes = summary["strikes"]
    assert strikes["lost"] == 0, strikes
    assert strikes["extra"] == 0, strikes
    assert strikes["held"] == strikes["expected"] > 0, strikes
    assert strikes["offenders_timed_out"] >= strikes["offenders"] // 2, strikes
    assert strikes["innocent_beyond_warning"] <= max(1, strikes["posters"] // 200), strikes
    assert strikes["rungs"]["timeout"]["offenders"] > 0, strikes
    assert bot.get("escalations_unreadable", 0) == 0, bot
    assert "Repeat offenders" in proc.stdout
    # the audit trail: every chain intact, and the chain of every message the system acted on complete:
    # sent to review, a moderator's decision; hidden, the bot's hide (or a moderator's decision, made
    # before the bot read the verdict); every restriction's statement backed by its hide or removal;
    # every appeal claimed and decided, and restored by the bot exactly when it overturned
    s3 = aws.client("s3", endpoint_url)
    stack = load_stack().renamed(summary["tag"])
    trail = read_trail(s3, stack.audit_bucket.name, stack.audit_bucket.prefix)
    assert verify_trail(trail) == []
    kinds: dict[UUID, set[str]] = defaultdict(set)
    for r in trail.records():
        if r.message_id is not None:
            kinds[r.message_id].add(r.kind.value)
    acted = [m.verdict for m in archived if m.verdict.action is not Action.ALLOW]
    assert acted
    for v in acted:
        k = kinds[v.message_id]
        wanted = "decision" in k if v.action is Action.REVIEW else ("hide" in k or "decision" in k)
        assert wanted, (v.message_id, v.action, k)
    statements = read_statements(s3, bucket.name, bucket.statements_prefix)
    assert len({s.statement_id for s in statements}) == t["restrictions"]
    for s in statements:
        assert ("hide" if s.restriction is Restriction.HIDE else "decision") in kinds[s.message_id]
    outcomes = read_statement_outcomes(s3, bucket.name, bucket.statements_prefix)
    assert len({o.message_id for o in outcomes}) == t["appeals_decided"]
    for o in outcomes:
        assert {"appeal", "claim", "decision"} <= kinds[o.message_id], (o.message_id, kinds[o.message_id])
        assert ("restore" in kinds[o.message_id]) == (o.result is AppealResult.RESTORED), o.message_id
    # and each appealed message's story, as `python -m monitoring audit --message` tells it, in order:
    # arrival, verdict, …, the appeal, the claim and decision on it, then the restore when overturned
    for o in outcomes:
        story = [step.kind for step in message_story(trail, archived, o.message_id)]
        assert story[:2] == ["arrival", "verdict"], story
        after = story[story.index("appeal") :]
        assert after.index("claim") < after.index("decision"), story
        assert story[-1] == ("restore" if o.result is AppealResult.RESTORED else "decision"), story


@pytest.mark.slow(200)
@pytest.mark.timeout(1_500)
def test_ctrl_c_stops_everything_the_run_started(endpoint_url: str, data_dir: Path, tmp_path: Path) -> None:
    # Pressed at the story's busiest: the servers up, the consumer, the bot and the other services
    # running, and a drift check's CLI (a Prefect flow, as the training's is) under way.
    step_log, children = "check1.log", "consumer, bot, strikes, review-worker, moderators, appellants, check1"
    env = _demo_env(endpoint_url, tmp_path, data_dir)
    # The champion learns r/science alone (a minute, not ten) and the first phase is the smallest the
    # story takes (100 messages, not the quick story's 1,500): what is tested is the Ctrl-C.
    env["DEMO_TRAINING_SOURCES"] = '["rscience"]'
    env["TRAINING_CASCADE"] = "false"  # nor does it embed every text for the encoder's heads
    env["DEMO_RSCIENCE_MESSAGES"] = "100"
    log = (tmp_path / "demo.out").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "demo"], env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
    try:
        # Wait until the step is under way, then press Ctrl-C (a drift check comes after a training).
        deadline = time.monotonic() + 900
        while not list(tmp_path.glob(f"demo/*/{step_log}")):
            assert proc.poll() is None, (tmp_path / "demo.out").read_text()
            assert time.monotonic() < deadline, f"the story never reached {step_log}"
            time.sleep(0.5)
        pids = [pid for p in (tmp_path / "services").glob("*.pid") if (pid := read_pid(p)) is not None]
        assert len(pids) == len(UI_PORTS)
    finally:
        proc.send_signal(signal.SIGINT)
    assert proc.wait(120) == 130
    out = (tmp_path / "demo.out").read_text()
    assert "interrupted" in out
    assert f"stopped: {children}, mlflow, prefect, evidently, dynamodb, review" in out
    for var in UI_PORTS:
        assert not _answers(env[var]), var
    assert not [pid for pid in pids if _group_alive(pid)]  # the servers' process groups are gone
    assert not list((tmp_path / "services").glob("*.pid"))
