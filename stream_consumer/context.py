"""Context across messages: floods, raids, link and mention floods and a channel's heat, counted in the
event source mapping's tumbling-window state (one per shard; a channel's messages are all on one shard,
in order). Pure: no I/O; the state is what the handler receives and returns as `state`.

What is counted in a window, per shard:
- per user in a channel: messages, messages with a link, mentions (`flood`, `links`, `mentions`);
- per channel: messages and messages the models flagged (`heat`: the flagged share);
- per near-duplicate text in a channel: the distinct users who posted it (`raid`), exactly up to
  `USER_SLOTS` (each user's fingerprint kept in the text's row; a lower bound beyond). Near-duplicates are
  found on the normal form (look-alike letters, invisible characters and spacing already undone) reduced
  to its letters, each run of one letter collapsed ("niitro foor" reads "nitro for") and cut into
  character shingles, by MinHash with locality-sensitive bands: two texts that share most of their
  shingles share a band (10 bands of 5 hashes: Jaccard 0.9 → 99.9%, 0.75 → 93%, 0.3 → 2.4%). A word added,
  dropped or misspelt changes a few shingles of many. The hash functions and the user fingerprints are
  drawn from the deployment's secret key (`ContextKey`): a raider cannot search offline for the edits that
  split a raid's bands or for the accounts whose fingerprints collide.
- The first poster of a text is never given its raid: the raid is the crowd that copied it (five socks
  copying a victim's post do not get the victim's own re-ask removed).
- Only new accounts count toward a raid: an account the platform says is at least the channel's
  `established_days` old when it posts neither counts nor is given a raid (a crowd of regulars cheering
  one line is not a raid). An account of unknown age counts as new.

The state is bounded whatever the traffic: each table holds at most a budget of keys. Over budget, the
half with the lowest counts of their own is evicted at once (a key that comes back starts again, carrying
the highest evicted count as its possible error; it is kept for its own count, not for the error it
inherited, so a flood of new junk keys never outranks a raid in progress). Heavy hitters — a flooder, a
raid's text — have counts above what is evicted and stay; an attacker who floods the state with thousands
of one-message users evicts only one-message keys. A signal fires on a key's own count since it was last
(re)inserted — a lower bound of the truth — so eviction can delay a signal but never invent one.
"""

import re
import zlib
from array import array
from base64 import b64decode, b64encode
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from hashlib import blake2b
from typing import Any

import numpy as np

from contracts.policy import ContextPolicy, SignalName
from contracts.verdict import Action, ContextSignal

STATE_KEY = "context"  # the one key of the window state this module owns
STATE_VERSION = 2  # 2: a text's row keeps its users' fingerprints
BANDS, ROWS = 10, 5  # MinHash bands × hashes per band
MAX_SHINGLED_CHARS = 1000  # characters of a text that take part in its near-duplicate key
_LINK = re.compile(
    r"https?://|www\.|\b[a-z0-9-]{2,}\.(?:com|net|org|io|gg|ly|co|xyz|ru|tk|me|tv|link|info)\b"
)
_MENTION = re.compile(r"(?<![\w@])@[\w.]{2,}")
SHINGLE = 4  # letters per shingle
USER_SLOTS = 8  # distinct users a text's row counts exactly (its first poster's fingerprint first)
_NOT_LETTER = re.compile(r"[\W\d_]+")  # what is not a letter (of any script)
_RUNS = re.compile(r"(.)\1+")  # a run of one character


class ContextKey:
    """The near-duplicate test's hash functions and the users' fingerprints, drawn from a deployment's
    secret (`ConsumerSettings.context_key`); the empty secret draws the built-in, public ones."""

    def __init__(self, secret: bytes) -> None:
        self._secret = blake2b(secret, digest_size=32).digest()  # any length of secret, one key's
        rng = np.random.default_rng(int.from_bytes(self._secret[:8], "little"))
        two, one = np.uint64(2), np.uint64(1)
        self.mul = rng.integers(1, 2**63, size=(BANDS * ROWS, 1), dtype=np.uint64) * two + one
        self.add = rng.integers(0, 2**63, size=(BANDS * ROWS, 1), dtype=np.uint64)
        self.combine = rng.integers(1, 2**63, size=ROWS, dtype=np.uint64) * two + one
        self.band_salt = rng.integers(0, 2**63, size=BANDS, dtype=np.uint64)

    def fingerprint(self, user: str) -> int:
        """A user's 32-bit fingerprint in a text's row (never 0: 0 is an empty slot)."""
        return (_key("u", user, secret=self._secret) & 0xFFFFFFFF) or 1

    def user_bit(self, user: str) -> int:
        """Which of a text's 64 user bits a user sets (past the slots: a lower bound, bits can collide):
        the next bits of the same hash as the fingerprint."""
        return (_key("u", user, secret=self._secret) >> 32) & 63


@lru_cache(maxsize=16)
def context_key(secret: str) -> ContextKey:
    """The key a secret draws (one per process and secret)."""
    return ContextKey(secret.encode("utf-8", "surrogatepass"))


@lru_cache(maxsize=1 << 16)  # a window sees the same channels and users again and again
def _key(*parts: str, secret: bytes = b"") -> int:
    """A stable 64-bit key (Python's own hash differs per process); with a secret, a keyed one."""
    joined = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(joined, digest_size=8, key=secret).digest(), "little")


