"""The cascade: the fast model scores every message; the sentence encoder re-scores those it is unsure of.

Per category, a message whose fast probability falls in the category's uncertain band (chosen on
validation to meet a target escalation share) is escalated, and so is every message in a language the
fast model was not trained on (it never falls back to the fast model) and every message of a channel
whose policy asks for the encoder. An escalated message is embedded once; each category's head reads
the embedding, and its final probability is calibrated again on validation: stacked with the fast
score in a language the fast model knows, the encoder alone in one it does not.

A batch's encoder time is bounded: escalations are embedded a chunk at a time, those that must not
fall back first, and once the budget is spent (or the encoder fails) the rest keep their fast score
(`fast_over_budget`);
a message in a language the fast model does not know is then sent to human review.

The heads are small (a 512-weight regression and five numbers per category) and travel inside the
champion's archive; the encoder itself is installed with the consumer and loaded once per process.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from contracts.verdict import Stage
from stream_consumer.language import UNDETERMINED

CHUNK = 32  # escalated messages embedded between two looks at the clock
_EPS = 1e-6


class Embedder(Protocol):
    """What the cascade needs of an encoder: its identity and a batch of embeddings."""

    sha256: str

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class EncoderMismatchError(ValueError):
    """The champion's encoder heads were trained on another encoder than the one installed."""


def logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, _EPS, 1 - _EPS)
    out: NDArray[np.float64] = np.log(q / (1 - q))
    return out


def sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))
    return out


@dataclass(frozen=True)
class EncoderHead:
    """One category's regression on the embedding, its two calibrations, and its uncertain band."""

    weights: NDArray[np.float64]  # (DIMENSIONS,)
    intercept: float
    stacked: NDArray[np.float64]  # [fast, encoder, bias]: over logit(fast probability) and the raw score
    alone: NDArray[np.float64]  # [encoder, bias]: for a language the fast model does not know
    band: tuple[float, float]  # fast probabilities [low, high] that escalate

    def raw(self, embeddings: NDArray[np.float32]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = embeddings.astype(np.float64) @ self.weights + self.intercept
        return out

    def combine(self, fast: NDArray[np.float64], raw: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b, c = self.stacked
        return sigmoid(a * logit(fast) + b * raw + c)

    def on_its_own(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b = self.alone
        return sigmoid(a * raw + b)

    def uncertain(self, fast: NDArray[np.float64]) -> NDArray[np.bool_]:
        low, high = self.band
        out: NDArray[np.bool_] = (fast >= low) & (fast <= high)
        return out


@dataclass(frozen=True)
class Cascade:
    """The encoder heads of a champion: which encoder they read and which languages the fast model knows."""

    encoder: str  # the encoder's name, for people
    encoder_sha256: str  # the encoder's identity, for the consumer
    heads: dict[str, EncoderHead]
    languages: tuple[str, ...]  # the languages of the fast model's training texts

    def knows(self, language: str) -> bool:
        """Whether the fast model may judge a message in this language (undetermined ones it may)."""
        return language == UNDETERMINED or language in self.languages

    def header(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "encoder_sha256": self.encoder_sha256,
            "languages": list(self.languages),
            "heads": [
                {
                    "name": name,
                    "intercept": h.intercept,
                    "stacked": h.stacked.tolist(),
                    "alone": h.alone.tolist(),
                    "band": list(h.band),
                }
                for name, h in self.heads.items()
            ],
        }

    def arrays(self) -> dict[str, NDArray[np.float64]]:
        return {f"cascade{i}_weights": h.weights for i, h in enumerate(self.heads.values())}

    @classmethod
    def read(cls, header: dict[str, Any], arrays: Any) -> "Cascade":
        heads = {
            str(h["name"]): EncoderHead(
                weights=np.asarray(arrays[f"cascade{i}_weights"], dtype=np.float64),
                intercept=float(h["intercept"]),
                stacked=np.array(h["stacked"], dtype=np.float64),
                alone=np.array(h["alone"], dtype=np.float64),
                band=(float(h["band"][0]), float(h["band"][1])),
            )
            for i, h in enumerate(header["heads"])
        }
        return cls(str(header["encoder"]), str(header["encoder_sha256"]), heads, tuple(header["languages"]))


@dataclass(frozen=True)
class Cascaded:
    """Final probabilities per category, each message's stage, and which of them must go to review."""

    probability: dict[str, NDArray[np.float64]]
    stage: list[Stage]
    unjudged: NDArray[np.bool_]  # a language the fast model does not know, and no encoder score


def run(
    cascade: Cascade | None,
    fast: dict[str, NDArray[np.float64]],
    texts: Sequence[str],
    languages: Sequence[str],
    encoder: Embedder | None,
    *,
    forced: Sequence[bool] | None = None,
    budget_s: float = float("inf"),
    clock: Callable[[], float] = time.monotonic,
) -> Cascaded:
    """The cascade over one batch: `fast` holds the fast model's probabilities per category, `texts`
    the messages as written, `forced` the messages whose channel asks for the encoder."""
    n = len(texts)
    final = {name: p.copy() for name, p in fast.items()}
    stage = [Stage.FAST] * n
    if cascade is None or n == 0:
        return Cascaded(final, stage, np.zeros(n, dtype=bool))
    if encoder is not None and encoder.sha256 != cascade.encoder_sha256:
        raise EncoderMismatchError(
            f"heads trained on encoder {cascade.encoder_sha256[:12]}, installed {encoder.sha256[:12]}"
        )
    heads = {name: h for name, h in cascade.heads.items() if name in fast}
    known = np.fromiter((cascade.knows(lang) for lang in languages), dtype=bool, count=n)
    must = ~known | (np.asarray(forced, dtype=bool) if forced is not None else np.zeros(n, dtype=bool))
    unsure = np.zeros(n, dtype=bool)
    for name, head in heads.items():
        unsure |= head.uncertain(fast[name])
    order = np.concatenate([np.flatnonzero(must), np.flatnonzero(unsure & ~must)])
    done = np.zeros(n, dtype=bool)
    started = clock()
    for lo in range(0, len(order) if encoder is not None else 0, CHUNK):
        if clock() - started >= budget_s:
            break
        idx = order[lo : lo + CHUNK]
        try:
            embeddings = encoder.embed([texts[i] for i in idx])  # type: ignore[union-attr]
        except Exception:  # a failing encoder is spent budget, never a failed batch
            break
        for name, head in heads.items():
            raw = head.raw(embeddings)
            final[name][idx] = np.where(known[idx], head.combine(fast[name][idx], raw), head.on_its_own(raw))
        done[idx] = True
    for i in order.tolist():
        stage[i] = Stage.ENCODER if done[i] else Stage.FAST_OVER_BUDGET
    return Cascaded(final, stage, ~known & ~done)
