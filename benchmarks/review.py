"""The review app under a full table: the queue page (50 items), an item page (which claims it) and a
decision, timed over HTTP against the app on uvicorn, its table on moto's DynamoDB holding `--items`
items (default 100,000, over eight channels); then twenty moderators deciding one queue at once.

python -m benchmarks.review [--items 100000] [--requests 60]   # → results/review-<time>.json
"""

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from benchmarks.common import machine, write_named
from contracts.policy import PolicyBook, Thresholds
from contracts.review import ItemStatus, ReviewItem
from contracts.verdict import Action, CategoryScore, Reason, Span
from infra.localstack import MotoServer, free_port
from review.app import LoginLimiter, Services, create_app
from review.store import ReviewStore, ensure_table, record
from review.users import Account, UserBook, hash_password
from runtime import aws
from runtime.retry import poll_until

CHANNELS = tuple(f"channel-{i:02d}" for i in range(8))
PASSWORD = "benchmark password 1"  # pragma: allowlist secret


def _say(what: str) -> None:
    print(f"review benchmark: {what}", file=sys.stderr, flush=True)


def _item(rng: random.Random, now: datetime, i: int) -> ReviewItem:
    text = f"message {i}: " + " ".join(
        rng.choice(("you", "are", "an", "idiot", "ok", "gg")) for _ in range(12)
    )
    return ReviewItem(
        message_id=uuid.UUID(int=rng.getrandbits(128)),
        channel_id=CHANNELS[i % len(CHANNELS)],
        user_id=f"user-{rng.randrange(20_000):05d}",
        text=text,
        sent_at=now,
        action=Action.REVIEW,
        category="toxicity",
        severity=rng.random(),
        scores={
            "toxicity": CategoryScore(
                score=0.6,
                thresholds=Thresholds(),
                acts=True,
                action=Action.REVIEW,
                reasons=[Reason(feature="idiot", spans=[Span(start=0, end=5)])],
            )
        },
        model_version="1",
        policy_version="p",
        enqueued_at=now - timedelta(seconds=rng.randrange(86_000)),
    )


def _load(store: ReviewStore, dynamodb: Any, items: int) -> None:
    """Bulk-load `items` open items (25 per BatchWriteItem) and each channel's counters."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    batch: list[Any] = []
    for i in range(items):
        batch.append({"PutRequest": {"Item": record(_item(rng, now, i), ItemStatus.OPEN)}})
        if len(batch) == 25 or i == items - 1:
            dynamodb.batch_write_item(RequestItems={store.table: batch})
            batch = []
        if i and i % 20_000 == 0:
            _say(f"{i:,} items loaded")
    for channel in CHANNELS:
        dynamodb.put_item(
            TableName=store.table,
            Item={"pk": {"S": f"stats#{channel}"}, "open": {"N": str(items // len(CHANNELS))}},
        )


def _timed(get: Any, n: int) -> dict[str, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        get()
        times.append(time.perf_counter() - t)
    times.sort()
    return {
        "n": n,
        "p50_ms": round(1000 * statistics.median(times), 1),
        "p95_ms": round(1000 * times[int(0.95 * (n - 1))], 1),
    }


def _login(base: str, name: str) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=base, timeout=60)
    token = http.get("/login").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    http.post("/login", data={"username": name, "password": PASSWORD, "csrf": token})
    return http, http.get("/api/session").json()["csrf"]


def measure(items: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = MotoServer(free_port(), Path(tmp) / "moto.log")
        server.start()
        try:
            dynamodb = aws.client("dynamodb", server.endpoint_url)
            ensure_table(dynamodb, "review-bench")
            store = ReviewStore(dynamodb, "review-bench")
            started = time.perf_counter()
            _load(store, dynamodb, items)
            load_s = time.perf_counter() - started
            _say(f"{items:,} items loaded in {load_s:.0f} s")
            hashed = hash_password(PASSWORD)
            users = UserBook(
                accounts=(
                    Account(username="mod", password_hash=hashed, channels=CHANNELS),
                    Account(username="one", password_hash=hashed, channels=CHANNELS[:1]),
                    *(
                        Account(username=f"race-{i}", password_hash=hashed, channels=("race",))
                        for i in range(20)
                    ),
                )
            )
            services = Services(
                store=store,
                users=lambda: users,
                policies=PolicyBook,
                claim_lease=timedelta(seconds=120),
                undo=timedelta(seconds=5),
                page_size=50,
                limiter=LoginLimiter(100, 60),
            )
            app = create_app(services, "b" * 48, secure_cookies=False)
            port = free_port()
            web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            threading.Thread(target=web.run, daemon=True).start()
            poll_until(lambda: web.started, 30, "the app")
            base = f"http://127.0.0.1:{port}"
            every, _ = _login(base, "mod")
            one, csrf = _login(base, "one")
            results: dict[str, Any] = {"items": items, "load_s": round(load_s, 1)}
            _say("queue pages …")
            every.get("/queue")
            results["queue_page_8_channels"] = _timed(
                lambda: every.get("/queue").raise_for_status(), requests
            )
            results["queue_page_1_channel"] = _timed(
                lambda: one.get("/queue", params={"channel": CHANNELS[0]}).raise_for_status(), requests
            )
            entries = one.get("/api/queue", params={"channel": CHANNELS[0], "limit": requests}).json()[
                "entries"
            ]
            ids = iter([e["item"]["message_id"] for e in entries])
            opened: list[str] = []

            def open_item() -> None:
                mid = next(ids)
                one.get(f"/items/{mid}").raise_for_status()
                opened.append(mid)

            results["item_page"] = _timed(open_item, len(entries))
            decided = iter(opened)
            results["decision"] = _timed(
                lambda: one.post(
                    f"/items/{next(decided)}/decision",
                    json={"label": "remove"},
                    headers={"X-CSRF-Token": csrf},
                ).raise_for_status(),
                len(opened),
            )
            results["race"] = _race(store, base)
            web.should_exit = True
        finally:
            server.stop()
    return {"machine": machine(), **results}


def _race(store: ReviewStore, base: str, n: int = 100) -> dict[str, Any]:
    """Twenty moderators working one queue of `n` items at once: decisions per item, time to empty."""
    _say("twenty moderators on one queue …")
    rng = random.Random(3)
    now = datetime.now(UTC)
    for i in range(n):
        item = _item(rng, now, i).model_copy(update={"channel_id": "race"})
        store.enqueue(item, ItemStatus.OPEN)
    decided: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        http, csrf = _login(base, name)
        headers = {"X-CSRF-Token": csrf}
        order = random.Random(name)
        while entries := http.get("/api/queue", params={"channel": "race"}).json()["entries"]:
            order.shuffle(entries)  # each opens what they see first: overlaps, as in a real team
            for e in entries[:5]:
                mid = e["item"]["message_id"]
                if http.post(f"/api/items/{mid}/claim", headers=headers).status_code != 200:
                    continue
                answer = http.post(f"/items/{mid}/decision", json={"label": "allow"}, headers=headers)
                if answer.status_code == 200:
                    with lock:
                        decided.append(mid)

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(f"race-{i}",)) for i in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    per_item = Counter(decided)
    return {
        "moderators": 20,
        "items": n,
        "decided": len(per_item),
        "double_decisions": sum(1 for c in per_item.values() if c > 1),
        "lost": n - len(per_item),
        "seconds": round(time.perf_counter() - started, 1),
    }


def write(results: dict[str, Any]) -> Path:
    return write_named("review", results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.review", description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)
    print(f"results: {write(measure(args.items, args.requests))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
