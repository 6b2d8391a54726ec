"""The training design matrix: the serving featurizer's rows as one scipy matrix, so training and the
exported scorer share one code path (windows, lookups, dense features).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from stream_consumer.features import TextFeaturizer, WindowRows, WindowSpec, standardise
from stream_consumer.normalize import NormalText

TEXT_COLUMN = "text"
MIN_SUPPORT = 20  # rows a dense feature must vary in before it may carry weight


@dataclass(frozen=True)
class Standardiser:
    """Mean and scale of the dense features on the training texts."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, meta: NDArray[np.float64], min_support: int = MIN_SUPPORT) -> "Standardiser":
        """Mean and scale per feature; a feature that differs from its median in fewer than
        `min_support` rows is switched off (scale infinite: it always reads 0), since a weight learnt
        from a handful of rows (two mixed-script comments, say) would swing every score that has it."""
        scale = meta.std(axis=0)
        support = (meta != np.median(meta, axis=0)).sum(axis=0)
        off = (support < min_support) | (scale == 0)
        return cls(np.where(off, 0.0, meta.mean(axis=0)), np.where(off, np.inf, scale))


@dataclass(frozen=True)
class Design:
    """Rows of features (one per window) and the text each row belongs to."""

    matrix: sp.csr_matrix
    text: NDArray[np.int64]


def window_rows(featurizer: TextFeaturizer, batch: Sequence[NormalText], spec: WindowSpec) -> WindowRows:
    """The serving featurizer's window rows of a batch."""
    return featurizer.rows([t.text for t in batch], [t.mixed_script for t in batch], spec)


def design(rows: WindowRows, standardiser: Standardiser) -> Design:
    """One scipy row per window: its TF-IDF and its standardised dense features."""
    tfidf = sp.csr_matrix(
        (rows.tfidf.data, rows.tfidf.indices, rows.tfidf.indptr), shape=(len(rows.text), rows.tfidf.n_cols)
    )
    meta = standardise(rows.meta, standardiser.mean, standardiser.scale)
    return Design(sp.hstack([tfidf, sp.csr_matrix(meta)], format="csr"), rows.text)


def texts_of(x: Any) -> list[str]:
    """The text column of a DataFrame (what MLflow's pyfunc hands over), or a plain sequence of texts."""
    import pandas as pd  # noqa: PLC0415 - only the pyfunc wrapper hands over frames

    if isinstance(x, pd.DataFrame):
        if TEXT_COLUMN not in x.columns:
            raise ValueError(f"input needs a {TEXT_COLUMN!r} column, got {list(x.columns)}")
        return x[TEXT_COLUMN].astype(str).tolist()
    return [str(t) for t in x]
