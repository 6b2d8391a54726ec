"""Embeddings for training, cached by (encoder sha256, text sha256) in one SQLite file, so that a
retraining or a second run embeds only the texts it has not seen (a first run embeds ~400 texts/s).
"""

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from stream_consumer.cascade import Embedder
from stream_consumer.encoder import DIMENSIONS

_CHUNK = 512


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """An encoder's embeddings of texts, computed once."""

    def __init__(self, path: Path, encoder: Embedder) -> None:
        self.path = path
        self.encoder = encoder
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS embedding "
                "(encoder TEXT, text BLOB, vector BLOB, PRIMARY KEY (encoder, text))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def embed(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> NDArray[np.float32]:
        """One row per text; the texts not in the cache are embedded (reporting progress) and stored."""
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        keys = [_key(t) for t in texts]
        sha = self.encoder.sha256
        found: dict[bytes, bytes] = {}
        with self._connect() as db:
            unique = list(dict.fromkeys(keys))
            for lo in range(0, len(unique), 500):
                part = unique[lo : lo + 500]
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    f"SELECT text, vector FROM embedding WHERE encoder = ? AND text IN ({marks})",  # noqa: S608
                    [sha, *part],
                )
                found.update(rows)
        missing = list({k: i for i, k in enumerate(keys) if k not in found}.values())
        for lo in range(0, len(missing), _CHUNK):
            idx = missing[lo : lo + _CHUNK]
            vectors = self.encoder.embed([texts[i] for i in idx])
            with self._connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO embedding VALUES (?, ?, ?)",
                    [(sha, keys[i], v.tobytes()) for i, v in zip(idx, vectors, strict=True)],
                )
            for i, v in zip(idx, vectors, strict=True):
                found[keys[i]] = v.tobytes()
            if progress is not None:
                progress(min(lo + _CHUNK, len(missing)), len(missing))
        for i, k in enumerate(keys):
            out[i] = np.frombuffer(found[k], dtype=np.float32)
        return out
