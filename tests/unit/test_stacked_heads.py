"""The stacked heads: character n-grams inside words, a whole-text score stacked with the highest
window's (neither weight below zero), padded copies learnt, and what the moderators' load measures."""

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from contracts.categories import Category
from stream_consumer.features import CHAR_FEATURE, WindowSpec, char_ngram_keys, fit_featurizer, windows
from stream_consumer.normalize import normal_form
from stream_consumer.scorer import CategoryModel, LinearScorer
from tests.builders import INSULTS, SMALL_TALK
from training.corpora import Example, ExampleSplits, Source
from training.evaluate import review_load
from training.padding import PAD_WORDS, identity_swaps, pad
from training.serving import category_scores
from training.train import CategoryParams, ModelParams, fit_categories, fit_stack


def _examples(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < 0.3:
            out.append(Example(f"{rng.choice(INSULTS)} {i}", Source.OLID, {Category.TOXICITY: 1}))
        else:
            chat = " ".join(rng.sample(SMALL_TALK, rng.randint(1, 3)))
            out.append(Example(f"{chat} {i}", Source.SMS, {Category.TOXICITY: 0}))
    return out


def _splits() -> ExampleSplits:
    return ExampleSplits(_examples(500, 1), _examples(200, 2), _examples(50, 3))


def _params(padded: bool) -> CategoryParams:
    head = ModelParams(window_tokens=8, c_grid=(3.0,), stacked=True, padded=padded, style=False)
    return CategoryParams(min_df=1, heads={Category.TOXICITY: head})


def test_character_ngrams_stay_inside_words_and_are_the_same_wherever_the_word_is() -> None:
    # GIVEN two documents sharing a word
    keys, owner = char_ngram_keys(["ab", "cd", "ab"], np.array([0, 0, 1]))
    # THEN each word padded with spaces (" ab ") gives its 2- to 5-grams and nothing across words:
    # " ab " has 3 + 2 + 1 = 6, so 18 in all, and the first document's "ab" n-grams are the second's
    assert len(keys) == 18
    assert sorted(owner.tolist()) == [0] * 12 + [1] * 6
    first = set(keys[owner == 0].tolist())
    assert set(keys[owner == 1].tolist()) <= first
    assert len(first) == 12  # "cd"'s n-grams differ from "ab"'s


def test_character_ngrams_cost_linear_time() -> None:
    words = ["abcdefgh"] * 1_000
    short, _ = char_ngram_keys(words, np.zeros(len(words), dtype=np.int64))
    long, _ = char_ngram_keys(words * 10, np.zeros(len(words) * 10, dtype=np.int64))
    assert len(long) == 10 * len(short)


def test_a_misspelt_insult_shares_character_ngrams_with_the_word() -> None:
    # GIVEN a featurizer with character n-grams, trained on the clean word
    texts = ["you idiot", "nice weather", "you idiot again", "nice weather again"]
    f = fit_featurizer(texts, min_df=1, chars=True)
    assert len(f.char_buckets) > 0
    assert f.feature_names()[-1] == CHAR_FEATURE
    # WHEN a spelling the vocabulary never saw arrives
    rows = f.tfidf(f.tokenize(["you idiiot"]))
    # THEN its row still holds character columns of the word ("idi", "iot"), beside the known "you"
    chars = rows.indices[rows.indices >= f.n_word_columns]
    assert len(chars) >= 4


def test_a_batchs_rows_are_each_texts_row_alone_words_then_character_ngrams() -> None:
    # GIVEN a featurizer with character n-grams, and a batch where rows have words and n-grams, n-grams
    # alone (an unknown word), nothing (an empty text), or many of each
    texts = ["you idiot", "nice weather", "you idiot again", "nice weather again"]
    f = fit_featurizer(texts, min_df=1, chars=True)
    batch = ["you idiot", "", "idiots everywhere", "nice nice weather you", "again", "zzz qqq", "you"]
    # WHEN the batch is featurised at once, and each text alone
    rows = f.tfidf(f.tokenize(batch))
    assert len(set(np.diff(rows.indptr).tolist())) > 3
    for i, text in enumerate(batch):
        alone = f.tfidf(f.tokenize([text]))
        a, b = rows.indptr[i], rows.indptr[i + 1]
        # THEN each row is that text's own row: its word columns, then its n-gram columns, in order
        assert rows.indices[a:b].tolist() == alone.indices.tolist(), text
        assert rows.data[a:b].tolist() == alone.data.tolist(), text
        assert (np.diff(rows.indices[a:b]) > 0).all()
    assert (rows.indices < f.n_word_columns).any()
    assert (rows.indices >= f.n_word_columns).any()


def test_a_word_twice_weighs_one_plus_log_two_times_its_idf() -> None:
    # GIVEN rows divided by a constant (no l2 norm to hide the weights)
    f = fit_featurizer(["you idiot", "nice weather", "you nice"], min_df=1, chars=True)
    names = f.feature_names()
    once = f.tfidf(f.tokenize(["idiot weather"]), row_norm=1.0)
    twice = f.tfidf(f.tokenize(["idiot idiot weather"]), row_norm=1.0)
    col = names.index("idiot")
    # THEN sublinear tf, as scikit-learn: a word once weighs its idf, twice (1 + log 2) times it
    assert float(once.data[once.indices == col][0]) == pytest.approx(f.idf[col])
    assert float(twice.data[twice.indices == col][0]) == pytest.approx((1 + np.log(2)) * f.idf[col])
    other = names.index("weather")
    assert float(twice.data[twice.indices == other][0]) == pytest.approx(f.idf[other])


def test_one_character_tokens_feed_no_character_ngram_and_name_their_word_columns() -> None:
    # GIVEN a featurizer whose character n-grams read tokens of two characters or more, trained where
    # "@", ":" and "u" occur
    texts = ["@ user : u idiot", "@ user : nice weather", "rt : u idiot", "rt : nice day"]
    f = fit_featurizer(texts, min_df=1, chars=True, min_token_chars=2)
    names = f.feature_names()
    # THEN the word block still reads every token, and names the columns that read a short one: their
    # words and every pair with one of them on either side
    short = {names[i] for i in f.short_word_columns()}
    assert short == {"@", ":", "u", "@ user", "user :", ": u", "u idiot", ": nice", "rt :"}
    assert {"user", "idiot", "rt", "nice", "nice day"} <= set(names[: f.n_word_columns]) - short
    # AND its character n-grams are those of the texts without the short tokens
    stripped = fit_featurizer([" ".join(w for w in t.split() if len(w) > 1) for t in texts], 1, chars=True)
    assert np.array_equal(f.char_buckets, stripped.char_buckets)
    # AND a text of short tokens alone has word columns but no character n-gram
    rows = f.tfidf(f.tokenize(["@ : u"]))
    assert len(rows.indices) > 0
    assert (rows.indices < f.n_word_columns).all()
    # while a featurizer reading every token (archives before it) gives them n-grams too, and names no
    # word column short
    every = fit_featurizer(texts, min_df=1, chars=True)
    assert (every.tfidf(every.tokenize(["@ : u"])).indices >= every.n_word_columns).any()
    assert len(every.short_word_columns()) == 0


def test_a_head_without_short_words_gives_their_columns_no_weight() -> None:
    # GIVEN heads learnt where one-digit numbers end every text (a habit of this data, not harm)
    def head(short_words: bool) -> LinearScorer:
        toxicity = ModelParams(
            window_tokens=8, c_grid=(3.0,), stacked=True, style=False, short_words=short_words
        )
        params = CategoryParams(min_df=1, heads={Category.TOXICITY: toxicity})
        return fit_categories(_splits(), params).model.heads[Category.TOXICITY]

    without, with_them = head(False), head(True)
    columns = without.featurizer.short_word_columns()
    assert len(columns) > 0
    # THEN the head told to leave them out weighs none of them, the other does
    assert (without.text_weights[columns] == 0).all()
    assert (with_them.text_weights[with_them.featurizer.short_word_columns()] != 0).any()


def test_the_stack_never_gives_a_score_a_negative_weight() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = y + rng.normal(0, 0.5, 400)
    # GIVEN a second score that the labels would weigh negatively (it rises as the label falls)
    bad = -good + rng.normal(0, 0.1, 400)
    stack = fit_stack(good, bad, y)
    # THEN that score is dropped, the other kept
    assert stack[1] == 0.0
    assert stack[0] > 0
    both = fit_stack(good, good + rng.normal(0, 0.5, 400), y)
    assert (both[:2] >= 0).all()
    assert both[:2].sum() > 0


def test_pad_puts_benign_words_before_or_after_and_keeps_the_text() -> None:
    benign = [" ".join(SMALL_TALK)] * 20
    padded = pad(["you idiot"] * 200, benign, seed=3)
    assert all("you idiot" in p for p in padded)
    extra = [len(p.split()) - 2 for p in padded]
    assert PAD_WORDS[0] <= min(extra)
    assert max(extra) <= PAD_WORDS[1]
    assert any(p.startswith("you idiot") for p in padded)
    assert any(p.endswith("you idiot") for p in padded)


def test_a_stacked_head_keeps_a_padded_insult_above_its_whole_text_score(tmp_path: Path) -> None:
    # GIVEN a stacked toxicity head learnt with padded copies
    model = fit_categories(_splits(), _params(padded=True)).model
    head = model.heads[Category.TOXICITY]
    assert (head.stack[:2] >= 0).all()
    assert head.stack[1] > 0
    # WHEN an insult is padded with fifty-odd words of small talk
    small_talk = " ".join(SMALL_TALK * 3)
    texts = [normal_form(f"{small_talk} you idiot"), normal_form("you idiot")]
    whole = replace(head, stack=np.array([1.0, 0.0, 0.0])).decision(texts)
    highest = replace(head, stack=np.array([0.0, 1.0, 0.0])).decision(texts)
    # THEN its highest window sees the insult as the short message does, the whole text a diluted one
    assert highest[0] > whole[0]
    assert highest[1] == pytest.approx(whole[1])  # a text in one window is its own highest window
    scores = category_scores(model, [f"{small_talk} you idiot", small_talk])[Category.TOXICITY]
    assert scores[0] > 0.5 > scores[1]
    # AND the archive reads the stack and the character n-grams back exactly
    path = tmp_path / "scorer.npz"
    model.save(path)
    loaded = CategoryModel.load(path)
    assert np.array_equal(loaded.heads[Category.TOXICITY].stack, head.stack)
    assert np.array_equal(loaded.featurizer.char_buckets, model.featurizer.char_buckets)
    again = category_scores(loaded, [f"{small_talk} you idiot", small_talk])[Category.TOXICITY]
    assert np.array_equal(scores, again)


def test_learning_padded_copies_keeps_more_padded_insults_flagged() -> None:
    # GIVEN the same data, a head learnt with padded copies and one without
    splits = _splits()
    plain = fit_categories(splits, _params(padded=False)).model
    padded = fit_categories(splits, _params(padded=True)).model
    small_talk = " ".join(SMALL_TALK * 3)
    texts = [f"{small_talk} {insult}" for insult in INSULTS] + [
        f"{insult} {small_talk}" for insult in INSULTS
    ]
    # THEN every padded insult is flagged by the head that learnt padding, fewer by the other
    with_pads = category_scores(padded, texts)[Category.TOXICITY]
    without = category_scores(plain, texts)[Category.TOXICITY]
    assert (with_pads >= 0.5).all()
    assert with_pads.mean() > without.mean()


def test_reasons_name_words_never_character_ngrams() -> None:
    model = fit_categories(_splits(), _params(padded=False)).model
    reasons = model.score_categories([normal_form("you idiot"), normal_form("what a moron")])
    named = [r for rs in reasons[Category.TOXICITY].reasons for r in rs]
    assert named
    assert not any(r.startswith(CHAR_FEATURE) for r in named)
    assert "idiot" in reasons[Category.TOXICITY].reasons[0]


def test_review_load_removes_and_allows_only_where_precise_enough() -> None:
    # GIVEN scores ranking three positives on top, then a negative, a positive, five negatives
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    p = np.linspace(1.0, 0.0, 10)
    # THEN the top three are removed (all positive), the bottom five allowed, two reviewed
    load = review_load(y, p, remove_precision=0.95, allow_precision=0.99)
    assert load == {"review_share": 0.2, "remove_share": 0.3, "allow_share": 0.5}
    # AND a looser removal precision removes more (4 of 5 positive is 80%)
    assert review_load(y, p, 0.8, 0.99)["remove_share"] == 0.5
    # AND tied scores share one action: nothing can be cut inside a tie
    assert review_load(y, np.ones(10), 0.95, 0.99)["review_share"] == 1.0


def test_letter_runs_read_as_one_letter_in_character_ngrams() -> None:
    # GIVEN a word stretched ("heeeello") and its plain spelling with one letter each ("helo")
    stretched, _ = char_ngram_keys(["heeeello"], np.zeros(1, dtype=np.int64))
    plain, _ = char_ngram_keys(["helo"], np.zeros(1, dtype=np.int64))
    # THEN their character n-grams are the same: elongation is no evidence either way
    assert sorted(stretched.tolist()) == sorted(plain.tolist())
    # AND digits and punctuation keep their runs
    ones, _ = char_ngram_keys(["1000"], np.zeros(1, dtype=np.int64))
    assert len(ones) > len(char_ngram_keys(["10"], np.zeros(1, dtype=np.int64))[0])


def test_identity_swaps_copy_only_texts_naming_an_identity_and_name_another() -> None:
    texts = ["gay people are welcome here", "the weather is nice", "Muslim and gay friends", "gayety"]
    swaps = identity_swaps(texts, ["gay", "muslim", "jewish"], seed=1)
    # THEN the texts naming none (a word containing one is not naming it) get no copy
    assert [i for i, _ in swaps] == [0, 2]
    for i, copy in swaps:
        assert copy.lower().split()[0] != texts[i].lower().split()[0]  # the first identity is another
        assert len(copy.split()) == len(texts[i].split())
    # AND every mention in a text is swapped to the same identity
    second = swaps[1][1].lower().split()
    assert second[0] == second[2]


def test_identity_swaps_make_distinct_copies_when_asked_for_several() -> None:
    swaps = identity_swaps(["gay people are welcome"], ["gay", "muslim", "jewish", "deaf"], seed=3, copies=3)
    firsts = [copy.split()[0] for _, copy in swaps]
    assert len(firsts) == 3
    assert len(set(firsts)) == 3
    assert "gay" not in firsts


def test_whole_and_highest_are_the_two_scores_the_stack_combines() -> None:
    # GIVEN a stacked head, a padded insult and the insult alone
    head = fit_categories(_splits(), _params(padded=True)).model.heads[Category.TOXICITY]
    texts = [normal_form(f"{' '.join(SMALL_TALK * 3)} you idiot"), normal_form("you idiot")]
    # WHEN its two scores are read
    whole, highest = head.whole_and_highest(texts)
    # THEN the highest window reads the padded insult undiluted, and the stack of the two is the decision
    assert highest[0] > whole[0]
    a, b, c = head.stack
    assert np.allclose(a * whole + b * highest + c, head.decision(texts))


def test_a_word_with_doubled_letters_is_read_as_its_most_frequent_spelling() -> None:
    # GIVEN a vocabulary where "bitch" is more frequent than "biitch", and "good" than "god"
    texts = ["you bitch"] * 4 + ["you biitch"] * 2 + ["good game"] * 4 + ["oh god"] * 2 + ["wee hours"] * 2
    f = fit_featurizer([normal_form(t).text for t in texts], min_df=1, chars=True)
    ids = f.tokens
    # WHEN a batch is tokenised (each word looked up the first time it is met)
    first = f.tokenize(["biitch good wee", "god"])
    again = f.tokenize(["biitch good wee", "god"])
    # THEN the stretched spelling reads as the frequent one, a frequent spelling stays itself, and a word
    # whose collapsed spelling has no column ("we") stays itself
    assert first.ids.tolist() == [ids["bitch"], ids["good"], ids["wee"], ids["god"]]
    assert first.strings == ["bitch", "good", "wee", "god"]
    # (spelt as the word it is read as: its character n-grams are that word's)
    # AND the lookups made once serve the next batch alike
    assert again.ids.tolist() == first.ids.tolist()
    assert f.read_as(np.array([ids["biitch"], ids["bitch"]])).tolist() == [ids["bitch"], ids["bitch"]]


def test_windows_take_their_words_character_ngrams_from_the_batch_as_hashing_them_again_would() -> None:
    # GIVEN a featurizer with character n-grams and a batch of texts of several windows each
    texts = [normal_form(t).text for t in (*INSULTS, *SMALL_TALK)]
    f = fit_featurizer(texts, min_df=1, chars=True, min_token_chars=2)
    batch = [" ".join([*SMALL_TALK[k:], *INSULTS[:k]]) for k in range(4)] + ["you idiot", "a"]
    tok = f.tokenize([normal_form(t).text for t in batch])
    spec = WindowSpec(size=4)
    # WHEN the windows take the batch's n-gram columns, or hash their own words again
    taken = f.rows_of(tok, np.zeros(tok.n_docs), spec).tfidf
    alone = f.tfidf(windows(tok, spec).tokens)  # the windows' tokens, without the batch's columns
    # THEN every window's row is the same, and so is a subset's
    assert np.array_equal(taken.indptr, alone.indptr)
    assert np.array_equal(taken.indices, alone.indices)
    assert np.array_equal(taken.data, alone.data)
    some = np.array([1, 3, 4])
    sub, fresh = f.with_chars(tok).subset(some), tok.subset(some)
    assert np.array_equal(f.tfidf(sub).data, f.tfidf(fresh).data)
    assert np.array_equal(f.tfidf(sub).indices, f.tfidf(fresh).indices)
