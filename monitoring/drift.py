"""Drift of the chat text and of the champion's predictions, measured with Evidently, decided by
explicit rules. Models in, a `DriftResult` out: no AWS, MLflow or Prefect here.

Descriptors per message (all computed offline): the share of words the champion never saw in
training (`unseen_word_share`), length, the share of non-letter characters, whether it is in a language
the reference does not hold (`other_language_share`: the language mix), and the calibrated scores.
The reference is a held-out sample of the champion's own training communities (validation/test texts
the model did not fit on), stored with the model: training texts would show no unseen words at all.
Measured (r/science reference, windows of 300–500 messages): a window with 20% tweets moves
`unseen_word_share` by +0.035…+0.052 with a KS p-value < 1e-3 in 50/50 windows; same-community
windows moved −0.007…+0.009 with p > 0.05 in 50/50.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import MeanValue, ValueDrift
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from stream_consumer.language import UNDETERMINED
from stream_consumer.normalize import TOKEN

TEXT_DESCRIPTORS = ("unseen_word_share", "length", "non_letter_share", "other_language_share")
LANGUAGE_FLOOR = 0.05  # a language the reference holds: at least this share of its texts
SCORE_PREFIX = "score."  # then the category: one score descriptor per category the champion scores


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """The descriptors of a table: the text's, then one score per category."""
    return [c for c in frame.columns if c != "text"]


def trended(frame: pd.DataFrame) -> list[str]:
    """The descriptors whose window means the workspace's dashboard keeps."""
    return ["unseen_word_share", *(c for c in frame.columns if c.startswith(SCORE_PREFIX))]


class DriftRules(BaseModel):
    """When a window counts as drifted. Every number is a setting; defaults are the measured ones."""

    model_config = ConfigDict(frozen=True)

    min_window: int = Field(default=300, ge=20)
    unseen_pvalue: float = 1e-3  # KS test on unseen_word_share
    unseen_increase: float = 0.02  # or a mean increase this large
    language_increase: float = 0.05  # the share of messages in languages the reference does not hold
    score_pvalue: float = 1e-6  # KS test on the score distribution (prediction drift)
    cooldown: timedelta = timedelta(minutes=30)  # one shift, one retraining


class DriftSummary(BaseModel):
    """The numbers of one window against the reference."""

    model_config = ConfigDict(frozen=True)

    window_size: int
    reference_size: int
    pvalues: dict[str, float]  # per descriptor, Evidently's KS test
    means: dict[str, float]
    reference_means: dict[str, float]
    action_rates: dict[str, float]
    text_drift_score: float | None  # Evidently's text-content drift (domain classifier), informational
    quality: dict[str, float] = {}  # ROC-AUC / precision / recall on moderator-labelled messages


class DriftResult(BaseModel):
    """The decision, its reasons, and whether a retraining should start now."""

    model_config = ConfigDict(frozen=True)

    drifted: bool
    trigger_retraining: bool
    reasons: list[str]
    summary: DriftSummary


def unseen_word_share(texts: Sequence[str], vocabulary: frozenset[str] | set[str]) -> NDArray[np.float64]:
    """Per (normalised) text: the share of its words the champion never saw in training."""
    out = np.zeros(len(texts))
    for i, text in enumerate(texts):
        words = [w for w in TOKEN.findall(text) if w[0].isalnum()]
        if words:
            out[i] = sum(w not in vocabulary for w in words) / len(words)
    return out


def reference_languages(languages: Sequence[str]) -> frozenset[str]:
    """The languages of a reference: those of at least `LANGUAGE_FLOOR` of its texts, and `und`."""
    counts = pd.Series(list(languages), dtype=object).value_counts(normalize=True)
    return frozenset({UNDETERMINED, *(str(k) for k, v in counts.items() if v >= LANGUAGE_FLOOR)})


