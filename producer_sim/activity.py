"""Who speaks where, and when: heavy-tailed users with home channels in channels of unequal, bursty
popularity, and the shapes of traffic a per-channel signal must tell apart (a harmless burst of cheers,
a flood, a raid). Pure: a seeded `random.Random` in, speakers and planned messages out.

Ordinary traffic, one message at a time, `at` seconds into the schedule:
- the channel is drawn by popularity (channel `i` has weight 1/(i+1)^0.8), except that one channel at
  a time is *hot* for a spell of 10–40 s, drawing `HOT_BOOST` times its share, with quiet gaps of
  5–30 s between spells;
- the user is drawn by activity: weights 1/rank^1.1 (Zipf-like), ranks shuffled over the user ids, so a
  few users are very active and most post now and then. Each user has a home channel (drawn by
  popularity): `home_share` of a channel's messages come from its own users, the rest from anyone;
- nobody posts twice within `cooldown` seconds (at most 6 messages in any 30 s): a user drawn too soon
  is redrawn, so the busiest users run at that ceiling and their surplus goes to the others. The
  ceiling needs enough users for the rate: at least rate × cooldown of them, and for the top 1% to write
  a tenth of the chat at 300 msg/s, some 15,000 (the simulator's default is 20,000).
"""

import hashlib
import random
import re
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from itertools import accumulate
from typing import ClassVar, NamedTuple

from contracts.categories import Category
from producer_sim.communities import Community
from training.corpora import Example

ZIPF_EXPONENT = 1.1
CHANNEL_EXPONENT = 0.8
HOME_SHARE = 0.85
COOLDOWN_S = 5.0
HOT_BOOST = 4.0
HOT_SPELL_S = (10.0, 40.0)
QUIET_GAP_S = (5.0, 30.0)
_WEIGHTED_TRIES = 8  # draws by activity before falling back to any user of the channel
_UNIFORM_TRIES = 8


class Speaker(NamedTuple):
    """Where a message is posted and by whom."""

    channel: str
    user: str


class Activity:
    """The ordinary chat: heavy-tailed users with home channels, bursty channels, a per-user ceiling."""

    def __init__(
        self,
        channels: int,
        users: int,
        rng: random.Random,
        home_share: float = HOME_SHARE,
        cooldown: float = COOLDOWN_S,
    ) -> None:
        if channels < 1 or users < 1:
            raise ValueError("the chat needs at least one channel and one user")
        self._rng = rng
        self.channels = [f"channel-{i:02d}" for i in range(channels)]
        self.users = [f"user-{i:05d}" for i in range(users)]
        self._home_share = home_share
        self._cooldown = cooldown
        self._popularity = [1 / (i + 1) ** CHANNEL_EXPONENT for i in range(channels)]
        ranks = list(range(1, users + 1))
        rng.shuffle(ranks)
        weight = [r**-ZIPF_EXPONENT for r in ranks]
        self._everyone = _Weighted(list(range(users)), weight)
        homes = rng.choices(range(channels), self._popularity, k=users)
        members: list[list[int]] = [[] for _ in range(channels)]
        for user, home in enumerate(homes):
            members[home].append(user)
        self._home = [_Weighted(m, [weight[u] for u in m]) if m else None for m in members]
        self._last: dict[int, float] = {}
        self._hot: int | None = None
        self._hot_until = 0.0
        self._next_spell = rng.uniform(*QUIET_GAP_S)

    def speaker(self, at: float) -> Speaker:
        """Who posts the ordinary message `at` seconds into the schedule, and where."""
        channel = self._channel(at)
        user = self._user(channel, at)
        self._last[user] = at
        return Speaker(self.channels[channel], self.users[user])

    def pick_channel(self, index: int | None = None) -> int:
        """A channel for a shape: the one asked for, else one drawn by popularity."""
        if index is None:
            return self._rng.choices(range(len(self.channels)), self._popularity)[0]
        if not 0 <= index < len(self.channels):
            raise ValueError(
                f"no channel {index}: there are {len(self.channels)} (0..{len(self.channels) - 1})"
            )
        return index

    def regulars(self, channel: int, n: int) -> list[str]:
        """`n` distinct users of a channel, the more active the likelier (all users, if fewer)."""
        home = self._home[channel]
        chosen: dict[int, None] = {}  # insertion-ordered set
        if home is not None:
            for _ in range(20 * n):
                if len(chosen) == min(n, len(home.items)):
                    break
                chosen[home.draw(self._rng)] = None
        for pool in (home.items if home else [], range(len(self.users))):  # too few active: anyone
            if len(chosen) >= n:
                break
            rest = [u for u in pool if u not in chosen]
            chosen.update(dict.fromkeys(self._rng.sample(rest, min(n - len(chosen), len(rest)))))
        return [self.users[u] for u in chosen]

    def member(self, channel: int) -> str:
        """Any one user whose home is the channel (any user, if none is)."""
        home = self._home[channel]
        return self.users[self._rng.choice(home.items if home else self._everyone.items)]

    def _advance(self, at: float) -> None:
        if self._hot is not None and at >= self._hot_until:
            self._hot = None
            self._next_spell = self._hot_until + self._rng.uniform(*QUIET_GAP_S)
        if self._hot is None and at >= self._next_spell:
            self._hot = self.pick_channel()
            self._hot_until = at + self._rng.uniform(*HOT_SPELL_S)

    def _channel(self, at: float) -> int:
        self._advance(at)
        weights = self._popularity
        if self._hot is not None:
            weights = list(weights)
            weights[self._hot] *= HOT_BOOST
        return self._rng.choices(range(len(self.channels)), weights)[0]

    def _rested(self, user: int, at: float) -> bool:
        last = self._last.get(user)
        return last is None or at - last >= self._cooldown

    def _user(self, channel: int, at: float) -> int:
        home = self._home[channel]
        tried = []
        for _ in range(_WEIGHTED_TRIES):
            local = home is not None and self._rng.random() < self._home_share
            user = (home if home is not None and local else self._everyone).draw(self._rng)
            if self._rested(user, at):
                return user
            tried.append(user)
        # The active users are all at their ceiling: an occasional user of the channel speaks.
        candidates = home.items if home else self._everyone.items
        for _ in range(_UNIFORM_TRIES):
            user = self._rng.choice(candidates)
            if self._rested(user, at):
                return user
            tried.append(user)
        return min(tried, key=lambda u: self._last.get(u, float("-inf")))  # too few users for the rate


