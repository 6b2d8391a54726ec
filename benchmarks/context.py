"""Context across messages (`make bench`): the shapes caught, how fast, what it costs.

python -m benchmarks.context            # measure, write context-<time>.json and context-latest.json

The simulator's traffic (heavy-tailed users, hot channels; tweets with one message in ten spam) with
its shapes — harmless bursts ("gg" from a whole channel), a raid (new users pasting one text with small
edits), a flooder — is given arrival times at its rate and replayed through the real event source
mapping state machine (`local_esm.esm`, 4 shards by partition key, 30-s tumbling windows) into
the real consumer (`Consumer.handle_event`, in-memory sinks). Measured per shape: messages caught,
seconds from its onset to its first flag; the share of ordinary and burst users any acting signal fired
for; the window state's size per shard and per 1,000 active users; and the handler's msg/s on one core
with windows on and off (the context's cost).
"""

import hashlib
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import machine, run_pinned, write_named

LATEST = "context-latest.json"
RATE = 300.0  # ordinary messages per second
SECONDS = 120
SHARDS = 4
WINDOW_S = 30
SPEC = f"tweets=0.9+spam=0.1:{SECONDS}s|burst@20s|raid@44s|flood@71s|burst@95s/users=120|raid@101s/users=80"
GOALS = {
    "raid_caught_after_first_5": 0.95,
    "raid_first_flag_s": 10.0,
    "flood_first_flag_s": 10.0,
    "users_fired_share": 0.001,
    "context_cost_share": 0.15,
    "state_kb_per_1000_users": 200.0,
}
ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/chat-messages"


def _say(what: str) -> None:
    print(f"context: {what}", file=sys.stderr, flush=True)


def _shard(partition_key: str) -> str:
    """Kinesis's routing: the MD5 of the partition key in one of equal hash-key ranges."""
    top = int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")  # as Kinesis routes
    return f"shardId-{top * SHARDS >> 128:012d}"


def _traffic(data_dir: Path) -> list[tuple[float, Any]]:
    """The schedule's records, each with its arrival time (ordinary messages at RATE per second)."""
    from producer_sim.communities import Community, load_community  # noqa: PLC0415
    from producer_sim.replay import Replay, parse_mix  # noqa: PLC0415

    pools = {c: load_community(data_dir, c) for c in (Community.TWEETS, Community.SPAM)}
    replay = Replay(pools, seed=11)
    # arrivals from now (on the windows' grid): the messages' account ages are reckoned from their
    # sending, as the platform stamps them, so the stream's clock must be the senders'
    start, ordinary, out = math.floor(time.time() / WINDOW_S) * WINDOW_S, 0, []
    for record in replay.records(parse_mix(SPEC, RATE)):
        out.append((start + ordinary / RATE, record))
        ordinary += record.truth is not None and record.truth.shape == "ordinary"
    return out


def _consumer(model_path: Path, keep: bool = True) -> Any:
    import logging  # noqa: PLC0415

    from contracts.policy import PolicyBook  # noqa: PLC0415
    from stream_consumer import encoder  # noqa: PLC0415
    from stream_consumer.consumer import Consumer  # noqa: PLC0415
    from stream_consumer.moderation import Champion  # noqa: PLC0415
    from stream_consumer.scorer import CategoryModel  # noqa: PLC0415
    from stream_consumer.settings import ConsumerSettings  # noqa: PLC0415
    from stream_consumer.sinks import MemoryArchiveSink, MemoryDeadLetterSink, MemoryVerdictSink  # noqa: PLC0415

    logging.getLogger("chat-moderation").setLevel(logging.WARNING)
    champion = Champion("chat-moderation", "1", CategoryModel.load(model_path))
    settings = ConsumerSettings()
    with_encoder = encoder.shared(settings.encoder_threads) if champion.scorer.cascade else None
    verdicts = MemoryVerdictSink(keep=keep)
    book = PolicyBook()
    return Consumer(
        settings,
        lambda: champion,
        lambda: book,
        verdicts,
        MemoryDeadLetterSink(),
        MemoryArchiveSink(keep=False),
        with_encoder,
    ), verdicts


