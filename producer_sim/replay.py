"""Real messages from the data sets, mixed by a schedule, as Kinesis records for `chat-messages`."""

import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from contracts.chat import MAX_TEXT_CHARS, ChatMessage
from contracts.storage import GroundTruth
from runtime.kinesis import Entry
from training.data import Community, LabelledText


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


@dataclass(frozen=True, slots=True)
class MixPhase:
    """A stretch of traffic: `count` messages drawn from communities by weight."""

    weights: Mapping[Community, float]
    count: int


_PHASE = re.compile(r"^(?P<weights>[a-z=0-9.+]+):(?P<n>\d+)(?P<unit>s?)$")


def parse_mix(spec: str, rate: float | None = None) -> list[MixPhase]:
    """Parse `rscience:3000,rscience=0.8+tweets=0.2:1000,tweets:60s` into phases.

    A count ending in `s` is seconds of traffic at `rate` messages per second.
    """
    phases = []
    for part in spec.replace(" ", "").split(","):
        match = _PHASE.match(part)
        if not match:
            raise ValueError(
                f"bad mix phase {part!r}: expected like 'rscience:1000' or 'tweets=0.2+rscience=0.8:500'"
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
        phases.append(MixPhase(weights, count))
    return phases


class Replay:
    """Draws real texts without replacement (reshuffling each pool when spent) and builds records."""

    def __init__(
        self,
        pools: Mapping[Community, Sequence[LabelledText]],
        channels: int = 8,
        users: int = 500,
        malformed_share: float = 0.0,
        seed: int = 7,
    ) -> None:
        self._rng = random.Random(seed)
        self._pools = {c: list(p) for c, p in pools.items() if p}
        self._cursor = dict.fromkeys(self._pools, 0)
        for pool in self._pools.values():
            self._rng.shuffle(pool)
        self._channels = [f"channel-{i:02d}" for i in range(channels)]
        self._users = [f"user-{i:05d}" for i in range(users)]
        self._malformed_share = malformed_share

    def _draw(self, community: Community) -> LabelledText:
        pool = self._pools[community]
        i = self._cursor[community]
        if i == len(pool):
            self._rng.shuffle(pool)
            i = 0
        self._cursor[community] = i + 1
        return pool[i]

    def records(self, phases: Sequence[MixPhase]) -> Iterator[OutgoingRecord]:
        """Every record of the schedule, in order."""
        for phase in phases:
            missing = [c for c in phase.weights if c not in self._pools]
            if missing:
                raise ValueError(f"no texts loaded for {missing}")
            communities = list(phase.weights)
            weights = [phase.weights[c] for c in communities]
            for _ in range(phase.count):
                community = self._rng.choices(communities, weights)[0]
                if self._malformed_share and self._rng.random() < self._malformed_share:
                    yield self.malformed(self._rng.choice(list(MalformedKind)), community)
                else:
                    yield self.message(self._draw(community))

    def _envelope(self) -> dict[str, str]:
        return {
            # Random, never seeded: two runs with the same seed still publish distinct messages.
            "message_id": str(uuid4()),
            "channel_id": self._rng.choice(self._channels),
            "user_id": self._rng.choice(self._users),
            "sent_at": datetime.now(UTC).isoformat(),
        }

    def message(self, item: LabelledText) -> OutgoingRecord:
        """A well-formed chat message carrying a real text."""
        fields = self._envelope()
        msg = ChatMessage.model_validate({**fields, "text": item.text})
        truth = GroundTruth(
            message_id=msg.message_id,
            community=item.community,
            label=item.label,
            categories=dict(item.categories) or {"removal": item.y},
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