class _Weighted:
    """Items drawn with replacement by fixed weights (a cumulative table, one bisection a draw)."""

    def __init__(self, items: list[int], weights: Sequence[float]) -> None:
        self.items = items
        self._cumulative = list(accumulate(weights))

    def draw(self, rng: random.Random) -> int:
        return self.items[bisect(self._cumulative, rng.random() * self._cumulative[-1])]


# --- shapes ------------------------------------------------------------------------------------


class Shape(StrEnum):
    """What a message is part of: ordinary chat, or one instance of a scheduled shape."""

    ORDINARY = "ordinary"
    BURST = "burst"  # harmless: many regulars of a channel cheer within seconds (a match ends)
    FLOOD = "flood"  # one user posts fast in one channel, the same few lines over and over
    RAID = "raid"  # new accounts paste the same spam, each copy edited a little, into one channel


@dataclass(frozen=True, slots=True)
class _Crowd:
    """`users` accounts each post one message into one channel within `spread` seconds."""

    kind: ClassVar[Shape]
    users: int
    spread: float
    channel: int | None = None  # index of the channel; None: drawn by popularity

    def __post_init__(self) -> None:
        _check_positive(self)

    @property
    def messages(self) -> int:
        return self.users

    @property
    def duration(self) -> float:
        return self.spread


@dataclass(frozen=True, slots=True)
class Burst(_Crowd):
    """`users` regulars of a channel post one cheer each within `spread` seconds."""

    kind: ClassVar[Shape] = Shape.BURST
    users: int = 60
    spread: float = 5.0


@dataclass(frozen=True, slots=True)
class Flood:
    """One user of a channel posts `messages` messages at `rate` per second, cycling through `lines`
    short real texts (as many lines as messages: every message a new text)."""

    kind: ClassVar[Shape] = Shape.FLOOD
    messages: int = 40
    rate: float = 3.0
    lines: int = 3
    channel: int | None = None

    def __post_init__(self) -> None:
        _check_positive(self)

    @property
    def duration(self) -> float:
        return (self.messages - 1) / self.rate


@dataclass(frozen=True, slots=True)
class Raid(_Crowd):
    """`users` accounts never seen before each paste the same spam, with 1–3 small edits, into one
    channel within `spread` seconds."""

    kind: ClassVar[Shape] = Shape.RAID
    users: int = 40
    spread: float = 10.0


