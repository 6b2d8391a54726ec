"""The cascade fitted with the real encoder on a small corpus in two languages: the band holds the
target share of validation, the fast model knows the language it was trained on, the heads travel in
the archive, and the training scores are the cascade's."""

import random
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from contracts.categories import Category
from stream_consumer import encoder
from stream_consumer.scorer import CategoryModel
from training.cascade import encoder_text, escalation, fast_scores, fit_cascade
from training.corpora import Example, ExampleSplits, Source
from training.embeddings import EmbeddingCache
from training.serving import category_scores
from training.train import CategoryParams, ModelParams, fit_categories

INSULTS = ("you are an idiot", "what a stupid moron", "shut up you loser", "you pathetic clown")
CHAT = (
    "the weather is nice today",
    "see you at the game tonight",
    "what time does the stream start",
    "i cooked pasta for dinner",
    "the train was late again this morning",
    "good luck with the exam tomorrow",
)
GERMAN_INSULTS = ("du bist ein Idiot", "was für ein dummer Trottel", "halt die Klappe, du Versager")
GERMAN_CHAT = ("das Wetter ist heute schön", "wann fängt der Stream an", "ich habe Nudeln gekocht")


def _examples(n: int, seed: int, german: bool = False) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        toxic = rng.random() < 0.4
        pool = (GERMAN_INSULTS if toxic else GERMAN_CHAT) if german else (INSULTS if toxic else CHAT)
        out.append(Example(f"{rng.choice(pool)} {i}", Source.OLID, {Category.TOXICITY: int(toxic)}))
    return out


def test_a_cascade_fits_travels_and_scores(tmp_path: Path) -> None:
    splits = ExampleSplits(_examples(300, 1), _examples(200, 2), _examples(60, 3))
    head = ModelParams(window_tokens=8, max_windows=4, c_grid=(1.0,))
    fitted = fit_categories(splits, CategoryParams(min_df=1, heads={Category.TOXICITY: head}))
    enc = encoder.shared()
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite", enc)
    fit = fit_cascade(fitted.model, splits, cache.embed, enc.sha256, share=0.2, min_language_texts=50)
    # the band holds about the target share of validation; English is known, German is not
    assert 0.15 <= fit.escalated_share["toxicity"] <= 0.3
    assert fit.cascade.languages == ("en",)
    model = CategoryModel(fitted.model.heads, fitted.model.metadata, fitted.model.normal_form, fit.cascade)
    model.save(tmp_path / "model.npz")
    loaded = CategoryModel.load(tmp_path / "model.npz")
    assert loaded.cascade is not None
    assert loaded.cascade.languages == fit.cascade.languages
    assert np.array_equal(loaded.cascade.heads["toxicity"].weights, fit.cascade.heads["toxicity"].weights)
    assert loaded.cascade.heads["toxicity"].band == fit.cascade.heads["toxicity"].band
    # German insults, which the fast model never saw, are all escalated and told apart by the encoder
    german = _examples(80, 4, german=True)
    texts, y = [e.text for e in german], [e.labels[Category.TOXICITY] for e in german]
    fast = fast_scores(loaded, texts)
    assert escalation(loaded.cascade, fast, texts, ["de"] * len(texts)) == 1.0
    final = category_scores(loaded, texts)["toxicity"]
    assert roc_auc_score(y, final) > 0.9
    assert roc_auc_score(y, final) > roc_auc_score(y, fast["toxicity"])
    # a second fit reads every embedding from the cache
    again = EmbeddingCache(tmp_path / "embeddings.sqlite", enc)
    calls: list[int] = []
    again.embed([encoder_text(e.text) for e in splits.train], lambda done, total: calls.append(total))
    assert calls == []