def replay_through_esm(data_dir: Path, model_path: Path) -> dict[str, Any]:
    """The traffic through the mapping's windows into the consumer; what each shape came to."""
    from local_esm.esm import (  # noqa: PLC0415
        EsmConfig,
        Invoke,
        ShardMachine,
        StreamRecord,
        lambda_event,
        parse_response,
        roundtrip,
    )

    traffic = _traffic(data_dir)
    consumer, verdicts = _consumer(model_path)
    config = EsmConfig(batch_size=100, batching_window_s=1.0, tumbling_window_s=WINDOW_S)
    machines = {f"shardId-{i:012d}": ShardMachine(f"shardId-{i:012d}", config) for i in range(SHARDS)}
    state_bytes: list[int] = []
    arrival: dict[str, float] = {}

    def drain(now: float) -> None:
        for sid, m in machines.items():
            while effects := m.next(now, now):
                effect = effects[0]
                if not isinstance(effect, Invoke):
                    continue
                event = roundtrip(lambda_event(sid, ARN, "us-east-1", effect.records, effect.window))
                response = consumer.handle_event(event)
                state_bytes.append(len(json.dumps(response.get("state", {}))))
                m.complete(parse_response(response), now)

    started = time.perf_counter()
    clock = traffic[0][0]
    for seq, (at, record) in enumerate(traffic, 1):
        while clock + 0.2 <= at:  # the poller's passes, every 0.2 s of the traffic's time
            clock += 0.2
            drain(clock)
        arrival[str(record.message_id)] = at
        machines[_shard(record.partition_key)].add(
            [StreamRecord(f"{seq:020d}", record.partition_key, record.data, at)], clock
        )
    for _ in range(int((WINDOW_S + 5) / 0.2)):  # the last windows' final invocations
        clock += 0.2
        drain(clock)
    elapsed = time.perf_counter() - started
    return _score(traffic, verdicts.written, arrival) | {
        "messages": len(traffic),
        "replay_s": elapsed,
        "state_bytes_max": max(state_bytes),
        "state_bytes_median": sorted(state_bytes)[len(state_bytes) // 2],
        "windows_closed": consumer.totals.get("windows_closed", 0),
    }


def _score(traffic: list[tuple[float, Any]], written: list[Any], arrival: dict[str, float]) -> dict[str, Any]:
    from contracts.verdict import Action  # noqa: PLC0415
    from producer_sim.shapes import shape_results, users_fired  # noqa: PLC0415

    verdicts = [m.verdict for m in written]
    truth = {str(r.message_id): r.truth for _, r in traffic if r.truth is not None}

    def at(v: Any) -> float:  # the stream's time: the record's arrival
        return arrival[str(v.message_id)]

    fired = users_fired(verdicts, truth)
    return {
        "shapes": [r.model_dump() for r in shape_results(verdicts, truth, at, at)],
        "users_fired": {k: u.model_dump() for k, u in fired.items()},
        "users_fired_share": {k: u.share for k, u in fired.items()},
        "users_fired_on_allowed_share": {k: u.share_on_allowed for k, u in fired.items()},
        "review_share": sum(v.action is Action.REVIEW for v in verdicts) / len(verdicts),
        "signals": dict(Counter(s.signal for v in verdicts for s in v.context)),
    }


def state_per_1000_users() -> dict[str, float]:
    """A window of 1,000 active users (three messages each, 8 channels): its state's size."""
    import random  # noqa: PLC0415
    import string  # noqa: PLC0415

    from contracts.policy import ContextPolicy  # noqa: PLC0415
    from stream_consumer.context import WindowContext, near_duplicate_bands, observe  # noqa: PLC0415
    from stream_consumer.normalize import normal_form  # noqa: PLC0415

    rng, policy, context = random.Random(5), ContextPolicy(), WindowContext()
    for i in range(3000):
        text = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(8))
        normal = normal_form(text).text
        (bands,) = near_duplicate_bands([normal], [policy.raid.min_letters])
        context.add(observe(f"channel-{i % 8}", f"user-{i % 1000}", normal, bands, False))
    state = context.encode()
    return {"state_kb_per_1000_users": len(json.dumps(state)) / 1000, "text_keys": len(context.texts.rows)}