def descriptors(
    texts: Sequence[str],
    scores: Mapping[str, Sequence[float]],
    vocabulary: frozenset[str] | set[str],
    languages: Sequence[str],
    known: frozenset[str],
) -> pd.DataFrame:
    """The descriptor table of a set of normalised texts, their scores per category (the reference
    and the window scored by the same model version, so an upgrade alone is no drift) and their
    languages (`other_language_share`: 1 for a text in a language the reference does not hold)."""
    lengths = np.fromiter(map(len, texts), dtype=float, count=len(texts))
    letters = np.fromiter((sum(c.isalpha() for c in t) for t in texts), dtype=float, count=len(texts))
    return pd.DataFrame(
        {
            "text": list(texts),
            "unseen_word_share": unseen_word_share(texts, vocabulary),
            "length": lengths,
            "non_letter_share": 1.0 - letters / np.maximum(lengths, 1.0),
            "other_language_share": np.array([float(lang not in known) for lang in languages]),
            **{f"{SCORE_PREFIX}{c}": np.asarray(s, dtype=float) for c, s in sorted(scores.items())},
        }
    )


def evidently_report(
    reference: pd.DataFrame, current: pd.DataFrame, text_drift: bool = True
) -> tuple[Snapshot, dict[str, float], float | None]:
    """Run Evidently: KS drift per descriptor, and (optionally) its text-content drift on the text."""
    numeric = numeric_columns(reference)
    definition = DataDefinition(numerical_columns=numeric, text_columns=["text"])
    metrics: list[ValueDrift | MeanValue] = [ValueDrift(column=c, method="ks") for c in numeric]
    if text_drift:
        metrics.append(ValueDrift(column="text"))
    metrics += [MeanValue(column=c) for c in trended(reference)]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    values = {}
    text_score = None
    for m in snapshot.dict()["metrics"]:
        if not m["config"]["type"].endswith(":ValueDrift"):
            continue
        column = m["config"]["column"]
        if column == "text":
            text_score = float(m["value"])
        else:
            values[column] = float(m["value"])
    return snapshot, values, text_score


def summarise(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    pvalues: dict[str, float],
    text_drift_score: float | None,
    actions: Sequence[str],
    quality: dict[str, float] | None = None,
) -> DriftSummary:
    """Collect one window's numbers."""
    rates = pd.Series(list(actions), dtype=object).value_counts(normalize=True).to_dict() if actions else {}
    return DriftSummary(
        window_size=len(current),
        reference_size=len(reference),
        pvalues=pvalues,
        means={c: float(current[c].mean()) for c in numeric_columns(reference)},
        reference_means={c: float(reference[c].mean()) for c in numeric_columns(reference)},
        action_rates={str(k): float(v) for k, v in rates.items()},
        text_drift_score=text_drift_score,
        quality=quality or {},
    )


def assess(
    summary: DriftSummary, rules: DriftRules, now: datetime, last_trigger: datetime | None = None
) -> DriftResult:
    """Apply the rules: enough messages, then unseen-word or prediction drift; respect the cool-down."""
    if summary.window_size < rules.min_window:
        reason = f"window of {summary.window_size} messages is below the minimum of {rules.min_window}"
        return DriftResult(drifted=False, trigger_retraining=False, reasons=[reason], summary=summary)
    reasons = []
    p_unseen = summary.pvalues.get("unseen_word_share", 1.0)
    increase = summary.means["unseen_word_share"] - summary.reference_means["unseen_word_share"]
    if p_unseen < rules.unseen_pvalue:
        reasons.append(f"unseen-word share drifted (KS p={p_unseen:.2g} < {rules.unseen_pvalue:g})")
    if increase > rules.unseen_increase:
        reasons.append(f"unseen-word share rose by {increase:+.3f} (> {rules.unseen_increase:g})")
    other = summary.means.get("other_language_share", 0.0) - summary.reference_means.get(
        "other_language_share", 0.0
    )
    if other > rules.language_increase:
        reasons.append(
            f"language mix changed: messages in languages the reference does not hold rose by {other:+.3f} "
            f"(> {rules.language_increase:g})"
        )
    for column, p_score in sorted(summary.pvalues.items()):
        if column.startswith(SCORE_PREFIX) and p_score < rules.score_pvalue:
            category = column.removeprefix(SCORE_PREFIX)
            reasons.append(
                f"{category} score distribution drifted (KS p={p_score:.2g} < {rules.score_pvalue:g})"
            )
    drifted = bool(reasons)
    cooling = last_trigger is not None and now - last_trigger < rules.cooldown
    if drifted and cooling:
        reasons.append(f"retraining already triggered at {last_trigger:%Y-%m-%d %H:%M} (cool-down)")
    if not drifted:
        reasons.append("no rule fired")
    return DriftResult(
        drifted=drifted, trigger_retraining=drifted and not cooling, reasons=reasons, summary=summary
    )
