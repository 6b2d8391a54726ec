"""The demo's children: their environment rebuilds each deployable's settings for the run's stack, and
the waits on children and servers say which one stopped."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.services import Service, ServiceError
from demo.settings import DemoSettings, child_env
from demo.supervisor import WAITS_FILE, DemoError, Supervisor
from infra.localstack import free_port
from infra.settings import InfraSettings
from monitoring.settings import MonitoringSettings
from producer_sim.settings import ProducerSettings
from review.settings import ReviewSettings
from runtime.paths import PROJECT_ROOT
from runtime.stack import load_stack
from stream_consumer.settings import ConsumerSettings
from training.settings import TrainingSettings

MLFLOW, PREFECT = "http://127.0.0.1:5001", "http://127.0.0.1:4201"


def test_children_rebuild_every_deployables_settings_for_the_runs_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a quick run's own stack and directories, in a shell that silences the EMF metrics
    stack = load_stack().renamed("run1")
    settings = DemoSettings(state_dir=tmp_path, quick=True)
    run = tmp_path / "demo" / "run1"
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    # WHEN the children's environment is built, and a child reads its settings from it
    env = child_env(
        settings,
        stack,
        run,
        "chat-moderation-run1",
        "http://127.0.0.1:4599",
        MLFLOW,
        PREFECT,
        "token-of-run1",
        "raid-key-of-run1",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    consumer, producer = ConsumerSettings(), ProducerSettings()
    training, monitoring = TrainingSettings(), MonitoringSettings()
    # THEN every deployable names the run's resources, paths and sizes
    assert (consumer.input_stream, consumer.on_failure_queue) == (
        stack.input_stream.name,
        stack.on_failure_queue.name,
    )
    assert (consumer.checkpoint_dir, consumer.reload_interval_s) == (run / "checkpoints", 2.0)
    assert consumer.context_key.get_secret_value() == "raid-key-of-run1"  # the raid signal's, the run's own
    assert (producer.input_stream, producer.output_stream) == (
        stack.input_stream.name,
        stack.output_stream.name,
    )
    assert (producer.ground_truth_path, producer.bot_state_dir) == (run / "ground_truth.jsonl", run / "bot")
    # AND the simulated users file appeals with the token the review app takes them with
    review = ReviewSettings()
    assert producer.appeal_token is not None
    assert (
        producer.appeal_token.get_secret_value() == review.appeal_token.get_secret_value() == "token-of-run1"
    )
    assert (training.model_name, training.models_bucket) == ("chat-moderation-run1", stack.models_bucket.name)
    assert (training.state_dir, training.tracking_uri) == (tmp_path, MLFLOW)
    # AND the training holds the gates at what the story's operator accepts (the defaults: 0 and 45%)
    assert (training.bias_max_decline, training.padding_floor_kept) == (0.03, 0.25)
    assert training.evasion_messages == 400  # a quick run's evasion suite (the default: 1,000)
    assert DemoSettings(state_dir=tmp_path).training_overrides == {}
    assert (monitoring.archive_bucket, monitoring.dead_letter_queue) == (
        stack.archive_bucket.name,
        stack.dead_letter_queue.name,
    )
    assert (monitoring.workspace_dir, monitoring.window_last_n) == (tmp_path / "evidently", 500)
    # AND the servers are named, output is unbuffered, and the EMF metrics are on for the live view
    assert (env["AWS_ENDPOINT_URL"], env["PREFECT_API_URL"]) == ("http://127.0.0.1:4599", f"{PREFECT}/api")
    assert (env["MLFLOW_TRACKING_URI"], env["PYTHONUNBUFFERED"]) == (MLFLOW, "1")
    assert "POWERTOOLS_METRICS_DISABLED" not in env


def test_a_wait_names_the_background_child_that_stopped(tmp_path: Path) -> None:
    # GIVEN a consumer that exits at once
    processes = Supervisor(tmp_path, [], InfraSettings(), step_timeout_s=60)
    processes.start("consumer", ("-c", "raise SystemExit(3)"), dict(os.environ))
    # WHEN the story waits for something only the consumer could bring
    # THEN the wait fails at once, naming the consumer, its exit code and its log
    with pytest.raises(DemoError, match=r"^the consumer stopped \(3\); see .*/consumer\.log$"):
        processes.wait_until(lambda: False, "the consumer to check-point")


def test_a_wait_that_runs_out_of_time_says_what_it_waited_for(tmp_path: Path) -> None:
    # GIVEN a step timeout of a fraction of a second, and no child
    processes = Supervisor(tmp_path, [], InfraSettings(), step_timeout_s=0.2)
    # WHEN a wait never comes true
    # THEN it fails saying what it waited for
    with pytest.raises(DemoError, match=r"^timed out waiting for the bot to act$"):
        processes.wait_until(lambda: False, "the bot to act")


def test_every_wait_is_recorded_with_how_long_it_took_even_the_one_that_failed(tmp_path: Path) -> None:
    # GIVEN a wait that is met on its second look, and one that runs out of time
    processes = Supervisor(tmp_path, [], InfraSettings(), step_timeout_s=0.2)
    looks = iter([False, True])
    processes.wait_until(lambda: next(looks), "the bot to act")
    with pytest.raises(DemoError):
        processes.wait_until(lambda: False, "the moderators to decide")
    # THEN the run's folder says what each waited for and how long, in order
    lines = [json.loads(line) for line in (tmp_path / WAITS_FILE).read_text().splitlines()]
    assert [w["waited_for"] for w in lines] == ["the bot to act", "the moderators to decide"]
    assert 0.4 <= lines[0]["s"] < 5  # one poll interval (0.5 s) between the two looks
    assert 0.2 <= lines[1]["s"] < 5


def _service(tmp_path: Path) -> Service:
    return Service("mlflow", [], free_port(), "/health", "OK", tmp_path)


def test_a_server_that_exits_before_answering_fails_its_wait(tmp_path: Path) -> None:
    # GIVEN a server process that exits without ever listening
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    proc.wait()
    # WHEN the demo waits for it to answer
    # THEN the wait fails naming the exit code and the server's log
    with pytest.raises(ServiceError, match=r"^mlflow exited with 4; see .*/mlflow\.log$"):
        _service(tmp_path).wait(proc, timeout=60)


def test_a_server_that_never_answers_fails_its_wait_in_time(tmp_path: Path) -> None:
    # GIVEN a server that nothing answers for
    service = _service(tmp_path)
    # WHEN the demo waits for it briefly
    # THEN the wait fails saying where it was expected and how long it waited
    with pytest.raises(ServiceError, match=rf"^mlflow did not answer at {service.url} within 0 s$"):
        service.wait(None, timeout=0.1)


def test_a_server_of_an_earlier_run_is_replaced_and_a_shared_one_reused(tmp_path: Path) -> None:
    # GIVEN two servers this state directory started: one serving a run's stack, one shared by runs
    def server(name: str, per_run: bool) -> Service:
        port = free_port()
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(tmp_path)]
        return Service(name, argv, port, "/", "Directory listing", tmp_path, per_run=per_run)

    review, mlflow = server("review", per_run=True), server("mlflow", per_run=False)
    procs = [review.start(), mlflow.start()]
    try:
        for svc, proc in zip((review, mlflow), procs, strict=True):
            svc.wait(proc, timeout=30)
        # WHEN the next run asks whether each can be reused
        # THEN the run's server is stopped, to be started again for the new run; the shared one stays
        assert not review.reusable()
        assert procs[0].wait(15) is not None
        assert not review.answers()
        assert mlflow.reusable()
        assert procs[1].poll() is None
    finally:
        mlflow.stop()


@pytest.fixture
def ctrl_c_interrupts() -> Iterator[None]:
    """Ctrl-C raising KeyboardInterrupt, as in the demo's own process (a test worker's handler may have
    been changed by whatever ran in it before), restored afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_interrupts")
