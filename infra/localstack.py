"""Start, wait for and stop LocalStack on the host, from its own isolated Python environment."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runtime.paths import PROJECT_ROOT

LOCALSTACK_PYTHON = PROJECT_ROOT / ".localstack" / "venv" / "bin" / "python"
SERVICES = "kinesis,s3,sqs,iam,sts"  # what the stack needs: readiness waits for these
# Started too, not waited for: monitoring may read its alert webhook URL from Secrets Manager.
OPTIONAL_SERVICES = "secretsmanager"


def free_port() -> int:
    """A TCP port nothing listens on now, for an emulator or server started next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalStackError(RuntimeError):
    """LocalStack did not start, or stopped answering."""


def _base_env(port: int, data_dir: Path) -> dict[str, str]:
    # Host mode without Docker. Without the host/strategy pair, queue URLs name a host that does not
    # resolve offline; DISABLE_EVENTS and the skipped cert download keep it from phoning home.
    return {
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{port}",
        "SQS_ENDPOINT_STRATEGY": "path",
        "FILESYSTEM_ROOT": str(data_dir),
        "DISABLE_EVENTS": "1",
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "KINESIS_LATENCY": "0",
        # Kinesis state is not persisted: by default kinesis-mock rewrites every stream's records to one
        # JSON file every 5 s, a cost that grows with what the streams hold (a test session's or a
        # demo's: about a core, idle) in a path every LocalStack on the host shares and reloads at start.
        "KINESIS_PERSISTENCE": "0",
        # The default account limit of 100 shards is reached by a test session's many small stacks.
        "KINESIS_SHARD_LIMIT": "10000",
        "SERVICES": f"{SERVICES},{OPTIONAL_SERVICES}",
        "EAGER_SERVICE_LOADING": "1",
        "DO_NOT_TRACK": "1",
    }


@dataclass
class LocalStack:
    """One LocalStack process: its port, fresh data directory and log file."""

    port: int
    data_dir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    python: Path = LOCALSTACK_PYTHON
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "localstack.log"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "localstack.pid"

    def start(self, timeout: float = 90.0) -> None:
        """Start the process detached from this one and wait until its services answer."""
        if not self.python.exists():
            raise LocalStackError(
                f"LocalStack's environment is missing ({self.python}); run `make localstack-env`"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **_base_env(self.port, self.data_dir), **self.extra_env}
        for var in ("AWS_ENDPOINT_URL", "VIRTUAL_ENV", "PYTHONPATH"):
            env.pop(var, None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.python), "-m", "localstack.runtime.main"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
            )
        write_pid(self.pid_path, self.process.pid)
        try:
            wait_ready(self.endpoint_url, timeout, process=self.process, log_path=self.log_path)
        except LocalStackError:
            self.stop()
            raise

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` (a clean shutdown takes 5–8 s)."""
        pid = self.process.pid if self.process else read_pid(self.pid_path)
        if pid is not None:
            stop_pid(pid, timeout)
        self.process = None
        self.pid_path.unlink(missing_ok=True)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def write_pid(path: Path, pid: int) -> None:
    """Remember a process by pid and start time, so a recycled pid is never mistaken for it."""
    path.write_text(f"{pid} {_start_time(pid) or ''}".strip())


def read_pid(path: Path) -> int | None:
    """The pid a pid file names, if that very process is still running (else None)."""
    try:
        pid_text, _, started = path.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    now = _start_time(pid)
    if now is None or (started and now != started):
        return None
    return pid


def stop_pid(pid: int, timeout: float = 20.0) -> None:
    """Stop a process group whose leader is `pid` (started with its own session): SIGTERM, wait for
    the leader and then the rest of the group (servers' workers, emulators' helpers), SIGKILL what
    is left after `timeout`."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap the leader when it is our child
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def health(endpoint_url: str, timeout: float = 2.0) -> dict[str, object] | None:
    """LocalStack's health document, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_localstack/health", timeout=timeout) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def is_ready(endpoint_url: str, services: str = SERVICES) -> bool:
    """True when every service we use is available or running."""
    doc = health(endpoint_url)
    if doc is None:
        return False
    states = doc.get("services", {})
    if not isinstance(states, dict):
        return False
    return all(states.get(s) in {"available", "running"} for s in services.split(","))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def wait_ready(
    endpoint_url: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> float:
    """Poll the health endpoint until ready; return the seconds it took, or raise with the log tail."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            tail = _tail(log_path) if log_path else ""
            raise LocalStackError(
                f"LocalStack exited with code {process.returncode} before it was ready:\n{tail}"
            )
        if is_ready(endpoint_url):
            return time.monotonic() - started
        time.sleep(0.25)
    tail = _tail(log_path) if log_path else ""
    raise LocalStackError(f"LocalStack at {endpoint_url} not ready after {timeout:.0f} s:\n{tail}")


def set_config(endpoint_url: str, variable: str, value: float | str) -> None:
    """Change a LocalStack config variable at run time (needs ENABLE_CONFIG_UPDATES=1).

    Used for fault injection, e.g. KINESIS_ERROR_PROBABILITY, without restarting the emulator.
    """
    body = json.dumps({"variable": variable, "value": value}).encode()
    req = urllib.request.Request(
        f"{endpoint_url}/_localstack/config",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


@dataclass
class MotoServer:
    """moto's server: a lighter emulator of Kinesis, S3 and SQS on the same kind of endpoint."""

    port: int
    log_path: Path
    # moto's server with the project's faster Query (infra/moto_server.py); moto's own: its `moto_server`
    command: tuple[str, ...] = (sys.executable, "-m", "infra.moto_server")
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server from this environment and wait until it answers."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "-H", "127.0.0.1", "-p", str(self.port)],
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                if self.process.poll() is not None:
                    raise LocalStackError(f"moto_server exited:\n{_tail(self.log_path)}") from None
                time.sleep(0.1)
        self.stop()
        raise LocalStackError(f"moto_server not ready after {timeout:.0f} s:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process.pid, 10)
            self.process = None
