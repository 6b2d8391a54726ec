"""`python -m training train` as a newcomer runs it: no options — every shared set, every category, the
cascade on — against a fresh tracking store and the stack's models bucket, promotes its first model."""

import subprocess
import sys
import time
from pathlib import Path

import prefect.settings
import pytest

from runtime.paths import PROJECT_ROOT
from runtime.stack import Stack
from tests.emulator import child_env
from training import registry
from training.settings import TrainingSettings

pytestmark = pytest.mark.e2e


def _newcomer_env(state_dir: Path, data_dir: Path, endpoint_url: str, models_bucket: str) -> dict[str, str]:
    """No training settings but where things are: the data, a fresh state directory (its tracking store),
    the emulator and the session's models bucket; the session's embedding cache and Prefect server."""
    return child_env(
        ("TRAINING_",),
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "DATA_DIR": str(data_dir),
            "TRAINING_STATE_DIR": str(state_dir),
            "TRAINING_MODELS_BUCKET": models_bucket,
            "PREFECT_API_URL": str(prefect.settings.PREFECT_API_URL.value()),
        },
    )


@pytest.mark.slow(600)
@pytest.mark.timeout(1_800)  # every set, with the cascade's embeddings of every text a cold cache lacks
def test_the_default_training_promotes_its_first_model(
    data_dir: Path, tmp_path: Path, endpoint_url: str, fresh_stack: Stack, prefect_server: None
) -> None:
    # GIVEN a fresh state directory (its tracking store) and the default settings: every source, every
    # category, the cascade on
    env = _newcomer_env(tmp_path, data_dir, endpoint_url, fresh_stack.models_bucket.name)
    # what the child resolves (named here: MLflow exports the URI a test set before to this process)
    defaults = TrainingSettings(
        data_dir=data_dir, state_dir=tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    assert defaults.cascade
    # WHEN `python -m training train` runs with no options (its output kept in the test's folder)
    log = tmp_path / "train.log"
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "training", "train"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1_700,
            check=False,
        )
    print(f"default training: {time.perf_counter() - started:.0f} s; its output: {log}")
    outcome = [
        line for line in log.read_text().splitlines() if line.startswith(("promoted:", "refused:", "kept:"))
    ]
    # THEN it exits 0 naming version 1, and the registry of the fresh store names it champion
    assert proc.returncode == 0, outcome or log.read_text()[-3000:]
    assert outcome == ["promoted: version 1 is champion (was none)"]
    client = registry.client(defaults)
    champion = registry.champion_version(client, defaults.model_name)
    assert champion is not None
    assert str(champion.version) == "1"
    run = client.get_run(str(champion.run_id)).data.params
    assert set(run["sources"].split(",")) == {str(s) for s in defaults.sources}
    assert set(run["categories"].split(",")) == {str(c) for c in defaults.categories}
    assert run["cascade.encoder"]
