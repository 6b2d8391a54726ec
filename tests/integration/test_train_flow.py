"""The real train_flow against a real MLflow (sqlite), a real Prefect server and the models bucket."""

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from contracts.storage import REFERENCE_FILE, SCORER_FILE, ChampionManifest
from runtime import aws
from runtime.stack import Stack
from stream_consumer.normalize import NORMAL_FORM_VERSION, normal_form
from stream_consumer.scorer import LinearScorer
from tests.emulator import training_settings
from training import registry
from training.flow import train_flow
from training.settings import TrainingSettings
from training.train import ModelParams

pytestmark = pytest.mark.integration


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
    first = train_flow(settings=settings, params=ModelParams(c_grid=(1.0, 3.0)), trigger="test")
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
    key = manifest.artifact_uri.removeprefix(f"s3://{stack.models_bucket.name}/")
    scorer = LinearScorer.load(s3.get_object(Bucket=stack.models_bucket.name, Key=key)["Body"].read())
    assert scorer.predict_proba([normal_form("a perfectly ordinary comment")]).shape == (1,)
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
    assert weak.test_roc_auc["rscience"] < first.test_roc_auc["rscience"]
    assert any("needs at least" in r for r in weak.reasons)
    assert str(client.get_model_version_by_alias(settings.model_name, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(settings.model_name, "challenger").version) == "2"
    assert client.get_model_version(settings.model_name, "2").tags["promotion.decision"] == "rejected"
    again = s3.get_object(Bucket=stack.models_bucket.name, Key=settings.manifest_key)["Body"].read()
    assert json.loads(again)["version"] == "1"


def test_promotion_is_compare_and_set(settings: TrainingSettings, prefect_server: None) -> None:
    # GIVEN a registry whose champion is version 1 (from the test above, or a fresh run)
    client = registry.client(settings)
    if registry.champion_version(client, settings.model_name) is None:
        train_flow(settings=settings, params=ModelParams(c_grid=(1.0,)), trigger="test")
    current = registry.champion_version(client, settings.model_name)
    assert current is not None
    # WHEN a promotion believes the champion is some other version
    # THEN it refuses to overwrite the alias
    with pytest.raises(registry.PromotionRaceError):
        registry.move_champion(client, settings.model_name, str(current.version), expected="999", audit={})
    assert registry.champion_version(client, settings.model_name).version == current.version  # type: ignore[union-attr]


def _assert_run_artifacts(client: MlflowClient, run_id: str) -> None:
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {
        SCORER_FILE,
        REFERENCE_FILE,
        "model_card.md",
        "vocabulary.txt",
        "plots",
    } <= names
    plots = {a.path for a in client.list_artifacts(run_id, "plots/plots")}
    assert {"plots/plots/roc.png", "plots/plots/pr.png", "plots/plots/calibration.png"} <= plots
    params = client.get_run(run_id).data.params
    assert len(params["data.rscience.digest"]) == 64
