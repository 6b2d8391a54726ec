"""The moderators' review app on a real DynamoDB and S3 (moto's server): the queue filled from the
archive once per message, claims that let twenty moderators work one queue without a double decision,
channels nobody else can read, CSRF, hostile text rendered inert, decisions reaching the feedback the
retraining reads, expiry, and a user's erasure reaching the queue."""

import hashlib
import html
import json
import os
import re
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.audit import AuditEvent, AuditKind
from contracts.policy import ChannelPolicy, PolicyBook, ReviewPolicy
from contracts.review import ItemStatus
from contracts.statement import (
    AppealOutcome,
    AppealResult,
    AutomatedDecision,
    StatementOfReasons,
    statement_for,
)
from contracts.statement import Restriction as SorRestriction
from contracts.storage import ArchivedMessage, GroundTruth, is_appeal_outcome_key, json_lines
from contracts.strikes import Strike, StrikeSource
from contracts.verdict import Action
from infra.localstack import free_port
from monitoring.__main__ import main as monitoring_main
from monitoring.archive import read_feedback
from monitoring.audit import message_story
from monitoring.erasure import erase_user
from producer_sim.appeals import Appellants, OutcomeReader
from producer_sim.bot import Bot, TruthFile
from producer_sim.moderators import QueueModerators
from review.app import LoginLimiter, Services, create_app
from review.store import ClaimLostError, ReviewStore, ensure_table
from review.users import Account, UserBook, hash_password
from review.worker import ArchiveFollower, Flushed, Outputs, enqueue_all, flush_feedback
from runtime import aws
from runtime.audit import AuditLog, TrailReader, read_trail, verify_trail
from runtime.errors import AwsError
from runtime.retry import poll_until
from strikes.store import StrikeStore
from strikes.store import ensure_table as ensure_strikes_table
from tests.builders import archive_body, flagged, sign_in

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"  # pragma: allowlist secret
SECRET = "s" * 48
HASH = hash_password(PASSWORD)  # one hash for every test account: argon2 is slow on purpose
FEEDBACK = "feedback/"
STATEMENTS = "statements/"
AUDIT = "audit/"
APPEAL_TOKEN = "t" * 40  # pragma: allowlist secret


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Rig:
    store: ReviewStore
    services: Services
    app: FastAPI
    clock: Clock
    bucket: str
    endpoint: str


def _book(*accounts: tuple[str, str, tuple[str, ...]]) -> UserBook:
    return UserBook(
        accounts=tuple(
            Account(
                username=name,
                password_hash=HASH,
                role="admin" if role == "admin" else "moderator",
                channels=ch,
            )
            for name, role, ch in accounts
        )
    )


@pytest.fixture
def rig(moto_endpoint: str) -> Rig:
    table = f"review-{uuid.uuid4().hex[:8]}"
    store = ReviewStore(aws.client("dynamodb", moto_endpoint), table)
    ensure_table(aws.client("dynamodb", moto_endpoint), table)
    bucket = f"archive-{uuid.uuid4().hex[:8]}"
    aws.client("s3", moto_endpoint).create_bucket(Bucket=bucket)
    users = _book(
        ("alice", "moderator", ("c-a",)),
        ("bob", "moderator", ("c-b",)),
        ("carol", "moderator", ("c-a",)),
        ("root", "admin", ()),
        *((f"mod-{i}", "moderator", ("c-race",)) for i in range(20)),
    )
    policies = PolicyBook(channels={"c-fast": ChannelPolicy(review=ReviewPolicy(expire_after_s=60))})
    clock = Clock()
    services = Services(
        store=store,
        users=lambda: users,
        policies=lambda: policies,
        claim_lease=timedelta(seconds=60),
        undo=timedelta(seconds=5),
        page_size=50,
        limiter=LoginLimiter(5, 300),
        now=clock,
    )
    app = create_app(services, SECRET, secure_cookies=False)
    return Rig(store, services, app, clock, bucket, moto_endpoint)


def _enqueue(rig: Rig, *lines: ArchivedMessage) -> None:
    enqueue_all(rig.store, lines, rig.services.policies(), rig.clock())


