"""The demo's processes: the servers it starts or reuses (LocalStack and the UIs), the project's CLIs it
runs as children (each in its own process group, logging to the run's directory), the waits on them,
and stopping everything it started, with Ctrl-C held off meanwhile."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from demo.services import Service, ServiceError
from infra.localstack import LocalStack, is_ready
from infra.settings import InfraSettings
from runtime.paths import PROJECT_ROOT
from runtime.retry import PollTimeoutError, poll_until

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C until the block is done, then deliver it: a child is never started without being
    registered for the cleanup (an interrupt between the two would leave it running, unstopped)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        signal.raise_signal(signal.SIGINT)  # as if pressed now, to whatever handled it before


WAITS_FILE = "waits.jsonl"  # in the run's folder: each wait of the story and how long it took


class DemoError(RuntimeError):
    """A step of the story failed; the message says which and where its log is."""


class Supervisor:
    """Starts, waits on and stops what one demo run needs; `shutdown()` stops all it started."""

    def __init__(
        self, run_dir: Path, services: list[Service], infra: InfraSettings, step_timeout_s: float
    ) -> None:
        self.run_dir = run_dir
        self.services = services
        self.infra = infra
        self.step_timeout_s = step_timeout_s
        self.started_services: list[Service] = []
        self.localstack: LocalStack | None = None
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def endpoint_url(self) -> str:
        return self.infra.endpoint_url

    def start_servers(self) -> list[str]:
        """Start what does not answer yet (each registered at once, so Ctrl-C stops it), then wait;
        returns the names of the servers that were already up and are reused."""
        procs: dict[str, subprocess.Popen[bytes]] = {}
        reused = []
        for svc in self.services:
            if svc.reusable():
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
        return reused

    def _spawn(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        stdout: int | IO[bytes],
        stderr: int | IO[bytes],
    ) -> subprocess.Popen[bytes]:
        self.children[name] = subprocess.Popen(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches only the demo
        )
        return self.children[name]

    def run(self, name: str, args: Sequence[str], env: Mapping[str, str]) -> str:
        """Run a project CLI to completion; stdout is returned, stderr goes to the run's log."""
        with _interrupt_after():  # its log appears only with the child registered for the cleanup
            log = (self.run_dir / f"{name}.log").open("ab")
            proc = self._spawn(name, args, env, subprocess.PIPE, log)
        try:
            out, _ = proc.communicate(timeout=self.step_timeout_s)
        except subprocess.TimeoutExpired:
            self.stop(name)
            raise DemoError(f"`{' '.join(args)}` took over {self.step_timeout_s:.0f} s") from None
        finally:
            log.close()
        self.children.pop(name, None)
        with (self.run_dir / f"{name}.log").open("ab") as fh:
            fh.write(out)
        if proc.returncode != 0:
            raise DemoError(f"`{' '.join(args)}` exited with {proc.returncode}; see {log.name}")
        return out.decode()

    def start(self, name: str, args: Sequence[str], env: Mapping[str, str]) -> None:
        """Start a project CLI in the background, its output going to the run's log."""
        with _interrupt_after(), (self.run_dir / f"{name}.log").open("ab") as log:
            self._spawn(name, args, env, log, subprocess.STDOUT)

    def stop(self, name: str, timeout: float = 30) -> None:
        """Stop a child and its process group: SIGTERM, then SIGKILL after `timeout` seconds."""
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

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Until `ready()`; a `DemoError` when a background child stopped or the step's time ran out."""

        def settled() -> bool:
            if ready():
                return True
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    raise DemoError(f"the {name} stopped ({proc.returncode}); see {self.run_dir}/{name}.log")
            return False

        started = time.monotonic()
        try:
            poll_until(settled, self.step_timeout_s, what=what, interval=0.5)
        except PollTimeoutError:
            raise DemoError(f"timed out waiting for {what}") from None
        finally:  # where the run's time goes: one line per wait, in the order waited
            with (self.run_dir / WAITS_FILE).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"waited_for": what, "s": round(time.monotonic() - started, 2)}) + "\n")

    def shutdown(self, keep_services: bool) -> list[str]:
        """Stop the children, and the servers too unless they are kept; returns what was stopped.

        Runs with SIGINT/SIGTERM/SIGHUP ignored (a second Ctrl-C must not abandon half the cleanup);
        the servers stop in parallel.
        """
        stopped = list(self.children)
        with ignoring_signals():
            for name in stopped:
                self.stop(name)
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


def stop_on_signal() -> None:
    """SIGTERM and SIGHUP (a closed terminal) end the demo like Ctrl-C does: the cleanup runs. Ctrl-C
    itself is made to interrupt even when the demo was started with SIGINT ignored (a background job of
    a non-interactive shell inherits that, and Python then leaves it ignored)."""

    def _raise(*_: object) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, signal.default_int_handler)
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
