"""The registered model as MLflow serves it: the exported category model behind the normal form, exactly
the consumer's path (`models:/<name>@champion` loads this, never a training pipeline)."""

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from stream_consumer.normalize import normal_form
from stream_consumer.scorer import CategoryModel
from training.features import texts_of

SCORER_ARTIFACT = "scorer"


class ServingModel(PythonModel):
    """`predict(frame with a text column)` → a frame of calibrated probabilities, one column per category."""

    def load_context(self, context: Any) -> None:
        self.model = CategoryModel.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        scores = self.model.predict_proba([normal_form(t) for t in texts_of(model_input)])
        return pd.DataFrame({str(category): p for category, p in scores.items()})
