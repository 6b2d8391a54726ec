"""The local servers behind the UIs (MLflow, Prefect, Evidently): reuse one that already answers,
otherwise start it detached, remember its pid, and stop only what was started here."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from infra.localstack import LocalStackError, stop_pid

BIN = Path(sys.executable).parent


class ServiceError(RuntimeError):
    """A server did not come up."""


@dataclass
class Service:
    """One local server: how to start it, where it answers, where it logs."""

    name: str
    argv: list[str]
    port: int
    health_path: str
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    ui_path: str = "/"

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
        try:
            with urllib.request.urlopen(self.url + self.health_path, timeout=timeout) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def start(self) -> subprocess.Popen[bytes]:
        """Start detached (its own session: a terminal's Ctrl-C reaches the caller, which stops it)."""
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
        self.pid_path.write_text(str(proc.pid))
        return proc

    def wait(self, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if proc is not None and proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {proc.returncode}; see {self.log_path}")
            time.sleep(0.5)
        raise ServiceError(f"{self.name} did not answer at {self.url} within {timeout:.0f} s")

    def stop(self) -> bool:
        """Stop the server started from this state directory, if any; True when one was stopped."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return False
        stop_pid(pid, timeout=15)
        _reap_group(pid, timeout=10)
        self.pid_path.unlink(missing_ok=True)
        return True


def _reap_group(pgid: int, timeout: float) -> None:
    """Wait for the rest of the process group (servers' workers) to exit; SIGKILL what lingers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


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
        state_dir,
        ui_path="/#/models",
    )


def prefect_service(state_dir: Path, port: int) -> Service:
    """A Prefect server keeping its database under the state directory."""
    return Service(
        "prefect",
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        port,
        "/api/health",
        state_dir,
        env={"PREFECT_HOME": str(state_dir.parent / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
        ui_path="/runs",
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
        "/",
        state_dir,
    )


def ensure(services: list[Service], timeout: float = 120.0) -> dict[str, bool]:
    """Bring every service up, reusing those that already answer; name -> started here."""
    started: dict[str, subprocess.Popen[bytes] | None] = {}
    for svc in services:
        started[svc.name] = None if svc.answers() else svc.start()
    try:
        for svc in services:
            svc.wait(started[svc.name], timeout)
    except (ServiceError, LocalStackError):
        for svc in services:
            if started[svc.name] is not None:
                svc.stop()
        raise
    return {name: proc is not None for name, proc in started.items()}
