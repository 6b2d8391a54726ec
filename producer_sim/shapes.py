"""What the consumer's context signals made of the simulator's shapes, from the verdicts and the ground
truth: per raid, flood or burst, how many of its messages a signal acted on and how many seconds after
its onset the first one was; per kind of ordinary traffic, the share of users a signal acted on. The
demo's closing table and `make bench` (benchmarks/context.py) report these."""

from collections import defaultdict
from collections.abc import Callable, Iterable

from pydantic import BaseModel

from contracts.storage import GroundTruth
from contracts.verdict import Action, Verdict

FIRST_UNCAUGHT = 5  # a raid's first messages cannot be told from chat: counted from the sixth


class ShapeResult(BaseModel):
    """One shape in the traffic and what the signals made of it."""

    shape: str
    shape_id: str
    messages: int
    users: int
    caught: int  # messages an acting signal (review or remove) fired for
    caught_after_first_5: float  # the share of its messages after the fifth that were caught
    first_flag_s: float | None  # from its first message to the first caught one (None: none caught)
    # …from its first message to the sending of the first caught one: how much of the shape's traffic
    # the signal needed, whatever the consumer's lag behind it (first_flag_s adds that lag)
    detected_after_s: float | None = None
    # …and how many of its messages came before that one: the signal's need in traffic, whatever the pace
    detected_after_messages: int | None = None


class UsersFired(BaseModel):
    """Users of one kind of traffic (ordinary, burst) and how many an acting signal fired for."""

    users: int
    fired: int
    fired_on_allowed: int  # …for a message the ground truth allows (the rest posted spam or worse)

    @property
    def share(self) -> float:
        return self.fired / max(self.users, 1)

    @property
    def share_on_allowed(self) -> float:
        return self.fired_on_allowed / max(self.users, 1)


def acted(verdict: Verdict) -> bool:
    """A context signal asked for review or removal of this message."""
    return any(s.action is not Action.ALLOW for s in verdict.context)


def shape_results(
    verdicts: Iterable[Verdict],
    truth: dict[str, GroundTruth],
    sent: Callable[[Verdict], float],
    flagged: Callable[[Verdict], float],
) -> list[ShapeResult]:
    """Per shape instance: its messages (by `sent` time), those caught, and the seconds from its first
    message (`sent`) to the first caught one (`flagged`: when the flag was raised)."""
    by_shape: dict[str, dict[str, Verdict]] = defaultdict(dict)
    for v in verdicts:
        t = truth.get(str(v.message_id))
        if t is not None and t.shape_id:
            by_shape[t.shape_id][str(v.message_id)] = v  # a redelivered verdict counts once
    out = []
    for shape_id, found in by_shape.items():
        ordered = sorted(found.values(), key=sent)
        caught = [v for v in ordered if acted(v)]
        later = ordered[FIRST_UNCAUGHT:]
        out.append(
            ShapeResult(
                shape=truth[str(ordered[0].message_id)].shape,
                shape_id=shape_id,
                messages=len(ordered),
                users=len({v.user_id for v in ordered}),
                caught=len(caught),
                caught_after_first_5=round(sum(map(acted, later)) / max(len(later), 1), 4),
                first_flag_s=round(min(map(flagged, caught)) - sent(ordered[0]), 2) if caught else None,
                detected_after_s=round(sent(caught[0]) - sent(ordered[0]), 2) if caught else None,
                detected_after_messages=ordered.index(caught[0]) if caught else None,
            )
        )
    return sorted(out, key=lambda r: r.shape_id)


def users_fired(verdicts: Iterable[Verdict], truth: dict[str, GroundTruth]) -> dict[str, UsersFired]:
    """Per kind of traffic that should not fire (ordinary chat, harmless bursts): users in each channel,
    and those an acting signal fired for (at all; for a message the ground truth allows)."""
    users: dict[str, set[str]] = defaultdict(set)
    fired: dict[str, set[str]] = defaultdict(set)
    wrongly: dict[str, set[str]] = defaultdict(set)
    for v in verdicts:
        t = truth.get(str(v.message_id))
        if t is None or t.shape not in ("ordinary", "burst"):
            continue
        who = f"{v.channel_id}/{v.user_id}"
        users[t.shape].add(who)
        if acted(v):
            fired[t.shape].add(who)
            if t.label == "allow":
                wrongly[t.shape].add(who)
    return {
        kind: UsersFired(users=len(users[kind]), fired=len(fired[kind]), fired_on_allowed=len(wrongly[kind]))
        for kind in sorted(users)
    }
