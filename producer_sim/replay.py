"""Real messages from the data sets, mixed by a schedule with its shapes (bursts, floods, raids) and
posted by the activity model's speakers, as Kinesis records for `chat-messages`."""

import dataclasses
import json
import random
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from contracts.chat import MAX_TEXT_CHARS, ChatMessage, label_of
from contracts.storage import GroundTruth
from producer_sim.activity import (
    LINK,
    RAIDER_PREFIX,
    SHAPES,
    Activity,
    Burst,
    Flood,
    Planned,
    Shape,
    ShapeParams,
    Speaker,
    account_age_days,
    plan_burst,
    plan_flood,
    plan_raid,
)
from producer_sim.communities import Community
from runtime.kinesis import Entry
from training.corpora import Example


class MalformedKind(StrEnum):
    """Ways a chat server can publish a record that can never be moderated."""

    NOT_JSON = "not_json"
    WRONG_SCHEMA = "wrong_schema"
    EMPTY_TEXT = "empty_text"
    OVERSIZE_TEXT = "oversize_text"
    UNKNOWN_FIELD = "unknown_field"


@dataclass(frozen=True, slots=True)
class OutgoingRecord(Entry):
    """One PutRecords entry plus what the simulator knows about it."""

    message_id: UUID | None
    truth: GroundTruth | None  # None for malformed records
    malformed: MalformedKind | None = None


# Unpaced traffic has no clock of its own: user ceilings and shape spreads treat it as this rate.
NOMINAL_RATE = 300.0


@dataclass(frozen=True, slots=True)
class ScheduledShape:
    """A shape in a phase, starting after `at` of the phase's ordinary messages."""

    params: ShapeParams
    at: int

    @property
    def kind(self) -> Shape:
        return self.params.kind


@dataclass(frozen=True, slots=True)
class MixPhase:
    """A stretch of traffic: `count` messages drawn from communities by weight, at `rate` per second
    (None: as fast as possible), with the shapes scheduled into it."""

    weights: Mapping[Community, float]
    count: int
    shapes: tuple[ScheduledShape, ...] = ()
    rate: float | None = None

    @property
    def clock_rate(self) -> float:
        """Messages per second that turn a message index into seconds."""
        return self.rate or NOMINAL_RATE

    @property
    def total(self) -> int:
        """Every message of the phase: the ordinary ones and the shapes' (a burst or a raid may come out
        smaller when the chat has fewer users than it asks for)."""
        return self.count + sum(s.params.messages for s in self.shapes)


_PHASE = re.compile(r"^(?P<weights>[a-z=0-9.+]+):(?P<n>\d+)(?P<unit>s?)$")
_SHAPE = re.compile(r"^(?P<kind>[a-z]+)@(?P<at>\d+(?:\.\d+)?)(?P<unit>s?)(?P<params>(?:/[^/]*)*)$")


def parse_mix(spec: str, rate: float | None = None) -> list[MixPhase]:
    """Parse `rscience:3000,rscience=0.8+tweets=0.2:1000,tweets:60s|raid@20s|flood@30s` into phases.

    A count ending in `s` is seconds of traffic at `rate` messages per second. After `|`, a phase
    carries shapes (`burst`, `flood`, `raid`) at an onset: seconds after the phase starts (`raid@20s`,
    needs a rate) or a count of the phase's ordinary messages (`raid@6000`), with optional parameters
    (`flood@30s/messages=60/rate=5/lines=2`, `raid@20s/users=80/spread=15s/channel=3`).
    """
    phases = []
    for part in spec.replace(" ", "").split(","):
        head, *tokens = part.split("|")
        match = _PHASE.match(head)
        if not match:
            raise ValueError(
                f"bad mix phase {part!r}: expected like 'rscience:1000', 'tweets=0.2+rscience=0.8:500' "
                "or 'tweets:60s|raid@20s'"
            )
        weights: dict[Community, float] = {}
        for item in match["weights"].split("+"):
            name, _, share = item.partition("=")
            try:
                community = Community(name)
            except ValueError:
                raise ValueError(f"unknown community {name!r} in mix phase {part!r}") from None
            weights[community] = float(share) if share else 1.0
        if sum(weights.values()) <= 0:
            raise ValueError(f"mix phase {part!r} has no positive weight")
        count = int(match["n"])
        if match["unit"]:
            if not rate:
                raise ValueError(f"mix phase {part!r} is in seconds: give a rate")
            count = round(count * rate)
        phase = MixPhase(weights, count, rate=rate)
        shapes = tuple(_parse_shape(token, part, phase) for token in tokens)
        phases.append(dataclasses.replace(phase, shapes=shapes))
    return phases


