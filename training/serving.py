"""Scores exactly as the consumer computes them (`category_scores`, `serving_scores`: what every
evaluation, gate and benchmark reads), and the registered model as MLflow serves it: the exported
category model behind the normal form (`models:/<name>@champion` loads this, never a training pipeline)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from contracts.policy import ChannelPolicy
from stream_consumer import cascade, encoder
from stream_consumer.language import identify
from stream_consumer.moderation import encoder_input, model_input
from stream_consumer.normalize import normal_form
from stream_consumer.policy import RuleOutcome, rules
from stream_consumer.scorer import CategoryModel, LinearScorer
from training.features import texts_of

SCORER_ARTIFACT = "scorer"


class ServingModel(PythonModel):
    """`predict(frame with a text column)` → a frame of calibrated probabilities, one column per category."""

    def load_context(self, context: Any) -> None:
        self.model = CategoryModel.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        scores = self.model.predict_proba([normal_form(t) for t in texts_of(model_input)])
        return pd.DataFrame({str(category): p for category, p in scores.items()})


def category_scores(
    model: CategoryModel, texts: Sequence[str], policy: ChannelPolicy | None = None
) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """Every category's scores exactly as the consumer computes them: the normal form once, the
    channel's allow terms taken out (when a policy is given), the fast model, then the cascade (when
    the model has encoder heads: every escalation embedded, no time budget)."""
    batch = [normal_form(t) for t in texts]
    outcomes = [rules(policy, b) for b in batch] if policy is not None else None
    inputs = [model_input(b, o) for b, o in zip(batch, outcomes, strict=True)] if outcomes else batch
    fast = model.predict_proba(inputs)
    if model.cascade is None or not texts:
        return fast
    each: list[RuleOutcome | None] = list(outcomes) if outcomes else [None] * len(batch)
    originals = [encoder_input(t, b, o) for t, b, o in zip(texts, batch, each, strict=True)]
    languages = [identify(o) for o in originals]
    normal = [i.text for i in inputs]
    return cascade.run(model.cascade, fast, originals, languages, encoder.shared(), normal=normal).probability


class CachedScores:
    """One model's `category_scores` (no channel policy), each list of texts scored once and the same
    arrays handed out (copies) when it is asked again: a training reads its test splits several times
    (evaluation, plots, the champion comparison) and each acting category's behaviour checks and each
    bias head read the same fixed texts. Only the same texts in the same order are reused: the
    cascade reads its escalations in batches, so another list could round differently."""

    def __init__(self, model: CategoryModel) -> None:
        self.model = model
        self._scored: dict[tuple[str, ...], dict[str, np.ndarray[Any, np.dtype[np.float64]]]] = {}

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
        key = tuple(texts)
        if key not in self._scored:
            self._scored[key] = category_scores(self.model, texts)
        return {category: p.copy() for category, p in self._scored[key].items()}


def serving_scores(
    scorer: LinearScorer, texts: Sequence[str], policy: ChannelPolicy | None = None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Scores exactly as the consumer computes them: the normal form once, the channel's allow terms
    taken out (when a policy is given), then the exported scorer."""
    batch = [normal_form(t) for t in texts]
    if policy is not None:
        batch = [model_input(b, rules(policy, b)) for b in batch]
    return scorer.predict_proba(batch)