type ShapeParams = Burst | Flood | Raid
SHAPES: dict[Shape, type[Burst] | type[Flood] | type[Raid]] = {
    Shape.BURST: Burst,
    Shape.FLOOD: Flood,
    Shape.RAID: Raid,
}


def _check_positive(shape: "ShapeParams | _Crowd") -> None:
    for f in fields(shape):
        value = getattr(shape, f.name)
        if f.name == "channel":
            if value is not None and value < 0:
                raise ValueError(f"{shape.kind}: channel must be 0 or more, got {value}")
        elif value <= 0:
            raise ValueError(f"{shape.kind}: {f.name} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class Planned:
    """One message of a shape: `offset` seconds after the shape's onset."""

    offset: float
    speaker: Speaker
    item: Example


# Short cheers at the end of a match: harmless, however many arrive at once.
CHEERS = (
    "gg", "GG", "gg wp", "ggs", "GG WP", "W", "WWW", "lets gooo", "LETS GOOOO", "🔥🔥", "PogChamp",
    "Pog", "POGGERS", "KEKW", "what a game", "clutch", "HYPE", "gg go next", "wp wp",
)  # fmt: skip
# What a crowd of regulars writes word for word: past the raid signal's 16 letters, so only the
# accounts' age tells them from a raid. Half of a burst posts one of these, the same one.
LONG_CHEERS = (
    "happy birthday to our amazing streamer",
    "congrats on the new record, well deserved",
    "thank you for the stream tonight everyone",
)
LONG_CHEER_SHARE = 0.5
RAIDER_PREFIX = "raider-"
NEW_ACCOUNT_SHARE = 0.02  # of the ordinary users: accounts made within the month


def account_age_days(user: str) -> float:
    """How old a simulated account is (the same for an id every time): raiders' were made for the raid,
    hours to three days before; of the others, one in fifty joined within the month, the rest from a
    month to five years before."""
    draw = int.from_bytes(hashlib.blake2b(user.encode(), digest_size=8).digest(), "big") / 2**64
    if user.startswith(RAIDER_PREFIX):
        return 0.05 + 3 * draw
    if draw < NEW_ACCOUNT_SHARE:
        return 1 + 28 * draw / NEW_ACCOUNT_SHARE
    return 30 + 1800 * (draw - NEW_ACCOUNT_SHARE) / (1 - NEW_ACCOUNT_SHARE)


# Raid copypasta, used when no spam texts are loaded: a promise and a link.
RAID_COPYPASTA = (
    "FREE VIEWERS and followers for your stream at bit.ly/free-viewerz type !join to claim",
    "this streamer is a fraud, the real one is live at twitch-tv.live/realstream come watch",
    "GIVEAWAY first 100 people to register at skinz-drop.gg/claim get a free knife skin",
    "Wanna become famous? Buy followers, primes and viewers on bigfollows.shop",
    "double your crypto in 24h!! send any amount, it all comes back at x2-wallet.io/promo",
)
_SPAM_LABELS = {Category.SPAM: 1, Category.REMOVAL: 1}


def plan_burst(shape: Burst, activity: Activity, rng: random.Random, community: Community) -> list[Planned]:
    """The cheers of a burst: one each from the channel's regulars, at random within its spread; half of
    them the same long cheer, word for word (a birthday, a record), the others short ones."""
    channel = activity.pick_channel(shape.channel)
    users = activity.regulars(channel, shape.users)
    offsets = sorted(rng.uniform(0, shape.spread) for _ in users)
    together = rng.choice(LONG_CHEERS)
    texts = [together if rng.random() < LONG_CHEER_SHARE else rng.choice(CHEERS) for _ in users]
    return [
        Planned(t, Speaker(activity.channels[channel], u), Example(text, community, {Category.REMOVAL: 0}))
        for t, u, text in zip(offsets, users, texts, strict=True)
    ]


def plan_flood(shape: Flood, activity: Activity, lines: Sequence[Example]) -> list[Planned]:
    """A flood: one user of the channel posts its lines in turn, every 1/rate seconds."""
    if not lines:
        raise ValueError("a flood needs at least one line")
    channel = activity.pick_channel(shape.channel)
    speaker = Speaker(activity.channels[channel], activity.member(channel))
    return [Planned(k / shape.rate, speaker, lines[k % len(lines)]) for k in range(shape.messages)]


def plan_raid(
    shape: Raid, activity: Activity, rng: random.Random, raiders: Sequence[str], base: Example | None
) -> list[Planned]:
    """A raid: each new account posts the base spam (a built-in copypasta if none) with 1–3 edits.

    Its messages are spam whatever the base text's own labels say (`removal` and `spam` both 1).
    """
    if len(raiders) != shape.users:
        raise ValueError(f"a raid of {shape.users} users needs as many new accounts, got {len(raiders)}")
    text = base.text.strip() if base else rng.choice(RAID_COPYPASTA)
    labels = (base.labels if base else {}) | _SPAM_LABELS
    channel = activity.channels[activity.pick_channel(shape.channel)]
    offsets = sorted([0.0] + [rng.uniform(0, shape.spread) for _ in raiders[1:]])
    return [
        Planned(
            t,
            Speaker(channel, user),
            Example(vary(text, rng, rng.randint(1, 3)), Community.SPAM, labels),
        )
        for t, user in zip(offsets, raiders, strict=True)
    ]


# --- raid edits ----------------------------------------------------------------------------------


class Edit(StrEnum):
    """The small edits that make each pasted copy differ from the others."""

    CASE = "case"
    PUNCTUATION = "punctuation"
    SUFFIX = "suffix"  # an appended number or emoji
    WORD = "word"  # a word dropped, or two swapped
    ZERO_WIDTH = "zero_width"
    HOMOGLYPH = "homoglyph"  # a Latin letter replaced by its Cyrillic look-alike


HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "A": "А", "E": "Е", "O": "О"}
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")
_EMOJI = ("🔥", "💯", "😂", "👀", "✅", "🚀", "💰")
LINK = re.compile(r"https?://|www\.|\.[a-z]{2,6}(/|$)", re.IGNORECASE)  # a URL, or a bare domain


