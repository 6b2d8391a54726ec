"""The cascade: the fast model scores every message; the sentence encoder re-scores those it is unsure of.

Per category, a message whose fast probability falls in the category's uncertain band (chosen on
validation to meet a target escalation share) is escalated, and so is every message in a language the
fast model was not trained on, every message with a substantial share (`FOREIGN_SHARE`) of its text in
such a language, and every message of a channel whose policy asks for the encoder. An escalated message
is embedded once, in parts over its whole text (`Embedder.embed_parts`); each category's head reads every
part and keeps the highest, and its final probability is calibrated again on validation: stacked with
the fast score in a language the fast model knows, the encoder alone in one it does not. Language never
lowers a score: for a message in a language the fast model does not know, or a mix, the final
probability is the highest of the fast model's (where it read text in a language it knows, or is as
sure as it is of what it removes) and the encoder's alone on the segments in other languages, each
read apart — a sentence in another language cannot make the fast model's evidence disappear, and words
the fast model cannot read cannot hide behind a sentence it can.

A batch's encoder time is bounded and shared: escalations are embedded a few parts at a time, in turns
fair between channels and, within a channel, between senders (by the parts each has had embedded, so a
sender of long messages waits longer between turns), those that must not fall back first within each
sender's own messages. Once the budget is spent (or the encoder fails) the rest keep their fast score
(`fast_over_budget`); a message in a language the fast model does not know (or a mix) is then sent to
human review.

The heads are small (a 512-weight regression and five numbers per category) and travel inside the
champion's archive; the encoder itself is installed with the consumer and loaded once per process.
"""

import math
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from contracts.verdict import Stage
from stream_consumer import language
from stream_consumer.encoder import MAX_PARTS
from stream_consumer.identity import short_and_names_identity
from stream_consumer.language import UNDETERMINED, Languages

CHUNK = 32  # parts (short messages) embedded between two looks at the clock
FOREIGN_SHARE = 0.1  # of a text in languages the fast model does not know: it goes to the encoder
PART_CHARS = 500  # characters per part, about: a message's cost before it is tokenised
# The fast model's score of a text in a language it does not know is noise, unless it read text in one
# it knows there, or is as sure as it is of what it removes by default: evidence in any language.
FAST_SURE = 0.9
_EPS = 1e-6


class Embedder(Protocol):
    """What the cascade needs of an encoder: its identity and a batch of embeddings."""

    sha256: str

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def embed_parts(self, texts: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.intp]]: ...


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

    def judge(
        self,
        fast: NDArray[np.float64],
        raw: NDArray[np.float64],
        foreign_raw: NDArray[np.float64],
        known: NDArray[np.bool_],
        mixed: NDArray[np.bool_],
        readable: NDArray[np.bool_],
    ) -> NDArray[np.float64]:
        """Final probabilities of escalated messages. In a language the fast model knows: stacked (`raw`:
        the highest part's score). In one it does not, or a mix: the highest of the fast model's, where
        it read text in a language it knows (`readable`) or is sure (`FAST_SURE`), and the encoder's
        alone on the parts in other languages (`foreign_raw`, -inf where none was found: then on every
        part)."""
        alone = self.on_its_own(np.where(readable & np.isfinite(foreign_raw), foreign_raw, raw))
        foreign = np.maximum(np.where(readable | (fast >= FAST_SURE), fast, 0.0), alone)
        out: NDArray[np.float64] = np.where(known & ~mixed, self.combine(fast, raw), foreign)
        return out

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

    def mixed(self, mix: Languages) -> bool:
        """Whether a substantial share of a text is in languages the fast model does not know."""
        return mix.share_outside(self.languages) >= FOREIGN_SHARE

    def foreign(self, language: str) -> bool:
        """Whether a segment's language is one the fast model does not know (undetermined ones it does)."""
        return not self.knows(language)

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
    unjudged: NDArray[np.bool_]  # a language the fast model does not know (or a mix), no encoder score


def parts_of(text: str) -> int:
    """How many parts the encoder will read of a text, about (before it is tokenised)."""
    return min(MAX_PARTS, max(1, math.ceil(len(text) / PART_CHARS)))


