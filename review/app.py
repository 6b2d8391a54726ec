"""The moderators' review app: sign in, work the queue of one's own channels, decide with the keyboard.

Server-rendered (FastAPI + Jinja2, autoescaped), no inline script: the page's keyboard shortcuts come
from one static file, and the Content-Security-Policy allows nothing else. Every state-changing request
carries the session's CSRF token (a form field, or `X-CSRF-Token` for the JSON API the simulated
moderators use: the same endpoints as the page). A moderator reaches only the channels of their account
(403 elsewhere). Opening an item claims it for a lease; a decision needs the running claim, so two
moderators never decide one item.

Users appeal a restriction of their message at `POST /appeals/<message id>` (the address their
statement of reasons gives): the platform files it for its signed-in user with the app's appeal token.
The item then waits as `appealed`, for a moderator other than the one who made the restriction.
"""

import heapq
import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from contracts.audit import AuditEvent, AuditKind, subject_refs
from contracts.policy import PolicyBook
from contracts.review import (
    DECIDABLE,
    AppealRequest,
    DecisionRequest,
    ItemStatus,
    QueueEntry,
    QueueStats,
    ReviewItem,
    decider_model,
)
from review.core import (
    AppealRefusal,
    appeal_event,
    appeal_refusal,
    appeal_result,
    bidi_controls,
    claim_event,
    decided_category,
    item_spans,
    may_decide_appeal,
    message_steps,
    opened,
    order_key,
    previous_in_trail,
    segments,
    statements_sent,
    trail_dates,
)
from review.store import AppealConflictError, ClaimLostError, ReviewStore
from review.users import Account, UserBook, authenticate
from runtime.audit import AuditLog, MessageTrail, TrailReader
from runtime.errors import AwsError
from runtime.logs import structured_logger
from strikes.core import Standing, standing
from strikes.store import StrikeStore

log = structured_logger("review")

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
VIEWS = (ItemStatus.OPEN, ItemStatus.APPEALED, ItemStatus.HIDDEN, ItemStatus.DECIDED, ItemStatus.EXPIRED)
SWEEP_EVERY = timedelta(seconds=10)  # a channel is swept of expired items at most this often


class LoginLimiter:
    """Failed sign-ins per name and per address within a sliding window; over the limit, refused.
    (A name can be locked out by anyone failing as it: the price of limiting per name; in AWS the
    identity provider's own lockout applies first.)"""

    MAX_KEYS = 10_000

    def __init__(self, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._attempts = attempts
        self._window = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= self._clock() - self._window:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self._attempts for k in keys)

    def failed(self, *keys: str) -> None:
        if len(self._failures) > self.MAX_KEYS:  # names made up by the thousand: forget the quiet ones
            for key in [k for k in self._failures if not self._recent(k)]:
                del self._failures[key]
        for key in keys:
            self._recent(key).append(self._clock())


class Services:
    """What the app's requests use: the store, the accounts, the channel policies, the clock."""

    def __init__(
        self,
        store: ReviewStore,
        users: Callable[[], UserBook],
        policies: Callable[[], PolicyBook],
        claim_lease: timedelta,
        undo: timedelta,
        page_size: int,
        limiter: LoginLimiter,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        appeal_token: str = "",
        audit: AuditLog | None = None,
        appeal_url: str = "",
        trail: TrailReader | None = None,
        strikes: StrikeStore | None = None,
    ) -> None:
        self.store = store
        self.users = users
        self.policies = policies
        self.claim_lease = claim_lease
        self.undo = undo
        self.page_size = page_size
        self.limiter = limiter
        self.now = now
        self.appeal_token = appeal_token  # empty: appeals are not taken
        self.audit = audit  # where claims and appeals' receipts are recorded (None: not kept)
        self.appeal_url = appeal_url  # the app's address as users reach it (statements name it)
        self.trail = trail  # where an item's page reads the message's audit records (None: not shown)
        self.strikes = strikes  # the authors' strikes, shown and cleared on items' pages (None: not shown)


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "missing or invalid CSRF token")


def _account(request: Request) -> Account:
    """The signed-in account (a dependency of every page but the sign-in): 303 to the sign-in page
    for a browser, 401 for an API client."""
    services: Services = request.app.state.services
    name = request.session.get("user")
    found = services.users().account(name) if isinstance(name, str) else None
    if found is None:
        if "text/html" in request.headers.get("accept", ""):
            raise HTTPException(303, headers={"Location": "/login"})
        raise HTTPException(401, "sign in first")
    return found


Signed = Annotated[Account, Depends(_account)]