def _parse_shape(token: str, part: str, phase: MixPhase) -> ScheduledShape:
    match = _SHAPE.match(token)
    if not match:
        raise ValueError(
            f"bad shape {token!r} in mix phase {part!r}: expected like 'raid@20s', 'burst@3000' "
            "or 'flood@30s/messages=60/rate=5'"
        )
    scheduled = [s for s in Shape if s is not Shape.ORDINARY]
    try:
        kind = Shape(match["kind"])
    except ValueError:
        kind = Shape.ORDINARY
    if kind is Shape.ORDINARY:
        raise ValueError(
            f"unknown shape {match['kind']!r} in mix phase {part!r}: one of {', '.join(scheduled)}"
        )
    if match["unit"]:
        if not phase.rate:
            raise ValueError(f"shape {token!r} in mix phase {part!r} starts in seconds: give a rate")
        at = round(float(match["at"]) * phase.rate)
    elif "." in match["at"]:
        raise ValueError(f"shape {token!r} in mix phase {part!r}: an onset in messages is a whole number")
    else:
        at = int(match["at"])
    params = _shape_params(kind, token, part, [p for p in match["params"].split("/") if p])
    last = at + round(params.duration * phase.clock_rate)
    if last > phase.count:
        raise ValueError(
            f"shape {token!r} in mix phase {part!r} runs to message {last} ({params.duration:.1f} s at "
            f"{phase.clock_rate:g} msg/s), past the phase's {phase.count}: start it earlier or lengthen "
            "the phase"
        )
    return ScheduledShape(params, at)


