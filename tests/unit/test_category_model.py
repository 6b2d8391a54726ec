"""The category model on a small corpus: one featurizer, a head per category, windows whose rows are
not diluted by padding, and an archive that reads back exactly."""

import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest

from contracts.categories import Category
from stream_consumer.features import WindowSpec, fit_featurizer
from stream_consumer.normalize import normal_form
from stream_consumer.scorer import CategoryModel, UnsupportedModelError
from training.corpora import Example, ExampleSplits, Source
from training.flow import scored_parts
from training.serving import CachedScores, category_scores
from training.train import CategoryParams, ModelParams, fit_categories

INSULTS = ("you idiot", "what a moron", "shut up stupid", "you clown", "total loser")
SPAM = ("buy cheap pills now", "win a free iphone click here", "subscribe to my channel")
CHAT = (
    "the weather is nice today",
    "see you at the game tonight",
    "what time does the stream start",
    "i cooked pasta for dinner",
    "the train was late again this morning",
    "good luck with the exam tomorrow",
)


def _examples(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.random()
        chat = rng.choice(CHAT)
        if kind < 0.3:
            out.append(Example(f"{rng.choice(INSULTS)} {i}", Source.OLID, {Category.TOXICITY: 1}))
        elif kind < 0.5:
            text = f"{rng.choice(SPAM)} {i}"
            out.append(Example(text, Source.SMS, {Category.SPAM: 1, Category.TOXICITY: 0}))
        else:
            out.append(Example(f"{chat} {i}", Source.SMS, {Category.SPAM: 0, Category.TOXICITY: 0}))
    return out


def _splits() -> ExampleSplits:
    return ExampleSplits(_examples(400, 1), _examples(150, 2), _examples(50, 3))


def _params() -> CategoryParams:
    head = ModelParams(window_tokens=8, max_windows=16, row_norm=20.0, c_grid=(3.0,))
    return CategoryParams(min_df=1, heads={Category.TOXICITY: head, Category.SPAM: head})


def test_a_fixed_row_norm_keeps_a_words_weight_inside_a_padded_window() -> None:
    texts = ["you idiot", "you idiot the weather was mild"]
    f = fit_featurizer([normal_form(t).text for t in texts], min_df=1)
    col = f.feature_names().index("idiot")
    tok = f.tokenize([normal_form(t).text for t in texts])

    def weight(row_norm: float) -> list[float]:
        rows = f.tfidf(tok, row_norm)
        return [
            float(rows.data[a:b][rows.indices[a:b] == col][0])
            for a, b in zip(rows.indptr[:-1], rows.indptr[1:], strict=True)
        ]

    alone, padded = weight(20.0)
    assert alone == padded  # padding adds columns, it does not shrink this one
    alone, padded = weight(0.0)
    assert padded < alone  # an l2 row dilutes it


def test_heads_share_one_featurizer_and_the_archive_reads_back_exactly(tmp_path: Path) -> None:
    trained = fit_categories(_splits(), _params())
    model = trained.model
    assert set(model.categories) == {Category.TOXICITY, Category.SPAM}
    texts = ["you idiot 7", "buy cheap pills now 7", "see you at the game tonight 7", "hello"]
    scores = category_scores(model, texts)
    assert scores[Category.TOXICITY][0] > 0.5 > scores[Category.TOXICITY][2]
    assert scores[Category.SPAM][1] > 0.5 > scores[Category.SPAM][2]
    path = tmp_path / "scorer.npz"
    model.save(path)
    loaded = CategoryModel.load(path)
    again = category_scores(loaded, texts)
    for category in model.categories:
        assert np.array_equal(scores[category], again[category])
    heads = {h.window for h in loaded.heads.values()}
    assert heads == {WindowSpec(8, 16, 20.0)}


def _members(path: Path) -> dict[str, int]:
    """Each array of an archive and its size once read (uncompressed)."""
    with zipfile.ZipFile(path) as z:
        return {i.filename.removesuffix(".npy"): i.file_size for i in z.infolist()}


def _rewritten(path: Path, out: Path, change: dict[str, np.ndarray], header: dict[str, object]) -> None:
    """The archive at `path` with some arrays and header fields replaced, written to `out`."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays |= change
    arrays["header"] = np.array(json.dumps(json.loads(str(arrays["header"])) | header))
    with out.open("wb") as fh:
        np.savez_compressed(fh, **arrays)


def test_one_long_word_in_the_training_texts_costs_its_length_not_the_vocabulary_times_it(
    tmp_path: Path,
) -> None:
    # GIVEN training texts where one message is a 5,000-character unbroken string (a moderator labelled
    # it, so it is in the retraining set)
    splits = _splits()
    rng = random.Random(3)
    long_word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5_000))
    train = [*splits.train, Example(long_word, Source.SMS, {Category.SPAM: 1, Category.TOXICITY: 0})]
    model = fit_categories(ExampleSplits(train, splits.validation, splits.test), _params()).model
    assert normal_form(long_word).text in model.vocabulary
    # WHEN the model is archived
    path = tmp_path / "scorer.npz"
    model.save(path)
    # THEN its vocabulary is stored as long as its text (a fixed-width array would hold every word of the
    # vocabulary as 5,000 characters of four bytes: gigabytes for a real vocabulary)
    n_words = len(model.vocabulary)
    chars = sum(map(len, model.vocabulary))
    assert _members(path)["tokens"] < 2 * chars + 8 * n_words < n_words * 5_000
    # AND it reads back exactly: the same words and the same scores
    loaded = CategoryModel.load(path)
    assert loaded.featurizer.tokens == model.featurizer.tokens
    assert loaded.heads[Category.SPAM].feature_names == model.heads[Category.SPAM].feature_names
    texts = ["you idiot 7", long_word, "buy cheap pills now 7"]
    for category, scores in category_scores(model, texts).items():
        assert np.array_equal(scores, category_scores(loaded, texts)[category])


def test_an_archive_of_the_format_before_packed_strings_still_serves(tmp_path: Path) -> None:
    # GIVEN a champion written before strings were packed (fixed-width arrays, format categories-v1)
    model = fit_categories(_splits(), _params()).model
    path, old = tmp_path / "scorer.npz", tmp_path / "old.npz"
    model.save(path)
    by_id = sorted(model.featurizer.tokens, key=model.featurizer.tokens.__getitem__)
    names = model.heads[Category.TOXICITY].feature_names
    fixed = {"tokens": np.array(by_id, dtype=np.str_), "feature_names": np.array(names, dtype=np.str_)}
    _rewritten(path, old, fixed, {"format": "chat-moderation/categories-v1"})
    # WHEN a consumer loads it
    loaded = CategoryModel.load(old)
    # THEN it scores as the model does
    texts = ["you idiot 7", "buy cheap pills now 7", "see you at the game tonight 7"]
    for category, scores in category_scores(model, texts).items():
        assert np.array_equal(scores, category_scores(loaded, texts)[category])
    assert loaded.heads[Category.TOXICITY].feature_names == names


def test_an_archive_of_a_format_this_consumer_does_not_know_is_refused_by_name(tmp_path: Path) -> None:
    model = fit_categories(_splits(), _params()).model
    path, newer = tmp_path / "scorer.npz", tmp_path / "newer.npz"
    model.save(path)
    _rewritten(path, newer, {}, {"format": "chat-moderation/categories-v9"})
    with pytest.raises(UnsupportedModelError, match="categories-v9"):
        CategoryModel.load(newer)
    with pytest.raises(UnsupportedModelError, match="categories-v9"):
        CategoryModel.load(newer.read_bytes())


def test_look_alike_letters_never_lower_a_score_whatever_the_data_taught() -> None:
    # GIVEN training data whose only mixed-script texts are benign (a Cyrillic "а" in ordinary chat)
    rng = random.Random(5)
    mixed = [f"{rng.choice(CHAT)} pаrty {i}" for i in range(60)]  # "а" is Cyrillic
    examples = _examples(400, 1) + [Example(t, Source.SMS, {Category.TOXICITY: 0}) for t in mixed]
    splits = ExampleSplits(examples, _examples(150, 2), _examples(50, 3))
    model = fit_categories(splits, _params(), [Category.TOXICITY]).model
    # WHEN an insult is written with look-alike letters
    clean, disguised = normal_form("you idiot loser"), normal_form("уоu іdіоt lоsеr")
    assert disguised.text == clean.text
    assert disguised.mixed_script
    raw = model.heads[Category.TOXICITY].decision([clean, disguised])
    # THEN it scores as the clean insult does (log-odds, before calibration): the mixed-script weight
    # cannot go below zero
    assert raw[1] >= raw[0]


def test_each_part_gets_the_scores_its_texts_get_alone_whatever_else_is_scored_with_them() -> None:
    model = fit_categories(_splits(), _params()).model
    test = _examples(60, 4)
    both = [e for e in test if Category.SPAM in e.labels]  # labels toxicity and spam: in two parts
    parts = {
        "toxicity/olid": (Category.TOXICITY, [e for e in test if e.source is Source.OLID]),
        "toxicity/sms": (Category.TOXICITY, both),
        "spam/sms": (Category.SPAM, both),
        "hate/sms": (Category.HATE, both),  # a category the model has no head for: no part
    }
    scored = scored_parts(CachedScores(model), parts)
    assert set(scored) == {"toxicity/olid", "toxicity/sms", "spam/sms"}
    for name, scores in scored.items():
        category, items = parts[name]
        alone = category_scores(model, [e.text for e in items])[category]
        assert np.allclose(scores, alone), name
    assert not np.allclose(scored["toxicity/sms"], scored["spam/sms"])


def test_cached_scores_are_computed_once_and_a_caller_cannot_change_them() -> None:
    model = fit_categories(_splits(), _params()).model
    texts = ["you idiot", "win a free prize now", "nice weather today", "you idiot"]
    scores = CachedScores(model)
    first = scores(texts)
    for p in first.values():
        p[:] = -1.0  # a caller writing into what it was given
    again = scores(texts)
    expected = category_scores(model, texts)
    assert set(again) == set(expected)
    for category, p in expected.items():
        np.testing.assert_array_equal(again[category], p)
    assert len(scores._scored) == 1  # the same list of texts, scored once