def fair_order(
    escalated: Sequence[int],
    must: Sequence[bool],
    cost: Sequence[int],
    senders: Sequence[tuple[Hashable, Hashable]],
) -> list[int]:
    """The escalated messages in the order the encoder takes them: fair turns between channels, and
    within a channel between senders, each turn weighed by its parts (a start-time fair queue at two
    levels); within one sender's messages those that must not fall back go first. `senders` holds
    each message's (channel, user)."""

    def queue(items: Sequence[int], key: Callable[[int], Hashable]) -> dict[int, int]:
        """Each item's start: the parts its group had before it, the group's items taken in order."""
        spent: dict[Hashable, int] = defaultdict(int)
        start = {}
        for i in items:
            start[i] = spent[key(i)]
            spent[key(i)] += cost[i]
        return start

    by_sender = queue(sorted(escalated, key=lambda i: (not must[i], i)), lambda i: senders[i])
    in_channel = sorted(escalated, key=lambda i: (by_sender[i], not must[i], i))
    by_channel = queue(in_channel, lambda i: senders[i][0])
    return sorted(escalated, key=lambda i: (by_channel[i], not must[i], i))


@dataclass(frozen=True)
class _Batch:
    """What the cascade knows of each message before the encoder reads it."""

    segments: list[tuple[tuple[str, str], ...]]  # (language, text) runs of sentences, covering the text
    known: NDArray[np.bool_]  # its primary language is one the fast model knows (or undetermined)
    mixed: NDArray[np.bool_]  # a substantial share of it is in languages the fast model does not know
    readable: NDArray[np.bool_]  # some of it was identified as a language the fast model knows

    @classmethod
    def of(
        cls, cascade: Cascade, texts: Sequence[str], languages: Sequence[str], mixes: Sequence[Languages]
    ) -> "_Batch":
        n = len(texts)
        known = np.fromiter((cascade.knows(lang) for lang in languages), dtype=bool, count=n)
        return cls(
            [m.segments or ((lang, t),) for m, lang, t in zip(mixes, languages, texts, strict=True)],
            known,
            np.fromiter((cascade.mixed(m) for m in mixes), dtype=bool, count=n),
            known | np.fromiter((m.holds_any(cascade.languages) for m in mixes), dtype=bool, count=n),
        )


def _read(
    encoder: Embedder,
    cascade: Cascade,
    batch: _Batch,
    picked: list[int],
    fast: dict[str, NDArray[np.float64]],
    final: dict[str, NDArray[np.float64]],
    named_only: NDArray[np.bool_],
) -> None:
    """Embed the picked messages, every segment apart, and write their final probabilities (for a
    message escalated only because it names a group, those of the heads in IDENTITY_HEADS: the others
    keep the fast model's)."""
    segments = [(k, seg) for k, i in enumerate(picked) for seg in batch.segments[i]]
    embeddings, owner = encoder.embed_parts([text for _, (_, text) in segments])
    message = np.array([k for k, _ in segments], dtype=np.intp)[owner]  # each part's message
    apart = np.array([cascade.foreign(code) for _, (code, _) in segments], dtype=bool)[owner]
    idx = np.asarray(picked, dtype=np.intp)
    for name, head in cascade.heads.items():
        if name not in fast:
            continue
        scores = head.raw(embeddings)
        raw = np.full(len(idx), -np.inf)
        np.maximum.at(raw, message, scores)  # each message's highest part
        foreign_raw = np.full(len(idx), -np.inf)
        np.maximum.at(foreign_raw, message[apart], scores[apart])  # and its highest in another language
        judged = head.judge(
            fast[name][idx], raw, foreign_raw, batch.known[idx], batch.mixed[idx], batch.readable[idx]
        )
        final[name][idx] = (
            judged if name in IDENTITY_HEADS else np.where(named_only[idx], fast[name][idx], judged)
        )


# The heads a message naming an identity group is escalated for: the one judging attacks on a group.
# Toxicity's flags on short tweets naming "man" or "white" rose with the encoder's reading while their
# padded copies (too long to name a group for the cascade) kept the fast score: the padding gate fell.
IDENTITY_HEADS = frozenset({"hate"})


