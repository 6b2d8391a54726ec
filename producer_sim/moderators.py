"""The simulated moderators at work in the review app: signed in as moderator accounts, they read the
queue and decide through the app's HTTP API — the endpoints the page uses (claim, then one decision
request with the session's CSRF token) — so the demo and the end-to-end run exercise the real path.

Which queued messages they decide, who decides each and what (the label from the simulator's side file)
are the bot's rules (`producer_sim.bot`): the same messages get the same labels from the same
moderator names whichever path they take. `due` is pure; `QueueModerators` is the HTTP adapter.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Any
from uuid import UUID

import httpx

from contracts.chat import Label
from contracts.review import ItemStatus
from contracts.storage import GroundTruth
from producer_sim.bot import TruthFile, decided_on, draw
from producer_sim.settings import ProducerSettings
from review.store import ReviewStore
from runtime import aws
from runtime.progress import write_progress
from runtime.retry import idle_backoff


@dataclass(frozen=True)
class Due:
    """One decision to make: on which message, by which account (index), about what, and the label."""

    message_id: UUID
    account: int
    category: str
    label: Label


def due(
    entries: Iterable[Mapping[str, Any]],
    truth: Mapping[UUID, GroundTruth],
    review_share: float,
    seed: int,
    accounts: int,
) -> list[Due]:
    """The queue entries a moderator decides (the bot's share of reviewed messages, truth known)."""
    out = []
    for entry in entries:
        item = entry["item"]
        mid = UUID(item["message_id"])
        known = truth.get(mid)
        if known is None or draw(seed, mid, "decide") >= review_share:
            continue
        category, label = decided_on(item.get("category"), known)
        out.append(Due(mid, int(draw(seed, mid, "who") * accounts), category, label))
    return out


def due_appeals(
    entries: Iterable[Mapping[str, Any]], truth: Mapping[UUID, GroundTruth], seed: int, usernames: list[str]
) -> list[Due]:
    """The appealed entries a moderator decides (every one whose truth is known): the label the truth
    gives the contested category, by an account other than the one that made the restriction."""
    out = []
    for entry in entries:
        mid = UUID(entry["item"]["message_id"])
        known = truth.get(mid)
        others = [k for k, name in enumerate(usernames) if name != entry.get("original_by")]
        if known is None or not others:
            continue
        category, label = decided_on(entry.get("original_category"), known)
        out.append(Due(mid, others[int(draw(seed, mid, "appeal-who") * len(others))], category, label))
    return out


# Every this many passes the moderators list every channel whatever its counters say: the counters are
# the queue's summary (a failed counter write leaves one off), its listing the truth.
FULL_PASS_EVERY = 20


@dataclass(frozen=True)
class Listing:
    """What a pass reads of one channel: its open items, its appealed ones, or both."""

    channel: str
    open: bool
    appealed: bool


def to_list(
    counts: Iterable[Mapping[str, Any]], channels: Iterable[str], appeals: bool, full: bool
) -> list[Listing]:
    """The channels a pass lists (a listing is a query of the review table; the counters one read of a
    channel's counter item): those whose counters show an open item, or an appealed one when appeals are
    decided too; every channel on a full pass, and any the counters do not name."""
    by_channel = {c["channel_id"]: c for c in counts}
    out = []
    for channel in channels:
        c = by_channel.get(channel)
        open_ = full or c is None or int(c["open"]) > 0
        appealed = appeals and (full or c is None or int(c.get("appealed", 0)) > 0)
        if open_ or appealed:
            out.append(Listing(channel, open_, appealed))
    return out


class Session:
    """One moderator signed in to the review app."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.username = username
        self.http = httpx.Client(base_url=base_url, timeout=10.0)
        page = self.http.get("/login").text
        token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = self.http.post("/login", data={"username": username, "password": password, "csrf": token})
        if answer.status_code != 303 or answer.headers.get("location") != "/queue":
            raise RuntimeError(f"{username} could not sign in ({answer.status_code})")
        self.csrf = self.http.get("/api/session").json()["csrf"]

    def queue(self, channel: str, view: str = "open") -> list[dict[str, Any]]:
        """A view of the channel's queue (its first 200 items in reading order)."""
        answer = self.http.get("/api/queue", params={"channel": channel, "view": view, "limit": 200})
        answer.raise_for_status()
        entries: list[dict[str, Any]] = answer.json()["entries"]
        return entries

    def counts(self) -> list[dict[str, Any]]:
        """The counters of every channel this account moderates."""
        answer = self.http.get("/api/counts")
        answer.raise_for_status()
        counts: list[dict[str, Any]] = answer.json()["counts"]
        return counts

    def decide(self, d: Due) -> int:
        """Claim, then decide: one request each; the decision's status (200, or 409 when lost)."""
        headers = {"X-CSRF-Token": self.csrf}
        claim = self.http.post(f"/api/items/{d.message_id}/claim", headers=headers)
        if claim.status_code != 200:
            return claim.status_code
        body = {"label": d.label, "category": d.category}
        return self.http.post(f"/items/{d.message_id}/decision", json=body, headers=headers).status_code


class QueueModerators:
    """Works every channel's queue until stopped; writes its progress after each pass."""

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str],
        channels: list[str],
        truth_path: Path,
        review_share: float,
        seed: int,
        progress_path: Path,
        appeals: bool = False,
    ) -> None:
        self._base = base_url
        self._credentials = dict(sorted(credentials.items()))
        self._sessions: list[Session] = []
        self._channels = channels
        self._truth = TruthFile(truth_path)
        self._share = review_share
        self._seed = seed
        self._progress = progress_path
        self._appeals = appeals  # whether they also decide the appealed items
        self.counts: Counter[str] = Counter()
        self._passes = 0

    def _signed_in(self) -> list[Session]:
        if not self._sessions:
            self._sessions = [Session(self._base, u, p) for u, p in self._credentials.items()]
        return self._sessions

    def poll(self) -> int:
        """One pass over the channels with work (every channel on a full pass); returns the decisions
        made."""
        started = time.time()
        sessions = self._signed_in()
        made = 0
        self._passes += 1
        full = self._passes % FULL_PASS_EVERY == 1
        plan = to_list(sessions[0].counts(), self._channels, self._appeals, full)
        self.counts["listings"] += sum(p.open + p.appealed for p in plan)
        with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
            # the channels' queues read at once (an httpx client may be shared between threads)
            listed = list(pool.map(lambda listing: self._listed(sessions[0], listing), plan))
            seen = [e for entries, appealed in listed for e in [*entries, *appealed]]
            if any(UUID(e["item"]["message_id"]) not in self._truth.labels for e in seen):
                self._truth.refresh()
            names = [s.username for s in sessions]
            todo = [
                *(
                    d
                    for entries, _ in listed
                    for d in due(entries, self._truth.labels, self._share, self._seed, len(sessions))
                ),
                *(
                    d
                    for _, appealed in listed
                    for d in due_appeals(appealed, self._truth.labels, self._seed, names)
                ),
            ]
            # each moderator works through their own share at the same time as the others
            shares = [(sessions[k], [d for d in todo if d.account == k]) for k in range(len(sessions))]
            statuses = pool.map(lambda share: [share[0].decide(d) for d in share[1]], shares)
            for status in (s for per_account in statuses for s in per_account):
                self.counts[f"decision_{status}"] += 1
                made += status == 200
        self.counts["decisions"] += made
        write_progress(self._progress, started, {"decided": made, **self.counts})
        return made

    @staticmethod
    def _listed(session: Session, listing: Listing) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A channel's open items and its appealed ones, each read only when the pass lists it."""
        entries = session.queue(listing.channel) if listing.open else []
        return entries, session.queue(listing.channel, "appealed") if listing.appealed else []

    def run(self, stop: Event, interval_s: float = 1.0, idle_max_s: float = 4.0) -> Counter[str]:
        """Pass after pass until `stop`: `interval_s` apart while there is work, backing off to
        `idle_max_s` while passes find nothing to decide (each pass reads every channel's queue)."""
        wait = interval_s
        while not stop.is_set():
            try:
                made = self.poll()
            except (httpx.HTTPError, RuntimeError) as err:  # the app restarting: try again
                self.counts[f"error_{type(err).__name__}"] += 1
                self._sessions = []
                made = 0
            wait = interval_s if made else idle_backoff(wait, idle_max_s)
            stop.wait(wait)
        return self.counts


def human_decisions(settings: ProducerSettings) -> Callable[[list[UUID]], dict[UUID, Label]] | None:
    """The review app's decisions on given messages, read from its table: what the bot looks up before
    acting, so that it never acts against a moderator (None without a review table)."""
    if settings.review_table is None:
        return None
    dynamodb = aws.client(
        "dynamodb", settings.dynamodb_endpoint_url or settings.aws_endpoint_url, settings.aws_region
    )
    store = ReviewStore(dynamodb, settings.review_table)

    def decided(ids: list[UUID]) -> dict[UUID, Label]:
        return {
            e.item.message_id: e.label
            for e in store.entries(ids)
            if e.status is ItemStatus.DECIDED and e.label is not None
        }

    return decided
