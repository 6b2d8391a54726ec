"""The trained model: behaviour tests, its exported form against an independent reference, and what it
needs to load."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

from contracts.categories import Category
from stream_consumer.features import model_tokens
from stream_consumer.normalize import normal_form
from stream_consumer.scorer import LinearScorer, UnsupportedModelError
from training.behaviour import run_behaviour_tests
from training.corpora import ExampleSplits
from training.serving import serving_scores
from training.train import TrainedModel, labels


def test_behaviour_tests_pass(trained: TrainedModel, rscience_splits: ExampleSplits) -> None:
    benign = [x.text for x in rscience_splits.validation if x.labels[Category.REMOVAL] == 0]
    report = run_behaviour_tests(lambda t: serving_scores(trained.scorer, t), benign)
    assert report.passed, report.failures


def test_the_saved_archive_scores_exactly_as_the_trained_scorer(
    trained: TrainedModel, rscience_splits: ExampleSplits, tmp_path: Path
) -> None:
    # GIVEN the exported scorer written to disk and read back
    path = tmp_path / "scorer.npz"
    trained.scorer.save(path)
    loaded = LinearScorer.load(path)
    # WHEN both score the test split
    texts = [x.text for x in rscience_splits.test]
    # THEN they agree exactly, and rank well above chance
    assert np.array_equal(serving_scores(trained.scorer, texts), serving_scores(loaded, texts))
    assert roc_auc_score(labels(rscience_splits.test), serving_scores(loaded, texts)) > 0.78


def test_tfidf_matches_scikit_learns_own_vectoriser(
    trained: TrainedModel, rscience_splits: ExampleSplits
) -> None:
    """An independent reference: a featuriser bug cannot hide on both sides of this comparison."""
    # GIVEN scikit-learn's TfidfVectorizer with the model's columns, fitted on the same training texts
    f = trained.scorer.featurizer
    columns = {name: i for i, name in enumerate(f.feature_names())}
    reference = TfidfVectorizer(
        vocabulary=columns,
        tokenizer=model_tokens,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, 2),
        sublinear_tf=True,
        norm="l2",
    ).fit([normal_form(x.text).text for x in rscience_splits.train])
    # AND test texts whose every token the model knows as it is written (no lookups apply)
    texts = [
        t
        for t in (normal_form(x.text).text for x in rscience_splits.test)
        if len(model_tokens(t)) <= trained.scorer.window.size
        and all(
            f.tokens.get(tok, -1) >= 0 and f.read_as(np.array([f.tokens[tok]]))[0] == f.tokens[tok]
            for tok in model_tokens(t)
        )
    ][:150]
    assert len(texts) >= 100
    # WHEN both featurise them
    ours = f.tfidf(f.tokenize(texts))
    theirs = reference.transform(texts).tocsr()
    theirs.sort_indices()
    # THEN the rows are the same: columns, and values within 1e-9
    for i in range(len(texts)):
        a, b = ours.indptr[i], ours.indptr[i + 1]
        order = np.argsort(ours.indices[a:b])
        assert ours.indices[a:b][order].tolist() == theirs[i].indices.tolist()
        assert np.allclose(ours.data[a:b][order], theirs[i].data, atol=1e-9)


def test_scores_are_probabilities_and_reasons_come_from_the_text(
    trained: TrainedModel, rscience_splits: ExampleSplits
) -> None:
    batch = [normal_form(x.text) for x in rscience_splits.test[:50]]
    scores = trained.scorer.score(batch, top_k=3)
    assert ((scores.probability >= 0) & (scores.probability <= 1)).all()
    for text, reasons in zip(batch, scores.reasons, strict=True):
        assert len(reasons) <= 3
        for reason in reasons:
            assert reason.startswith("style:") or all(tok in text.text for tok in reason.split(" "))


def test_a_model_of_another_normal_form_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    # GIVEN an archive that says it was trained on a normal form this code does not implement
    from dataclasses import replace  # noqa: PLC0415

    path = tmp_path / "scorer.npz"
    replace(trained.scorer, normal_form="1").save(path)
    # WHEN it is loaded, THEN it is refused with the reason
    with pytest.raises(UnsupportedModelError, match="normal form '1'"):
        LinearScorer.load(path)
    assert LinearScorer.header(path.read_bytes())["normal_form"] == "1"


def test_exported_scorer_loads_without_sklearn_scipy_or_mlflow(trained: TrainedModel, tmp_path: Path) -> None:
    path = tmp_path / "scorer.npz"
    trained.scorer.save(path)
    code = (
        "import sys; from pathlib import Path; from stream_consumer.scorer import LinearScorer; "
        "from stream_consumer.normalize import normal_form; "
        f"s = LinearScorer.load(Path({str(path)!r})); s.predict_proba([normal_form('hello there')]); "
        "heavy = [m for m in ('sklearn', 'scipy', 'mlflow', 'pandas') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
