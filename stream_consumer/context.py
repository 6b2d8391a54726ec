"""Context across messages: floods, raids, link and mention floods and a channel's heat, counted in the
event source mapping's tumbling-window state (one per shard; a channel's messages are all on one shard,
in order). Pure: no I/O; the state is what the handler receives and returns as `state`.

What is counted in a window, per shard:
- per user in a channel: messages, messages with a link, mentions (`flood`, `links`, `mentions`);
- per channel: messages and messages the models flagged (`heat`: the flagged share);
- per near-duplicate text in a channel: the distinct users who posted it (`raid`). Near-duplicates
  are found on the normal form (look-alike letters, invisible characters and spacing already undone)
  reduced to its letters, by MinHash over character 4-grams with locality-sensitive bands: two texts
  that share most of their 4-grams share a band (6 bands of 3 hashes: Jaccard 0.75 → 96%, 0.1 → 0.6%).

The state is bounded whatever the traffic: each table holds at most a budget of keys. Over budget, the
quarter with the lowest counts is evicted at once (a batched Space-Saving: a key that comes back starts
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b
from itertools import chain
from typing import Any

import numpy as np

from contracts.policy import ContextPolicy, SignalName
from contracts.verdict import Action, ContextSignal

STATE_KEY = "context"  # the one key of the window state this module owns
STATE_VERSION = 1
BANDS, ROWS = 6, 3  # MinHash bands × hashes per band
MAX_SHINGLED_CHARS = 400  # letters of a text that take part in its near-duplicate key (linear, bounded)
_LINK = re.compile(
    r"https?://|www\.|\b[a-z0-9-]{2,}\.(?:com|net|org|io|gg|ly|co|xyz|ru|tk|me|tv|link|info)\b"
)
_MENTION = re.compile(r"(?<![\w@])@[\w.]{2,}")
_RNG = np.random.default_rng(20261129)
_MUL = _RNG.integers(1, 2**63, size=(BANDS * ROWS, 1), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_ADD = _RNG.integers(0, 2**63, size=(BANDS * ROWS, 1), dtype=np.uint64)
_SHINGLE = np.array([1_000_003, 998_244_353 * 2 + 1, 2_147_483_647 * 2 + 1, 1], dtype=np.uint64)


def _key(*parts: str | bytes) -> int:
    """A stable 64-bit key (Python's own hash differs per process)."""
    h = blake2b(digest_size=8)
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return int.from_bytes(h.digest(), "little")


def near_duplicate_bands(text: str, min_letters: int) -> tuple[bytes, ...]:
    """The MinHash bands of a normal-form text's letters (digits, spacing, punctuation and emoji
    dropped: appending a number or an emoji changes nothing); none for texts shorter than
    `min_letters` (a burst of "gg" is not a raid)."""
    letters = "".join(c for c in text[: 4 * MAX_SHINGLED_CHARS] if c.isalpha())[:MAX_SHINGLED_CHARS]
    if len(letters) < max(min_letters, 4):
        return ()
    codes = np.frombuffer(letters.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, 4)
    shingles = windows @ _SHINGLE  # one 64-bit value per 4-gram (wrapping arithmetic)
    hashed = (_MUL * shingles[None, :] + _ADD) >> np.uint64(20)  # multiply-shift, per hash function
    mins = hashed.min(axis=1)
    raw = mins.astype("<u8").tobytes()
    step = 8 * ROWS
    return tuple(raw[b * step : (b + 1) * step] for b in range(BANDS))


@dataclass(frozen=True, slots=True)
class Observation:
    """What one message adds to its window."""

    channel: str
    user: str
    bands: tuple[bytes, ...]  # near-duplicate keys of its text (none when too short)
    links: int
    mentions: int
    flagged: bool  # the models (or a rule) did not allow it on their own


def observe(
    channel: str, user: str, original: str, normal: str, flagged: bool, policy: ContextPolicy
) -> Observation:
    """A message's observation: links and mentions from what was written, near-duplicate bands from
    the normal form."""
    folded = original[: 4 * MAX_SHINGLED_CHARS].casefold()
    return Observation(
        channel,
        user,
        near_duplicate_bands(normal, policy.raid.min_letters),
        len(_LINK.findall(folded)),
        len(_MENTION.findall(folded)),
        flagged,
    )


@dataclass(frozen=True, slots=True)
class Counted:
    """A message as its window counted it: its record, what it added, the signals it fired."""

    sequence_number: str
    observation: Observation
    fired: tuple[str, ...]


@dataclass
class _Table:
    """At most `budget` keys, each a row [possible error, count, fields...]; see the module's doc."""

    budget: int
    width: int  # values per row, the error included
    rows: dict[int, list[int]] = field(default_factory=dict)
    floor: int = 0  # the highest count evicted so far: what a (re)inserted key may have missed

    def row(self, key: int) -> list[int]:
        found = self.rows.get(key)
        if found is None:
            if len(self.rows) >= self.budget:
                self._evict()
            found = [self.floor] + [0] * (self.width - 1)
            self.rows[key] = found
        return found

    def _evict(self) -> None:
        keep = self.budget * 3 // 4
        ranked = sorted(self.rows.items(), key=lambda kv: kv[1][0] + kv[1][1], reverse=True)
        first_out = ranked[keep][1]
        self.floor = max(self.floor, first_out[0] + first_out[1])
        self.rows = dict(ranked[:keep])

    def pack(self) -> bytes:
        keys = array("Q", self.rows.keys())
        values = array("Q", chain.from_iterable(self.rows.values()))
        head = array("Q", [len(keys), self.floor])
        return head.tobytes() + keys.tobytes() + values.tobytes()

    @classmethod
    def unpack(cls, data: memoryview, budget: int, width: int) -> tuple["_Table", int]:
        head = array("Q")
        head.frombytes(data[:16])
        n, floor = head
        if n > budget:
            raise ValueError(f"{n} keys over the budget of {budget}")
        keys, values = array("Q"), array("Q")
        keys.frombytes(data[16 : 16 + 8 * n])
        end = 16 + 8 * n + 8 * n * width
        values.frombytes(data[16 + 8 * n : end])
        if len(keys) != n or len(values) != n * width:
            raise ValueError("truncated table")
        rows = {k: list(values[i * width : (i + 1) * width]) for i, k in enumerate(keys)}
        return cls(budget, width, rows, floor), end


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
        self.users = _Table(self.budget.users, 5)
        self.texts = _Table(self.budget.texts, 3)
        self.channels = _Table(self.budget.channels, 3)

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
        channel = self.channels.row(_key("c", obs.channel))
        channel[1] += 1
        channel[2] += obs.flagged
        bit = 1 << (_key("b", obs.user) & 63)
        raid = 0
        for band in obs.bands:
            text = self.texts.row(_key("t", obs.channel, band))
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
        raw = zlib.decompress(b64decode(state[STATE_KEY], validate=True), bufsize=1 << 20)
        view, at = memoryview(raw), 0
        tables = []
        for size, width in ((budget.users, 5), (budget.texts, 3), (budget.channels, 3)):
            table, used = _Table.unpack(view[at:], size, width)
            tables.append(table)
            at += used
        context.users, context.texts, context.channels = tables
        for item in filter(None, str(state.get("fired", "")).split(",")):
            name, _, count = item.partition("=")
            context.fired[name] = int(count)
        return context


def fired(values: dict[str, float], policy: ContextPolicy) -> list[ContextSignal]:
    """The signals over their channel's thresholds, each with its value, threshold and action."""
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
