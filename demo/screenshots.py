"""Screenshots of the three UIs after a demo run, with headless Chromium (Debian's `chromium`):
the registered model in MLflow, the drift check's flow run (with the retraining subflow) in Prefect,
and the latest drift report in Evidently. `python -m demo screenshots` regenerates docs/screenshots/."""

import json
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from demo.settings import DemoSettings
from monitoring.flow import WORKSPACE_PROJECT
from runtime.paths import PROJECT_ROOT

OUT_DIR = PROJECT_ROOT / "docs" / "screenshots"
# Without the background-networking flags Chromium keeps dialling Google on a closed network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class ScreenshotError(RuntimeError):
    """Chromium or a UI is missing."""


def _get(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def latest_summary(state_dir: Path) -> dict[str, Any]:
    runs = sorted((state_dir / "demo").glob("*/summary.json"))
    if not runs:
        raise ScreenshotError("no finished demo run under .data/demo: run `make demo` first")
    summary: dict[str, Any] = json.loads(runs[-1].read_text())
    return summary


def pages(settings: DemoSettings) -> dict[str, tuple[str, tuple[int, int]]]:
    """File name -> (URL, window size) for the views worth a picture."""
    summary = latest_summary(settings.state_dir)
    mlflow = f"http://127.0.0.1:{settings.mlflow_port}"
    prefect = f"http://127.0.0.1:{settings.prefect_port}"
    evidently = f"http://127.0.0.1:{settings.evidently_port}"
    runs = _get(
        f"{prefect}/api/flow_runs/filter",
        {"sort": "START_TIME_DESC", "limit": 1, "flows": {"name": {"any_": ["drift_check_flow"]}}},
    )
    project = next(p for p in _get(f"{evidently}/api/projects") if p["name"] == WORKSPACE_PROJECT)
    snapshots = _get(f"{evidently}/api/projects/{project['id']}/snapshots")
    drifted = [s for s in snapshots if s["name"].endswith(": drift")] or snapshots
    champion = _get(
        f"{mlflow}/api/2.0/mlflow/registered-models/alias?name={summary['model_name']}&alias=champion"
    )["model_version"]
    run = _get(f"{mlflow}/api/2.0/mlflow/runs/get?run_id={champion['run_id']}")["run"]["info"]
    run_page = f"{mlflow}/#/experiments/{run['experiment_id']}/runs/{run['run_id']}"
    out = {
        "mlflow-model.png": (f"{mlflow}/#/models/{summary['model_name']}", (1600, 950)),
        "mlflow-champion-roc.png": (f"{run_page}/artifacts/plots/plots_feedback/roc.png", (1500, 950)),
        "prefect-dashboard.png": (f"{prefect}/dashboard", (1500, 800)),
        "evidently-dashboard.png": (f"{evidently}/projects/{project['id']}", (1500, 1100)),
        "evidently-report.png": (
            f"{evidently}/projects/{project['id']}/reports/{drifted[-1]['id']}",
            (1500, 1400),
        ),
    }
    if runs:
        out["prefect-drift-check.png"] = (f"{prefect}/runs/flow-run/{runs[0]['id']}", (1500, 1000))
    return out


def take(url: str, path: Path, size: tuple[int, int], budget_ms: int = 20_000) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise ScreenshotError("chromium is not installed (Debian: `apt-get install chromium`)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--virtual-time-budget={budget_ms}",
                f"--screenshot={path}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main(settings: DemoSettings, out_dir: Path = OUT_DIR) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        shots = pages(settings)
    except (urllib.error.URLError, OSError, StopIteration, KeyError) as err:
        raise ScreenshotError(f"the UIs of a finished demo run must be up (`make demo`): {err!r}") from err
    for name, (url, size) in shots.items():
        try:
            take(url, out_dir / name, size)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            raise ScreenshotError(f"chromium failed on {url}: {err}") from err
        print(f"{out_dir / name}  <- {url}")
    return 0