def _words(text: str) -> tuple[list[str], list[int]]:
    """The words of a text and the positions of those an edit may touch (the link stays intact)."""
    words = text.split(" ")
    return words, [i for i, w in enumerate(words) if w and not LINK.search(w)]


def _case(text: str, rng: random.Random) -> str:
    words, free = _words(text)
    options = [text.upper(), text.lower(), text.capitalize()]
    if free:
        i = rng.choice(free)
        words[i] = words[i].swapcase()
        options.append(" ".join(words))
    return rng.choice([o for o in options if o != text] or [text])


def _punctuation(text: str, rng: random.Random) -> str:
    return text.rstrip(".!? ") + rng.choice(("!", "!!!", "?!", "...", "!!1", " !!"))


def _suffix(text: str, rng: random.Random) -> str:
    tail = str(rng.randint(1, 999)) if rng.random() < 0.5 else rng.choice(_EMOJI) * rng.randint(1, 3)
    return f"{text} {tail}"


def _word(text: str, rng: random.Random) -> str:
    words, free = _words(text)
    if len(free) >= 4 and rng.random() < 0.5:
        del words[rng.choice(free)]
    else:
        pairs = [i for i in free if i + 1 in free and words[i] != words[i + 1]]
        if not pairs:
            return text
        i = rng.choice(pairs)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def _zero_width(text: str, rng: random.Random) -> str:
    words, free = _words(text)
    free = [i for i in free if len(words[i]) > 1]
    if not free:
        return text
    i = rng.choice(free)
    cut = rng.randint(1, len(words[i]) - 1)
    words[i] = words[i][:cut] + rng.choice(ZERO_WIDTH) + words[i][cut:]
    return " ".join(words)


def _homoglyph(text: str, rng: random.Random) -> str:
    words, free = _words(text)
    spots = [(i, j) for i in free for j, ch in enumerate(words[i]) if ch in HOMOGLYPHS]
    if not spots:
        return text
    i, j = rng.choice(spots)
    words[i] = words[i][:j] + HOMOGLYPHS[words[i][j]] + words[i][j + 1 :]
    return " ".join(words)


EDITS: dict[Edit, Callable[[str, random.Random], str]] = {
    Edit.CASE: _case,
    Edit.PUNCTUATION: _punctuation,
    Edit.SUFFIX: _suffix,
    Edit.WORD: _word,
    Edit.ZERO_WIDTH: _zero_width,
    Edit.HOMOGLYPH: _homoglyph,
}


def vary(text: str, rng: random.Random, edits: int) -> str:
    """The text with `edits` different edits that each change it (those that cannot are skipped;
    appending always can, so the result always differs)."""
    out, done = text, 0
    for edit in rng.sample(list(EDITS), len(EDITS)):
        if done == edits:
            break
        changed = EDITS[edit](out, rng)
        if changed != out:
            out, done = changed, done + 1
    return out
