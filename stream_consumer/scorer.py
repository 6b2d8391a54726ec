"""The exported champion in its serving form: featurizer + linear weights + isotonic calibration.

Loads from one `.npz` archive with numpy alone (no scikit-learn, scipy or mlflow import at cold
start) and scores a whole batch in one vectorised pass. Its scores equal the training pipeline's
(a parity test holds them within 1e-6).
"""

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from stream_consumer.features import META_NAMES, SparseRows, TextFeaturizer

FORMAT = "chat-moderation/linear-v1"


@dataclass(frozen=True)
class Scores:
    """Calibrated probabilities and, per message, the features that pushed the score up most."""

    probability: NDArray[np.float64]
    reasons: list[list[str]]


@dataclass(frozen=True)
class LinearScorer:
    """Logistic regression over TF-IDF + standardised dense features, then isotonic calibration."""

    featurizer: TextFeaturizer
    text_weights: NDArray[np.float64]
    meta_weights: NDArray[np.float64]
    meta_mean: NDArray[np.float64]
    meta_scale: NDArray[np.float64]
    intercept: float
    # Sigmoid (Platt): p = 1 / (1 + exp(a * raw + b)) with calibration_x = [a, b] and no calibration_y;
    # isotonic: p = interp(raw, calibration_x, calibration_y).
    calibration: Literal["sigmoid", "isotonic"]
    calibration_x: NDArray[np.float64]
    calibration_y: NDArray[np.float64]
    feature_names: list[str]
    metadata: dict[str, str]

    def _parts(
        self, texts: Sequence[str]
    ) -> tuple[NDArray[np.float64], SparseRows, NDArray[np.float64], NDArray[np.float64]]:
        """Raw linear scores, the TF-IDF rows, each entry's contribution, and the dense contributions."""
        tok = self.featurizer.tokenize(texts)
        rows = self.featurizer.tfidf(tok)
        meta = (self.featurizer.meta(texts, tok, rows) - self.meta_mean) / self.meta_scale
        contrib = rows.data * self.text_weights[rows.indices]
        doc = np.repeat(np.arange(tok.n_docs), np.diff(rows.indptr))
        meta_contrib = meta * self.meta_weights
        raw = (
            np.bincount(doc, weights=contrib, minlength=tok.n_docs)
            + meta_contrib.sum(axis=1)
            + self.intercept
        )
        return raw, rows, contrib, meta_contrib

    def decision(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The uncalibrated linear score (log-odds before calibration)."""
        return self._parts(texts)[0]

    def calibrate(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map raw linear scores to calibrated probabilities."""
        if self.calibration == "sigmoid":
            a, b = self.calibration_x
            out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(a * raw + b))
            return out
        return np.interp(raw, self.calibration_x, self.calibration_y)

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Calibrated probability that moderators would remove each (normalised) text."""
        return self.calibrate(self.decision(texts))

    def score(self, texts: Sequence[str], top_k: int = 3) -> Scores:
        """Probabilities and the `top_k` tokens (or style features) that raised each one most."""
        if not texts:
            return Scores(np.zeros(0), [])
        raw, rows, contrib, meta_contrib = self._parts(texts)
        probability = self.calibrate(raw)
        return Scores(probability, self._reasons(rows, contrib, meta_contrib, top_k))

    def _reasons(
        self, rows: SparseRows, contrib: NDArray[np.float64], meta_contrib: NDArray[np.float64], top_k: int
    ) -> list[list[str]]:
        """Per row, the names of the `top_k` largest positive contributions (vectorised ranking)."""
        n = len(rows.indptr) - 1
        if top_k == 0:
            return [[] for _ in range(n)]
        n_meta = meta_contrib.shape[1]
        doc = np.concatenate([np.repeat(np.arange(n), np.diff(rows.indptr)), np.repeat(np.arange(n), n_meta)])
        value = np.concatenate([contrib, meta_contrib.ravel()])
        name = np.concatenate([rows.indices, len(self.feature_names) + np.tile(np.arange(n_meta), n)])
        keep = value > 0
        doc, value, name = doc[keep], value[keep], name[keep]
        order = np.lexsort((-value, doc))
        doc, name = doc[order], name[order]
        first = np.searchsorted(doc, np.arange(n))
        rank = np.arange(len(doc)) - first[doc]
        top = rank < top_k
        names = self._all_names
        reasons: list[list[str]] = [[] for _ in range(n)]
        for d, j in zip(doc[top].tolist(), name[top].tolist(), strict=True):
            reasons[d].append(names[j])
        return reasons

    @cached_property
    def _all_names(self) -> list[str]:
        return [*self.feature_names, *(f"style:{m}" for m in META_NAMES)]

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every token the model saw in training (monitoring measures the share of unseen words)."""
        return frozenset(self.featurizer.tokens)

    def save(self, path: Path) -> None:
        """Write the archive (numpy's .npz; no pickled objects)."""
        f = self.featurizer
        by_id = sorted(f.tokens, key=f.tokens.__getitem__)
        header = {
            "format": FORMAT,
            "metadata": self.metadata,
            "intercept": self.intercept,
            "calibration": self.calibration,
        }
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                header=np.array(json.dumps(header)),
                tokens=np.array(by_id, dtype=np.str_),
                unigram_column=f.unigram_column,
                bigram_keys=f.bigram_keys,
                idf=f.idf,
                lexicon=f.lexicon,
                text_weights=self.text_weights,
                meta_weights=self.meta_weights,
                meta_mean=self.meta_mean,
                meta_scale=self.meta_scale,
                calibration_x=self.calibration_x,
                calibration_y=self.calibration_y,
                feature_names=np.array(self.feature_names, dtype=np.str_),
            )

    @classmethod
    def load(cls, source: Path | bytes) -> "LinearScorer":
        """Read an archive written by `save` (from a file or from bytes fetched from S3)."""
        fh = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
        with fh, np.load(fh, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if header.get("format") != FORMAT:
                raise ValueError(f"unsupported model format {header.get('format')!r}")
            tokens = {t: i for i, t in enumerate(z["tokens"].tolist())}
            featurizer = TextFeaturizer(tokens, z["unigram_column"], z["bigram_keys"], z["idf"], z["lexicon"])
            return cls(
                featurizer=featurizer,
                text_weights=z["text_weights"],
                meta_weights=z["meta_weights"],
                meta_mean=z["meta_mean"],
                meta_scale=z["meta_scale"],
                intercept=float(header["intercept"]),
                calibration=header["calibration"],
                calibration_x=z["calibration_x"],
                calibration_y=z["calibration_y"],
                feature_names=z["feature_names"].tolist(),
                metadata=dict(header["metadata"]),
            )
