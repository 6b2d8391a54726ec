"""The trained model: behaviour tests, parity of the exported form, and what it needs to load."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from stream_consumer.normalize import normalize
from stream_consumer.scorer import LinearScorer
from training.behaviour import run_behaviour_tests
from training.data import Splits
from training.train import TrainedModel, frame, labels, serving_scores


def test_behaviour_tests_pass(trained: TrainedModel, rscience_splits: Splits) -> None:
    benign = [x.text for x in rscience_splits.validation if x.label == "allow"]
    report = run_behaviour_tests(lambda t: serving_scores(trained.scorer, t), benign)
    assert report.passed, report.failures


def test_exported_scorer_matches_the_pipeline_on_the_test_split(
    trained: TrainedModel, rscience_splits: Splits, tmp_path: Path
) -> None:
    # GIVEN the exported scorer written to disk and read back
    path = tmp_path / "scorer.npz"
    trained.scorer.save(path)
    loaded = LinearScorer.load(path)
    # WHEN both forms score the test split
    texts = [x.text for x in rscience_splits.test]
    pipeline = trained.estimator.predict_proba(frame(rscience_splits.test))[:, 1]
    exported = loaded.predict_proba([normalize(t) for t in texts])
    # THEN they agree within 1e-6, and rank well above chance
    assert np.max(np.abs(pipeline - exported)) < 1e-6
    assert roc_auc_score(labels(rscience_splits.test), exported) > 0.75


def test_scores_are_probabilities_and_reasons_come_from_the_text(
    trained: TrainedModel, rscience_splits: Splits
) -> None:
    texts = [normalize(x.text) for x in rscience_splits.test[:50]]
    scores = trained.scorer.score(texts, top_k=3)
    assert ((scores.probability >= 0) & (scores.probability <= 1)).all()
    for text, reasons in zip(texts, scores.reasons, strict=True):
        assert len(reasons) <= 3
        for reason in reasons:
            assert reason.startswith("style:") or all(tok in text for tok in reason.split(" "))


def test_exported_scorer_loads_without_sklearn_scipy_or_mlflow(trained: TrainedModel, tmp_path: Path) -> None:
    path = tmp_path / "scorer.npz"
    trained.scorer.save(path)
    code = (
        "import sys; from pathlib import Path; from stream_consumer.scorer import LinearScorer; "
        f"s = LinearScorer.load(Path({str(path)!r})); s.predict_proba(['hello there']); "
        "heavy = [m for m in ('sklearn', 'scipy', 'mlflow', 'pandas') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
