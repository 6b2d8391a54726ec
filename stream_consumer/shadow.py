"""Shadow scoring: the challenger judges a drawn share of each channel's messages beside the champion.

When a challenger is published (`challenger.json` in the models bucket, loaded and checked as the
champion is), every message its channel's `sampling.shadow` share draws is judged by the challenger too,
exactly as the challenger would serve it: the message as the champion's batch read it (normal form,
policy, rules, languages: read once), then the challenger's scores, cascade and verdict (without the
window's context, which the champion's verdicts count). Only the champion acts: the challenger's
verdicts go to the archive beside the champion's (`ArchivedMessage.shadow`), never to the verdicts
stream, and they are the live evidence a promotion weighs (both models, the same messages).

While a canary serves a share of channels (`canary.json`), the shadow scorer's model is the champion
instead, on every message of those channels: the old model beside the new on the same messages, which
is the evidence that widens the canary or rolls it back (`monitoring/canary.py`).

A broken or slow challenger never touches the champion's verdicts: it runs on a thread of its own while
the batch's verdicts are written, and the batch waits for it at most `timeout_s` before archiving
without it. One that raises, or outlasts the wait, is dropped for the batch (a metric and a log line);
while a stalled run still holds the thread, later batches are not shadow-scored (`busy`), so a stuck
challenger costs one thread, not the stream.
"""

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from contracts.policy import drawn
from contracts.storage import ShadowVerdict
from contracts.verdict import Verdict
from stream_consumer.cascade import Embedder
from stream_consumer.moderation import BatchOutcome, Canary, Champion, ModerationOptions, Prepared, judge


def shadow_of(verdict: Verdict) -> ShadowVerdict:
    """A challenger's verdict as the archive keeps it beside the champion's."""
    return ShadowVerdict(
        model_version=verdict.model_version,
        action=verdict.action,
        category=verdict.category,
        scores={name: c.score for name, c in verdict.categories.items()},
        stage=verdict.stage,
    )


def shadow_verdicts(
    challenger: Champion,
    prepared: Sequence[Prepared],
    policy_version: str,
    now: datetime,
    options: ModerationOptions,
    encoder: Embedder | None,
) -> dict[UUID, ShadowVerdict]:
    """The challenger's verdict on each prepared message, as it would serve it (no window context; no
    reasons: the archive keeps its action and scores, not its explanations)."""
    moderated, _ = judge(
        prepared, challenger, policy_version, now, replace(options, top_k=0), encoder=encoder
    )
    return {m.verdict.message_id: shadow_of(m.verdict) for m in moderated}


class SharedEmbeddings:
    """The batch's encoder, remembering each text's parts: the challenger's cascade reads the embeddings
    the champion's already computed instead of computing them again (one encoder serves both: a
    model whose heads read another is refused at load). One per batch, with a shadow run only."""

    def __init__(self, encoder: Embedder) -> None:
        self.sha256 = encoder.sha256
        self._encoder = encoder
        self._parts: dict[str, NDArray[np.float32]] = {}

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encoder.embed(texts)

    def embed_parts(self, texts: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._parts]
        if missing:
            rows, owner = self._encoder.embed_parts(missing)
            counts = np.bincount(owner, minlength=len(missing))
            for text, part in zip(missing, np.split(rows, np.cumsum(counts)[:-1]), strict=True):
                self._parts[text] = part
        if not texts:
            return self._encoder.embed_parts([])
        parts = [self._parts[t] for t in texts]
        owners = np.repeat(np.arange(len(texts), dtype=np.intp), [len(p) for p in parts])
        return np.concatenate(parts), owners


class ShadowOutcome(StrEnum):
    """What became of a batch's shadow scoring."""

    OFF = "off"  # no challenger published, or no message drawn
    SCORED = "scored"
    FAILED = "failed"  # the challenger raised: dropped for the batch
    STALLED = "stalled"  # it outlasted the wait: dropped for the batch
    BUSY = "busy"  # an earlier stalled run still holds the thread: not started


@dataclass(frozen=True)
class ShadowResult:
    """A batch's shadow verdicts by message id (empty unless scored), and what happened."""

    outcome: ShadowOutcome
    verdicts: dict[UUID, ShadowVerdict] = field(default_factory=dict)
    version: str | None = None
    detail: str = ""

    @property
    def dropped(self) -> bool:
        return self.outcome in (ShadowOutcome.FAILED, ShadowOutcome.STALLED, ShadowOutcome.BUSY)


@dataclass(frozen=True)
class Pending:
    """A shadow run under way (or an outcome known at once)."""

    known: ShadowResult | None = None
    future: "Future[dict[UUID, ShadowVerdict]] | None" = None
    version: str | None = None

    def result(self, timeout_s: float) -> ShadowResult:
        """The run's verdicts, waiting at most `timeout_s`; a run that raises or outlasts the wait is
        dropped (its thread may go on; the next batches find it busy)."""
        if self.known is not None or self.future is None:
            return self.known or ShadowResult(ShadowOutcome.OFF)
        try:
            verdicts = self.future.result(timeout=timeout_s)
        except FutureTimeout:
            return ShadowResult(ShadowOutcome.STALLED, version=self.version, detail=f"over {timeout_s:g} s")
        except Exception as err:  # a challenger can fail in many ways; none may reach the champion's batch
            # its type alone: an exception's message may quote the text it choked on
            return ShadowResult(ShadowOutcome.FAILED, version=self.version, detail=type(err).__name__)
        return ShadowResult(ShadowOutcome.SCORED, verdicts, self.version)


def _on_a_thread[**P, R](fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> "Future[R]":
    """`fn` on a daemon thread of its own: a challenger stuck for good never keeps the process from
    exiting (an executor's threads are joined at exit)."""
    future: Future[R] = Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the waiting batch, which drops the run
            future.set_exception(err)

    threading.Thread(target=work, name="shadow", daemon=True).start()
    return future


def shadow_draw(outcome: BatchOutcome, canary: Canary | None) -> list[Prepared]:
    """The messages of a batch to shadow-score: with a canary, every message of the channels it serves
    (the champion judges them again: the canary's evidence); else each channel's drawn share
    (`sampling.shadow`: the challenger's)."""
    if canary is not None:
        return canary.split(outcome.prepared)[1]
    return [p for p in outcome.prepared if drawn(p.message.message_id, p.policy.sampling.shadow, "shadow")]


class ShadowScorer:
    """Starts a model that does not act on a batch's chosen messages, on a thread of its own (one at a
    time)."""

    def __init__(self) -> None:
        self._running: Future[dict[UUID, ShadowVerdict]] | None = None

    def start(
        self,
        challenger: Champion | None,
        chosen: Sequence[Prepared],
        policy_version: str,
        now: datetime,
        options: ModerationOptions,
        encoder: Embedder | None,
    ) -> Pending:
        """Shadow-score the chosen messages with `challenger` (the published challenger, or the champion
        on a canary's channels), beside whatever the caller does next (`encoder`: the one the batch
        used, remembering what it embedded)."""
        if challenger is None:
            return Pending(ShadowResult(ShadowOutcome.OFF))
        if not chosen:
            return Pending(ShadowResult(ShadowOutcome.OFF, version=challenger.version))
        if self._running is not None and not self._running.done():
            busy = ShadowResult(ShadowOutcome.BUSY, version=challenger.version, detail="a run goes on")
            return Pending(busy)
        self._running = _on_a_thread(
            shadow_verdicts, challenger, chosen, policy_version, now, options, encoder
        )
        return Pending(future=self._running, version=challenger.version)
