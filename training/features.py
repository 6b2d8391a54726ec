"""The scikit-learn face of the serving featurizer, so the pipeline and the export share one code path."""

from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from stream_consumer.features import TextFeaturizer, fit_featurizer
from stream_consumer.normalize import normalize

TEXT_COLUMN = "text"


def texts_of(x: Any) -> list[str]:
    """The text column of a DataFrame (what MLflow's pyfunc hands over), or a plain sequence of texts."""
    if isinstance(x, pd.DataFrame):
        if TEXT_COLUMN not in x.columns:
            raise ValueError(f"input needs a {TEXT_COLUMN!r} column, got {list(x.columns)}")
        return x[TEXT_COLUMN].astype(str).tolist()
    return [str(t) for t in x]


class TextFeatures(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Normalise, then word n-gram TF-IDF + standardised style features, as one sparse matrix."""

    def __init__(self, min_df: int = 2, bigrams: bool = True) -> None:
        self.min_df = min_df
        self.bigrams = bigrams

    def fit(self, x: Any, y: Any = None) -> Self:
        texts = [normalize(t) for t in texts_of(x)]
        self.featurizer_: TextFeaturizer = fit_featurizer(texts, self.min_df, self.bigrams)
        meta = self._meta(texts)
        self.meta_mean_ = meta.mean(axis=0)
        scale = meta.std(axis=0)
        self.meta_scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def _meta(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        tok = self.featurizer_.tokenize(texts)
        return self.featurizer_.meta(texts, tok, self.featurizer_.tfidf(tok))

    def transform(self, x: Any) -> sp.csr_matrix:
        texts = [normalize(t) for t in texts_of(x)]
        f = self.featurizer_
        tok = f.tokenize(texts)
        rows = f.tfidf(tok)
        meta = (f.meta(texts, tok, rows) - self.meta_mean_) / self.meta_scale_
        tfidf = sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(texts), rows.n_cols))
        return sp.hstack([tfidf, sp.csr_matrix(meta)], format="csr")
