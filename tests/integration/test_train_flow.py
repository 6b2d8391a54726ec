"""The real train_flow against a real MLflow (sqlite), a real Prefect server and the models bucket:
promotion, rejection, and moves of the champion (promotion, rollback) under the champion lock."""

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from contracts.storage import REFERENCE_FILE, SCORER_FILE, ChampionManifest
from runtime import aws
from runtime.stack import Stack
from stream_consumer.normalize import NORMAL_FORM_VERSION, normal_form
from stream_consumer.scorer import CategoryModel, LinearScorer
from tests.emulator import register_scorers, training_settings
from training import registry
from training.__main__ import main
from training.flow import train_flow
from training.lease import LockBusyError
from training.settings import TrainingSettings
from training.train import ModelParams

pytestmark = pytest.mark.integration

# The parameters of a first model every gate accepts (the first test asserts it is promoted).
PROMOTED = ModelParams(c_grid=(1.0, 3.0))


@pytest.fixture(scope="module")
def settings(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory, endpoint_url: str, stack: Stack
) -> TrainingSettings:
    state = tmp_path_factory.mktemp("state")
    return training_settings(data_dir, state, endpoint_url, stack.models_bucket.name, reference_size=300)


def test_first_run_promotes_then_a_worse_model_is_kept_out(
    settings: TrainingSettings, prefect_server: None, stack: Stack
) -> None:
    # WHEN the flow runs for the first time
    first = train_flow(settings=settings, params=PROMOTED, trigger="test")
    # THEN version 1 is registered, aliased champion and challenger, and published
    assert first.version == "1"
    assert first.promoted
    assert first.champion_before is None
    client = registry.client(settings)
    assert str(client.get_model_version_by_alias(settings.model_name, "champion").version) == "1"
    s3 = aws.client("s3", settings.aws_endpoint_url)
    manifest = ChampionManifest.model_validate_json(
        s3.get_object(Bucket=stack.models_bucket.name, Key=settings.manifest_key)["Body"].read()
    )
    assert manifest.version == "1"
    assert manifest.run_id == first.run_id
    assert manifest.fencing_token is not None  # written by a move holding the champion lock
    key = manifest.artifact_uri.removeprefix(f"s3://{stack.models_bucket.name}/")
    model = CategoryModel.load(s3.get_object(Bucket=stack.models_bucket.name, Key=key)["Body"].read())
    assert model.categories == ("removal",)  # r/science alone teaches its removals only
    assert model.predict_proba([normal_form("a perfectly ordinary comment")])["removal"].shape == (1,)
    assert manifest.normal_form == NORMAL_FORM_VERSION
    _assert_run_artifacts(client, first.run_id)
    tags = client.get_model_version(settings.model_name, "1").tags
    assert tags["promotion.decision"] == "promoted"
    assert tags["promoted_by"].startswith("train_flow:test")

    # WHEN a deliberately weak model (unigrams seen 50+ times, heavy regularisation) is trained
    weak = train_flow(
        settings=settings, params=ModelParams(min_df=50, bigrams=False, c_grid=(0.001,)), trigger="test"
    )
    # THEN it is registered as challenger but the champion stays, with the reason recorded
    assert weak.version == "2"
    assert not weak.promoted
    assert weak.champion_before == "1"
    assert weak.test_roc_auc["removal/rscience"] < first.test_roc_auc["removal/rscience"]
    assert any("needs at least" in r for r in weak.reasons)
    assert str(client.get_model_version_by_alias(settings.model_name, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(settings.model_name, "challenger").version) == "2"
    assert client.get_model_version(settings.model_name, "2").tags["promotion.decision"] == "rejected"
    again = s3.get_object(Bucket=stack.models_bucket.name, Key=settings.manifest_key)["Body"].read()
    assert json.loads(again)["version"] == "1"


def test_promotion_is_compare_and_set(registered: tuple[TrainingSettings, Stack]) -> None:
    # GIVEN a registry with a champion
    settings, stack = registered
    client = registry.client(settings)
    before = _manifest(settings, stack)
    # WHEN a promotion believes the champion is some other version
    # THEN it refuses to overwrite the alias or the manifest
    with pytest.raises(registry.ChampionMovedError):
        registry.move_champion(settings, client, "2", expected="999", promoted_by="test")
    assert str(client.get_model_version_by_alias(settings.model_name, "champion").version) == "1"
    assert _manifest(settings, stack) == before


@pytest.fixture
def registered(
    data_dir: Path, tmp_path: Path, endpoint_url: str, fresh_stack: Stack, scorers: dict[str, LinearScorer]
) -> tuple[TrainingSettings, Stack]:
    """A registry of this test's own holding versions 1 and 2 (real r/science scorers), 1 the champion
    published to a fresh stack's models bucket, as a promotion leaves them."""
    settings = training_settings(data_dir, tmp_path / "state", endpoint_url, fresh_stack.models_bucket.name)
    client = register_scorers(settings, [scorers["1"], scorers["2"]])
    registry.move_champion(settings, client, "1", None, "promotion")
    return settings, fresh_stack


def test_rollback_moves_the_alias_and_the_manifest_under_the_lock(
    registered: tuple[TrainingSettings, Stack],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a champion (1) and another registered version (2)
    settings, stack = registered
    client = registry.client(settings)
    champion, other = "1", "2"
    before = _manifest(settings, stack)
    assert before.version == champion
    _environment(settings, monkeypatch)
    # WHEN the CLI rolls the champion back to the other version
    assert main(["rollback", "--version", other]) == 0
    # THEN the alias and the manifest both name it, the manifest under a newer token
    assert str(client.get_model_version_by_alias(settings.model_name, "champion").version) == other
    after = _manifest(settings, stack)
    assert (after.version, after.run_id) == (
        other,
        client.get_model_version(settings.model_name, other).run_id,
    )
    assert after.fencing_token is not None
    assert after.fencing_token > (before.fencing_token or 0)
    assert f"version {champion} -> {other}" in capsys.readouterr().out
    tags = client.get_model_version(settings.model_name, other).tags
    assert tags["promoted_by"].startswith("rollback by ")
    assert (tags["replaced_version"], tags["fencing_token"]) == (champion, str(after.fencing_token))
    # WHEN it is rolled back again THEN both return to the first champion
    assert main(["rollback", "--version", champion]) == 0
    assert str(client.get_model_version_by_alias(settings.model_name, "champion").version) == champion
    assert _manifest(settings, stack).version == champion


def test_a_rollback_while_another_mover_holds_the_lock_is_refused(
    registered: tuple[TrainingSettings, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a champion, another registered version, and another mover holding the champion lock
    settings, stack = registered
    client = registry.client(settings)
    champion, other = "1", "2"
    before = _manifest(settings, stack)
    s3 = aws.client("s3", settings.aws_endpoint_url)
    mover = registry.champion_lock(settings, s3, "a concurrent promotion")
    held = mover.acquire()
    try:
        # WHEN a rollback waits for the lock for less than the other mover's lease
        _environment(settings.model_copy(update={"lock_wait_s": 0.5}), monkeypatch)
        # THEN it is refused, naming the holder
        with pytest.raises(LockBusyError, match="a concurrent promotion"):
            main(["rollback", "--version", other])
    finally:
        mover.release(held)
    # AND neither the alias nor the manifest moved
    assert str(client.get_model_version_by_alias(settings.model_name, "champion").version) == champion
    assert _manifest(settings, stack) == before


def _environment(settings: TrainingSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment that makes `python -m training` build these settings."""
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.resolved_tracking_uri)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))


def _manifest(settings: TrainingSettings, stack: Stack) -> ChampionManifest:
    s3 = aws.client("s3", settings.aws_endpoint_url)
    body = s3.get_object(Bucket=stack.models_bucket.name, Key=settings.manifest_key)["Body"].read()
    return ChampionManifest.model_validate_json(body)


def _assert_run_artifacts(client: MlflowClient, run_id: str) -> None:
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {
        SCORER_FILE,
        REFERENCE_FILE,
        "model_card.md",
        "vocabulary.txt",
        "plots",
    } <= names
    folder = "plots/plots_removal_test"
    plots = {a.path for a in client.list_artifacts(run_id, folder)}
    assert {f"{folder}/roc.png", f"{folder}/pr.png", f"{folder}/calibration.png"} <= plots
    params = client.get_run(run_id).data.params
    assert len(params["data.rscience.digest"]) == 64
