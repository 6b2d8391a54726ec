"""`python -m training train` says how the run ended, on one line, and its exit code tells a refusal:
a first model refused by a gate leaves no champion, names the failures and exits 1; the next one,
promoted, names its version and exits 0. The real flow on a fresh MLflow store (sqlite), the session's
Prefect server and models bucket."""

from pathlib import Path

import pytest

from runtime.stack import Stack
from tests.emulator import training_settings
from training import registry
from training.__main__ import main
from training.settings import TrainingSettings

pytestmark = pytest.mark.integration

OUTCOMES = ("promoted:", "kept:", "refused:")


def _outcome_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(OUTCOMES)]


def _environment(settings: TrainingSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment that makes `python -m training` build these settings."""
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.resolved_tracking_uri)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))


def test_a_first_model_refused_by_a_gate_exits_1_naming_it_then_a_promoted_one_its_version(
    data_dir: Path,
    tmp_path: Path,
    endpoint_url: str,
    stack: Stack,
    prefect_server: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a fresh tracking store, and an evasion floor no model reaches (every toxic message removed in
    # clean form must stay flagged under every obfuscation family); r/science alone and no cascade, the
    # CLI's report being the subject here (tests/e2e/test_default_training.py trains the defaults)
    settings = training_settings(
        data_dir,
        tmp_path,
        endpoint_url,
        stack.models_bucket.name,
        reference_size=300,
        evasion_messages=200,
    )
    _environment(settings.model_copy(update={"evasion_floor_flagged": 1.0}), monkeypatch)
    # WHEN the CLI trains
    code = main(["train"])
    out, err = capsys.readouterr()
    # THEN it exits 1 with one line on stderr naming the gate's failures, and there is no champion
    client = registry.client(settings)
    assert code == 1
    (line,) = _outcome_lines(err)
    assert line.startswith("refused: version 1 not promoted, no champion — evasion floor: ")
    assert "still flagged (floor 100%)" in line
    assert _outcome_lines(out) == []
    assert registry.champion_version(client, settings.model_name) is None
    tags = client.get_model_version(settings.model_name, "1").tags
    assert tags["promotion.decision"] == "rejected"
    assert tags["promotion.reasons"].startswith("evasion floor: ")
    assert tags["promotion.refused_by"] == tags["promotion.reasons"]

    # WHEN it trains again with a floor every model reaches (without the cascade's encoder no message in
    # another language stays flagged, so the default floor is not the one to pass here)
    _environment(settings.model_copy(update={"evasion_floor_flagged": 0.0}), monkeypatch)
    code = main(["train"])
    out, err = capsys.readouterr()
    # THEN it exits 0 naming the version it promoted, which the registry names champion
    assert code == 0, _outcome_lines(err)
    assert _outcome_lines(out) == ["promoted: version 2 is champion (was none)"]
    assert _outcome_lines(err) == []
    champion = registry.champion_version(client, settings.model_name)
    assert champion is not None
    assert str(champion.version) == "2"
