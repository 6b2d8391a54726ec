"""Context across messages: floods, raids, link and mention floods and a channel's heat, counted in the
event source mapping's tumbling-window state (one per shard; a channel's messages are all on one shard,
in order). Pure: no I/O; the state is what the handler receives and returns as `state`.

What is counted in a window, per shard:
- per user in a channel: messages, messages with a link, mentions (`flood`, `links`, `mentions`);
- per channel: messages and messages the models flagged (`heat`: the flagged share);
- per near-duplicate text in a channel: the distinct users who posted it (`raid`). Near-duplicates
  are found on the normal form (look-alike letters, invisible characters and spacing already undone)
  reduced to its set of words, by MinHash with locality-sensitive bands: two texts that share most of
  their words share a band (10 bands of 5 hashes: Jaccard 0.9 → 99.9%, 0.75 → 93%,
  0.3 → 2.4%).

The state is bounded whatever the traffic: each table holds at most a budget of keys. Over budget, the
half with the lowest counts is evicted at once (a batched Space-Saving: a key that comes back starts
again, carrying the highest evicted count as its possible error). Heavy hitters — a flooder, a raid's
text — have counts above what is evicted and stay; an attacker who floods the state with thousands of
one-message users evicts only one-message keys. A signal fires on a key's own count since it was last
(re)inserted — a lower bound of the truth — so eviction can delay a signal but never invent one.
"""

import re
import zlib
from array import array
from base64 import b64decode, b64encode
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from hashlib import blake2b
from typing import Any
from zlib import crc32

import numpy as np

from contracts.policy import ContextPolicy, SignalName
from contracts.verdict import Action, ContextSignal

