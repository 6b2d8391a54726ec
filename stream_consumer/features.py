"""Text features from one tokeniser pass over a batch, in numpy alone.

Training fits the vocabulary and the model on exactly these features, and serving computes them with
this same code, so the exported model needs neither scikit-learn nor scipy to score.

A text is scored as windows of at most `WindowSpec.size` tokens (overlapping by half), at most
`WindowSpec.most` of them spread over the text; the message's score is its highest window's. The word
features are per window, the dense style features per message. Tokens the model has no column for are
looked up again with doubled letters collapsed ("fuuck" → "fuck") and, when masked ("f*ck", "f**k"), as
the most frequent vocabulary word of their length sharing the unmasked letters.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from itertools import chain, compress, pairwise, repeat

import numpy as np
from numpy.typing import NDArray

from stream_consumer.normalize import TOKEN, run_variants

_DOUBLE = re.compile(r"(.)\1")
MAX_MASKED_LOOKUPS = 64  # per text: each costs one vectorised scan of the words of its length
LEXICONS: dict[str, frozenset[str]] = {
    "first_person": frozenset(
        {"i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "im", "ive", "we", "our", "us"}
    ),
    "second_person": frozenset({"you", "your", "yours", "you're", "u", "ur", "youre", "yourself", "ya"}),
    "science": frozenset(
        {
            "study",
            "studies",
            "research",
            "data",
            "sample",
            "evidence",
            "results",
            "paper",
            "journal",
            "published",
            "effect",
            "significant",
            "correlation",
            "causation",
            "researchers",
            "article",
            "hypothesis",
            "statistically",
            "variables",
            "control",
            "method",
            "analysis",
            "mechanism",
            "et",
            "al",
        }
    ),
    "laughter": frozenset({"lol", "haha", "lmao", "hahaha", "rofl", "xd", "lmfao", "heh", "hehe", "kek"}),
    "profanity": frozenset(
        {
            "fuck",
            "fucking",
            "shit",
            "damn",
            "hell",
            "ass",
            "crap",
            "wtf",
            "bullshit",
            "stupid",
            "idiot",
            "idiots",
            "dumb",
            "fucked",
            "shitty",
            "moron",
            "bitch",
            "retard",
            "retarded",
            "hoe",
            "pussy",
        }
    ),
    "hedge": frozenset(
        {"maybe", "perhaps", "might", "likely", "possibly", "probably", "suggest", "suggests", "seems"}
    ),
    "meta_talk": frozenset(
        {
            "reddit",
            "thread",
            "comment",
            "comments",
            "removed",
            "upvote",
            "downvote",
            "sub",
            "subreddit",
            "op",
            "mods",
            "title",
            "headline",
            "edit",
        }
    ),
}
COUNTED_CHARS = '?!.,"*(:;-%$/~#&[]'
META_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_tokens",
    "digit_share",
    "mean_token_length",
    "long_token_share",
    "unknown_token_share",
    "distinct_token_share",
    "mixed_script_share",
    "punctuation_token_share",
    "links",
    "quotes",
    "ends_with_question",
    "ends_without_punctuation",
    *(f"{name}_share" for name in LEXICONS),
    *(f"count_{c}" for c in COUNTED_CHARS),
)


# Column of each ASCII character in the per-text character counts: digits together, then COUNTED_CHARS.
_CHAR_COLUMN = np.full(128, -1, dtype=np.int64)
_CHAR_COLUMN[[ord(c) for c in "0123456789"]] = 0
for _i, _c in enumerate(COUNTED_CHARS, start=1):
    _CHAR_COLUMN[ord(_c)] = _i
_N_CHAR_COLUMNS = len(COUNTED_CHARS) + 1


def _char_counts(texts: Sequence[str]) -> NDArray[np.float64]:
    """Per text: digits, then each of COUNTED_CHARS — one vectorised pass over the whole batch."""
    n = len(texts)
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    doc = np.repeat(np.arange(n, dtype=np.int64), np.fromiter(map(len, texts), dtype=np.int64, count=n))
    ascii_ = codes < 128
    col = _CHAR_COLUMN[codes[ascii_]]
    hit = col >= 0
    flat = doc[ascii_][hit] * _N_CHAR_COLUMNS + col[hit]
    return np.bincount(flat, minlength=n * _N_CHAR_COLUMNS).reshape(n, _N_CHAR_COLUMNS).astype(np.float64)


CHAR_FEATURE = "chars:"  # the name of every character n-gram column (a hash names no word to show)
CHAR_NGRAMS = (2, 5)  # character n-grams inside each word padded with a space on either side
_LETTER_RUN = re.compile(r"([^\W\d_])\1+")
CHAR_BUCKET_BITS = 21  # n-grams hashed into 2**21 buckets (as a hashing vectorizer): a lookup, no search
_HASH_BASE = np.uint64(1_000_003)
_HASH_SALT = np.uint64(0x9E3779B97F4A7C15)


def char_ngram_keys(
    strings: Sequence[str], owner: NDArray[np.int64], min_chars: int = 1
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Every character n-gram (lengths `CHAR_NGRAMS`) of every word of at least `min_chars` characters
    padded with a space on either side (" word "), as a 64-bit hash, and the document (`owner` of its
    word) it belongs to. One vectorised pass over the batch's characters: cost linear in the text."""
    if min_chars > 1:
        read = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings)) >= min_chars
        strings, owner = list(compress(strings, read.tolist())), owner[read]
    if not strings:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    # Runs of one letter read as one ("heeello" as "helo", "fuuuck" as "fuck"): elongation neither
    # hides a word nor makes a benign one look like the insults that are often stretched.
    padded = _LETTER_RUN.sub(r"\1", " " + "  ".join(strings) + " ")
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    space = codes == 32
    first = np.zeros(len(codes), dtype=np.int64)  # the first space of each "  " between two words
    first[:-1] = space[:-1] & space[1:]
    word = np.cumsum(first) - first
    low, high = CHAR_NGRAMS
    keys: list[NDArray[np.uint64]] = []
    words: list[NDArray[np.int64]] = []
    h = np.zeros(len(codes), dtype=np.uint64)
    for n in range(1, high + 1):
        h = h[: len(codes) - n + 1] * _HASH_BASE + codes[n - 1 :]  # wraps modulo 2**64, as meant
        if n >= low:
            inside = word[: len(h)] == word[n - 1 :]
            keys.append((h[inside] + np.uint64(n)) * _HASH_SALT)
            words.append(word[: len(h)][inside])
    return np.concatenate(keys), owner[np.concatenate(words)]


