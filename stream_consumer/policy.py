"""Per-channel moderation policy: thresholds on the calibrated score, and term lists.

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
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stream_consumer.normalize import EDGE_PUNCTUATION, NormalText, collapse_runs, normalize


class Thresholds(BaseModel):
    """A score at or above `review` is queued for a human; at or above `remove` it is hidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review: float = Field(default=0.5, ge=0.0, le=1.0)
    remove: float = Field(default=0.85, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.review > self.remove:
            raise ValueError(f"review threshold {self.review} is above remove threshold {self.remove}")
        return self


DEFAULT_THRESHOLDS = Thresholds()


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


class ChannelPolicy(BaseModel):
    """One community's rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thresholds: Thresholds = DEFAULT_THRESHOLDS
    block_terms: tuple[str, ...] = ()
    allow_terms: tuple[str, ...] = ()

    @field_validator("block_terms", "allow_terms")
    @classmethod
    def _normalise_terms(cls, terms: tuple[str, ...]) -> tuple[str, ...]:
        # Terms are normalised like messages, so "Sh1t" in a config matches "shit" in a message.
        bare = (" ".join(w.strip(EDGE_PUNCTUATION) for w in normalize(x).split(" ")) for x in terms)
        return tuple(dict.fromkeys(t.strip() for t in bare if t.strip()))

    @cached_property
    def _block(self) -> TermList:
        return TermList(self.block_terms)

    @cached_property
    def _allow(self) -> TermList:
        return TermList(self.allow_terms)

    def rules(self, text: NormalText) -> RuleOutcome:
        """The term lists applied to one normalised message: allow terms first, then block terms."""
        if not self.block_terms and not self.allow_terms:
            return RuleOutcome(None, frozenset(), ())
        words = Words.of(text.text)
        allow = self._allow.matches(words)
        allowed = frozenset(j for start, end, _ in allow for j in range(start, end))
        block = self._block.matches(words, skip=allowed, first_only=True)
        hit = None
        if block:
            start, end, term = block[0]
            hit = RuleHit(term, (text.spans[start][0], text.spans[end - 1][1]))
        return RuleOutcome(hit, allowed, tuple(dict.fromkeys(t for _, _, t in allow)))


class PolicyBook(BaseModel):
    """Every channel's policy, with a default for channels that have none (`policy.json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: ChannelPolicy = ChannelPolicy()
    channels: dict[str, ChannelPolicy] = {}

    def for_channel(self, channel_id: str) -> tuple[str, ChannelPolicy]:
        """The policy's name (the channel, or "default") and the policy itself."""
        policy = self.channels.get(channel_id)
        return (channel_id, policy) if policy is not None else ("default", self.default)
