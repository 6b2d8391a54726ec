"""The exported champion in its serving form: featurizer + linear weights + calibration, per category.

Loads from one `.npz` archive with numpy alone (no scikit-learn, scipy or mlflow import at cold
start) and scores a whole batch in one vectorised pass. A head reads a text twice with one set of
weights: whole (its ranking on real, long messages) and as windows of tokens (see
`features.WindowSpec`), whose highest score is the evidence that padding cannot dilute; a learnt stack
of the two linear scores (both weights at least 0: more evidence never lowers a score) is the text's
log-odds. A head without a stack (archives before it) scores a text by its highest window alone. A
`CategoryModel` holds one head per harm category over one shared featurizer: a batch is featurised
whole once, and its long texts once per window size, and every head reads the same rows.
"""

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from stream_consumer.cascade import Cascade
from stream_consumer.features import (
    META_NAMES,
    WHOLE,
    SparseRows,
    TextFeaturizer,
    Tokens,
    WindowRows,
    WindowSpec,
    standardise,
)
from stream_consumer.normalize import NORMAL_FORM_VERSION, NormalText

FORMAT = "chat-moderation/linear-v3"
CATEGORIES_FORMAT = "chat-moderation/categories-v2"
# The formats before these stored the vocabulary and the feature names as fixed-width string arrays,
# every string as wide as the longest (one 10,000-character token in a training text made the
# vocabulary gigabytes to load): read, never written. A consumer older than the packed strings refuses
# a newer archive by its format, instead of reading the bytes as words.
LINEAR_FORMATS = frozenset({FORMAT, "chat-moderation/linear-v2"})
CATEGORIES_FORMATS = frozenset({CATEGORIES_FORMAT, "chat-moderation/categories-v1"})
DEFAULT_WINDOW = WindowSpec()


def _window_header(spec: WindowSpec) -> dict[str, float]:
    """A window's archive header; an l2 window writes no `row_norm` (archives before it read as l2)."""
    header: dict[str, float] = {"size": spec.size, "most": spec.most}
    if spec.row_norm:
        header["row_norm"] = spec.row_norm
    return header


# A single-head archive (the format before categories) scores this category: its moderators' removals.
SINGLE_HEAD_CATEGORY = "removal"


class UnsupportedModelError(ValueError):
    """The archive's format or normal form is not the one this code implements."""


@dataclass(frozen=True)
class Scores:
    """Calibrated probabilities and, per message, the features that pushed the score up most."""

    probability: NDArray[np.float64]
    reasons: list[list[str]]


class BatchRows:
    """A batch's feature rows, computed once and shared by every head that reads them: the batch is
    tokenised once, then featurised whole, and per window size the texts longer than one window as
    windows (or, for a head without a stack, every text as windows)."""

    def __init__(self, featurizer: TextFeaturizer, batch: Sequence[NormalText]) -> None:
        self.featurizer = featurizer
        self.batch = batch
        self._mixed = np.fromiter((t.mixed_script for t in batch), dtype=np.float64, count=len(batch))
        self._rows: dict[tuple[WindowSpec, bool], tuple[WindowRows | None, NDArray[np.int64]]] = {}

    @cached_property
    def tokens(self) -> Tokens:
        return self.featurizer.with_chars(self.featurizer.tokenize([t.text for t in self.batch]))

    def whole(self) -> WindowRows:
        """One row per text."""
        return self.every(WHOLE)

    def every(self, spec: WindowSpec) -> WindowRows:
        """Every text as windows of `spec`."""
        key = (spec, True)
        if key not in self._rows:
            rows = self.featurizer.rows_of(self.tokens, self._mixed, spec)
            self._rows[key] = (rows, np.arange(len(self.batch), dtype=np.int64))
        found = self._rows[key][0]
        assert found is not None
        return found

    def long(self, spec: WindowSpec) -> tuple[WindowRows | None, NDArray[np.int64]]:
        """The windows of the texts with more tokens than one window holds (None: no such text), and
        those texts' indices."""
        key = (spec, False)
        if key not in self._rows:
            idx = np.flatnonzero(self.whole().tokens_per_text > spec.size)
            rows = (
                self.featurizer.rows_of(self.tokens.subset(idx), self._mixed[idx], spec) if len(idx) else None
            )
            self._rows[key] = (rows, idx)
        return self._rows[key]


@dataclass(frozen=True)
class _Parts:
    raw: NDArray[np.float64]  # per text: the highest window's linear score
    rows: SparseRows  # per window
    contrib: NDArray[np.float64]  # per stored entry of `rows`
    meta_contrib: NDArray[np.float64]  # per window
    best: NDArray[np.int64]  # per text: the window that gave `raw`


