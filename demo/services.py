"""The local servers behind the UIs (MLflow, Prefect, Evidently, the review app and its DynamoDB):
reuse one that already answers, otherwise start it detached, remember its pid, and stop only what was
started here."""

import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from demo.settings import DemoSettings
from infra.localstack import read_pid, stop_pid, write_pid
from review.settings import ReviewSettings
from runtime.retry import PollTimeoutError, poll_until
from runtime.settings import STACK
from runtime.stack import Stack
from runtime.telemetry import QUIET

BIN = Path(sys.executable).parent


class ServiceError(RuntimeError):
    """A server did not come up."""


@dataclass
class Service:
    """One local server: how to start it, and the endpoint whose answer proves it is that server."""

    name: str
    argv: list[str]
    port: int
    probe_path: str
    marker: str  # text the probe's answer contains when this server (not another program) listens
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    ui_path: str = "/"
    port_setting: str = ""
    # Serves one run's stack: one started by an earlier run is replaced (the others are reused).
    per_run: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return self.url + self.ui_path

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    def answers(self, timeout: float = 1.0) -> bool:
        """True when this server answers on its port."""
        try:
            with urllib.request.urlopen(self.url + self.probe_path, timeout=timeout) as resp:
                return resp.status == 200 and self.marker in resp.read(4096).decode(errors="replace")
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def reusable(self) -> bool:
        """Whether a server answering here already serves this run: any that answers, except a per-run
        one this state directory started for an earlier run, which is stopped (to start again)."""
        return self.answers() and not (self.per_run and self.stop())

    def port_taken(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> subprocess.Popen[bytes]:
        """Start detached (its own session: a terminal's Ctrl-C reaches the caller, which stops it)."""
        if self.port_taken():
            raise ServiceError(
                f"port {self.port} is taken by another program, not {self.name}: "
                f"free it or choose another with {self.port_setting}"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        write_pid(self.pid_path, proc.pid)
        return proc

    def wait(self, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
        """Until the server answers; a `ServiceError` when the process started for it exits first."""

        def up() -> bool:
            if self.answers():
                return True
            if proc is not None and proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {proc.returncode}; see {self.log_path}")
            return False

        try:
            poll_until(up, timeout, what=f"{self.name} answering", interval=0.5)
        except PollTimeoutError:
            raise ServiceError(f"{self.name} did not answer at {self.url} within {timeout:.0f} s") from None

    def stop(self) -> bool:
        """Stop the server started from this state directory, if it still runs; True when stopped."""
        pid = read_pid(self.pid_path)
        if pid is not None:
            stop_pid(pid, timeout=15)
        self.pid_path.unlink(missing_ok=True)
        return pid is not None


def mlflow_service(state_dir: Path, port: int) -> Service:
    """The tracking server and registry over the same sqlite file the CLIs use by default."""
    data = state_dir.parent
    return Service(
        "mlflow",
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{data / 'mlflow.db'}",
            "--default-artifact-root",
            (data / "mlartifacts").as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        port,
        "/health",
        "OK",
        state_dir,
        ui_path="/#/models",
        port_setting="DEMO_MLFLOW_PORT",
        # no job runner: its eight idle processes poll for jobs (GenAI evaluations) the demo never runs
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )


def prefect_service(state_dir: Path, port: int) -> Service:
    """A Prefect server keeping its database under the state directory."""
    return Service(
        "prefect",
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        port,
        "/api/health",
        "true",
        state_dir,
        env={"PREFECT_HOME": str(state_dir.parent / "prefect"), **QUIET},
        ui_path="/runs",
        port_setting="DEMO_PREFECT_PORT",
    )


def evidently_service(state_dir: Path, port: int, workspace: Path) -> Service:
    """Evidently's UI over the workspace the drift checks write their reports to."""
    return Service(
        "evidently",
        [
            str(BIN / "evidently"),
            "ui",
            "--workspace",
            str(workspace),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
        "/api/version",
        "Evidently UI",
        state_dir,
        port_setting="DEMO_EVIDENTLY_PORT",
    )


def dynamodb_service(state_dir: Path, port: int) -> Service:
    """moto's server, serving the review table's DynamoDB (in memory: a restart empties the queue), with
    the project's faster Query (`infra/moto_server.py`)."""
    return Service(
        "dynamodb",
        [sys.executable, "-m", "infra.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        port,
        "/moto-api/data.json",
        "{",
        state_dir,
        port_setting="DEMO_DYNAMODB_PORT",
    )


def review_service(
    settings: DemoSettings, state_dir: Path, aws_endpoint_url: str, stack: Stack, appeal_token: str
) -> Service:
    """The moderators' review app (the web app alone: each run's background loop follows its own
    archive), for the run's stack: it reads the run's policies, appends its claims and appeal receipts
    to the run's audit trail and takes appeals with the run's token — so a run replaces the app an
    earlier one left running. Its accounts are in `review/users.json` under the state directory
    (written by the run); its sessions are signed with a secret kept beside them (they outlive the app)."""
    review_dir = settings.state_dir / "review"
    app = ReviewSettings.for_stack(
        stack,
        dynamodb_endpoint_url=f"http://127.0.0.1:{settings.dynamodb_port}",
        review_table=settings.review_table,
        users_file=review_dir / "users.json",
        state_dir=review_dir,
        session_secret=SecretStr(session_secret(review_dir)),
        appeal_token=SecretStr(appeal_token),
        secure_cookies=False,  # plain HTTP on the loopback; TLS at the load balancer in AWS
        public_url=f"http://127.0.0.1:{settings.review_port}",
        port=settings.review_port,
    )
    return Service(
        "review",
        [sys.executable, "-m", "review", "serve", "--web-only"],
        settings.review_port,
        "/healthz",
        "chat-moderation review",
        state_dir,
        env={"AWS_ENDPOINT_URL": aws_endpoint_url, **app.to_env()},
        ui_path="/queue",
        port_setting="DEMO_REVIEW_PORT",
        per_run=True,
    )


def session_secret(review_dir: Path) -> str:
    """The demo app's session-signing secret: made once, kept readable by its owner only."""
    path = review_dir / "session-secret"
    if not path.exists():
        review_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def ui_services(
    settings: DemoSettings, aws_endpoint_url: str = "", stack: Stack = STACK, appeal_token: str = ""
) -> list[Service]:
    """The demo's servers behind the UIs, in order: MLflow, Prefect, Evidently, the review table's
    DynamoDB and the review app (for the run's `stack`, taking appeals with `appeal_token`)."""
    services_dir = settings.state_dir / "services"
    return [
        mlflow_service(services_dir, settings.mlflow_port),
        prefect_service(services_dir, settings.prefect_port),
        evidently_service(services_dir, settings.evidently_port, settings.state_dir / "evidently"),
        dynamodb_service(services_dir, settings.dynamodb_port),
        review_service(settings, services_dir, aws_endpoint_url, stack, appeal_token),
    ]
