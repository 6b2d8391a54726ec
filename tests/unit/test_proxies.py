"""The proxies' held-out texts never reach their fits: a left-out video, a left-out set, a HateXplain fold
(each text compared case- and space-insensitively, as the split dedupes) — and each proxy scores what
it names."""

import pytest

from benchmarks import proxies
from contracts.categories import Category
from training.corpora import Example, ExampleSplits, Source, dedupe_key, split_examples

SEED = 42


def _corpus() -> list[Example]:
    """Every set the proxies read, with texts repeated across videos and sets in another case."""
    out: list[Example] = []
    shared = {
        "Psy": "Check  out MY channel",
        "Eminem": "check out my CHANNEL",
        "KatyPerry": "check out\tmy channel",
    }
    for v, again in shared.items():
        for i in range(30):
            spam = int(i % 3 == 0)
            labels = {Category.SPAM: spam} | ({} if spam else {Category.TOXICITY: 0, Category.HATE: 0})
            out.append(Example(f"{v} comment {i}", Source.YOUTUBE, labels, group=v))
        # the same spam under every video, spaced and cased differently
        out.append(Example(again, Source.YOUTUBE, {Category.SPAM: 1}, group=v))
    for i in range(60):
        spam = int(i % 4 == 0)
        labels = {Category.SPAM: spam} | ({} if spam else {Category.TOXICITY: 0, Category.HATE: 0})
        out.append(Example(f"sms {i}", Source.SMS, labels))
    out.append(Example("CHECK OUT my channel", Source.SMS, {Category.SPAM: 1}))
    for source in (Source.OLID, Source.DAVIDSON):
        for i in range(60):
            toxic = int(i % 2 == 0)
            labels = {Category.TOXICITY: toxic, Category.SPAM: 0}
            if source is Source.DAVIDSON or not toxic:
                labels[Category.HATE] = int(source is Source.DAVIDSON and i % 6 == 0)
            out.append(Example(f"{source} tweet {i}", source, labels))
    for i in range(100):
        label = ("hatespeech", "offensive", "normal")[i % 3]
        labels = {
            Category.TOXICITY: int(label != "normal"),
            Category.HATE: int(label == "hatespeech"),
            Category.SPAM: 0,
        }
        out.append(Example(f"post {i}", Source.HATEXPLAIN, labels, group="Women"))
    for i in range(60):
        removed = int(i % 3 == 0)
        labels = {Category.REMOVAL: removed, Category.SPAM: 0}
        if not removed:
            labels |= {Category.TOXICITY: 0, Category.HATE: 0}
        out.append(Example(f"comment {i}", Source.RSCIENCE, labels))
    return out


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Example], ExampleSplits]:
    examples = _corpus()
    return examples, split_examples(examples, SEED, 0.15, 0.15)


def _every_proxy(examples: list[Example], splits: ExampleSplits) -> list[proxies.Proxy]:
    return [
        *proxies.spam_by_video(examples, splits, SEED),
        *(proxies.toxicity_without(splits, s) for s in proxies.LEFT_OUT_SETS),
        *proxies.hate_folds(splits, 5, SEED),
        proxies.removal(splits, list(Category)),
    ]


def test_no_proxy_fits_on_a_text_it_scores(corpus: tuple[list[Example], ExampleSplits]) -> None:
    examples, splits = corpus
    for proxy in _every_proxy(examples, splits):
        fitted = {dedupe_key(e.text) for e in proxy.fit_on.train + proxy.fit_on.validation}
        scored = {dedupe_key(e.text) for e in proxy.test}
        assert proxy.test, proxy.name
        assert proxy.fit_on.test == [], proxy.name
        assert fitted.isdisjoint(scored), (proxy.category, proxy.name, fitted & scored)
        assert proxies.leaks(proxy) == []


def test_each_proxy_leaves_out_what_it_names(corpus: tuple[list[Example], ExampleSplits]) -> None:
    examples, splits = corpus
    spam = proxies.spam_by_video(examples, splits, SEED)
    assert [p.name for p in spam] == ["Eminem", "KatyPerry", "Psy"]
    for proxy in spam:
        # every comment of the video scored (its 30 and the shared spam), none of it fitted on
        assert len(proxy.test) == 31
        assert {e.group for e in proxy.test} == {proxy.name}
        fitted = proxy.fit_on.train + proxy.fit_on.validation
        assert not any(e.source == Source.YOUTUBE and e.group == proxy.name for e in fitted)
        assert any(e.source == Source.SMS for e in fitted)
    for source in proxies.LEFT_OUT_SETS:
        proxy = proxies.toxicity_without(splits, source)
        assert {e.source for e in proxy.test} == {source}
        assert {id(e) for e in proxy.test} <= {id(e) for e in splits.test}
        assert source not in {e.source for e in proxy.fit_on.train + proxy.fit_on.validation}
    folds = proxies.hate_folds(splits, 5, SEED)
    posts = [e for e in splits.train + splits.validation if e.source == Source.HATEXPLAIN]
    held = [e.text for p in folds for e in p.test]
    assert sorted(held) == sorted(e.text for e in posts)  # each non-test post scored exactly once
    assert all(e.source == Source.HATEXPLAIN for p in folds for e in p.test)


def test_a_leak_is_found() -> None:
    text = Example("Buy now", Source.SMS, {Category.SPAM: 1})
    leaking = proxies.Proxy(
        "leak",
        Category.SPAM,
        ExampleSplits([Example("buy   NOW", Source.YOUTUBE, {Category.SPAM: 1})], [], []),
        [text],
    )
    assert proxies.leaks(leaking) == ["Buy now"]