def create_app(  # noqa: PLR0915 - the routes are closures over the app's services
    services: Services,
    session_secret: str,
    secure_cookies: bool = True,
    session_max_age_s: int = 8 * 3600,
) -> FastAPI:
    """The app over `services`; refuses to exist without a session secret."""
    if len(session_secret) < 32:
        raise ValueError("the review app needs a session secret of at least 32 characters")
    app = FastAPI(title="chat-moderation review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret,
        session_cookie="review_session",
        max_age=session_max_age_s,
        same_site="strict",
        https_only=secure_cookies,
    )
    templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True))

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        response: Response = templates.TemplateResponse(request, name, context, status_code=status)
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(AwsError)
    async def store_unavailable(request: Request, exc: AwsError) -> Response:
        """The table or the bucket did not answer (after botocore's retries): 503, try again."""
        log.warning({"event": "review_store_error", "operation": exc.operation, "code": exc.code})
        return JSONResponse(
            {"detail": "the review store is unavailable; try again"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    def entry_for(message_id: UUID, who: Account) -> QueueEntry:
        entry = services.store.get(message_id)
        if entry is None:
            raise HTTPException(404, "no such item")
        if not who.may_see(entry.item.channel_id):
            log.warning({"event": "review_forbidden", "user": who.username, "channel": entry.item.channel_id})
            raise HTTPException(403, "not a channel you moderate")
        return entry

    def claim(message_id: UUID, who: Account) -> QueueEntry:
        """Claim the item for the moderator (or renew their claim), on record in the audit trail: a
        record that fails to write answers 503 with the claim held, and the retry renews and records
        it. `ClaimLostError` when another moderator holds it, or it was decided."""
        now = services.now()
        entry = services.store.claim(message_id, who.username, now, services.claim_lease)
        if services.audit is not None:
            services.audit.append([claim_event(entry, now)], now)
        return entry

    def channels_of(who: Account) -> list[str]:
        if who.role == "admin":
            return sorted({*services.users().channels(), *services.policies().channels})
        return list(who.channels)

    swept: dict[str, datetime] = {}  # when each channel was last swept

    def audit_of(entry: QueueEntry) -> MessageTrail | str:
        """The message's records in the audit trail, or why the page shows none (the page still serves:
        a moderator decides without them)."""
        if services.trail is None:
            return "This app keeps no audit trail."
        try:
            return services.trail.message(entry.item.message_id, trail_dates(entry, services.now()))
        except AwsError as err:
            log.warning({"event": "audit_trail_unreadable", "operation": err.operation, "code": err.code})
            return "The audit trail cannot be read just now."

    def standing_of(item: ReviewItem) -> Standing | str:
        """The author's strikes in the channel as of now, or why the page shows none."""
        if services.strikes is None:
            return "This app keeps no strikes."
        try:
            strikes, cleared = services.strikes.of_user(item.channel_id, item.user_id)
        except AwsError as err:
            log.warning({"event": "strikes_unreadable", "operation": err.operation, "code": err.code})
            return "The strikes cannot be read just now."
        policy = services.policies().for_channel(item.channel_id)[1].strikes
        return standing(strikes, cleared, services.now(), policy)

    def sweep(channels: list[str]) -> None:
        """Expire what waited longer than its channel allows (page loads keep the queue honest, each
        channel swept at most every `SWEEP_EVERY`: a sweep queries the channel's open items)."""
        now = services.now()
        book = services.policies()
        for channel in channels:
            if channel in swept and now - swept[channel] < SWEEP_EVERY:
                continue
            swept[channel] = now
            _, policy = book.for_channel(channel)
            cutoff = now - timedelta(seconds=policy.review.expire_after_s)
            bucket = int(cutoff.timestamp()) // 60
            n = services.store.expire(channel, f"{bucket:012d}#", now)
            if n:
                log.info({"event": "review_expired", "channel": channel, "items": n})

    def queue_of(who: Account, view: str, channel: str) -> tuple[ItemStatus, list[str]]:
        """The view asked for (open unless a known one) and the channels it covers (one, when asked and
        allowed: 403 otherwise), swept of expired items."""
        status = ItemStatus(view) if view in {v.value for v in VIEWS} else ItemStatus.OPEN
        if channel and not who.may_see(channel):
            raise HTTPException(403, "not a channel you moderate")
        channels = [channel] if channel else channels_of(who)
        sweep(channels)
        return status, channels

    def listed(
        channels: list[str], status: ItemStatus, limit: int
    ) -> tuple[list[QueueEntry], list[QueueStats]]:
        """The channels' items in one state, merged in reading order (at most `limit`), and each
        channel's counts (its oldest open item read from its listing when that is the open one)."""
        lists = {c: services.store.listing(c, status, limit) for c in channels}
        is_open = status is ItemStatus.OPEN
        stats = [services.store.stats(c, lists[c] if is_open else None) for c in channels]
        return merged(lists.values(), limit), stats

    def merged(lists: Iterable[list[QueueEntry]], limit: int) -> list[QueueEntry]:
        return list(heapq.merge(*lists, key=lambda e: order_key(e.item)))[:limit]

    def next_open(who: Account, skip: UUID | None) -> QueueEntry | None:
        now = services.now()
        lists = [services.store.listing(c, ItemStatus.OPEN, services.page_size) for c in channels_of(who)]
        for entry in merged(lists, services.page_size):
            free = entry.claimed_by in (None, who.username) or (entry.claim_until or now) < now
            if entry.item.message_id != skip and free:
                return entry
        return None

    # --- signing in ---------------------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "chat-moderation review"}

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return render(request, "login.html", {"csrf": _csrf(request), "error": None})

    @app.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=1024)],
        csrf: Annotated[str, Form(max_length=128)] = "",
    ) -> Response:
        _check_csrf(request, csrf)
        address = request.client.host if request.client else "?"
        keys = (f"user:{username}", f"addr:{address}")
        if services.limiter.blocked(*keys):
            log.warning({"event": "review_login_throttled", "user": username})
            return HTMLResponse("Too many failed sign-ins; wait a few minutes.", status_code=429)
        who = authenticate(services.users(), username, password)
        if who is None:
            services.limiter.failed(*keys)
            log.info({"event": "review_login_failed", "user": username})
            context = {"csrf": _csrf(request), "error": "Wrong name or password."}
            return render(request, "login.html", context, 401)
        request.session.clear()
        request.session["user"] = who.username
        _csrf(request)  # a fresh token for the signed-in session
        log.info({"event": "review_login", "user": who.username})
        return RedirectResponse("/queue", status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
        _check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/api/session")
    def session(request: Request, who: Signed) -> dict[str, Any]:
        """For API clients: who is signed in, their channels and the CSRF token to send."""
        return {
            "username": who.username,
            "role": who.role,
            "channels": channels_of(who),
            "csrf": _csrf(request),
        }

    # --- the queue ----------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/queue", status_code=303)

    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(request: Request, who: Signed, view: str = "open", channel: str = "") -> Response:
        status, channels = queue_of(who, view, channel)
        entries, stats = listed(channels, status, services.page_size)
        context = {
            "who": who,
            "csrf": _csrf(request),
            "entries": entries,
            "stats": stats,
            "view": status.value,
            "views": [v.value for v in VIEWS],
            "channel": channel,
            "depth": sum(s.open for s in stats),
            "oldest": _age(
                min((s.oldest_enqueued_at for s in stats if s.oldest_enqueued_at), default=None),
                services.now(),
            ),
        }
        return render(request, "queue.html", context)

    @app.get("/api/queue")
    def queue_api(who: Signed, channel: str = "", view: str = "open", limit: int = 50) -> dict[str, Any]:
        status, channels = queue_of(who, view, channel)
        entries, stats = listed(channels, status, max(1, min(limit, 200)))
        return {
            "entries": [e.model_dump(mode="json") for e in entries],
            "stats": [s.model_dump(mode="json") for s in stats],
        }

    @app.get("/api/counts")
    def counts_api(who: Signed) -> dict[str, Any]:
        """Each of the caller's channels' counters, without a listing: what a client polling for work
        reads before listing the channels that have some."""
        return {"counts": [services.store.counts(c).model_dump(mode="json") for c in channels_of(who)]}

    @app.get("/next")
    def next_item(who: Signed, after: UUID | None = None) -> Response:
        entry = next_open(who, after)
        return RedirectResponse(f"/items/{entry.item.message_id}" if entry else "/queue", status_code=303)

    @app.get("/previous")
    def previous_item(request: Request, who: Signed, before: UUID | None = None) -> Response:
        """Back to the item this moderator opened before `before` (a decided one shows its decision,
        and its undo while the window lasts); the queue when there is none."""
        earlier = previous_in_trail(request.session.get("trail", []), before)
        return RedirectResponse(f"/items/{earlier}" if earlier else "/queue", status_code=303)

    # --- one item -----------------------------------------------------------------------------

    @app.get("/items/{message_id}", response_class=HTMLResponse)
    def item_page(request: Request, message_id: UUID, who: Signed, undo: UUID | None = None) -> Response:
        entry = entry_for(message_id, who)
        claim_error = None
        if entry.status in DECIDABLE:
            try:
                entry = claim(message_id, who)
            except ClaimLostError:
                entry = entry_for(message_id, who)
                claim_error = (
                    f"{entry.claimed_by or 'another moderator'} is deciding this message."
                    if may_decide_appeal(entry, who.username)
                    else "You made the decision this appeal contests: another moderator decides it."
                )
        item = entry.item
        request.session["trail"] = opened(request.session.get("trail", []), message_id)
        window = services.policies().appeal_window(item.channel_id)
        stats = services.store.stats(item.channel_id)
        history = [
            h
            for h in services.store.history(item.channel_id, item.user_id, 11)
            if h.item.message_id != message_id
        ][:10]
        context = {
            "who": who,
            "csrf": _csrf(request),
            "entry": entry,
            "item": item,
            "segments": segments(item.text, item_spans(item)),
            "story": message_steps(entry),
            "statements": statements_sent(entry, window, services.appeal_url),
            "audit": audit_of(entry),
            "standing": standing_of(item),
            "bidi": bidi_controls(item.text),
            "history": history,
            "claim_error": claim_error,
            "decidable": entry.status in DECIDABLE and claim_error is None,
            "categories": sorted({*item.scores, "removal"}),
            "default_category": item.category or "removal",
            "undo": undo,
            "stats": stats,
            "depth": stats.open,
            "oldest": _age(stats.oldest_enqueued_at, services.now()),
        }
        return render(request, "item.html", context)

    @app.post("/api/items/{message_id}/claim")
    def claim_api(request: Request, message_id: UUID, who: Signed) -> dict[str, Any]:
        _check_csrf(request, request.headers.get("x-csrf-token"))
        entry_for(message_id, who)
        try:
            entry = claim(message_id, who)
        except ClaimLostError:
            raise HTTPException(409, "claimed by another moderator, or already decided") from None
        return entry.model_dump(mode="json")

    @app.post("/items/{message_id}/decision")
    async def decide(request: Request, message_id: UUID, who: Signed) -> Response:
        """One request per decision: a form from the page (then the next item), or JSON from the API.
        The body is read here; the store's calls run on the thread pool, as the sync routes' do (on the
        event loop they would hold every other moderator's request while they wait on the table)."""
        is_json = request.headers.get("content-type", "").startswith("application/json")
        if is_json:
            _check_csrf(request, request.headers.get("x-csrf-token"))
            try:
                raw: Any = await request.json()
            except ValueError:  # not JSON (json.JSONDecodeError and UnicodeDecodeError are ValueErrors)
                raise HTTPException(400, "the body is not JSON") from None
        else:
            form = await request.form()
            _check_csrf(request, str(form.get("csrf", "")))
            raw = {k: str(v) for k, v in form.items() if k in {"label", "category"}}
        try:
            wanted = DecisionRequest.model_validate(raw)
        except ValidationError:
            raise HTTPException(422, "label must be allow or remove") from None
        return await run_in_threadpool(decided, message_id, who, wanted, is_json)

    def decided(message_id: UUID, who: Account, wanted: DecisionRequest, is_json: bool) -> Response:
        entry = entry_for(message_id, who)
        if not may_decide_appeal(entry, who.username):
            raise HTTPException(403, "you made the decision this appeal contests")
        category = decided_category(entry.item, wanted.category or entry.original_category or "")
        if category is None:
            raise HTTPException(422, "the message was not scored for that category")
        try:
            services.store.decide(entry, who.username, wanted.label, category, services.now(), services.undo)
        except ClaimLostError:
            raise HTTPException(409, "claim it first (or another moderator decided it)") from None
        log.info(
            {
                "event": "review_decided",
                "user": who.username,
                "channel": entry.item.channel_id,
                "category": category,
                "label": wanted.label,
            }
        )
        if is_json:
            return JSONResponse({"status": "decided", "category": category, "label": wanted.label})
        following = next_open(who, message_id)
        target = f"/items/{following.item.message_id}" if following else "/queue"
        return RedirectResponse(f"{target}?undo={message_id}", status_code=303)

    @app.post("/items/{message_id}/strikes/clear")
    async def clear_strikes(request: Request, message_id: UUID, who: Signed) -> Response:
        """Clear the author's strikes in the message's channel: a human decision, on record in the
        audit trail before it takes effect (the user by a hash of their id)."""
        form = await request.form()
        _check_csrf(request, str(form.get("csrf", "")) or request.headers.get("x-csrf-token"))
        return await run_in_threadpool(strikes_cleared, message_id, who)

    def strikes_cleared(message_id: UUID, who: Account) -> Response:
        item = entry_for(message_id, who).item
        if services.strikes is None:
            raise HTTPException(404, "this app keeps no strikes")
        now = services.now()
        if services.audit is not None:
            services.audit.append(
                [
                    AuditEvent(
                        kind=AuditKind.STRIKES_CLEARED,
                        actor=who.username,
                        at=now,
                        message_id=message_id,
                        channel_id=item.channel_id,
                        reason="strikes cleared",
                        refs=subject_refs(item.user_id),
                    )
                ],
                now,
            )
        services.strikes.clear(item.channel_id, item.user_id, who.username, now)
        log.info({"event": "review_strikes_cleared", "user": who.username, "channel": item.channel_id})
        return RedirectResponse(f"/items/{message_id}#strikes", status_code=303)

    @app.post("/items/{message_id}/undo")
    async def undo(request: Request, message_id: UUID, who: Signed) -> Response:
        form = await request.form()
        _check_csrf(request, str(form.get("csrf", "")) or request.headers.get("x-csrf-token"))
        return await run_in_threadpool(undone, message_id, who)

    def undone(message_id: UUID, who: Account) -> Response:
        entry = entry_for(message_id, who)
        try:
            services.store.undo(entry, who.username, services.now(), services.claim_lease)
        except ClaimLostError:
            raise HTTPException(409, "too late to undo (or not your decision)") from None
        log.info({"event": "review_undone", "user": who.username, "channel": entry.item.channel_id})
        return RedirectResponse(f"/items/{message_id}", status_code=303)

    # --- appeals -------------------------------------------------------------------------------

    @app.post("/appeals/{message_id}")
    async def appeal(request: Request, message_id: UUID) -> Response:
        """A user's appeal of the restriction of their message, filed by the platform with the appeal
        token: 201 when recorded, 200 with the standing appeal when made before (idempotent), 404 when
        the message is not the user's restriction to appeal, 409 when it is under none, 410 after the
        channel's appeal window."""
        sent = request.headers.get("authorization", "").encode()
        token = services.appeal_token
        if not token or not hmac.compare_digest(sent, f"Bearer {token}".encode()):
            raise HTTPException(401, "the platform's appeal token is required")
        try:
            wanted = AppealRequest.model_validate(await request.json())
        except ValueError:  # not JSON, or not an appeal (ValidationError is a ValueError)
            raise HTTPException(422, "an appeal names the user_id and may give a reason") from None
        return await run_in_threadpool(appealed, message_id, wanted)

    def appealed(message_id: UUID, wanted: AppealRequest) -> Response:
        entry = services.store.get(message_id)
        if entry is None:
            raise HTTPException(404, "no restricted message of this user")
        window = services.policies().appeal_window(entry.item.channel_id)
        refusal, restriction = appeal_refusal(entry, wanted.user_id, services.now(), window)
        if refusal is AppealRefusal.NOT_YOURS:
            raise HTTPException(404, "no restricted message of this user")
        if refusal is AppealRefusal.ALREADY:
            return JSONResponse(_appeal_view(entry), status_code=200)
        if refusal is AppealRefusal.NOT_RESTRICTED:
            raise HTTPException(409, "the message is under no restriction")
        if refusal is AppealRefusal.TOO_LATE or restriction is None:
            raise HTTPException(410, "the appeal window has passed")
        try:
            made, fresh = services.store.appeal(entry, restriction, wanted.reason, services.now())
        except AppealConflictError:
            raise HTTPException(
                409, "the decision is not final yet (inside its undo window); try again shortly"
            ) from None
        if fresh and services.audit is not None:
            # the receipt on record (the decision's pass records it again: readers count it once);
            # a failed write answers 503 and the platform's retry finds the appeal standing
            services.audit.append([appeal_event(made)], made.appealed_at)
        log.info(
            {
                "event": "review_appealed" if fresh else "review_appeal_repeated",
                "channel": entry.item.channel_id,
                "by_model": decider_model(restriction.by) is not None,
            }
        )
        return JSONResponse(_appeal_view(made), status_code=201 if fresh else 200)

    return app


def _appeal_view(entry: QueueEntry) -> dict[str, Any]:
    """What the platform is told of an appeal: its state, never the message or another user's data."""
    return {
        "message_id": str(entry.item.message_id),
        "status": entry.status.value,
        "appealed_at": entry.appealed_at.isoformat() if entry.appealed_at else None,
        "result": appeal_result(entry.label) if entry.status is ItemStatus.DECIDED and entry.label else None,
    }


def _age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "—"
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
