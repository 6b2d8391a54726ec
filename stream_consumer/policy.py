"""Channel term lists as rules (the policy's format is `contracts.policy`).

A community's own rules: a blocked term removes a message whatever its score; an allowed term exempts
its own words from the block rules, from the model's input and from the reasons — it never turns a
model's remove into allow ("<insult> gg" in a channel that allows "gg" is judged on "<insult>").
Terms match whole words of the normal form, in one pass over the words: "Scunthorpe" is not blocked by
"cunt", "c u n t" is; a doubled letter meets a single one ("fuuck" meets "fuck" — and so "good" meets a
block term "god"), and a masked word meets a term of its length ("f*ck", "f**k" meet "fuck").
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from contracts.policy import ChannelPolicy
from stream_consumer.normalize import EDGE_PUNCTUATION, NormalText, collapse_runs, normalize


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A block term matched: the reason shown in the verdict and the words it covers in the original."""

    term: str
    span: tuple[int, int]

    @property
    def reason(self) -> str:
        return f"rule:block:{self.term}"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What the channel's term lists say of one message."""

    block: RuleHit | None
    allowed: frozenset[int]  # positions of the words an allow term covers
    allow_terms: tuple[str, ...]  # the allow terms that matched, in order


_DOUBLES = re.compile(r"(.)\1+")


def _masked_match(word: str, term_word: str) -> bool:
    """A word with "*" masks meets a term word of its length whose other letters it shares."""
    return len(word) == len(term_word) and all(w in ("*", t) for w, t in zip(word, term_word, strict=True))


@dataclass(frozen=True)
class Words:
    """A normal-form text's words as rules see them: edge punctuation stripped, and their lookup keys
    (doubled letters collapsed), computed in C-level passes over the whole text."""

    bare: list[str]
    keys: list[str]
    masked: bool

    @classmethod
    def of(cls, text: str) -> "Words":
        bare = [w.strip(EDGE_PUNCTUATION) for w in text.split(" ")]
        keys = [w.strip(EDGE_PUNCTUATION) for w in _DOUBLES.sub(r"\1", text).split(" ")]
        return cls(bare, keys, "*" in text)


class TermList:
    """Terms as word sequences (with each word's run-collapsed key), indexed by their first word's key
    and, for masked words, by its length."""

    def __init__(self, terms: Sequence[str]) -> None:
        self.terms = [tuple(t.split(" ")) for t in terms]
        self._keys = {term: tuple(collapse_runs(w) for w in term) for term in self.terms}
        self._by_first: dict[str, list[tuple[str, ...]]] = {}
        self._by_length: dict[int, list[tuple[str, ...]]] = {}
        for term in self.terms:
            self._by_first.setdefault(self._keys[term][0], []).append(term)
            self._by_length.setdefault(len(term[0]), []).append(term)

    def matches(
        self, words: Words, skip: frozenset[int] = frozenset(), first_only: bool = False
    ) -> list[tuple[int, int, str]]:
        """Every (first word, end word, term) match over `words` (or the first); `skip` never matches.

        One pass over the words; a masked word is compared with the terms of its length, each pair once.
        """
        if not self.terms:
            return []
        by_first, keys, bare = self._by_first, words.keys, words.bare
        starts = [i for i, k in enumerate(keys) if k in by_first or (words.masked and "*" in k)]
        masked_memo: dict[tuple[str, str], bool] = {}

        def meets(j: int, term_word: str, term_key: str) -> bool:
            if keys[j] == term_key:
                return True
            if "*" not in bare[j]:
                return False
            pair = (bare[j], term_word)
            if pair not in masked_memo:
                masked_memo[pair] = _masked_match(*pair)
            return masked_memo[pair]

        candidates: dict[str, list[tuple[str, ...]]] = {}
        outcome: dict[tuple[str, ...], bool] = {}  # (term, *words) → whether they meet, each once
        found = []
        for i in starts:
            if skip and i in skip:
                continue
            key = keys[i]
            if key not in candidates:
                masked = self._by_length.get(len(bare[i]), []) if "*" in key else []
                candidates[key] = by_first.get(key, []) + masked
            for term in candidates[key]:
                end = i + len(term)
                if end > len(bare) or (skip and any(j in skip for j in range(i, end))):
                    continue
                pattern = (*term, "\0", *bare[i:end])
                hit = outcome.get(pattern)
                if hit is None:
                    hit = outcome[pattern] = all(
                        meets(j, w, k) for j, w, k in zip(range(i, end), term, self._keys[term], strict=True)
                    )
                if hit:
                    found.append((i, end, " ".join(term)))
                    if first_only:
                        return found
                    break
        return found


def _terms(terms: tuple[str, ...]) -> list[str]:
    """Terms in the normal form, as word sequences (so "Sh1t" in a config matches "shit" in a message)."""
    bare = (" ".join(w.strip(EDGE_PUNCTUATION) for w in normalize(t).split(" ")) for t in terms)
    return list(dict.fromkeys(t.strip() for t in bare if t.strip()))


@lru_cache(maxsize=4096)
def _compiled(block_terms: tuple[str, ...], allow_terms: tuple[str, ...]) -> tuple[TermList, TermList]:
    """A policy's term lists, compiled once (policies are frozen, and re-read only when they change)."""
    return TermList(_terms(block_terms)), TermList(_terms(allow_terms))


def rules(policy: ChannelPolicy, text: NormalText) -> RuleOutcome:
    """A channel's term lists applied to one normalised message: allow terms first, then block terms."""
    if not policy.block_terms and not policy.allow_terms:
        return RuleOutcome(None, frozenset(), ())
    block_list, allow_list = _compiled(policy.block_terms, policy.allow_terms)
    words = Words.of(text.text)
    allow = allow_list.matches(words)
    allowed = frozenset(j for start, end, _ in allow for j in range(start, end))
    block = block_list.matches(words, skip=allowed, first_only=True)
    hit = None
    if block:
        start, end, term = block[0]
        spans = text.spans
        hit = RuleHit(term, (spans[start][0], spans[end - 1][1]))
    return RuleOutcome(hit, allowed, tuple(dict.fromkeys(t for _, _, t in allow)))
