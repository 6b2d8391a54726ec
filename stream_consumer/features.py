"""Text features from one tokeniser pass over a batch, in numpy alone.

Training fits the vocabulary and the model on exactly these features, and serving computes them with
this same code, so the exported model needs neither scikit-learn nor scipy to score.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
from numpy.typing import NDArray

TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")

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


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens of a batch, flattened: token ids (-1 unknown), their document and their length."""

    ids: NDArray[np.int64]
    doc: NDArray[np.int64]
    length: NDArray[np.float64]
    n_docs: int


@dataclass(frozen=True, slots=True)
class SparseRows:
    """Rows of a sparse matrix in CSR parts (built without scipy)."""

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    data: NDArray[np.float64]
    n_cols: int


@dataclass(frozen=True)
class TextFeaturizer:
    """Word uni- and bigram TF-IDF (sublinear tf, l2 rows) plus dense style and length features."""

    tokens: dict[str, int]  # every token seen in training
    unigram_column: NDArray[np.int64]  # token id -> column, or -1 when below min_df
    bigram_keys: NDArray[np.int64]  # sorted (id1 * n_tokens + id2) of kept bigrams
    idf: NDArray[np.float64]  # per column: unigrams, then bigrams
    lexicon: NDArray[np.float64]  # token id -> membership in each lexicon

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_columns(self) -> int:
        return len(self.idf)

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        """One regex pass per text; unknown tokens get id -1."""
        findall = TOKEN.findall
        per_doc = [findall(t) for t in texts]
        counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        flat = list(chain.from_iterable(per_doc))
        ids = np.fromiter(map(self.tokens.get, flat, repeat(-1, len(flat))), dtype=np.int64, count=len(flat))
        length = np.fromiter(map(len, flat), dtype=np.float64, count=len(flat))
        return Tokens(ids, np.repeat(np.arange(len(texts), dtype=np.int64), counts), length, len(texts))

    def tfidf(self, tok: Tokens) -> SparseRows:
        """The l2-normalised TF-IDF rows of the batch."""
        known = tok.ids >= 0
        cols = np.where(known, self.unigram_column[np.where(known, tok.ids, 0)], -1)
        keep = cols >= 0
        rows_parts, col_parts = [tok.doc[keep]], [cols[keep]]
        if len(self.bigram_keys) and len(tok.ids) > 1:
            pair = (tok.doc[1:] == tok.doc[:-1]) & known[1:] & known[:-1]
            keys = tok.ids[:-1][pair] * self.n_tokens + tok.ids[1:][pair]
            pos = np.searchsorted(self.bigram_keys, keys)
            pos[pos >= len(self.bigram_keys)] = 0
            hit = self.bigram_keys[pos] == keys
            rows_parts.append(tok.doc[1:][pair][hit])
            col_parts.append(pos[hit] + int((self.unigram_column >= 0).sum()))
        rows = np.concatenate(rows_parts)
        cols = np.concatenate(col_parts)
        # Count (row, col) pairs: sort by a combined key, then run-length encode.
        key = rows * self.n_columns + cols
        uniq, tf = np.unique(key, return_counts=True)
        r = uniq // self.n_columns
        c = uniq % self.n_columns
        data = np.log1p(tf.astype(np.float64)) * self.idf[c]
        indptr = np.zeros(tok.n_docs + 1, dtype=np.int64)
        np.add.at(indptr, r + 1, 1)
        np.cumsum(indptr, out=indptr)
        norms = np.sqrt(np.bincount(r, weights=data * data, minlength=tok.n_docs))
        norms[norms == 0] = 1.0
        data /= norms[r]
        return SparseRows(indptr, c, data, self.n_columns)

    def meta(self, texts: Sequence[str], tok: Tokens, tfidf: SparseRows) -> NDArray[np.float64]:
        """Dense length, style and lexicon features, one row per text (columns as META_NAMES)."""
        n = tok.n_docs
        chars = np.fromiter(map(len, texts), dtype=np.float64, count=n)
        n_tok = np.bincount(tok.doc, minlength=n).astype(np.float64)
        per_tok = np.maximum(n_tok, 1.0)
        per_char = np.maximum(chars, 1.0)
        known = tok.ids >= 0
        lex = np.zeros((n, self.lexicon.shape[1]))
        if known.any():
            member = self.lexicon[tok.ids[known]]
            for j in range(lex.shape[1]):
                lex[:, j] = np.bincount(tok.doc[known], weights=member[:, j], minlength=n)
        punct = tok.length == 1
        chars_by_class = _char_counts(texts)
        digits, counted = chars_by_class[:, 0], chars_by_class[:, 1:]
        last = [t[-1:] for t in texts]
        return np.column_stack(
            [
                np.log1p(chars),
                np.log1p(n_tok),
                digits / per_char,
                np.bincount(tok.doc, weights=tok.length, minlength=n) / per_tok,
                np.bincount(tok.doc, weights=(tok.length >= 8).astype(np.float64), minlength=n) / per_tok,
                np.bincount(tok.doc, weights=(~known).astype(np.float64), minlength=n) / per_tok,
                np.diff(tfidf.indptr).astype(np.float64) / per_tok,
                np.bincount(tok.doc, weights=punct.astype(np.float64), minlength=n) / per_tok,
                np.fromiter((t.count("http") for t in texts), dtype=np.float64, count=n),
                np.fromiter((t.count("&gt;") for t in texts), dtype=np.float64, count=n),
                np.fromiter((c == "?" for c in last), dtype=np.float64, count=n),
                np.fromiter((c not in '.!?)"' for c in last), dtype=np.float64, count=n),
                lex / per_tok[:, None],
                np.log1p(counted),
            ]
        )

    def feature_names(self) -> list[str]:
        """Column names: unigrams, bigrams (the tokens explanations show)."""
        by_id = sorted(self.tokens, key=self.tokens.__getitem__)
        uni = [by_id[i] for i in np.flatnonzero(self.unigram_column >= 0)]
        order = np.argsort(self.unigram_column[self.unigram_column >= 0], kind="stable")
        uni = [uni[i] for i in order]
        bi = [f"{by_id[k // self.n_tokens]} {by_id[k % self.n_tokens]}" for k in self.bigram_keys.tolist()]
        return uni + bi