def handler_cost(data_dir: Path, model_path: Path) -> dict[str, float]:
    """The handler's msg/s on one core on the same traffic, batches of 100 of one shard, with the
    window state carried from batch to batch, and without windows."""
    from local_esm.esm import (  # noqa: PLC0415
        StreamRecord,
        Window,
        WindowInvoke,
        lambda_event,
        roundtrip,
    )

    traffic = _traffic(data_dir)[:12_000]
    consumer, _ = _consumer(model_path, keep=False)
    batches = [traffic[i : i + 100] for i in range(0, len(traffic) - 99, 100)]
    events = [
        roundtrip(
            lambda_event(
                "shardId-000000000000",
                ARN,
                "us-east-1",
                [StreamRecord(f"{k}", r.partition_key, r.data, at) for k, (at, r) in enumerate(b)],
            )
        )
        for b in batches
    ]

    def run(windowed: bool) -> float:
        state: dict[str, Any] = {}
        started = time.perf_counter()
        for e in events:
            if windowed:
                e = e | roundtrip(  # noqa: PLW2901 - the same records, with the window's part
                    {
                        k: v
                        for k, v in lambda_event(
                            "shardId-000000000000", ARN, "us-east-1", [], WindowInvoke(Window(0, 30, state))
                        ).items()
                        if k != "Records"
                    }
                )
            state = consumer.handle_event(e).get("state", {})
        return len(events) * 100 / (time.perf_counter() - started)

    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):  # alternated: the machine's noise falls on both
        for windowed in (False, True):
            rates[windowed].append(run(windowed))
    off, on = max(rates[False]), max(rates[True])
    return {
        "msg_per_s_without_windows": off,
        "msg_per_s_with_windows": on,
        "context_cost_share": 1 - on / off,
        "context_us_per_msg": 1e6 / on - 1e6 / off,
    }


def measure(data_dir: Path) -> dict[str, Any]:
    """Train the benchmark's r/science champion, then each part in a pinned subprocess."""
    results: dict[str, Any] = {"machine": machine(), "spec": SPEC, "rate": RATE, "window_s": WINDOW_S}
    with tempfile.TemporaryDirectory() as tmp:
        model_path = str(Path(tmp) / "scorer.npz")
        _say("training the r/science champion …")
        run_pinned("benchmarks.scoring", "train", str(data_dir), model_path)
        _say("the simulator's shapes through the mapping's windows …")
        results["shapes"] = run_pinned("benchmarks.context", "shapes", str(data_dir), model_path)
        _say("the handler with and without windows …")
        results["cost"] = run_pinned("benchmarks.context", "cost", str(data_dir), model_path)
    results["state"] = state_per_1000_users()
    results["goals"] = GOALS
    return results


def render(results: dict[str, Any]) -> str:
    """The shapes and the goals, as docs/stream.md quotes them."""
    shapes, cost, state = results["shapes"], results["cost"], results["state"]
    lines = [
        "| shape | messages | users | caught | caught after the 5th | first flag after onset |",
        "|---|---|---|---|---|---|",
    ]
    for r in shapes["shapes"]:
        first = "–" if r["first_flag_s"] is None else f"{r['first_flag_s']:.1f} s"
        lines.append(
            f"| {r['shape']} | {r['messages']:,} | {r['users']:,} | {r['caught']:,} | "
            f"{r['caught_after_first_5']:.0%} | {first} |"
        )
    raids = [r for r in shapes["shapes"] if r["shape"] == "raid"]
    floods = [r for r in shapes["shapes"] if r["shape"] == "flood"]
    fired, on_allowed = shapes["users_fired_share"], shapes["users_fired_on_allowed_share"]
    lines += [
        "",
        "| goal | measured | goal |",
        "|---|---|---|",
        f"| raid messages caught after the first 5 | {min(r['caught_after_first_5'] for r in raids):.0%} "
        "| ≥ 95% |",
        f"| raid: first flag after its onset | {max(r['first_flag_s'] or 0 for r in raids):.1f} s | ≤ 10 s |",
        f"| flood: first flag after its onset | {max(r['first_flag_s'] or 0 for r in floods):.1f} s "
        "| ≤ 10 s |",
        f"| ordinary users an acting signal fired for | {fired['ordinary']:.2%} "
        f"(on messages labelled allow: {on_allowed['ordinary']:.3%}) | ≤ 0.1% |",
        f"| burst users an acting signal fired for | {fired['burst']:.2%} | ≤ 0.1% |",
        f"| handler msg/s, one core, windows off → on | {cost['msg_per_s_without_windows']:,.0f} → "
        f"{cost['msg_per_s_with_windows']:,.0f} ({cost['context_cost_share']:.0%} less: "
        f"{cost['context_us_per_msg']:.0f} µs a message) | ≤ 15% less |",
        f"| window state per shard at 1,000 active users | {state['state_kb_per_1000_users']:.0f} KB "
        f"(at most {shapes['state_bytes_max'] / 1000:.0f} KB in the replay) | ≤ 200 KB |",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any]) -> Path:
    return write_named("context", results)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("shapes", "cost"):
        data, model = Path(sys.argv[2]), Path(sys.argv[3])
        part = replay_through_esm(data, model) if sys.argv[1] == "shapes" else handler_cost(data, model)
        print(json.dumps(part))
    else:
        from training.settings import TrainingSettings

        print(f"results: {write(measure(TrainingSettings().data_dir))}")
