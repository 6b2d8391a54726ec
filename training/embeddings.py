"""Embeddings for training, cached by (encoder sha256, text sha256) in one SQLite file, so that a
retraining or a second run embeds only the texts it has not seen (a first run embeds ~400 texts/s).
"""

import hashlib
import random
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

    def _stored(self, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        """The stored vectors of those of `keys` the cache holds."""
        found: dict[bytes, bytes] = {}
        with self._connect() as db:
            for lo in range(0, len(keys), 500):
                part = keys[lo : lo + 500]
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    f"SELECT text, vector FROM embedding WHERE encoder = ? AND text IN ({marks})",  # noqa: S608
                    [self.encoder.sha256, *part],
                )
                found.update(rows)
        return found

    def embed(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> NDArray[np.float32]:
        """One row per text; the texts not in the cache are embedded (reporting progress) and stored.

        The missing texts are taken in a random order, and each chunk is looked up again before it is
        embedded: two trainings sharing the cache at once (a test session's) each embed what the other
        has not, instead of both embedding everything."""
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        keys = [_key(t) for t in texts]
        found = self._stored(list(dict.fromkeys(keys)))
        missing = list({k: i for i, k in enumerate(keys) if k not in found}.values())
        random.Random().shuffle(missing)  # an order, not a secret
        for lo in range(0, len(missing), _CHUNK):
            idx = missing[lo : lo + _CHUNK]
            found.update(self._stored([keys[i] for i in idx]))
            todo = [i for i in idx if keys[i] not in found]
            if todo:
                vectors = self.encoder.embed([texts[i] for i in todo])
                with self._connect() as db:
                    db.executemany(
                        "INSERT OR REPLACE INTO embedding VALUES (?, ?, ?)",
                        [
                            (self.encoder.sha256, keys[i], v.tobytes())
                            for i, v in zip(todo, vectors, strict=True)
                        ],
                    )
                for i, v in zip(todo, vectors, strict=True):
                    found[keys[i]] = v.tobytes()
            if progress is not None:
                progress(min(lo + _CHUNK, len(missing)), len(missing))
        for i, k in enumerate(keys):
            out[i] = np.frombuffer(found[k], dtype=np.float32)
        return out