def fit_featurizer(texts: Sequence[str], min_df: int = 2, bigrams: bool = True) -> TextFeaturizer:
    """Learn the vocabulary and IDF of the training texts (already normalised)."""
    findall = TOKEN.findall
    per_doc = [findall(t) for t in texts]
    vocab = sorted(set(chain.from_iterable(per_doc)) | set().union(*LEXICONS.values()))
    tokens = {t: i for i, t in enumerate(vocab)}
    n_tok = len(vocab)
    n_docs = len(texts)
    counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=n_docs)
    ids = np.fromiter(
        (tokens[t] for t in chain.from_iterable(per_doc)), dtype=np.int64, count=int(counts.sum())
    )
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), counts)
    df_uni = np.bincount(np.unique(doc * n_tok + ids) % n_tok, minlength=n_tok)
    kept_uni = np.flatnonzero(df_uni >= min_df)
    unigram_column = np.full(n_tok, -1, dtype=np.int64)
    unigram_column[kept_uni] = np.arange(len(kept_uni))
    dfs = [df_uni[kept_uni]]
    bigram_keys = np.zeros(0, dtype=np.int64)
    if bigrams and len(ids) > 1:
        same = doc[1:] == doc[:-1]
        keys = (ids[:-1] * n_tok + ids[1:])[same]
        docs = doc[1:][same]
        per_doc_keys = np.unique(docs * (n_tok * n_tok) + keys) % (n_tok * n_tok)
        uniq, df_bi = np.unique(per_doc_keys, return_counts=True)
        keep = df_bi >= min_df
        bigram_keys = uniq[keep]
        dfs.append(df_bi[keep])
    df = np.concatenate(dfs).astype(np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    lexicon = np.zeros((n_tok, len(LEXICONS)))
    for j, words in enumerate(LEXICONS.values()):
        for w in words:
            lexicon[tokens[w], j] = 1.0
    return TextFeaturizer(tokens, unigram_column, bigram_keys, idf, lexicon)