def _shape_params(kind: Shape, token: str, part: str, items: list[str]) -> ShapeParams:
    cls = SHAPES[kind]
    known = {f.name: f.type for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ValueError(
                f"bad parameter {item!r} of shape {token!r} in mix phase {part!r}: "
                f"a {kind} takes {', '.join(f'{k}=' for k in known)}"
            )
        try:
            values[key] = float(value.removesuffix("s")) if known[key] is float else int(value)
        except ValueError:
            wanted = "a number" if known[key] is float else "a whole number"
            raise ValueError(
                f"parameter {key!r} of shape {token!r} in mix phase {part!r} is not {wanted}: {value!r}"
            ) from None
    try:
        return cls(**values)
    except ValueError as err:
        raise ValueError(f"shape {token!r} in mix phase {part!r}: {err}") from None


class _Due(NamedTuple):
    at: int  # the ordinary message of the phase it goes out before
    planned: Planned
    shape: Shape
    shape_id: str


OFFENDER_PREFIX = "offender-"


class Replay:
    """Draws real texts without replacement (reshuffling each pool when spent) and builds records:
    ordinary messages from speakers of the activity model, and the shapes each phase schedules."""

    def __init__(
        self,
        pools: Mapping[Community, Sequence[Example]],
        channels: int = 8,
        users: int = 20_000,
        malformed_share: float = 0.0,
        seed: int = 7,
        offenders: int = 0,
        offender_share: float = 0.0,
    ) -> None:
        self._rng = random.Random(seed)
        self._pools = {c: list(p) for c, p in pools.items() if p}
        self._cursor = dict.fromkeys(self._pools, 0)
        for pool in self._pools.values():
            self._rng.shuffle(pool)
        self._activity = Activity(channels, users, random.Random(f"{seed}:activity"))
        self._shape_rng = random.Random(f"{seed}:shapes")
        self._malformed_share = malformed_share
        self._clock = 0.0  # seconds into the schedule of the next ordinary message
        # Random, never seeded, like message ids: raiders and shape ids of two runs never clash.
        self._run = uuid4().hex[:6]
        self._raiders = 0
        self._instances: Counter[Shape] = Counter()
        # Repeat offenders: the same few accounts (across phases and runs: named, not drawn), each at
        # home in one channel, post `offender_share` of the harmful texts; the rest fall on anyone.
        channel_ids = self._activity.channels
        self._offenders = [
            Speaker(channel_ids[n % len(channel_ids)], f"{OFFENDER_PREFIX}{n:03d}") for n in range(offenders)
        ]
        self._offender_share = offender_share
        self._offender_rng = random.Random(f"{seed}:offenders")  # its own: the other draws stay as they were

    def _draw(self, community: Community) -> Example:
        pool = self._pools[community]
        i = self._cursor[community]
        if i == len(pool):
            self._rng.shuffle(pool)
            i = 0
        self._cursor[community] = i + 1
        return pool[i]

    def records(self, phases: Sequence[MixPhase]) -> Iterator[OutgoingRecord]:
        """Every record of the schedule, in order: a shape's message due `t` seconds after its phase
        starts goes out after about `t × rate` of the phase's ordinary messages."""
        for phase in phases:
            missing = [c for c in phase.weights if c not in self._pools]
            if missing:
                raise ValueError(f"no texts loaded for {missing}")
            communities = list(phase.weights)
            weights = [phase.weights[c] for c in communities]
            due = self._schedule(phase)
            start, k = self._clock, 0
            for i in range(phase.count):
                while k < len(due) and due[k].at <= i:
                    yield self._shape_record(due[k])
                    k += 1
                self._clock = start + i / phase.clock_rate
                community = self._rng.choices(communities, weights)[0]
                if self._malformed_share and self._rng.random() < self._malformed_share:
                    yield self.malformed(self._rng.choice(list(MalformedKind)), community)
                else:
                    yield self.message(self._draw(community))
            yield from (self._shape_record(d) for d in due[k:])
            self._clock = start + phase.count / phase.clock_rate

    def _schedule(self, phase: MixPhase) -> list[_Due]:
        """The phase's shape messages, each with the ordinary message index it goes out at."""
        due = []
        for scheduled in phase.shapes:
            self._instances[scheduled.kind] += 1
            shape_id = f"{scheduled.kind}-{self._run}-{self._instances[scheduled.kind]}"
            for planned in self._plan(scheduled.params, phase):
                index = scheduled.at + round(planned.offset * phase.clock_rate)
                due.append(_Due(index, planned, scheduled.kind, shape_id))
        due.sort(key=lambda d: d.at)  # stable: a shape's own messages keep their order
        return due

    def _shape_record(self, due: _Due) -> OutgoingRecord:
        # Built when it goes out, not when planned: `sent_at` is the moment of sending.
        return self._record(due.planned.item, due.planned.speaker, due.shape, due.shape_id)

    def _plan(self, params: ShapeParams, phase: MixPhase) -> list[Planned]:
        rng = self._shape_rng
        if isinstance(params, Burst):
            return plan_burst(params, self._activity, rng, max(phase.weights, key=lambda c: phase.weights[c]))
        if isinstance(params, Flood):
            return plan_flood(params, self._activity, self._short_texts(phase, params.lines))
        first = self._raiders + 1
        self._raiders += params.users
        raiders = [f"{RAIDER_PREFIX}{self._run}-{n:05d}" for n in range(first, first + params.users)]
        return plan_raid(params, self._activity, rng, raiders, self._spam_line())

    def _short_texts(self, phase: MixPhase, n: int, longest: int = 80) -> list[Example]:
        """`n` short real texts of the phase's communities (the shortest drawn, if too few are short)."""
        communities = list(phase.weights)
        drawn = []
        for _ in range(max(10 * n, 50)):
            drawn.append(self._draw(self._shape_rng.choices(communities, list(phase.weights.values()))[0]))
            short = [t for t in drawn if len(t.text) <= longest]
            if len(short) >= n:
                return short[:n]
        return sorted(drawn, key=lambda t: len(t.text))[:n]

    def _spam_line(self) -> Example | None:
        """A short spam text with a link from the spam pool, if one is loaded and has one."""
        if Community.SPAM not in self._pools:
            return None
        for _ in range(200):
            item = self._draw(Community.SPAM)
            if 20 <= len(item.text.strip()) <= 200 and LINK.search(item.text):
                return item
        return None

    def _envelope(self, speaker: Speaker | None = None) -> dict[str, str]:
        channel, user = speaker or self._activity.speaker(self._clock)
        now = datetime.now(UTC)
        return {
            # Random, never seeded: two runs with the same seed still publish distinct messages.
            "message_id": str(uuid4()),
            "channel_id": channel,
            "user_id": user,
            "sent_at": now.isoformat(),
            "account_created_at": (now - timedelta(days=account_age_days(user))).isoformat(),
        }

    def message(self, item: Example) -> OutgoingRecord:
        """A well-formed ordinary chat message carrying a real text (a harmful one, now and then, from a
        repeat offender)."""
        speaker = None
        if item.removal() and self._offenders and self._offender_rng.random() < self._offender_share:
            speaker = self._offender_rng.choice(self._offenders)
        return self._record(item, speaker, Shape.ORDINARY, None)

    def _record(
        self, item: Example, speaker: Speaker | None, shape: Shape, shape_id: str | None
    ) -> OutgoingRecord:
        fields = self._envelope(speaker)
        msg = ChatMessage.model_validate({**fields, "text": item.text})
        truth = GroundTruth(
            message_id=msg.message_id,
            community=item.source,
            label=label_of(item.removal()),
            categories={str(c): y for c, y in item.labels.items()},
            shape=shape,
            shape_id=shape_id,
        )
        return OutgoingRecord(msg.model_dump_json().encode(), msg.channel_id, msg.message_id, truth)

    def malformed(self, kind: MalformedKind, community: Community) -> OutgoingRecord:
        """A record that the consumer must dead-letter with a reason."""
        fields: dict[str, object] = dict(self._envelope())
        text = self._draw(community).text
        message_id = UUID(str(fields["message_id"]))
        if kind is MalformedKind.NOT_JSON:
            data = b'{"message_id": "' + str(message_id).encode() + b'", "text": '  # truncated
            return OutgoingRecord(data, str(fields["channel_id"]), message_id, None, kind)
        if kind is MalformedKind.WRONG_SCHEMA:
            fields["sent_at"] = "yesterday"
            fields["text"] = text
        elif kind is MalformedKind.EMPTY_TEXT:
            fields["text"] = ""
        elif kind is MalformedKind.OVERSIZE_TEXT:
            fields["text"] = (text + " ") * (MAX_TEXT_CHARS // max(len(text), 1) + 2)
        else:
            fields["text"] = text
            fields["reply_to"] = "not-a-field"
        return OutgoingRecord(json.dumps(fields).encode(), str(fields["channel_id"]), message_id, None, kind)