def letters_of(text: str) -> str:
    """A text's letters as near-duplicates are compared: its words of letters only (digits,
    punctuation and emoji dropped), one space between them, each run of one character collapsed."""
    return _RUNS.sub(r"\1", _NOT_LETTER.sub(" ", text[:MAX_SHINGLED_CHARS]).strip())


def near_duplicate_bands(
    texts: Sequence[str], min_letters: Sequence[int], key: ContextKey | None = None
) -> list[tuple[int, ...]]:
    """Each normal-form text's MinHash band keys over its character shingles (see the module's doc);
    none for a text of fewer than its `min_letters` letters (a burst of "gg" is not a raid). A batch at
    once (a few numpy calls for all of it); linear and bounded: the first `MAX_SHINGLED_CHARS`
    characters of each count."""
    key = key or context_key("")
    letters = [letters_of(t) for t in texts]
    keep = [i for i, t in enumerate(letters) if len(t) - t.count(" ") >= max(min_letters[i], SHINGLE)]
    out: list[tuple[int, ...]] = [()] * len(texts)
    if not keep:
        return out
    joined = "".join(letters[i] for i in keep)
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    every = np.zeros(len(points) - SHINGLE + 1, dtype=np.uint64)
    for j in range(SHINGLE):  # each position's SHINGLE code points as one value (FNV's prime, wrapping)
        every = every * np.uint64(0x100000001B3) + points[j : j + len(every)]
    # each text's own shingles, none reaching into the next text's letters
    lengths = np.fromiter((len(letters[i]) for i in keep), dtype=np.intp, count=len(keep))
    counts = lengths - SHINGLE + 1
    firsts = np.cumsum(counts) - counts  # where each text's shingles start among them all
    at = np.repeat(np.cumsum(lengths) - lengths - firsts, counts) + np.arange(int(counts.sum()))
    hashed = every[at]
    # multiply-shift hashes, per function and shingle; each text's minimum per function
    mins = np.minimum.reduceat((key.mul * hashed + key.add) >> np.uint64(20), firsts, axis=1)
    keys = (mins.T.reshape(len(keep), BANDS, ROWS) * key.combine).sum(axis=2) + key.band_salt  # wrapping
    for j, row in zip(keep, keys.tolist(), strict=True):
        out[j] = tuple(row)
    return out


@dataclass(frozen=True, slots=True)
class Observation:
    """What one message adds to its window."""

    channel: str
    user: str
    bands: tuple[int, ...]  # near-duplicate keys of its text (none when too short)
    links: int
    mentions: int
    flagged: bool  # the models (or a rule) did not allow it on their own


def observe(
    channel: str, user: str, normal: str, bands: tuple[int, ...], flagged: bool, established: bool = False
) -> Observation:
    """A message's observation: its links and mentions, read — like its near-duplicate `bands` — in
    its normal form, where look-alike letters and invisible characters cannot hide a link. An
    `established` account's text is not counted toward a raid (no bands)."""
    head = normal[:MAX_SHINGLED_CHARS]
    kept = () if established else bands
    return Observation(channel, user, kept, len(_LINK.findall(head)), len(_MENTION.findall(head)), flagged)


def established(created_at: datetime | None, sent_at: datetime, established_days: float) -> bool:
    """Whether an account was at least `established_days` old when it posted (unknown: not; 0 days:
    never — every account counts toward a raid)."""
    if created_at is None or established_days <= 0:
        return False
    return (sent_at - created_at).total_seconds() >= established_days * 86_400


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
        """Keep the half with the highest counts of their own (not the errors they inherited: a new key
        never outranks one counted in the window); the rest go at once, the floor rising to the most
        any of them may have counted."""
        keep = self.budget // 2
        keys = list(self.rows)
        rows = list(self.rows.values())
        own = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(keys))
        order = np.argpartition(-own, keep)
        self.floor = max(self.floor, *(rows[i][0] + rows[i][1] for i in order[keep:].tolist()))
        self.rows = {keys[i]: rows[i] for i in order[:keep].tolist()}

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
_TEXTS = "IIQ" + "I" * USER_SLOTS  # error, distinct users, the users' 64-bit bitmap, their fingerprints
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
    key: ContextKey = field(default_factory=lambda: context_key(""))
    texts: _Table = field(init=False)  # (channel, band) → [error, distinct users, bitmap, fingerprints]
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
        raid = 0
        if obs.bands:
            fingerprint, bit = self.key.fingerprint(obs.user), 1 << self.key.user_bit(obs.user)
            for band in obs.bands:
                raid = max(raid, _posted(self.texts.row(channel_key ^ band), fingerprint, bit))
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
    def decode(
        cls, state: dict[str, Any] | None, budget: Budget | None = None, key: ContextKey | None = None
    ) -> "WindowContext":
        """The counts a window state holds; an empty state is a fresh window. Raises ValueError on a
        state this version cannot read."""
        budget = budget or Budget()
        context = cls(budget, key or context_key(""))
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


def _posted(text: list[int], fingerprint: int, bit: int) -> int:
    """Count a user's post of a text into its row [error, distinct users, bitmap, fingerprints...]: the
    raid it gives the post (0 for the text's first poster)."""
    slots = text[3:]
    if fingerprint not in slots:
        if 0 in slots:  # exact up to the slots
            text[3 + slots.index(0)] = fingerprint
            text[1] += 1
        elif not text[2] & bit:  # past them, the bitmap's lower bound
            text[1] += 1
    text[2] |= bit
    return 0 if text[3] == fingerprint else text[1]


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