def char_bucket(keys: NDArray[np.uint64]) -> NDArray[np.int64]:
    """The bucket of each n-gram hash: its top bits (the multiplicative hash mixes every bit into them)."""
    return (keys >> np.uint64(64 - CHAR_BUCKET_BITS)).astype(np.int64)


@lru_cache(maxsize=4096)
def is_symbol(token: str) -> bool:
    """A one-character token that is a symbol (emoji, currency, math)."""
    return len(token) == 1 and not token.isascii() and unicodedata.category(token).startswith("S")


def model_tokens(text: str) -> list[str]:
    """The tokens the fast model reads: symbols (emoji and the like) left out — they stay in the normal
    form for the channels' rules, but the training data hold too few to learn them, and emoji between
    words must neither hide a word pair nor make a message look odd."""
    tokens = TOKEN.findall(text)
    return tokens if text.isascii() else [t for t in tokens if not is_symbol(t)]


def sorted_unique(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """The sorted distinct keys: what `np.unique(keys)` returns, by a sort and its run starts. numpy's
    own takes a hash table for integers, which grows slow with many distinct keys (a training's
    8.7 million (n-gram bucket, text) pairs: 8 s against 0.15 s sorted)."""
    ordered = np.sort(keys)
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    out: NDArray[np.int64] = ordered[first]
    return out


DENSE_CLIP = 5.0  # standardised dense features are clipped: a rare feature cannot dominate a score


def standardise(
    meta: NDArray[np.float64], mean: NDArray[np.float64], scale: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Dense features as z-scores of the training texts, clipped to ±DENSE_CLIP."""
    return np.clip((meta - mean) / scale, -DENSE_CLIP, DENSE_CLIP)


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Long texts are scored as windows of `size` tokens every `size // 2`, at most `most` of them.

    `row_norm` 0: each window's TF-IDF row has unit length (l2). Above 0: every row is divided by that
    constant instead, so a word weighs the same in a short message as in a window it shares with
    other words: neutral padding adds its own (small) weights and does not dilute the message's."""

    size: int = 256
    most: int = 16
    row_norm: float = 0.0

    @property
    def stride(self) -> int:
        return max(self.size // 2, 1)


# One window as long as any message (ChatMessage caps a text at 10,000 characters): the whole text.
WHOLE = WindowSpec(size=10_000, most=1)


@dataclass(frozen=True, slots=True)
class TokenChars:
    """Each token's character n-gram columns: those of token k are `columns[indptr[k]:indptr[k + 1]]`."""

    indptr: NDArray[np.int64]
    columns: NDArray[np.int64]

    def take(self, idx: NDArray[np.int64]) -> "TokenChars":
        """The columns of the tokens `idx`, in that order."""
        counts = self.indptr[idx + 1] - self.indptr[idx]
        indptr = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        start = np.repeat(self.indptr[idx] - indptr[:-1], counts)
        return TokenChars(indptr, self.columns[start + np.arange(int(indptr[-1]), dtype=np.int64)])


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens of a batch, flattened: token ids (-1 unknown), their document, their length, whether
    each is a symbol (emoji and the like, which the style features do not count), and the strings;
    with `chars`, each token's character n-gram columns (`TextFeaturizer.with_chars`), which its
    windows and subsets take instead of hashing the same words again."""

    ids: NDArray[np.int64]
    doc: NDArray[np.int64]
    length: NDArray[np.float64]
    n_docs: int
    symbol: NDArray[np.bool_]
    strings: list[str]
    chars: TokenChars | None = None

    def subset(self, docs: NDArray[np.int64]) -> "Tokens":
        """The tokens of the documents `docs` (sorted), renumbered from 0 in that order."""
        remap = np.full(self.n_docs, -1, dtype=np.int64)
        remap[docs] = np.arange(len(docs), dtype=np.int64)
        idx = np.flatnonzero(remap[self.doc] >= 0)
        strings = self.strings
        return Tokens(
            self.ids[idx],
            remap[self.doc[idx]],
            self.length[idx],
            len(docs),
            self.symbol[idx],
            [strings[i] for i in idx.tolist()],
            self.chars.take(idx) if self.chars is not None else None,
        )

    def texts(self) -> list[str]:
        """Each document rebuilt from its tokens, symbols left out: what the style features read, the
        same whether the document is a whole text or one of its windows."""
        bounds = np.searchsorted(self.doc, np.arange(self.n_docs + 1)).tolist()
        keep = self.symbol.any()
        strings, symbol = self.strings, self.symbol.tolist() if keep else None
        out = []
        for a, b in pairwise(bounds):
            if symbol is None:
                out.append(" ".join(strings[a:b]))
            else:
                out.append(" ".join(strings[k] for k in range(a, b) if not symbol[k]))
        return out


@dataclass(frozen=True, slots=True)
class Windows:
    """The batch's tokens regrouped into windows: `tokens.doc` is the window, `text[w]` its text."""

    tokens: Tokens
    text: NDArray[np.int64]
    first: NDArray[np.int64]  # index of each text's first window


def window_starts(n_tokens: int, spec: WindowSpec) -> list[int]:
    """Where the windows of a text of `n_tokens` tokens start (one window when it fits)."""
    if n_tokens <= spec.size:
        return [0]
    starts = [*range(0, n_tokens - spec.size, spec.stride), n_tokens - spec.size]
    if len(starts) > spec.most:
        picks = np.linspace(0, len(starts) - 1, spec.most).round().astype(int)
        starts = [starts[i] for i in sorted(set(picks.tolist()))]
    return starts


def windows(tok: Tokens, spec: WindowSpec) -> Windows:
    """Cut every text's tokens into windows (texts that fit stay whole: no copy)."""
    counts = np.bincount(tok.doc, minlength=tok.n_docs)
    if not len(counts) or counts.max(initial=0) <= spec.size:
        ids = np.arange(tok.n_docs, dtype=np.int64)
        return Windows(tok, ids, ids)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    begin: list[int] = []  # each window's first token, in the batch
    size: list[int] = []  # and its tokens
    text: list[int] = []
    first: list[int] = []
    for d, (n, off) in enumerate(zip(counts.tolist(), offsets.tolist(), strict=True)):
        first.append(len(text))
        for s in window_starts(n, spec):
            begin.append(off + s)
            size.append(min(s + spec.size, n) - s)
            text.append(d)
    # every window's tokens in one pass (a text longer than one window exists, so there are windows):
    # window w takes begin[w], begin[w] + 1, … (size[w] of them)
    sizes = np.asarray(size, dtype=np.int64)
    win = np.repeat(np.arange(len(text), dtype=np.int64), sizes)
    ends = np.cumsum(sizes)
    idx = np.asarray(begin, dtype=np.int64)[win] + np.arange(int(ends[-1])) - (ends - sizes)[win]
    strings = [tok.strings[i] for i in idx.tolist()]
    return Windows(
        Tokens(
            tok.ids[idx],
            win,
            tok.length[idx],
            len(text),
            tok.symbol[idx],
            strings,
            tok.chars.take(idx) if tok.chars is not None else None,
        ),
        np.asarray(text, dtype=np.int64),
        np.asarray(first, dtype=np.int64),
    )


@dataclass(frozen=True, slots=True)
class WindowRows:
    """The rows of a batch's windows: TF-IDF, raw dense features, each window's text, each text's first."""

    tfidf: "SparseRows"
    meta: NDArray[np.float64]
    text: NDArray[np.int64]
    first: NDArray[np.int64]
    tokens_per_text: NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SparseRows:
    """Rows of a sparse matrix in CSR parts (built without scipy)."""

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    data: NDArray[np.float64]
    n_cols: int


# A (row, column) pair packed in one integer key: the column in the low bits (a featurizer's columns are
# far fewer than 2**32), the row above them.
_COLUMN_BITS = 32
_COLUMN_MASK = (1 << _COLUMN_BITS) - 1


def _side_by_side(
    blocks: Sequence[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]],
    n_rows: int,
    n_cols: int,
) -> SparseRows:
    """Blocks of (row, column, value) entries, each sorted by row then column and each block's columns
    after the one before's, as one matrix's rows: each entry put straight in its place (a row's
    entries of the first block, then of the next), without sorting them together again."""
    counts = [np.bincount(r, minlength=n_rows) for r, _, _ in blocks]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.sum(counts, axis=0), out=indptr[1:])
    if len(blocks) == 1:
        _, c, data = blocks[0]
        return SparseRows(indptr, c, data, n_cols)
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    values = np.empty(int(indptr[-1]), dtype=np.float64)
    row_start = indptr[:-1].copy()  # where each row's entries of the next block go
    for (r, c, data), count in zip(blocks, counts, strict=True):
        block_start = np.zeros(n_rows, dtype=np.int64)
        np.cumsum(count[:-1], out=block_start[1:])
        place = row_start[r] + np.arange(len(r), dtype=np.int64) - block_start[r]
        indices[place] = c
        values[place] = data
        row_start += count
    return SparseRows(indptr, indices, values, n_cols)


@dataclass(frozen=True)
class TextFeaturizer:
    """Word uni- and bigram TF-IDF (sublinear tf, l2 rows) plus dense style and length features."""

    tokens: dict[str, int]  # every token seen in training
    unigram_column: NDArray[np.int64]  # token id -> column, or -1 when below min_df
    bigram_keys: NDArray[np.int64]  # sorted (id1 * n_tokens + id2) of kept bigrams
    idf: NDArray[np.float64]  # per column: unigrams, then bigrams, then character n-grams
    lexicon: NDArray[np.float64]  # token id -> membership in each lexicon
    # the sorted buckets (`char_bucket`) of the kept character n-grams, one column each; empty: words alone
    char_buckets: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # The fewest characters a token needs to feed the character n-grams (1: every token, as archives
    # before it). The word block reads every token; a head may leave out the word columns that read a
    # shorter one (`short_word_columns`).
    min_token_chars: int = 1

    def short_word_columns(self) -> NDArray[np.int64]:
        """The word block's columns that read a token shorter than `min_token_chars`: its unigram, and
        every pair with it on either side."""
        short = np.fromiter(
            (len(t) < self.min_token_chars for t in self._by_id), dtype=bool, count=self.n_tokens
        )
        kept = np.flatnonzero(self.unigram_column >= 0)
        first, second = np.divmod(self.bigram_keys, self.n_tokens)
        pairs = np.flatnonzero(short[first] | short[second]) + len(kept)
        return np.concatenate([np.flatnonzero(short[kept]), pairs])

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_columns(self) -> int:
        return len(self.idf)

    @property
    def n_word_columns(self) -> int:
        """Columns of words (unigrams and bigrams); the character n-grams' follow them."""
        return len(self.idf) - len(self.char_buckets)

    @cached_property
    def _char_column(self) -> NDArray[np.int32]:
        """Per bucket: its column among the character n-grams', or -1 (a direct lookup, no search)."""
        column = np.full(1 << CHAR_BUCKET_BITS, -1, dtype=np.int32)
        column[self.char_buckets] = np.arange(len(self.char_buckets), dtype=np.int32)
        return column

    @cached_property
    def _by_id(self) -> list[str]:
        return sorted(self.tokens, key=self.tokens.__getitem__)

    @cached_property
    def _symbol(self) -> NDArray[np.bool_]:
        flags = np.zeros(self.n_tokens + 1, dtype=bool)  # the last slot stands for unknown (-1)
        for token, i in self.tokens.items():
            flags[i] = is_symbol(token)
        return flags

    @cached_property
    def _by_length(self) -> dict[int, tuple[NDArray[np.uint32], NDArray[np.int64]]]:
        """Words with a column, by length: their characters (rows) and ids, most frequent first."""
        groups: dict[int, list[tuple[float, str, int]]] = {}
        for token, i in self.tokens.items():
            col = self.unigram_column[i]
            if col >= 0 and 3 <= len(token) <= 24 and token.isalpha():
                groups.setdefault(len(token), []).append((float(self.idf[col]), token, i))
        out = {}
        for length, items in groups.items():
            items.sort()
            chars = np.frombuffer("".join(t for _, t, _ in items).encode("utf-32-le"), dtype=np.uint32)
            out[length] = (chars.reshape(len(items), length), np.array([i for _, _, i in items]))
        return out

    def _unmask(self, token: str) -> int:
        """The most frequent vocabulary word that a masked token ("f*ck") can stand for, or -1."""
        table = self._by_length.get(len(token))
        shown = [k for k, c in enumerate(token) if c != "*"]
        if table is None or len(shown) * 2 < len(token):
            return -1
        chars, ids = table
        want = np.frombuffer("".join(token[k] for k in shown).encode("utf-32-le"), dtype=np.uint32)
        hit = np.flatnonzero((chars[:, shown] == want).all(axis=1))
        return int(ids[hit[0]]) if len(hit) else -1

    def _most_frequent(self, spellings: Sequence[str]) -> int:
        """The id of the spelling with a column and the most training documents, or -1."""
        best, best_idf = -1, np.inf
        for spelling in spellings:
            i = self.tokens.get(spelling, -1)
            col = self.unigram_column[i] if i >= 0 else -1
            if col >= 0 and self.idf[col] < best_idf:
                best, best_idf = i, float(self.idf[col])
        return best

    @cached_property
    def _spelling(self) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Per token id: the id it is read as (`read_as`), and whether that has been looked up yet."""
        return np.arange(self.n_tokens, dtype=np.int64), np.zeros(self.n_tokens, dtype=bool)

    def read_as(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """The ids known token ids are read as. A word with doubled letters is read as its most frequent
        spelling ("biitch" → "bitch", "wee" → "we"; "good" stays "good"): elongation does not hide a word.
        Each id is looked up the first time it is met (a cold start looks up its first batch's words,
        not the whole vocabulary's)."""
        canonical, looked_up = self._spelling
        for i in np.unique(ids[~looked_up[ids]]).tolist():
            token = self._by_id[i]
            if _DOUBLE.search(token) and token.isalpha():
                best = self._most_frequent(run_variants(token))
                if best >= 0:
                    canonical[i] = best
            looked_up[i] = True
        return canonical[ids]

    def _resolve(self, flat: list[str], ids: NDArray[np.int64], counts: NDArray[np.int64]) -> None:
        """Tokens without a column, looked up again: runs collapsed, masks resolved (in place).

        Each distinct token is looked up once per batch; a text gets at most MAX_MASKED_LOOKUPS masked
        lookups (each a vectorised scan), so the cost stays linear in the text.
        """
        length = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
        has_column = np.where(ids >= 0, self.unigram_column[np.where(ids >= 0, ids, 0)] >= 0, False)
        todo = np.flatnonzero(~has_column & (length >= 2)).tolist()
        if not todo:
            return
        doc = np.repeat(np.arange(len(counts)), counts)
        masked_left = np.full(len(counts), MAX_MASKED_LOOKUPS, dtype=np.int64)
        found: dict[str, int] = {}
        for k in todo:
            token = flat[k]
            hit = found.get(token)
            if hit is None:
                if "*" in token:
                    d = doc[k]
                    if masked_left[d] <= 0:
                        continue
                    masked_left[d] -= 1
                    hit = self._unmask(token)
                else:
                    hit = self._most_frequent(run_variants(token)) if _DOUBLE.search(token) else -1
                found[token] = hit
            if hit >= 0:
                ids[k] = hit

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        """One regex pass per text; tokens without a column looked up again; unknown tokens get id -1."""
        findall = TOKEN.findall
        per_doc = [findall(t) if t.isascii() else [x for x in findall(t) if not is_symbol(x)] for t in texts]
        counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        flat = list(chain.from_iterable(per_doc))
        ids = np.fromiter(map(self.tokens.get, flat, repeat(-1, len(flat))), dtype=np.int64, count=len(flat))
        seen = ids.copy()
        known = ids >= 0
        ids[known] = self.read_as(ids[known])
        self._resolve(flat, ids, counts)
        if len(self.char_buckets):  # a word read as another ("fuuuck", "f*ck") is spelt as that one
            by_id = self._by_id
            for k in np.flatnonzero(ids != seen).tolist():
                flat[k] = by_id[ids[k]]
        length = np.fromiter(map(len, flat), dtype=np.float64, count=len(flat))
        symbol = np.zeros(len(flat), dtype=bool)
        start = 0
        for text, n in zip(texts, counts.tolist(), strict=True):
            if not text.isascii():  # symbols are never ASCII
                symbol[start : start + n] = [is_symbol(t) for t in flat[start : start + n]]
            start += n
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
        return Tokens(ids, doc, length, len(texts), symbol, flat)

    def tfidf(self, tok: Tokens, row_norm: float = 0.0) -> SparseRows:
        """The TF-IDF rows (one per `tok.doc`: a text, or a window): l2-normalised, or divided by
        `row_norm` when it is above 0 (see `WindowSpec`)."""
        known = tok.ids >= 0
        cols = np.where(known, self.unigram_column[np.where(known, tok.ids, 0)], -1)
        keep = cols >= 0
        rows_parts, col_parts = [tok.doc[keep]], [cols[keep]]
        if len(self.bigram_keys):
            # Bigrams over known tokens, stepping over unknown ones and symbols ("fuck 😀 you").
            paired = known & ~self._symbol[tok.ids]
            ids, doc = tok.ids[paired], tok.doc[paired]
            if len(ids) > 1:
                same = doc[1:] == doc[:-1]
                keys = ids[:-1][same] * self.n_tokens + ids[1:][same]
                pos = np.searchsorted(self.bigram_keys, keys)
                pos[pos >= len(self.bigram_keys)] = 0
                hit = self.bigram_keys[pos] == keys
                rows_parts.append(doc[1:][same][hit])
                col_parts.append(pos[hit] + int((self.unigram_column >= 0).sum()))
        blocks = [self._block(np.concatenate(rows_parts), np.concatenate(col_parts), tok.n_docs, row_norm)]
        if len(self.char_buckets):
            chars = self._chars(tok)
            doc = np.repeat(tok.doc, np.diff(chars.indptr))
            blocks.append(self._block(doc, chars.columns + self.n_word_columns, tok.n_docs, row_norm))
        return _side_by_side(blocks, tok.n_docs, self.n_columns)

    def with_chars(self, tok: Tokens) -> Tokens:
        """`tok` with each token's character n-gram columns (none without character n-grams): a batch's
        are hashed once, and its windows take them."""
        if tok.chars is not None or not len(self.char_buckets):
            return tok
        return replace(tok, chars=self._chars(tok))

    def _chars(self, tok: Tokens) -> TokenChars:
        """Each token's character n-gram columns: those `tok` carries, or hashed from its strings."""
        if tok.chars is not None:
            return tok.chars
        keys, owner = char_ngram_keys(tok.strings, np.arange(len(tok.strings)), self.min_token_chars)
        col = self._char_column[char_bucket(keys)].astype(np.int64)
        hit = col >= 0
        owner, col = owner[hit], col[hit]
        indptr = np.zeros(len(tok.strings) + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=len(tok.strings)), out=indptr[1:])
        return TokenChars(indptr, col[np.argsort(owner, kind="stable")])

    def _block(
        self, rows: NDArray[np.int64], cols: NDArray[np.int64], n_docs: int, row_norm: float
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """One block of columns (words, or character n-grams) as sorted (row, column, value) entries:
        sublinear tf times idf, each row l2-normalised within the block (or divided by `row_norm`)."""
        # Each distinct (row, column) key and its count, sorted by row, then column. A stable sort and
        # the run starts: the keys arrive as a few runs sorted by row, which it merges faster than the
        # general sort of np.unique. The row in the high 32 bits, the column in the low: read back by a
        # shift and a mask (a division and a remainder cost several times as much).
        key = np.sort((rows.astype(np.int64, copy=False) << _COLUMN_BITS) | cols, kind="stable")
        first = np.empty(len(key), dtype=bool)
        first[:1] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        start = np.flatnonzero(first)
        tf = np.diff(start, append=len(key))
        uniq = key[start]
        r = uniq >> _COLUMN_BITS
        c = uniq & _COLUMN_MASK
        data = self.idf[c]  # sublinear tf, as scikit-learn: (1 + log tf) * idf, and 1 + log 1 is 1
        repeated = np.flatnonzero(tf > 1)
        data[repeated] *= 1.0 + np.log(tf[repeated].astype(np.float64))
        if row_norm > 0:
            return r, c, data / row_norm
        norms = np.sqrt(np.bincount(r, weights=data * data, minlength=n_docs))
        norms[norms == 0] = 1.0
        return r, c, data / norms[r]

    def meta(self, tok: Tokens, mixed_script: NDArray[np.float64]) -> NDArray[np.float64]:
        """Dense length, style and lexicon features, one row per document of `tok` (a text, or a
        window of one), read from its tokens; `mixed_script` is each document's share of mixed-script
        words.
        """
        n = tok.n_docs
        texts = tok.texts()
        doc, length, ids = tok.doc, tok.length, tok.ids
        chars = np.fromiter(map(len, texts), dtype=np.float64, count=n)
        n_tok = np.bincount(doc, minlength=n).astype(np.float64)
        per_tok = np.maximum(n_tok, 1.0)
        per_char = np.maximum(chars, 1.0)
        known = ids >= 0
        lex = np.zeros((n, self.lexicon.shape[1]))
        if known.any():
            member = self.lexicon[ids[known]]
            for j in range(lex.shape[1]):
                lex[:, j] = np.bincount(doc[known], weights=member[:, j], minlength=n)
        distinct = np.bincount(
            sorted_unique(doc[known] * (self.n_tokens + 1) + ids[known]) // (self.n_tokens + 1), minlength=n
        )
        punct = length == 1
        chars_by_class = _char_counts(texts)
        digits, counted = chars_by_class[:, 0], chars_by_class[:, 1:]
        last = [t[-1:] for t in texts]
        return np.column_stack(
            [
                np.log1p(chars),
                np.log1p(n_tok),
                digits / per_char,
                np.bincount(doc, weights=length, minlength=n) / per_tok,
                np.bincount(doc, weights=(length >= 8).astype(np.float64), minlength=n) / per_tok,
                np.bincount(doc, weights=(~known).astype(np.float64), minlength=n) / per_tok,
                distinct / per_tok,
                mixed_script,
                np.bincount(doc, weights=punct.astype(np.float64), minlength=n) / per_tok,
                np.fromiter((t.count("http") for t in texts), dtype=np.float64, count=n),
                np.fromiter((t.count("&gt;") for t in texts), dtype=np.float64, count=n),
                np.fromiter((c == "?" for c in last), dtype=np.float64, count=n),
                np.fromiter((c not in '.!?)"' for c in last), dtype=np.float64, count=n),
                lex / per_tok[:, None],
                np.log1p(counted),
            ]
        )

    def rows(self, texts: Sequence[str], mixed_script: Sequence[int], spec: WindowSpec) -> "WindowRows":
        """Every text cut into windows, each a TF-IDF row and a dense row (as if it were a message);
        `mixed_script` counts each text's mixed-script words. Training and serving both use this."""
        return self.rows_of(self.tokenize(texts), np.asarray(mixed_script, dtype=np.float64), spec)

    def rows_of(self, tok: Tokens, mixed_script: NDArray[np.float64], spec: WindowSpec) -> "WindowRows":
        """`rows` of texts already tokenised."""
        win = windows(self.with_chars(tok), spec)
        per_text = np.bincount(tok.doc, minlength=tok.n_docs).astype(np.float64)
        mixed = mixed_script / np.maximum(per_text, 1.0)
        return WindowRows(
            self.tfidf(win.tokens, spec.row_norm),
            self.meta(win.tokens, mixed[win.text]),
            win.text,
            win.first,
            per_text.astype(np.int64),
        )

    def feature_names(self) -> list[str]:
        """Column names: unigrams, bigrams (the tokens explanations show)."""
        by_id = sorted(self.tokens, key=self.tokens.__getitem__)
        uni = [by_id[i] for i in np.flatnonzero(self.unigram_column >= 0)]
        order = np.argsort(self.unigram_column[self.unigram_column >= 0], kind="stable")
        uni = [uni[i] for i in order]
        bi = [f"{by_id[k // self.n_tokens]} {by_id[k % self.n_tokens]}" for k in self.bigram_keys.tolist()]
        return uni + bi + [CHAR_FEATURE] * len(self.char_buckets)


def fit_featurizer(
    texts: Sequence[str],
    min_df: int = 2,
    bigrams: bool = True,
    chars: bool = False,
    min_token_chars: int = 1,
) -> TextFeaturizer:
    """Learn the vocabulary and IDF of the training texts (already normalised): words, word pairs and,
    with `chars`, the character n-grams (of the tokens of at least `min_token_chars` characters) of at
    least `min_df` texts."""
    per_doc = [model_tokens(t) for t in texts]
    vocab = sorted(set(chain.from_iterable(per_doc)) | set().union(*LEXICONS.values()))
    tokens = {t: i for i, t in enumerate(vocab)}
    n_tok = len(vocab)
    n_docs = len(texts)
    counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=n_docs)
    ids = np.fromiter(
        (tokens[t] for t in chain.from_iterable(per_doc)), dtype=np.int64, count=int(counts.sum())
    )
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), counts)
    df_uni = np.bincount(sorted_unique(doc * n_tok + ids) % n_tok, minlength=n_tok)
    kept_uni = np.flatnonzero(df_uni >= min_df)
    unigram_column = np.full(n_tok, -1, dtype=np.int64)
    unigram_column[kept_uni] = np.arange(len(kept_uni))
    dfs = [df_uni[kept_uni]]
    bigram_keys = np.zeros(0, dtype=np.int64)
    if bigrams and len(ids) > 1:
        same = doc[1:] == doc[:-1]
        keys = (ids[:-1] * n_tok + ids[1:])[same]
        docs = doc[1:][same]
        per_doc_keys = sorted_unique(docs * (n_tok * n_tok) + keys) % (n_tok * n_tok)
        uniq, df_bi = np.unique(per_doc_keys, return_counts=True)
        keep = df_bi >= min_df
        bigram_keys = uniq[keep]
        dfs.append(df_bi[keep])
    char_buckets = np.zeros(0, dtype=np.int64)
    if chars:
        keys, owner = char_ngram_keys(list(chain.from_iterable(per_doc)), doc, min_token_chars)
        pairs = sorted_unique(char_bucket(keys) * max(n_docs, 1) + owner)  # each (bucket, text) once
        df_char = np.bincount(pairs // max(n_docs, 1), minlength=1 << CHAR_BUCKET_BITS)
        char_buckets = np.flatnonzero(df_char >= min_df)
        dfs.append(df_char[char_buckets])
    df = np.concatenate(dfs).astype(np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    lexicon = np.zeros((n_tok, len(LEXICONS)))
    for j, words in enumerate(LEXICONS.values()):
        for w in words:
            lexicon[tokens[w], j] = 1.0
    return TextFeaturizer(tokens, unigram_column, bigram_keys, idf, lexicon, char_buckets, min_token_chars)