@dataclass(frozen=True)
class LinearScorer:
    """Logistic regression over TF-IDF + standardised dense features, max over windows, calibrated."""

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
    window: WindowSpec = DEFAULT_WINDOW
    normal_form: str = NORMAL_FORM_VERSION
    # [whole, highest window, bias]: the text's log-odds from its whole-text and highest-window linear
    # scores. Empty: the highest window alone (the form before stacks).
    stack: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def _linear(
        self, rows: WindowRows
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Each row's linear score, each stored entry's contribution, each row's dense contributions."""
        meta_contrib = standardise(rows.meta, self.meta_mean, self.meta_scale) * self.meta_weights
        contrib = rows.tfidf.data * self.text_weights[rows.tfidf.indices]
        n_rows = len(rows.text)
        entry_row = np.repeat(np.arange(n_rows), np.diff(rows.tfidf.indptr))
        raw = (
            np.bincount(entry_row, weights=contrib, minlength=n_rows)
            + meta_contrib.sum(axis=1)
            + self.intercept
        )
        return raw, contrib, meta_contrib

    @staticmethod
    def _best(window_raw: NDArray[np.float64], rows: WindowRows) -> NDArray[np.int64]:
        """Each text's best window: windows sorted by text, then by score, highest first (a NaN sorts
        last and cannot break the selection; the smoke prediction refuses a model that makes one)."""
        if not len(rows.text):
            return np.zeros(0, dtype=np.int64)
        best: NDArray[np.int64] = np.lexsort((-window_raw, rows.text))[rows.first]
        return best

    def _parts(self, batch: Sequence[NormalText], rows: BatchRows | None = None) -> _Parts:
        rows = rows if rows is not None else BatchRows(self.featurizer, batch)
        if not len(self.stack):
            windows = rows.every(self.window)
            window_raw, contrib, meta_contrib = self._linear(windows)
            best = self._best(window_raw, windows)
            return _Parts(window_raw[best], windows.tfidf, contrib, meta_contrib, best)
        whole = rows.whole()
        whole_raw, contrib, meta_contrib = self._linear(whole)
        highest = self._highest(whole_raw, rows)
        a, b, c = self.stack
        raw = a * whole_raw + b * highest + c
        return _Parts(raw, whole.tfidf, contrib, meta_contrib, np.arange(len(batch), dtype=np.int64))

    def _highest(self, whole_raw: NDArray[np.float64], rows: BatchRows) -> NDArray[np.float64]:
        """Each text's highest window's linear score, given its whole-text score."""
        highest = whole_raw.copy()  # a text that fits in one window is its own highest window
        parts, long = rows.long(self.window)
        if parts is not None:
            window_raw, _, _ = self._linear(parts)
            highest[long] = window_raw[self._best(window_raw, parts)]
        return highest

    def whole_and_highest(
        self, batch: Sequence[NormalText], rows: BatchRows | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The two linear scores a stack combines: each text's whole-text score and its highest
        window's (what training fits the stack on)."""
        rows = rows if rows is not None else BatchRows(self.featurizer, batch)
        whole_raw = self._linear(rows.whole())[0]
        return whole_raw, self._highest(whole_raw, rows)

    def decision(self, batch: Sequence[NormalText], rows: BatchRows | None = None) -> NDArray[np.float64]:
        """The uncalibrated score of each text (log-odds before calibration): the stack of its whole and
        highest-window linear scores, or its highest window's."""
        return self._parts(batch, rows).raw if batch else np.zeros(0)

    def calibrate(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map raw linear scores to calibrated probabilities."""
        if self.calibration == "sigmoid":
            a, b = self.calibration_x
            out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(a * raw + b))
            return out
        return np.interp(raw, self.calibration_x, self.calibration_y)

    def predict_proba(self, batch: Sequence[NormalText]) -> NDArray[np.float64]:
        """Calibrated probability that moderators would remove each (normalised) text."""
        return self.calibrate(self.decision(batch))

    def score(self, batch: Sequence[NormalText], top_k: int = 3, rows: BatchRows | None = None) -> Scores:
        """Probabilities and the `top_k` tokens (or style features) that raised each one most."""
        if not batch:
            return Scores(np.zeros(0), [])
        parts = self._parts(batch, rows)
        return Scores(self.calibrate(parts.raw), self._reasons(parts, top_k))

    @property
    def categories(self) -> tuple[str, ...]:
        return (SINGLE_HEAD_CATEGORY,)

    @property
    def cascade(self) -> Cascade | None:
        """A single head has no encoder heads."""
        return None

    def score_categories(self, batch: Sequence[NormalText], top_k: int = 3) -> dict[str, Scores]:
        """The single head's scores, under the category a single-head model scores."""
        return {SINGLE_HEAD_CATEGORY: self.score(batch, top_k)}

    def _reasons(self, parts: _Parts, top_k: int) -> list[list[str]]:
        """Per text, the names of the `top_k` largest positive contributions in its best window."""
        n = len(parts.raw)
        if top_k == 0:
            return [[] for _ in range(n)]
        indptr = parts.rows.indptr
        lo, hi = indptr[parts.best], indptr[parts.best + 1]
        sizes = hi - lo
        entry_doc = np.repeat(np.arange(n), sizes)
        entry = (
            np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(lo, sizes)
        )
        n_meta = parts.meta_contrib.shape[1]
        doc = np.concatenate([entry_doc, np.repeat(np.arange(n), n_meta)])
        value = np.concatenate([parts.contrib[entry], parts.meta_contrib[parts.best].ravel()])
        name = np.concatenate(
            [parts.rows.indices[entry], len(self.feature_names) + np.tile(np.arange(n_meta), n)]
        )
        words = self.featurizer.n_word_columns  # character n-grams name no word to show
        keep = (value > 0) & ((name < words) | (name >= len(self.feature_names)))
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
        header = {
            "format": FORMAT,
            "normal_form": self.normal_form,
            "window": _window_header(self.window),
            "metadata": self.metadata,
            "intercept": self.intercept,
            "calibration": self.calibration,
        }
        arrays: dict[str, Any] = {
            "header": np.array(json.dumps(header)),
            **_featurizer_arrays(self.featurizer),
            "text_weights": self.text_weights,
            "meta_weights": self.meta_weights,
            "meta_mean": self.meta_mean,
            "meta_scale": self.meta_scale,
            "calibration_x": self.calibration_x,
            "calibration_y": self.calibration_y,
            "stack": self.stack,
            "feature_names": packed(self.feature_names),
        }
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)

    @staticmethod
    def header(source: bytes) -> dict[str, object]:
        """The archive's header alone (format, normal form, window), without loading the model."""
        with np.load(io.BytesIO(source), allow_pickle=False) as z:
            return dict(json.loads(str(z["header"])))

    @classmethod
    def load(cls, source: Path | bytes) -> "LinearScorer":
        """Read an archive written by `save`; refuse a format or normal form this code does not implement."""
        fh = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
        with fh, np.load(fh, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if header.get("format") not in LINEAR_FORMATS:
                raise UnsupportedModelError(f"unsupported model format {header.get('format')!r}")
            if header.get("normal_form") != NORMAL_FORM_VERSION:
                raise UnsupportedModelError(
                    f"model trained on normal form {header.get('normal_form')!r}; "
                    f"this consumer implements {NORMAL_FORM_VERSION!r}"
                )
            featurizer = _featurizer(z)
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
                feature_names=unpacked(z["feature_names"]),
                metadata=dict(header["metadata"]),
                window=WindowSpec(**header["window"]),
                normal_form=header["normal_form"],
                stack=_optional(z, "stack"),
            )


def _optional(archive: Any, key: str) -> NDArray[np.float64]:
    """An array archives before it lack (read as empty)."""
    return np.asarray(archive[key], dtype=np.float64) if key in archive.files else np.zeros(0)


def packed(strings: Sequence[str]) -> NDArray[np.uint8]:
    """Strings as the UTF-8 bytes of a JSON list: as long as their text."""
    return np.frombuffer(json.dumps(strings).encode(), dtype=np.uint8)


def unpacked(array: NDArray[Any]) -> list[str]:
    """The strings `packed` wrote, or those of a fixed-width string array (the formats before it)."""
    if array.dtype == np.uint8:
        return [str(s) for s in json.loads(array.tobytes())]
    return [str(s) for s in array.tolist()]


def _featurizer_arrays(f: TextFeaturizer) -> dict[str, NDArray[Any]]:
    """The featurizer's arrays in an archive (read back by `_featurizer`)."""
    return {
        "tokens": packed(sorted(f.tokens, key=f.tokens.__getitem__)),
        "unigram_column": f.unigram_column,
        "bigram_keys": f.bigram_keys,
        "idf": f.idf,
        "lexicon": f.lexicon,
        "char_buckets": f.char_buckets,
        "min_token_chars": np.array(f.min_token_chars),
    }


def _featurizer(archive: Any) -> TextFeaturizer:
    tokens = {t: i for i, t in enumerate(unpacked(archive["tokens"]))}
    chars = archive["char_buckets"] if "char_buckets" in archive.files else np.zeros(0, dtype=np.int64)
    min_token_chars = int(archive["min_token_chars"]) if "min_token_chars" in archive.files else 1
    return TextFeaturizer(
        tokens,
        archive["unigram_column"],
        archive["bigram_keys"],
        archive["idf"],
        archive["lexicon"],
        chars,
        min_token_chars,
    )


@dataclass(frozen=True)
class CategoryModel:
    """One calibrated head per harm category over one shared featurizer (`heads` share the object)."""

    heads: dict[str, LinearScorer]
    metadata: dict[str, str]
    normal_form: str = NORMAL_FORM_VERSION
    cascade: Cascade | None = None  # the encoder heads over the fast model (see `cascade`)

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError("a category model needs at least one head")
        featurizers = {id(h.featurizer) for h in self.heads.values()}
        if len(featurizers) != 1:
            raise ValueError("every head of a category model reads the one shared featurizer")

    @property
    def featurizer(self) -> TextFeaturizer:
        return next(iter(self.heads.values())).featurizer

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.heads)

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every token the model saw in training (monitoring measures the share of unseen words)."""
        return frozenset(self.featurizer.tokens)

    def score_categories(
        self, batch: Sequence[NormalText], top_k: int = 3, rows: BatchRows | None = None
    ) -> dict[str, Scores]:
        """Every head's probabilities and reasons; the batch is featurised whole once, and its long
        texts once per window size (unless given its `rows`, featurised by this model's featurizer)."""
        rows = rows if rows is not None else BatchRows(self.featurizer, batch)
        return {name: head.score(batch, top_k, rows) for name, head in self.heads.items()}

    def predict_proba(
        self, batch: Sequence[NormalText], rows: BatchRows | None = None
    ) -> dict[str, NDArray[np.float64]]:
        """Calibrated probabilities per category."""
        return {name: s.probability for name, s in self.score_categories(batch, 0, rows).items()}

    def save(self, path: Path) -> None:
        """Write the archive: the shared featurizer once, then each head's weights and calibration."""
        heads = []
        arrays: dict[str, Any] = {}
        for i, (name, h) in enumerate(self.heads.items()):
            heads.append(
                {
                    "name": name,
                    "intercept": h.intercept,
                    "calibration": h.calibration,
                    "window": _window_header(h.window),
                    "metadata": h.metadata,
                }
            )
            for key in (
                "text_weights",
                "meta_weights",
                "meta_mean",
                "meta_scale",
                "calibration_x",
                "calibration_y",
                "stack",
            ):
                arrays[f"h{i}_{key}"] = getattr(h, key)
        header: dict[str, Any] = {
            "format": CATEGORIES_FORMAT,
            "normal_form": self.normal_form,
            "metadata": self.metadata,
            "heads": heads,
        }
        if self.cascade is not None:
            header["cascade"] = self.cascade.header()
            arrays |= self.cascade.arrays()
        with path.open("wb") as fh:
            arrays |= {
                "header": np.array(json.dumps(header)),
                **_featurizer_arrays(self.featurizer),
                "feature_names": packed(next(iter(self.heads.values())).feature_names),
            }
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, source: Path | bytes) -> "CategoryModel":
        """Read an archive of either format (a single-head one scores `removal`); refuse a format or
        normal form this code does not implement."""
        data = source if isinstance(source, bytes) else source.read_bytes()
        header = LinearScorer.header(data)
        if header.get("format") in LINEAR_FORMATS:
            single = LinearScorer.load(data)
            return cls({SINGLE_HEAD_CATEGORY: single}, dict(single.metadata), single.normal_form)
        if header.get("format") not in CATEGORIES_FORMATS:
            raise UnsupportedModelError(f"unsupported model format {header.get('format')!r}")
        if header.get("normal_form") != NORMAL_FORM_VERSION:
            raise UnsupportedModelError(
                f"model trained on normal form {header.get('normal_form')!r}; "
                f"this consumer implements {NORMAL_FORM_VERSION!r}"
            )
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            featurizer = _featurizer(z)
            names = unpacked(z["feature_names"])
            heads = {}
            heads_header = header["heads"]
            if not isinstance(heads_header, list):
                raise UnsupportedModelError("the archive's header lists no heads")
            for i, h in enumerate(heads_header):
                heads[str(h["name"])] = LinearScorer(
                    featurizer=featurizer,
                    text_weights=z[f"h{i}_text_weights"],
                    meta_weights=z[f"h{i}_meta_weights"],
                    meta_mean=z[f"h{i}_meta_mean"],
                    meta_scale=z[f"h{i}_meta_scale"],
                    intercept=float(h["intercept"]),
                    calibration=h["calibration"],
                    calibration_x=z[f"h{i}_calibration_x"],
                    calibration_y=z[f"h{i}_calibration_y"],
                    feature_names=names,
                    metadata=dict(h["metadata"]),
                    window=WindowSpec(**h["window"]),
                    normal_form=str(header["normal_form"]),
                    stack=_optional(z, f"h{i}_stack"),
                )
            cascade_header = header.get("cascade")
            cascade = Cascade.read(cascade_header, z) if isinstance(cascade_header, dict) else None
        metadata = header.get("metadata", {})
        return cls(
            heads, dict(metadata) if isinstance(metadata, dict) else {}, str(header["normal_form"]), cascade
        )