def _in_bands(cascade: Cascade, fast: dict[str, NDArray[np.float64]], n: int) -> NDArray[np.bool_]:
    """The messages whose fast score falls in some category's uncertain band."""
    out = np.zeros(n, dtype=bool)
    for name, head in cascade.heads.items():
        if name in fast:
            out |= head.uncertain(fast[name])
    return out


def _naming(cascade: Cascade, texts: Sequence[str]) -> NDArray[np.bool_]:
    """The short messages naming an identity group, when the cascade has a head they escalate for (the
    texts are not read otherwise)."""
    if not IDENTITY_HEADS & cascade.heads.keys():
        return np.zeros(len(texts), dtype=bool)
    return np.fromiter(map(short_and_names_identity, texts), dtype=bool, count=len(texts))


def uncertain(
    cascade: Cascade, fast: dict[str, NDArray[np.float64]], texts: Sequence[str]
) -> NDArray[np.bool_]:
    """The messages the fast model may not judge alone: a score in a category's uncertain band, or a
    short text that names an identity group (the fast model's words carry its training sets' history of
    each group, see stream_consumer/identity.py)."""
    return _naming(cascade, texts) | _in_bands(cascade, fast, len(texts))


def run(
    cascade: Cascade | None,
    fast: dict[str, NDArray[np.float64]],
    texts: Sequence[str],
    languages: Sequence[str],
    encoder: Embedder | None,
    *,
    forced: Sequence[bool] | None = None,
    mixes: Sequence[Languages] | None = None,
    senders: Sequence[tuple[Hashable, Hashable]] | None = None,
    normal: Sequence[str] | None = None,
    budget_s: float = float("inf"),
    clock: Callable[[], float] = time.monotonic,
) -> Cascaded:
    """The cascade over one batch: `fast` holds the fast model's probabilities per category, `texts`
    the messages as written, `languages` their primary languages, `mixes` their languages' shares and
    segments (read from the texts when not given), `forced` the messages whose channel asks for the
    encoder and `senders` each message's (channel, user), between whom the budget is shared (each
    message its own when not given)."""
    n = len(texts)
    final = {name: p.copy() for name, p in fast.items()}
    stage = [Stage.FAST] * n
    if cascade is None or n == 0:
        return Cascaded(final, stage, np.zeros(n, dtype=bool))
    if encoder is not None and encoder.sha256 != cascade.encoder_sha256:
        raise EncoderMismatchError(
            f"heads trained on encoder {cascade.encoder_sha256[:12]}, installed {encoder.sha256[:12]}"
        )
    batch = _Batch.of(cascade, texts, languages, mixes or [language.languages(t) for t in texts])
    foreign = ~batch.known | batch.mixed  # the fast model cannot be left to judge these alone
    must = foreign | (np.asarray(forced, dtype=bool) if forced is not None else np.zeros(n, dtype=bool))
    # A group is looked for in the normal form when the caller has it (what the fast model read: no
    # invisible or look-alike letter hides a name from it), else in the text as written.
    banded, named = _in_bands(cascade, fast, n), _naming(cascade, normal if normal is not None else texts)
    unsure = banded | named
    named_only = named & ~banded & ~must
    cost = [parts_of(t) for t in texts]
    order = fair_order(
        np.flatnonzero(must | unsure).tolist(),
        must.tolist(),
        cost,
        senders if senders is not None else [(i, i) for i in range(n)],
    )
    done = np.zeros(n, dtype=bool)
    started, lo = clock(), 0
    while encoder is not None and lo < len(order) and clock() - started < budget_s:
        hi, parts = lo + 1, cost[order[lo]]
        while hi < len(order) and parts < CHUNK:
            parts, hi = parts + cost[order[hi]], hi + 1
        try:
            _read(encoder, cascade, batch, order[lo:hi], fast, final, named_only)
        except Exception:  # a failing encoder is spent budget, never a failed batch
            break
        done[order[lo:hi]] = True
        lo = hi
    for i in order:
        stage[i] = Stage.ENCODER if done[i] else Stage.FAST_OVER_BUDGET
    return Cascaded(final, stage, foreign & ~done)
