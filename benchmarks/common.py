"""What every benchmark shares: real r/science text, one pinned core, and the results file."""

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ONE_CORE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def machine() -> dict[str, Any]:
    """The machine and the versions that produced a result."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {p: version(p) for p in ("numpy", "scikit-learn", "pydantic", "boto3", "mlflow")},
        **_commit(),
        # Timings are one core's, but other work on the machine still slows them: say how much there was.
        "load_average": list(os.getloadavg()),
    }


def _commit() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return {}
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def run_pinned(module: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    """Run `python -m module args` on core 0 only (taskset), one thread; return its JSON output."""
    cmd = [sys.executable, "-m", module, *args]
    if _has_taskset():
        cmd = ["taskset", "-c", "0", *cmd]
    env = {**os.environ, **ONE_CORE_ENV}
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _has_taskset() -> bool:
    return (
        subprocess.run(["sh", "-c", "command -v taskset"], capture_output=True, check=False).returncode == 0
    )


def write_named(name: str, results: dict[str, Any], path: Path | None = None) -> Path:
    """`<name>-<UTC time>.json` (or `path`) and `<name>-latest.json` in the results folder; the first's
    path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2) + "\n"
    path = path or RESULTS / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path


def write_results(results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def stamp(path: Path) -> str:
    """The UTC time a results file's name carries (`bench-20261129T105145Z.json` → `20261129T105145Z`)."""
    return path.stem.rsplit("-", 1)[-1]


def when(path: Path) -> str:
    """A results file's time, readable (`2026-11-29 10:51 UTC`)."""
    s = stamp(path)
    return f"{s[:4]}-{s[4:6]}-{s[6:8]} {s[9:11]}:{s[11:13]} UTC"


def describe(m: dict[str, Any]) -> str:
    """The machine a result was measured on, and how busy it was, in a few words."""
    parts = [f"{m.get('cpu') or 'unknown CPU'}, {m.get('cores')} cores", f"Python {m.get('python')}"]
    if m.get("commit"):
        parts.append(f"commit {m['commit']}{' with local changes' if m.get('dirty') else ''}")
    if m.get("load_average"):
        parts.append(f"load average {m['load_average'][0]:.1f} at the start")
    return "; ".join(parts)