STATE_KEY = "context"  # the one key of the window state this module owns
STATE_VERSION = 1
BANDS, ROWS = 10, 5  # MinHash bands × hashes per band
MAX_SHINGLED_CHARS = 1000  # characters of a text that take part in its near-duplicate key
_LINK = re.compile(
    r"https?://|www\.|\b[a-z0-9-]{2,}\.(?:com|net|org|io|gg|ly|co|xyz|ru|tk|me|tv|link|info)\b"
)
_WORD = re.compile(r"[^\W\d_]{2,}")  # a run of two letters or more (of any script)
_MENTION = re.compile(r"(?<![\w@])@[\w.]{2,}")
_RNG = np.random.default_rng(20261129)
_MUL = _RNG.integers(1, 2**63, size=(BANDS * ROWS, 1), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_ADD = _RNG.integers(0, 2**63, size=(BANDS * ROWS, 1), dtype=np.uint64)
_COMBINE = _RNG.integers(1, 2**63, size=ROWS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_BAND_SALT = _RNG.integers(0, 2**63, size=BANDS, dtype=np.uint64)


@lru_cache(maxsize=1 << 16)  # a window sees the same channels and users again and again
def _key(*parts: str) -> int:
    """A stable 64-bit key (Python's own hash differs per process)."""
    joined = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(joined, digest_size=8).digest(), "little")


def near_duplicate_bands(texts: Sequence[str], min_letters: Sequence[int]) -> list[tuple[int, ...]]:
    """Each normal-form text's MinHash band keys over its set of words (words of letters only: digits,
    punctuation and emoji dropped, so appending a number or an emoji changes nothing; a set, so
    swapping words changes nothing and dropping one of n changes 1/n of it); none for a text of fewer
    than its `min_letters` letters (a burst of "gg" is not a raid). A batch at once (a few numpy calls
    for all of it); linear and bounded: the first `MAX_SHINGLED_CHARS` characters of each count."""
    words = [set(_WORD.findall(t[:MAX_SHINGLED_CHARS])) for t in texts]
    keep = [i for i, w in enumerate(words) if w and sum(map(len, w)) >= min_letters[i]]
    out: list[tuple[int, ...]] = [()] * len(texts)
    if not keep:
        return out
    sizes = [len(words[i]) for i in keep]
    hashed = np.fromiter(
        (crc32(w.encode()) for i in keep for w in words[i]), dtype=np.uint64, count=sum(sizes)
    )
    starts = np.concatenate(([0], np.cumsum(sizes[:-1]))).astype(np.intp)
    # multiply-shift hashes, per function and word; each text's minimum per function
    mins = np.minimum.reduceat((_MUL * hashed + _ADD) >> np.uint64(20), starts, axis=1)
    keys = (mins.T.reshape(len(keep), BANDS, ROWS) * _COMBINE).sum(axis=2) + _BAND_SALT  # wrapping
    for j, row in zip(keep, keys.tolist(), strict=True):
        out[j] = tuple(row)
    return out


def user_bit(user: str) -> int:
    """Which of a text's 64 user bits a user sets (distinct users: a lower bound, bits can collide)."""
    return _key("b", user) & 63


@dataclass(frozen=True, slots=True)
class Observation:
    """What one message adds to its window."""

    channel: str
    user: str
    bands: tuple[int, ...]  # near-duplicate keys of its text (none when too short)
    links: int
    mentions: int
    flagged: bool  # the models (or a rule) did not allow it on their own


def observe(channel: str, user: str, normal: str, bands: tuple[int, ...], flagged: bool) -> Observation:
    """A message's observation: its links and mentions, read — like its near-duplicate `bands` — in
    its normal form, where look-alike letters and invisible characters cannot hide a link."""
    head = normal[:MAX_SHINGLED_CHARS]
    return Observation(channel, user, bands, len(_LINK.findall(head)), len(_MENTION.findall(head)), flagged)


@dataclass(frozen=True, slots=True)
class Counted:
    """A message as its window counted it: its record, what it added, the signals it fired."""

    sequence_number: str
    observation: Observation
    fired: tuple[str, ...]


@dataclass
class _Table:
    """At most `budget` keys, each a row [possible error, count, fields...]; see the module's doc.
    `codes` has an array typecode per value of a row ("I": 32 bits, "Q": 64), for the state."""

    budget: int
    codes: str
    rows: dict[int, list[int]] = field(default_factory=dict)
    floor: int = 0  # the highest count evicted so far: what a (re)inserted key may have missed

    def row(self, key: int) -> list[int]:
        found = self.rows.get(key)
        if found is None:
            if len(self.rows) >= self.budget:
                self._evict()
            found = [self.floor] + [0] * (len(self.codes) - 1)
            self.rows[key] = found
        return found

    def _evict(self) -> None:
        """Keep the half with the highest counts (their errors included); the rest go at once."""
        keep = self.budget // 2
        keys = list(self.rows)
        rows = self.rows.values()
        priority = np.fromiter((r[0] + r[1] for r in rows), dtype=np.int64, count=len(keys))
        order = np.argpartition(-priority, keep)
        self.floor = max(self.floor, int(priority[order[keep:]].max()))
        self.rows = {keys[i]: self.rows[keys[i]] for i in order[:keep].tolist()}

    def pack(self) -> bytes:
        """Column by column (counts next to counts compress well): keys, then each value."""
        rows = list(self.rows.values())
        parts = [array("Q", [len(rows), self.floor]), array("Q", self.rows.keys())]
        parts += [array(code, [r[j] for r in rows]) for j, code in enumerate(self.codes)]
        return b"".join(a.tobytes() for a in parts)

    @classmethod
    def unpack(cls, data: memoryview, budget: int, codes: str) -> tuple["_Table", int]:
        head = array("Q")
        head.frombytes(data[:16])
        n, floor = head
        if n > budget:
            raise ValueError(f"{n} keys over the budget of {budget}")
        at, columns = 16, []
        for code in "Q" + codes:
            column = array(code)
            size = column.itemsize * n
            column.frombytes(data[at : at + size])
            if len(column) != n:
                raise ValueError("truncated table")
            columns.append(column)
            at += size
        rows = {k: list(values) for k, *values in zip(*columns, strict=True)}
        return cls(budget, codes, rows, floor), at


_USERS = "IIII"  # error, messages, messages with a link, mentions
_TEXTS = "IIQ"  # error, distinct users, the users' 64-bit bitmap
_CHANNELS = "III"  # error, messages, flagged


@dataclass(frozen=True, slots=True)
class Budget:
    """Keys each table may hold per shard (the state's size is bounded by these)."""

    users: int = 2048
    texts: int = 4096
    channels: int = 256


@dataclass
class WindowContext:
    """One shard's counts in the open window."""

    budget: Budget = field(default_factory=Budget)
    users: _Table = field(init=False)  # (channel, user) → [error, messages, link messages, mentions]
    texts: _Table = field(init=False)  # (channel, band) → [error, distinct users, users' bitmap]
    channels: _Table = field(init=False)  # channel → [error, messages, flagged]
    fired: Counter[str] = field(default_factory=Counter)  # signals fired in the window
    dirty: bool = False  # changed since it was last encoded

    def __post_init__(self) -> None:
        self.users = _Table(self.budget.users, _USERS)
        self.texts = _Table(self.budget.texts, _TEXTS)
        self.channels = _Table(self.budget.channels, _CHANNELS)

    @property
    def messages(self) -> int:
        return sum(r[1] for r in self.channels.rows.values())

    def add(self, obs: Observation) -> dict[str, float]:
        """Count one message; the values its signals have now (itself included)."""
        self.dirty = True
        user = self.users.row(_key("u", obs.channel, obs.user))
        user[1] += 1
        user[2] += obs.links > 0
        user[3] += obs.mentions
        channel_key = _key("c", obs.channel)
        channel = self.channels.row(channel_key)
        channel[1] += 1
        channel[2] += obs.flagged
        bit = 1 << (user_bit(obs.user))
        raid = 0
        for band in obs.bands:
            text = self.texts.row(channel_key ^ band)
            if not text[2] & bit:
                text[2] |= bit
                text[1] += 1
            raid = max(raid, text[2].bit_count())  # distinct users: a lower bound (bits can collide)
        return {
            "flood": user[1],
            "links": user[2],
            "mentions": user[3],
            "raid": raid,
            "heat": channel[2] / channel[1],
            "channel_messages": channel[1],
        }

    def recount(self, counted: Iterable[Counted]) -> None:
        """Count messages again as they were counted (the state of a batch's successful prefix)."""
        for c in counted:
            self.add(c.observation)
            self.fired.update(c.fired)

    def encode(self) -> dict[str, str]:
        """The window state to return to the event source mapping (one string: Lambda's state is a
        map of strings in every runtime)."""
        fired = ",".join(f"{k}={v}" for k, v in sorted(self.fired.items()))
        body = b"".join(t.pack() for t in (self.users, self.texts, self.channels))
        self.dirty = False
        packed = b64encode(zlib.compress(body, 1)).decode("ascii")
        return {STATE_KEY: packed, "version": str(STATE_VERSION), "fired": fired}

    @classmethod
    def decode(cls, state: dict[str, Any] | None, budget: Budget | None = None) -> "WindowContext":
        """The counts a window state holds; an empty state is a fresh window. Raises ValueError on a
        state this version cannot read."""
        budget = budget or Budget()
        context = cls(budget)
        if not state or STATE_KEY not in state:
            return context
        if str(state.get("version")) != str(STATE_VERSION):
            raise ValueError(f"window state version {state.get('version')!r} is not {STATE_VERSION}")
        layout = ((budget.users, _USERS), (budget.texts, _TEXTS), (budget.channels, _CHANNELS))
        # Never inflate more than the budget's tables can pack to (a bomb stops here, not in memory).
        most = sum(16 + n * (8 + sum(array(c).itemsize for c in codes)) for n, codes in layout)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(b64decode(state[STATE_KEY], validate=True), most)
        if inflater.unconsumed_tail:
            raise ValueError(f"window state inflates past the {most} bytes its budget allows")
        view, at = memoryview(raw), 0
        tables = []
        for size, codes in layout:
            table, used = _Table.unpack(view[at:], size, codes)
            tables.append(table)
            at += used
        context.users, context.texts, context.channels = tables
        for item in filter(None, str(state.get("fired", "")).split(",")):
            name, _, count = item.partition("=")
            context.fired[name] = int(count)
        return context


def fired(values: dict[str, float], policy: ContextPolicy) -> list[ContextSignal]:
    """The signals over their channel's thresholds, each with its value, threshold and action (a
    report-only signal, action `allow`, too: the caller counts it for the window)."""
    out = []
    names: tuple[SignalName, ...] = ("flood", "raid", "links", "mentions")
    for name in names:
        rule = policy.rule(name)
        if rule.threshold and values[name] >= rule.threshold:
            out.append(
                ContextSignal(signal=name, value=values[name], threshold=rule.threshold, action=rule.action)
            )
    heat = policy.heat
    if (
        heat.threshold
        and values["channel_messages"] >= heat.min_messages
        and values["heat"] >= heat.threshold
    ):
        out.append(
            ContextSignal(
                signal="heat", value=round(values["heat"], 4), threshold=heat.threshold, action=heat.action
            )
        )
    return out


def raised(action: Action, signals: Iterable[ContextSignal]) -> Action:
    """The message's action after its fired signals: never lowered."""
    rank = {Action.ALLOW: 0, Action.REVIEW: 1, Action.REMOVE: 2}
    return max([action, *(Action(s.action) for s in signals)], key=rank.__getitem__)