def test_a_ctrl_c_while_a_child_starts_lands_once_it_is_registered(tmp_path: Path) -> None:
    # GIVEN a Ctrl-C pressed while the supervisor is between creating a child's log and starting it
    processes = Supervisor(tmp_path, [], InfraSettings(), step_timeout_s=60)
    original = processes._spawn

    def spawn_with_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        signal.raise_signal(signal.SIGINT)  # pressed just as the child is being started
        return original(*args, **kwargs)

    processes._spawn = spawn_with_ctrl_c  # type: ignore[method-assign]
    # WHEN the background child starts
    with pytest.raises(KeyboardInterrupt):
        processes.start("consumer", ("-c", "import time; time.sleep(60)"), dict(os.environ))
    # THEN the interrupt came only once the child was registered, so the cleanup stops it
    assert "consumer" in processes.children
    child = processes.children["consumer"]
    processes.stop("consumer", timeout=5)
    assert child.poll() is not None


def test_ctrl_c_interrupts_the_demo_even_when_started_with_sigint_ignored() -> None:
    # GIVEN a process started as a background job of a non-interactive shell is (SIGINT ignored)
    script = (
        "import sys, time\n"
        "from demo.supervisor import stop_on_signal\n"
        "stop_on_signal()\n"
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(30)\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509 - the point
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    # WHEN Ctrl-C reaches it THEN it is interrupted (its cleanup runs), not ignored
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 130
