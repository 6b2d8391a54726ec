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
    }


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


def previous_results() -> dict[str, Any] | None:
    files = sorted(RESULTS.glob("bench-*.json"))
    return json.loads(files[-1].read_text()) if files else None


def write_results(results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
