"""The registered model as MLflow serves it: the exported scorer behind the normal form, exactly the
consumer's path (`models:/<name>@champion` loads this, never a training pipeline)."""

from pathlib import Path
from typing import Any

import numpy as np
from mlflow.pyfunc.model import PythonModel

from stream_consumer.normalize import normal_form
from stream_consumer.scorer import LinearScorer
from training.features import texts_of

SCORER_ARTIFACT = "scorer"


class ServingModel(PythonModel):
    """`predict(frame with a text column)` → the calibrated probability of each text."""

    def load_context(self, context: Any) -> None:
        self.scorer = LinearScorer.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(
        self, context: Any, model_input: Any, params: dict[str, Any] | None = None
    ) -> np.ndarray[Any, Any]:
        return self.scorer.predict_proba([normal_form(t) for t in texts_of(model_input)])