@contextmanager
def _served(app: FastAPI) -> Iterator[str]:
    """The app on a real server (uvicorn, a free port) for as long as the block runs; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        poll_until(lambda: server.started, 20, "the review app listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _client(app: FastAPI, username: str) -> tuple[TestClient, str]:
    return sign_in(app, username, PASSWORD)


def test_an_archived_verdict_is_queued_once_however_often_it_is_read(rig: Rig, tmp_path: Path) -> None:
    s3 = aws.client("s3", rig.endpoint)
    lines = [
        flagged("you absolute idiot", Action.REVIEW, channel="c-a"),
        flagged("spam spam", Action.REMOVE, channel="c-a", score=0.97),
        flagged("have a nice day", Action.ALLOW, channel="c-a", score=0.1),
    ]
    # the same batch archived twice (a retried batch rewrites its object; a replay writes another)
    s3.put_object(
        Bucket=rig.bucket, Key="archive/dt=2026-12-05/hour=01/s-1-2.jsonl.gz", Body=archive_body(lines)
    )
    s3.put_object(
        Bucket=rig.bucket, Key="archive/dt=2026-12-05/hour=01/s-9-9.jsonl.gz", Body=archive_body(lines)
    )
    state = tmp_path / "read.txt"
    follower = ArchiveFollower(s3, rig.bucket, "archive/", rig.store, rig.services.policies, state)
    counts = follower.poll()
    assert counts["objects"] == 2
    assert counts["written"] == 2
    assert counts["present"] == 2
    # a restarted follower reads nothing again
    again = ArchiveFollower(s3, rig.bucket, "archive/", rig.store, rig.services.policies, state).poll()
    assert again["objects"] == 0
    stats = rig.store.stats("c-a")
    assert (stats.open, stats.hidden) == (1, 1)
    # a decided item stays decided when its verdict comes again (re-scored, replayed)
    entry = rig.store.claim(lines[0].message.message_id, "alice", rig.clock(), timedelta(seconds=60))
    rig.store.decide(entry, "alice", "allow", "toxicity", rig.clock(), timedelta(0))
    _enqueue(rig, lines[0])
    kept = rig.store.get(lines[0].message.message_id)
    assert kept is not None
    assert kept.status is ItemStatus.DECIDED
    assert kept.label == "allow"


def test_twenty_moderators_working_one_queue_never_decide_an_item_twice(rig: Rig) -> None:
    lines = [flagged(f"message number {i} you fool", channel="c-race", user=f"u{i % 7}") for i in range(40)]
    _enqueue(rig, *lines)
    rig.services.now = lambda: datetime.now(UTC)
    decided: list[tuple[str, str]] = []
    refused = Counter[int]()
    lock = threading.Lock()

    def moderate(name: str, base: str) -> None:
        with httpx.Client(base_url=base) as http:
            token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
            assert token is not None
            http.post("/login", data={"username": name, "password": PASSWORD, "csrf": token[1]})
            csrf = http.get("/api/session").json()["csrf"]
            headers = {"X-CSRF-Token": csrf}
            while True:
                entries = http.get("/api/queue", params={"channel": "c-race"}).json()["entries"]
                if not entries:
                    return
                for e in entries:  # everyone goes for the same items first: the worst case for claims
                    mid = e["item"]["message_id"]
                    # and decides whether the claim was won or not (a stale page, a careless client):
                    # only the decision's own condition keeps the loser out
                    http.post(f"/api/items/{mid}/claim", headers=headers)
                    answer = http.post(f"/items/{mid}/decision", json={"label": "remove"}, headers=headers)
                    with lock:
                        if answer.status_code == 200:
                            decided.append((mid, name))
                        else:
                            refused[answer.status_code] += 1

    with _served(rig.app) as base:
        workers = [threading.Thread(target=moderate, args=(f"mod-{i}", base)) for i in range(20)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
    per_item = Counter(mid for mid, _ in decided)
    assert len(per_item) == 40, "every item decided (none lost)"
    assert max(per_item.values()) == 1, "no item decided twice"
    assert len({name for _, name in decided}) > 1, "the work was shared"
    assert refused[409] > 0, "moderators raced for the same items"
    stats = rig.store.stats("c-race")
    assert (stats.open, stats.decided) == (0, 40)
    for line in lines:
        entry = rig.store.get(line.message.message_id)
        assert entry is not None
        assert entry.decided_by == dict(decided)[str(line.message.message_id)]


def test_the_moderators_list_only_the_channels_whose_counters_show_work(rig: Rig, tmp_path: Path) -> None:
    # GIVEN an item waiting in c-a, none in c-b, and the truth of both channels' messages
    first = flagged("you absolute idiot", Action.REVIEW, channel="c-a")
    later = flagged("what a moron", Action.REVIEW, channel="c-b")
    _enqueue(rig, first)
    truth = tmp_path / "truth.jsonl"
    truth.write_text(
        "".join(
            GroundTruth(
                message_id=line.message.message_id, community="tweets", label="remove"
            ).model_dump_json()
            + "\n"
            for line in (first, later)
        )
    )
    # THEN the counters answer for the caller's channels alone, without a listing
    root, _ = _client(rig.app, "root")
    counts = {c["channel_id"]: c for c in root.get("/api/counts").json()["counts"]}
    assert (counts["c-a"]["open"], counts["c-b"]["open"]) == (1, 0)
    alice, _ = _client(rig.app, "alice")
    assert [c["channel_id"] for c in alice.get("/api/counts").json()["counts"]] == ["c-a"]
    assert TestClient(rig.app).get("/api/counts").status_code == 401
    with _served(rig.app) as base:
        moderators = QueueModerators(
            base, {"root": PASSWORD}, ["c-a", "c-b"], truth, 1.0, 7, tmp_path / "p.json"
        )
        # WHEN they work: the first pass lists every channel and decides the waiting item
        assert moderators.poll() == 1
        assert moderators.counts["listings"] == 2
        # THEN a pass with nothing waiting lists nothing
        assert moderators.poll() == 0
        assert moderators.counts["listings"] == 2
        # AND a new item in c-b is found by c-b's counters alone, and decided
        _enqueue(rig, later)
        assert moderators.poll() == 1
        assert moderators.counts["listings"] == 3
    assert rig.store.stats("c-b").decided == 1


def test_a_moderator_reaches_only_their_own_channels(rig: Rig) -> None:
    theirs = flagged("a message in channel b", channel="c-b")
    ours = flagged("a message in channel a", channel="c-a")
    _enqueue(rig, theirs, ours)
    alice, csrf = _client(rig.app, "alice")
    mid = theirs.message.message_id
    assert alice.get(f"/items/{mid}").status_code == 403
    assert alice.get("/queue", params={"channel": "c-b"}).status_code == 403
    assert alice.get("/api/queue", params={"channel": "c-b"}).status_code == 403
    assert alice.post(f"/api/items/{mid}/claim", headers={"X-CSRF-Token": csrf}).status_code == 403
    answer = alice.post(f"/items/{mid}/decision", json={"label": "allow"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403
    listing = alice.get("/api/queue").json()["entries"]
    assert [e["item"]["channel_id"] for e in listing] == ["c-a"]
    assert "channel b" not in alice.get("/queue").text
    entry = rig.store.get(mid)
    assert entry is not None
    assert entry.status is ItemStatus.OPEN
    assert entry.claimed_by is None
    # an admin reaches both
    root, _ = _client(rig.app, "root")
    assert root.get(f"/items/{mid}").status_code == 200
    # nobody signed in reaches nothing
    assert TestClient(rig.app).get("/api/queue").status_code == 401


def test_a_state_change_without_the_sessions_csrf_token_is_refused(rig: Rig) -> None:
    line = flagged("a message", channel="c-a")
    _enqueue(rig, line)
    alice, csrf = _client(rig.app, "alice")
    mid = line.message.message_id
    assert alice.get(f"/items/{mid}").status_code == 200  # claims it
    assert alice.post(f"/items/{mid}/decision", data={"label": "remove"}).status_code == 403
    assert alice.post(f"/items/{mid}/decision", data={"label": "remove", "csrf": "forged"}).status_code == 403
    assert alice.post(f"/items/{mid}/decision", json={"label": "remove"}).status_code == 403
    broken = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    assert alice.post(f"/items/{mid}/decision", content=b"{not json", headers=broken).status_code == 400
    assert alice.post(f"/items/{mid}/decision", json={"label": "maybe"}, headers=broken).status_code == 422
    _bob, bobs = _client(rig.app, "bob")
    assert bobs != csrf  # each session its own token
    entry = rig.store.get(mid)
    assert entry is not None
    assert entry.status is ItemStatus.OPEN
    # and a sign-in form without one is refused too (login CSRF)
    fresh = TestClient(rig.app)
    assert fresh.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 403
    answer = alice.post(
        f"/items/{mid}/decision", data={"label": "remove", "csrf": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303


def _hostile_texts() -> list[str]:
    import random  # noqa: PLC0415

    from training.adversarial import FOREIGN_FAMILIES, OBFUSCATIONS  # noqa: PLC0415 - the evasion suite's

    cores = [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "'><svg onload=alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        "</bdi></p><script>document.body.innerHTML=''</script>",
        "<iframe src=//evil.example></iframe>",
        "<style>body{display:none}</style>",
        "{{ 7*7 }} {% raw %}",
        "&lt;script&gt; &amp;",
        "<!-- --><base href=//evil.example>",
    ]
    bidi = ["\u202egnp.exe\u202c", "\u202dforced ltr\u202c", "\u2067isolate\u2069 \u202e", "\u200f\u202eabc"]
    texts = [f"{c} {b}" for c in cores for b in bidi]  # 40
    families = [*OBFUSCATIONS.values(), *FOREIGN_FAMILIES.values()]
    rng = random.Random(3)
    i = 0
    while len(texts) < 200:  # every family of the evasion suite, over the hostile markup
        core = cores[i % len(cores)]
        texts.append(families[i % len(families)](f"you stupid idiot {core}", rng))
        i += 1
    return texts


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "script", "body", "header", "nav", "a", "span", "form", "input",
    "button", "main", "p", "article", "bdi", "mark", "strong", "code", "table", "thead", "tbody", "tr", "th",
    "td", "div", "label", "select", "option", "section", "h1", "h2", "ol", "li", "kbd",
}  # fmt: skip


def test_two_hundred_hostile_messages_render_as_inert_text(rig: Rig) -> None:
    texts = _hostile_texts()
    assert len(texts) == 200
    lines = [flagged(t, channel="c-a", spans=((0, 7), (3, 12))) for t in texts]
    _enqueue(rig, *lines)
    alice, _ = _client(rig.app, "alice")
    pages = [alice.get(f"/items/{line.message.message_id}") for line in lines]
    pages.append(alice.get("/queue"))
    for page in pages:
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]
        parser = _Tags()
        parser.feed(page.text)
        assert {t for t, _ in parser.tags} <= ALLOWED_TAGS
        scripts = [a for t, a in parser.tags if t == "script"]
        assert scripts == [[("src", "/static/review.js"), ("defer", None)]]
        for _, attrs in parser.tags:
            assert not any(name.startswith("on") for name, _ in attrs)
            assert not any((value or "").lower().startswith("javascript:") for _, value in attrs)
    for line, page in zip(lines, pages, strict=False):
        # the whole text is there, escaped, inside one direction-isolated element
        body = re.search(r'<p class="text"><bdi dir="auto">(.*?)</bdi></p>', page.text, re.S)
        assert body is not None
        shown = html.unescape(re.sub(r"</?mark>", "", body[1]))
        assert shown == line.message.text


def test_a_decision_reaches_the_feedback_after_its_undo_window_and_can_be_undone_before(rig: Rig) -> None:
    first, second = flagged("you are a fool", channel="c-a"), flagged("you are a clown", channel="c-a")
    _enqueue(rig, first, second)
    alice, csrf = _client(rig.app, "alice")
    mid = first.message.message_id
    assert alice.get(f"/items/{mid}").status_code == 200
    answer = alice.post(
        f"/items/{mid}/decision", data={"label": "remove", "csrf": csrf}, follow_redirects=False
    )
    # submit & next: the next item opens, with the undo offered
    assert answer.headers["location"] == f"/items/{second.message.message_id}?undo={mid}"
    s3 = aws.client("s3", rig.endpoint)
    assert _feedback_pass(rig, rig.clock()) == (0, 1)  # inside the undo window: none written, one waits
    assert alice.post(f"/items/{mid}/undo", data={"csrf": csrf}).status_code == 200
    entry = rig.store.get(mid)
    assert entry is not None
    assert entry.status is ItemStatus.OPEN
    assert entry.claimed_by == "alice"
    alice.post(f"/items/{mid}/decision", data={"label": "allow", "csrf": csrf, "category": "toxicity"})
    rig.clock.at += timedelta(seconds=6)
    assert alice.post(f"/items/{mid}/undo", data={"csrf": csrf}).status_code == 409  # too late
    assert _feedback_pass(rig, rig.clock()) == (1, 0)
    assert _feedback_pass(rig, rig.clock()) == (0, 0)  # once
    decisions = read_feedback(s3, rig.bucket, FEEDBACK).decisions
    assert len(decisions) == 1
    (decision,) = decisions
    assert (decision.message_id, decision.label, decision.category) == (mid, "allow", "toxicity")
    assert (decision.decided_by, decision.decision_source) == ("alice", "queue")
    assert _statements(rig) == []  # an allow restricts nothing: no statement


def test_an_item_nobody_decides_in_time_expires_and_is_counted(rig: Rig) -> None:
    late = flagged("an old message", channel="c-fast")
    _enqueue(rig, late)
    rig.clock.at += timedelta(seconds=200)
    fresh = flagged("a new message", channel="c-fast")
    _enqueue(rig, fresh)
    root, _ = _client(rig.app, "root")
    page = root.get("/queue", params={"channel": "c-fast"})
    assert page.status_code == 200
    stats = rig.store.stats("c-fast")
    assert (stats.open, stats.expired) == (1, 1)
    entry = rig.store.get(late.message.message_id)
    assert entry is not None
    assert entry.status is ItemStatus.EXPIRED


def test_sign_in_is_rate_limited(rig: Rig) -> None:
    client = TestClient(rig.app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    codes = [
        client.post("/login", data={"username": "alice", "password": "wrong", "csrf": token[1]}).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    right = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf": token[1]})
    assert right.status_code == 429  # the right password too, until the window passes


def test_erasing_a_user_reaches_their_queued_messages(rig: Rig) -> None:
    s3 = aws.client("s3", rig.endpoint)
    gone = [flagged("from the leaver", channel="c-a", user="leaver") for _ in range(3)]
    kept = flagged("from someone else", channel="c-a", user="stayer")
    s3.put_object(
        Bucket=rig.bucket,
        Key="archive/dt=2026-12-05/hour=01/s-1-4.jsonl.gz",
        Body=archive_body([*gone, kept]),
    )
    _enqueue(rig, *gone, kept)
    report = erase_user(s3, rig.bucket, "archive/", FEEDBACK, "leaver", review=rig.store)
    assert report.review_items == 3
    assert all(rig.store.get(g.message.message_id) is None for g in gone)
    assert rig.store.get(kept.message.message_id) is not None
    assert rig.store.stats("c-a").open == 1


@pytest.fixture
def chrome() -> Iterator["WebDriver"]:
    """Headless Chromium from Debian's packages (`make install` puts them there), driven by Selenium."""
    from selenium import webdriver  # noqa: PLC0415 - only this test drives a browser
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.fail("chromium and chromium-driver are not installed (`make install` installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--disable-background-networking", "--no-first-run"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def test_a_moderator_works_the_queue_in_a_real_browser(rig: Rig, chrome: "WebDriver") -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    text = "honestly you are a complete idiot, everyone here knows it"
    at = text.index("idiot")
    worst = flagged(
        text, channel="c-a", user="user-04127", score=0.93, spans=((at, at + 5),), feature="idiot"
    )
    other = flagged(
        "buy followers now at my site",
        Action.REVIEW,
        channel="c-a",
        user="user-04127",
        category="spam",
        score=0.6,
    )
    _enqueue(rig, worst, other)
    rig.services.now = lambda: datetime.now(UTC)
    rig.services.undo = timedelta(0)
    s3 = aws.client("s3", rig.endpoint)
    rig.services.audit = AuditLog(s3, rig.bucket, AUDIT, "review-app")
    rig.services.trail = TrailReader(s3, rig.bucket, AUDIT)
    wait = WebDriverWait(chrome, 10)
    shots = Path(os.environ.get("REVIEW_SCREENSHOTS", "")) if os.environ.get("REVIEW_SCREENSHOTS") else None
    with _served(rig.app) as base:
        # WHEN a moderator signs in
        chrome.get(f"{base}/queue")  # not signed in: sent to the sign-in page
        wait.until(lambda d: d.current_url.endswith("/login"))
        chrome.find_element(By.NAME, "username").send_keys("alice")
        chrome.find_element(By.NAME, "password").send_keys(PASSWORD)
        chrome.find_element(By.CSS_SELECTOR, "form.login button").click()
        # THEN the queue shows both items, the most severe first, and the depth
        wait.until(lambda d: d.current_url.endswith("/queue"))
        assert chrome.find_element(By.ID, "depth").text == "2 waiting"
        rows = chrome.find_elements(By.CSS_SELECTOR, "#items li")
        assert len(rows) == 2
        assert "complete idiot" in rows[0].text
        if shots:
            chrome.save_screenshot(str(shots / "review-queue.png"))
        # WHEN the first is opened with the keyboard
        chrome.find_element(By.TAG_NAME, "body").send_keys("o")
        wait.until(lambda d: "/items/" in d.current_url)
        # THEN its reason is highlighted at its span, and its message is direction-isolated
        marks = chrome.find_elements(By.CSS_SELECTOR, "p.text bdi mark")
        assert [m.text for m in marks] == ["idiot"]
        # and its audit records: the claim opening it made, the chains verified
        kinds = chrome.find_elements(By.CSS_SELECTOR, "#audit tr.record td:nth-child(2)")
        assert [k.text for k in kinds] == ["claim"]
        assert chrome.find_element(By.ID, "trail-intact").is_displayed()
        if shots:
            chrome.save_screenshot(str(shots / "review-item.png"))
        # WHEN the moderator removes it with one key
        chrome.find_element(By.TAG_NAME, "body").send_keys("r")
        # THEN the next item opens, with the undo offered, and the decided one has left the queue
        wait.until(lambda d: str(other.message.message_id) in d.current_url)
        assert chrome.find_element(By.ID, "undo-form").is_displayed()
        assert chrome.execute_script("return document.querySelectorAll('script:not([src])').length") == 0
        # WHEN the moderator goes back with the previous key
        chrome.find_element(By.TAG_NAME, "body").send_keys("p")
        # THEN the decided item shows its decision, with nothing left to decide on it
        wait.until(lambda d: str(worst.message.message_id) in d.current_url)
        assert "Decided: remove (toxicity) by alice" in chrome.find_element(By.CLASS_NAME, "decided").text
        assert not chrome.find_elements(By.ID, "decide-remove")
        chrome.get(f"{base}/queue")
        assert chrome.find_element(By.ID, "depth").text == "1 waiting"
        assert "complete idiot" not in chrome.find_element(By.ID, "items").text
    entry = rig.store.get(worst.message.message_id)
    assert entry is not None
    assert (entry.status, entry.label, entry.decided_by, entry.decided_category) == (
        ItemStatus.DECIDED, "remove", "alice", "toxicity",
    )  # fmt: skip
    # AND the decision lands in the feedback the retraining reads
    s3 = aws.client("s3", rig.endpoint)
    assert _flush(rig, datetime.now(UTC) + timedelta(seconds=1)) == 1
    (decision,) = read_feedback(s3, rig.bucket, FEEDBACK).decisions
    assert (decision.message_id, decision.label, decision.decision_source) == (
        worst.message.message_id, "remove", "queue",
    )  # fmt: skip


def _flush(rig: Rig, now: datetime, audit: AuditLog | None = None) -> int:
    """The feedback pass's decisions written."""
    return _feedback_pass(rig, now, audit).written


def _feedback_pass(rig: Rig, now: datetime, audit: AuditLog | None = None) -> Flushed:
    s3 = aws.client("s3", rig.endpoint)
    outputs = Outputs(rig.bucket, FEEDBACK, STATEMENTS, "https://review.example", audit)
    return flush_feedback(rig.store, s3, outputs, rig.services.policies(), now)


def _appeal(rig: Rig, message_id: object, user: str, token: str = APPEAL_TOKEN) -> "httpx.Response":
    with TestClient(rig.app) as platform:
        answer: httpx.Response = platform.post(
            f"/appeals/{message_id}",
            json={"user_id": user, "reason": "it was a joke between friends"},
            headers={"Authorization": f"Bearer {token}"},
        )
    return answer


def _statements(rig: Rig) -> list[StatementOfReasons]:
    s3 = aws.client("s3", rig.endpoint)
    listed = s3.list_objects_v2(Bucket=rig.bucket, Prefix=STATEMENTS).get("Contents", [])
    bodies = [s3.get_object(Bucket=rig.bucket, Key=o["Key"])["Body"].read() for o in listed]
    lines = [line for b in bodies for line in b.decode().splitlines()]
    return [StatementOfReasons.model_validate_json(line) for line in lines if '"statement_id"' in line]


def _outcomes(rig: Rig) -> list[AppealOutcome]:
    s3 = aws.client("s3", rig.endpoint)
    listed = s3.list_objects_v2(Bucket=rig.bucket, Prefix=STATEMENTS).get("Contents", [])
    keys = [o["Key"] for o in listed if is_appeal_outcome_key(o["Key"])]
    bodies = [s3.get_object(Bucket=rig.bucket, Key=k)["Body"].read() for k in keys]
    return [AppealOutcome.model_validate_json(line) for b in bodies for line in b.decode().splitlines()]


def test_a_user_appeals_a_removal_by_the_model_once_and_a_moderator_restores_it(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.services.appeal_token = APPEAL_TOKEN
    rig.services.audit = AuditLog(aws.client("s3", rig.endpoint), rig.bucket, AUDIT, "review-app")
    hidden = flagged("you are a fool", Action.REMOVE, channel="c-a", user="u7")
    _enqueue(rig, hidden)
    mid = hidden.message.message_id
    assert _appeal(rig, mid, "u7", token="wrong").status_code == 401
    assert _appeal(rig, mid, "u8").status_code == 404  # not their message: as if there were none
    first = _appeal(rig, mid, "u7")
    assert first.status_code == 201
    assert first.json()["status"] == "appealed"
    again = _appeal(rig, mid, "u7")  # a retried request, a second click: the same appeal
    assert again.status_code == 200
    assert again.json()["appealed_at"] == first.json()["appealed_at"]
    # the receipt is on record once, before anyone decides it
    (receipt,) = read_trail(aws.client("s3", rig.endpoint), rig.bucket, AUDIT).records()
    assert (receipt.kind, receipt.message_id, receipt.refs["restricted_by"]) == (
        AuditKind.APPEAL,
        mid,
        f"model:{hidden.verdict.model_version}",
    )
    stats = rig.store.stats("c-a")
    assert (stats.appealed, stats.hidden) == (1, 0)
    alice, csrf = _client(rig.app, "alice")
    listed = alice.get("/api/queue", params={"view": "appealed"}).json()["entries"]
    assert [e["item"]["message_id"] for e in listed] == [str(mid)]
    page = alice.get(f"/items/{mid}")
    # opening it claimed it for alice, on record
    claims = [
        r
        for r in read_trail(aws.client("s3", rig.endpoint), rig.bucket, AUDIT).records()
        if r.kind is AuditKind.CLAIM
    ]
    assert [(r.actor, r.message_id, r.reason) for r in claims] == [("alice", mid, "appealed")]
    assert "the model alone" in page.text
    # and the statement of reasons the bot sent the user when it hid the message
    assert page.text.count("Statement of reasons sent to the user") == 1
    assert "AUTOMATED_DECISION_FULLY" in page.text
    assert "it was a joke between friends" in page.text
    assert alice.post(f"/items/{mid}/decision", data={"label": "allow", "csrf": csrf}).status_code == 200
    rig.clock.at += timedelta(seconds=6)
    s3 = aws.client("s3", rig.endpoint)
    # a pass whose audit trail does not answer writes nothing off: the next pass writes it all, once
    gone = AuditLog(s3, f"{rig.bucket}-gone", AUDIT, "review")
    with pytest.raises(AwsError):
        _flush(rig, rig.clock(), gone)
    assert _flush(rig, rig.clock()) == 1
    (decision,) = read_feedback(s3, rig.bucket, FEEDBACK).decisions
    assert (decision.label, decision.category, decision.decision_source) == ("allow", "toxicity", "appeal")
    (outcome,) = _outcomes(rig)
    assert (outcome.result, outcome.decided_by, outcome.user_id) == (AppealResult.RESTORED, "alice", "u7")
    assert outcome.original_by.startswith("model:")
    # the decided appeal as EMF metrics: by category (the alarm's), and by version and channel
    out = capsys.readouterr().out
    emitted = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    overturned = [e for e in emitted if "Overturned" in e]
    assert [(e["Overturned"], e["category"], e.get("model_version")) for e in overturned] == [
        ([1.0], "toxicity", None),
        ([1.0], "toxicity", hidden.verdict.model_version),
    ]
    assert all(e["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ChatModeration" for e in emitted)
    assert _appeal(rig, mid, "u7").json()["result"] == "restored"  # asked again: the outcome


def test_an_appeal_is_decided_by_a_moderator_other_than_the_one_who_removed_the_message(rig: Rig) -> None:
    rig.services.appeal_token = APPEAL_TOKEN
    queued = flagged("you absolute clown", channel="c-a", user="u9")
    _enqueue(rig, queued)
    mid = queued.message.message_id
    assert _appeal(rig, mid, "u9").status_code == 409  # waiting for a moderator: nothing to appeal yet
    alice, alice_csrf = _client(rig.app, "alice")
    alice.get(f"/items/{mid}")
    alice.post(f"/items/{mid}/decision", data={"label": "remove", "csrf": alice_csrf})
    assert _appeal(rig, mid, "u9").status_code == 409  # inside the undo window: not final yet
    rig.clock.at += timedelta(seconds=6)
    s3 = aws.client("s3", rig.endpoint)
    assert _flush(rig, rig.clock()) == 1
    # the moderator's removal is explained to its user: a person decided, on the model's flag
    (statement,) = _statements(rig)
    assert (statement.message_id, statement.restriction, statement.decided_by) == (mid, "remove", "alice")
    assert statement.automated_decision is AutomatedDecision.PARTIALLY
    assert statement.facts[0].startswith("score 0.700 for toxicity")
    assert f"https://review.example/appeals/{mid}" in statement.how_to_appeal
    assert statement.appeal_until == statement.applied_at + timedelta(days=183)
    assert _appeal(rig, mid, "u9").status_code == 201
    page = alice.get(f"/items/{mid}")
    assert "another moderator decides it" in page.text
    assert "decide-remove" not in page.text
    refused = alice.post(f"/items/{mid}/decision", data={"label": "allow", "csrf": alice_csrf})
    assert refused.status_code == 403
    with pytest.raises(ClaimLostError):
        rig.store.claim(mid, "alice", rig.clock(), timedelta(seconds=60))  # the table refuses it too
    carol, carol_csrf = _client(rig.app, "carol")
    assert "decide-remove" in carol.get(f"/items/{mid}").text
    assert (
        carol.post(f"/items/{mid}/decision", data={"label": "remove", "csrf": carol_csrf}).status_code == 200
    )
    # the item's page tells what happened to the message, in order
    page = carol.get(f"/items/{mid}").text
    section = page.split('id="story"')[1].split("</section>")[0]
    story = re.findall(r"<li>[0-9: -]+ · <bdi>(.*?)</bdi></li>", section)
    assert story == [
        f"the system (model {queued.verdict.model_version}) sent it to review",
        "alice removed it (toxicity)",
        "the user appealed",
        "carol confirmed the removal",
    ]
    rig.clock.at += timedelta(seconds=6)
    assert _flush(rig, rig.clock()) == 1
    (outcome,) = _outcomes(rig)
    assert (outcome.result, outcome.decided_by, outcome.original_by) == (
        AppealResult.CONFIRMED,
        "carol",
        "alice",
    )
    decisions = read_feedback(s3, rig.bucket, FEEDBACK).decisions
    assert sorted((d.decided_by, d.decision_source) for d in decisions) == [
        ("alice", "queue"),
        ("carol", "appeal"),
    ]
    assert _appeal(rig, mid, "u9").json() | {"appealed_at": None} == {
        "message_id": str(mid),
        "status": "decided",
        "appealed_at": None,
        "result": "confirmed",
    }


def test_an_appeal_after_the_channels_window_is_refused(rig: Rig) -> None:
    rig.services.appeal_token = APPEAL_TOKEN
    hidden = flagged("you are a fool", Action.REMOVE, channel="c-a", user="u7")
    _enqueue(rig, hidden)
    rig.clock.at += timedelta(days=184)
    assert _appeal(rig, hidden.message.message_id, "u7").status_code == 410
    rig.services.appeal_token = ""
    assert _appeal(rig, hidden.message.message_id, "u7", token="").status_code == 401  # appeals not taken


def test_simulated_users_appeal_wrong_removals_and_moderators_other_than_the_remover_decide_them(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The simulator's loop: statements → users' appeals (every wrong removal, none of the right ones
    here) → the moderators' API decisions, never by the remover → outcomes → the bot restores."""
    rig.services.appeal_token = APPEAL_TOKEN
    s3 = aws.client("s3", rig.endpoint)
    lines = [
        flagged(f"you are a fool number {i}", Action.REMOVE, channel="c-a", user=f"u{i}") for i in range(12)
    ]
    _enqueue(rig, *lines)
    wrong = {line.message.message_id for line in lines[::2]}  # the truth: half were no insult at all
    truth = tmp_path / "truth.jsonl"
    truth.write_text(
        "".join(
            GroundTruth(
                message_id=line.message.message_id,
                community="tweets",
                label="allow" if line.message.message_id in wrong else "remove",
                categories={"toxicity": int(line.message.message_id not in wrong)},
            ).model_dump_json()
            + "\n"
            for line in lines
        )
    )
    # two of the wrong removals were alice's decisions (on the model's flag), the rest the model's own
    by_alice = [lines[0].message.message_id, lines[2].message.message_id]
    for mid in by_alice:
        entry = rig.store.claim(mid, "alice", rig.clock(), timedelta(seconds=60))
        rig.store.decide(entry, "alice", "remove", "toxicity", rig.clock(), timedelta(0))
        rig.store.feedback_written(mid)
    statements = [
        statement_for(line.verdict, SorRestriction.HIDE, rig.clock(), timedelta(days=183), "http://app")
        for line in lines
    ]
    s3.put_object(Bucket=rig.bucket, Key=f"{STATEMENTS}dt=x/a.jsonl", Body=json_lines(statements))
    rig.services.audit = AuditLog(s3, rig.bucket, AUDIT, "review-app")  # the app's receipts and claims
    with _served(rig.app) as base:
        appellants = Appellants(s3, rig.bucket, STATEMENTS, base, APPEAL_TOKEN, 7, 0.0, 1.0)
        assert appellants.poll(TruthFile(truth).refresh()) == len(wrong)
        assert appellants.poll(TruthFile(truth).refresh()) == 0  # each statement read once
        credentials = {"alice": PASSWORD, "carol": PASSWORD}
        moderators = QueueModerators(
            base, credentials, ["c-a"], truth, 1.0, 7, tmp_path / "p.json", appeals=True
        )
        moderators.poll()
    assert moderators.counts["decision_200"] >= len(wrong)
    assert rig.store.stats("c-a").appealed == 0
    rig.clock.at = datetime.now(UTC) + timedelta(seconds=10)
    _flush(rig, rig.clock(), AuditLog(s3, rig.bucket, AUDIT, "review"))
    outcomes = _outcomes(rig)
    assert {o.message_id for o in outcomes} == wrong
    assert all(o.result is AppealResult.RESTORED for o in outcomes)
    assert all(o.decided_by != o.original_by for o in outcomes)
    assert {o.original_by for o in outcomes if o.message_id in by_alice} == {"alice"}

    def bot_with(audit: AuditLog) -> Bot:
        reader = OutcomeReader(s3, rig.bucket, STATEMENTS, tmp_path / "read.txt")
        args = (aws.client("kinesis", rig.endpoint), s3, "verdicts", rig.bucket, FEEDBACK, truth)
        return Bot(*args, tmp_path / "bot", 1.0, 0.0, 5, outcomes=reader, audit=audit)

    # a bot whose audit trail does not answer restores nothing and loses nothing: the outcomes stay unread
    with pytest.raises(AwsError):
        bot_with(AuditLog(s3, f"{rig.bucket}-gone", AUDIT, "bot")).apply_outcomes()
    bot = bot_with(AuditLog(s3, rig.bucket, AUDIT, "bot"))
    assert bot.apply_outcomes() == len(wrong)
    read_again: list[object] = []
    assert OutcomeReader(s3, rig.bucket, STATEMENTS, tmp_path / "read.txt").poll(read_again.extend) == 0
    assert read_again == []  # read once
    # every appealed message's chain in the audit trail: appealed, claimed and decided by another
    # moderator, restored
    trail = read_trail(s3, rig.bucket, AUDIT)
    assert verify_trail(trail) == []
    for mid in wrong:
        story = message_story(trail, [], mid)
        assert [s.kind for s in story] == ["appeal", "claim", "decision", "restore"], mid
        restricted_by = "alice" if mid in by_alice else "model:"
        assert story[0].detail.split("restricted_by=")[1].startswith(restricted_by)
        assert story[1].actor == story[2].actor
        assert story[2].actor != "alice" or mid not in by_alice
    # the period's transparency report, as an operator asks for it
    for var, value in {
        "MONITORING_AWS_ENDPOINT_URL": rig.endpoint,
        "MONITORING_ARCHIVE_BUCKET": rig.bucket,
        "MONITORING_STATEMENTS_PREFIX": STATEMENTS,
        "MONITORING_AUDIT_BUCKET": rig.bucket,
        "MONITORING_AUDIT_PREFIX": AUDIT,
    }.items():
        monkeypatch.setenv(var, value)
    capsys.readouterr()
    today = datetime.now(UTC).date()
    period = ["--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=2))]
    assert monitoring_main(["transparency", *period, "--out", str(tmp_path)]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["restrictions"] == len(lines)  # the bot's statements (its 12 hides)
    assert made["automated_decision_share"] == 1.0
    assert (made["appeals_received"], made["appeals_decided"], made["appeals_overturned"]) == (6, 6, 6)
    assert made["appeals_decided_by_restrictor"] == 0
    table = (tmp_path / f"transparency-{period[1]}-{period[3]}.csv").read_text()
    assert "appeals,overturned,6" in table


def test_an_appeal_is_inert_on_the_page_and_reaches_no_other_channel(rig: Rig) -> None:
    rig.services.appeal_token = APPEAL_TOKEN
    hidden = flagged("you are a fool", Action.REMOVE, channel="c-a", user="u7")
    _enqueue(rig, hidden)
    mid = hidden.message.message_id
    hostile = "<script>alert(1)</script>\u202egnp.exe <img src=x onerror=alert(2)>"
    with TestClient(rig.app) as platform:
        headers = {"Authorization": f"Bearer {APPEAL_TOKEN}"}
        too_long = platform.post(
            f"/appeals/{mid}", json={"user_id": "u7", "reason": "x" * 10_000}, headers=headers
        )
        assert too_long.status_code == 422
        look_alike = platform.post(f"/appeals/{mid}", json={"user_id": "u\uff17"}, headers=headers)  # "u７"
        assert look_alike.status_code == 404
        made = platform.post(f"/appeals/{mid}", json={"user_id": "u7", "reason": hostile}, headers=headers)
        assert made.status_code == 201
        assert hostile not in made.text  # the platform is told the appeal's state, not its words
    alice, _ = _client(rig.app, "alice")
    page = alice.get(f"/items/{mid}")
    assert "<script>" not in page.text
    assert "<img" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert '<p class="text">Their words: <bdi dir="auto">' in page.text  # isolated, the override inside it
    assert "script-src 'self'" in page.headers["content-security-policy"]
    bob, _ = _client(rig.app, "bob")  # a moderator of another channel
    assert bob.get(f"/items/{mid}").status_code == 403
    assert bob.get("/api/queue", params={"view": "appealed", "channel": "c-a"}).status_code == 403
    assert bob.get("/api/queue", params={"view": "appealed"}).json()["entries"] == []


def test_a_users_appeal_of_a_message_the_queue_has_not_listed_yet_is_filed_once_it_is(
    rig: Rig, tmp_path: Path
) -> None:
    # GIVEN a message the bot hid and explained before the review queue followed the archive to it
    rig.services.appeal_token = APPEAL_TOKEN
    s3 = aws.client("s3", rig.endpoint)
    line = flagged("you are a fool", Action.REMOVE, channel="c-a", user="u1")
    truth = tmp_path / "truth.jsonl"
    known = GroundTruth(
        message_id=line.message.message_id, community="tweets", label="allow", categories={"toxicity": 0}
    )
    truth.write_text(known.model_dump_json() + "\n")
    said = statement_for(line.verdict, SorRestriction.HIDE, rig.clock(), timedelta(days=183), "http://app")
    s3.put_object(Bucket=rig.bucket, Key=f"{STATEMENTS}dt=x/b.jsonl", Body=json_lines([said]))
    with _served(rig.app) as base:
        appellants = Appellants(s3, rig.bucket, STATEMENTS, base, APPEAL_TOKEN, 7, 0.0, 1.0)
        # WHEN its user appeals at once: the app knows no such message yet
        assert appellants.poll(TruthFile(truth).refresh()) == 0
        assert (appellants.counts["appeal_404"], appellants.pending) == (1, 1)
        # THEN the appeal is filed again once the queue lists the message, and then stands
        _enqueue(rig, line)
        assert appellants.poll(TruthFile(truth).refresh()) == 1
        assert appellants.pending == 0
        assert appellants.poll(TruthFile(truth).refresh()) == 0  # filed once
    assert rig.store.stats("c-a").appealed == 1


def test_the_statement_on_an_items_page_is_inert_whatever_the_policy_and_words_it_names(rig: Rig) -> None:
    # GIVEN a message hidden under a policy named with markup and a direction override, for a flagged
    # word that is markup itself
    hostile = "<script>alert(1)</script>\u202egnp.exe"
    line = flagged("you are a fool", Action.REMOVE, channel="c-a", feature="<img src=x onerror=alert(2)>")
    line = line.model_copy(update={"verdict": line.verdict.model_copy(update={"policy": hostile})})
    _enqueue(rig, line)
    alice, _ = _client(rig.app, "alice")
    # WHEN a moderator opens it
    page = alice.get(f"/items/{line.message.message_id}")
    # THEN the statement shows both, escaped, each inside its direction-isolated element
    assert page.status_code == 200
    assert "Statement of reasons sent to the user" in page.text
    assert "<script>" not in page.text
    assert "<img" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "flagged: &lt;img src=x onerror=alert(2)&gt;</bdi>" in page.text


def test_a_claim_without_its_csrf_token_is_refused_and_nothing_is_recorded(rig: Rig) -> None:
    rig.services.audit = AuditLog(aws.client("s3", rig.endpoint), rig.bucket, AUDIT, "review-app")
    line = flagged("you are a fool", channel="c-a")
    _enqueue(rig, line)
    mid = line.message.message_id
    alice, _ = _client(rig.app, "alice")
    assert alice.post(f"/api/items/{mid}/claim").status_code == 403
    entry = rig.store.get(mid)
    assert entry is not None
    assert entry.claimed_by is None
    assert read_trail(aws.client("s3", rig.endpoint), rig.bucket, AUDIT).records() == []


def _trail_rows(page: str) -> list[tuple[str, str]]:
    """The (what, who) of each row of an item page's audit trail."""
    rows = re.findall(r'<tr class="record"><td>[^<]*</td><td>([^<]*)</td><td><bdi>([^<]*)</bdi>', page)
    return [(what, html.unescape(who)) for what, who in rows]


def test_an_items_page_shows_its_messages_audit_records_and_says_when_a_chain_is_broken(rig: Rig) -> None:
    s3 = aws.client("s3", rig.endpoint)
    rig.services.audit = AuditLog(s3, rig.bucket, AUDIT, "review-app")
    rig.services.trail = TrailReader(s3, rig.bucket, AUDIT)
    hidden, other = flagged("you are a fool", Action.REMOVE, channel="c-a"), flagged("idiot", channel="c-a")
    _enqueue(rig, hidden, other)
    mid = hidden.message.message_id
    bot = AuditLog(s3, rig.bucket, AUDIT, "bot")
    at = rig.clock()

    def hide(line: ArchivedMessage) -> AuditEvent:
        return AuditEvent(kind=AuditKind.HIDE, actor="bot", at=at, message_id=line.message.message_id)

    bot.append([hide(hidden), hide(other)], at)
    worker = AuditLog(s3, rig.bucket, AUDIT, "review")  # a chain holding none of this message's records
    worker.append([hide(other)], at)
    alice, _ = _client(rig.app, "alice")
    page = alice.get(f"/items/{mid}").text
    # the bot's hide and the claim opening the page just recorded; not the other message's records
    assert _trail_rows(page) == [("hide", "bot"), ("claim", "alice")]
    assert 'id="trail-intact"' in page
    assert 'id="trail-broken"' not in page
    # a record deleted from the middle of any chain of the day (its segment gone) shows on the page, read
    # by the same reader as before (it checks what was added since)
    worker.append([hide(other)], at)
    worker.append([hide(other)], at)
    folder = f"{AUDIT}dt={at.date().isoformat()}/"
    s3.delete_object(Bucket=rig.bucket, Key=f"{folder}review/000000000001.jsonl")
    page = alice.get(f"/items/{mid}").text
    assert 'id="trail-broken"' in page
    assert f"review {at.date().isoformat()} seq 2: expected seq 1 (a record deleted or moved)" in page
    # an edited record: a fresh process reading the edited segment names it
    first = f"{folder}bot/000000000000.jsonl"
    body = s3.get_object(Bucket=rig.bucket, Key=first)["Body"].read()
    s3.put_object(Bucket=rig.bucket, Key=first, Body=body.replace(b'"actor":"bot"', b'"actor":"nobody"', 1))
    rig.services.trail = TrailReader(s3, rig.bucket, AUDIT)
    page = alice.get(f"/items/{mid}").text
    assert _trail_rows(page)[0] == ("hide", "nobody")
    assert f"bot {at.date().isoformat()} seq 0: its content does not match its hash (edited)" in page
    # a trail that cannot be read: the page still serves, and says so
    rig.services.trail = TrailReader(s3, f"{rig.bucket}-gone", AUDIT)
    page = alice.get(f"/items/{mid}")
    assert page.status_code == 200
    assert "The audit trail cannot be read just now." in page.text


def test_audit_records_on_an_items_page_are_inert_and_another_channels_page_reads_none(rig: Rig) -> None:
    s3 = aws.client("s3", rig.endpoint)
    rig.services.trail = TrailReader(s3, rig.bucket, AUDIT)
    line = flagged("you are a fool", Action.REMOVE, channel="c-a")
    _enqueue(rig, line)
    hostile = "<script>alert(1)</script>\u202edesrever " + "x" * 400
    AuditLog(s3, rig.bucket, AUDIT, "bot").append(
        [
            AuditEvent(
                kind=AuditKind.HIDE,
                actor="<img src=x onerror=alert(2)>",
                at=rig.clock(),
                message_id=line.message.message_id,
                reason=hostile,
                refs={"<b>": "\u2067x"},
            )
        ],
        rig.clock(),
    )
    alice, _ = _client(rig.app, "alice")
    page = alice.get(f"/items/{line.message.message_id}").text
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<bdi>&lt;img src=x onerror=alert(2)&gt;</bdi>" in page
    # bob moderates another channel: the item and its records are refused before any is read
    bob, _ = _client(rig.app, "bob")
    assert bob.get(f"/items/{line.message.message_id}").status_code == 403


def test_an_items_page_shows_its_authors_strikes_and_a_moderator_of_the_channel_clears_them_on_record(
    rig: Rig,
) -> None:
    s3, dynamodb = aws.client("s3", rig.endpoint), aws.client("dynamodb", rig.endpoint)
    table = f"strikes-{uuid.uuid4().hex[:8]}"
    ensure_strikes_table(dynamodb, table)
    strikes = StrikeStore(dynamodb, table)
    rig.services.strikes = strikes
    rig.services.audit = AuditLog(s3, rig.bucket, AUDIT, "review-app")
    line = flagged("you are a fool", Action.REMOVE, channel="c-a", user="troll")
    _enqueue(rig, line)
    mid = line.message.message_id
    now = rig.clock()
    for n, (weight, source) in enumerate([(0.5, StrikeSource.MODEL), (1.0, StrikeSource.MODERATOR)] * 2):
        strikes.add(
            Strike(
                key=f"msg#{n}",
                channel_id="c-a",
                user_id="troll",
                at=now - timedelta(minutes=n),
                weight=weight,
                source=source,
                category="toxicity",
            )
        )
    # a strike's category is shown inert: markup escaped, a direction override isolated
    hostile = Strike(
        key="msg#hostile",
        channel_id="c-a",
        user_id="troll",
        at=now - timedelta(days=400),  # long decayed: the totals below stay as they are
        weight=0.0,
        source=StrikeSource.OVERTURNED,
        category="<script>alert(1)</script>\u202egnp.exe",
    )
    strikes.add(hostile)
    # another channel's strikes of the same user are not this channel's
    strikes.add(
        Strike(
            key="msg#x", channel_id="c-b", user_id="troll", at=now, weight=5, source=StrikeSource.MODERATOR
        )
    )
    alice, csrf = _client(rig.app, "alice")
    page = alice.get(f"/items/{mid}").text
    assert "3.00 strikes now (after decay) · timeout rung (20 min)" in page
    assert page.count('<tr class="strike">') == 5
    assert "<script>alert(1)" not in page
    assert "<bdi>&lt;script&gt;alert(1)&lt;/script&gt;\u202egnp.exe</bdi>" in page
    # a moderator of another channel can neither read nor clear them; nobody clears without the token
    bob, bob_csrf = _client(rig.app, "bob")
    assert bob.post(f"/items/{mid}/strikes/clear", data={"csrf": bob_csrf}).status_code == 403
    assert alice.post(f"/items/{mid}/strikes/clear", data={"csrf": "forged"}).status_code == 403
    assert strikes.of_user("c-a", "troll")[1] is None
    # alice clears them: on record first, then in force (the user's other channel keeps its strikes)
    cleared = alice.post(f"/items/{mid}/strikes/clear", data={"csrf": csrf}, follow_redirects=False)
    assert cleared.status_code == 303
    page = alice.get(f"/items/{mid}").text
    assert "0.00 strikes now (after decay) · no rung · last cleared" in page
    assert 'id="clear-strikes"' not in page  # nothing left to clear
    trail = read_trail(s3, rig.bucket, AUDIT).records()
    [record] = [r for r in trail if r.kind is AuditKind.STRIKES_CLEARED]
    assert (record.actor, record.channel_id, record.message_id) == ("alice", "c-a", mid)
    assert record.refs == {"subject_sha256": hashlib.sha256(b"troll").hexdigest()[:32]}
    assert "troll" not in record.model_dump_json()
    assert strikes.of_user("c-b", "troll")[1] is None
    # a strikes table that cannot be read: the page still serves, and says so
    rig.services.strikes = StrikeStore(dynamodb, f"{table}-gone")
    page_now = alice.get(f"/items/{mid}")
    assert page_now.status_code == 200
    assert "The strikes cannot be read just now." in page_now.text
