"""The embedding cache shared by the trainings of a test session (and a machine's runs): what another
training embedded meanwhile is read, not embedded again."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tests.fakes import WordEncoder
from training import embeddings
from training.embeddings import EmbeddingCache

TEXTS = [f"message {i} is {'bad' if i % 3 == 0 else 'fine'}" for i in range(2_000)]


def test_a_text_another_training_embedded_meanwhile_is_read_not_embedded_again(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    theirs = WordEncoder()
    other = EmbeddingCache(path, theirs)

    class Meanwhile(WordEncoder):
        """This training's encoder: while it embeds its first chunk, the other training embeds the
        second half of the texts."""

        def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
            if not theirs.seen:
                other.embed(TEXTS[1_000:])
            return super().embed(texts)

    mine = Meanwhile()
    got = EmbeddingCache(path, mine).embed(TEXTS)
    assert np.array_equal(got, WordEncoder().embed(TEXTS))
    # every text of the first half once; of the second half only those in the chunk already under way
    assert sorted(t for t in mine.seen if t in TEXTS[:1_000]) == sorted(TEXTS[:1_000])
    assert len(mine.seen) <= 1_000 + embeddings._CHUNK
    assert len(mine.seen) == len(set(mine.seen))


def test_two_trainings_starting_at_once_take_the_missing_texts_in_different_orders(tmp_path: Path) -> None:
    """So that two sharing one cache from the same moment do not embed the same chunk side by side."""
    firsts = []
    for name in ("a", "b"):
        encoder = WordEncoder()
        EmbeddingCache(tmp_path / f"{name}.sqlite", encoder).embed(TEXTS)
        assert sorted(encoder.seen) == sorted(TEXTS)
        firsts.append(set(encoder.seen[: embeddings._CHUNK]))
    assert firsts[0] != firsts[1]
