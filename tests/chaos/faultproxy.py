"""A small fault-injecting TCP proxy for chaos tests (Toxiproxy's job, without Toxiproxy).

It sits between a client (the consumer, the bot) and an upstream endpoint (the emulator) and can be
switched at run time, from any thread, between:

- healthy: bytes are forwarded as they come;
- latency: every chunk, in both directions, is held back `seconds` before it is forwarded;
- resets: a share of requests (a request = the first client chunk after the last response bytes;
  optionally only those holding given bytes, e.g. one bucket's path) reset the connection (TCP RST):
  before the request is forwarded, or, `mid_stream`, after the request reached the upstream and
  part of its response went back (the upstream did the work, the client never hears of it: the
  case that makes at-least-once delivery repeat itself; an interim `100 Continue` is let through,
  so the request body arrives first);
- outage: every live connection is reset and new ones are refused (the listener closes, so a
  connect fails with ECONNREFUSED), or, in "blackhole" mode, live and new connections go silent
  (bytes swallowed, nothing answered) until the outage ends, when they are reset; an outage given
  in seconds heals by itself.

One thread accepts; one thread per connection pumps both directions with `select`, so a fault is
applied by the thread owning the sockets (no cross-thread closes). Faults switch for live
connections too (keep-alive pools would otherwise never see them).
"""

import contextlib
import random
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Literal, Self
from urllib.parse import urlsplit

OutageMode = Literal["refuse", "blackhole"]
_TICK = 0.02  # how often idle loops look at the fault settings
_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class Faults:
    """The faults in force (all off = healthy)."""

    latency_s: float = 0.0
    reset_share: float = 0.0
    mid_stream: bool = True
    match: bytes | None = None  # resets only requests whose first chunk holds these bytes
    outage: OutageMode | None = None
    outage_until: float | None = None  # monotonic time the outage heals by itself; None = until told


@dataclass
class ProxyStats:
    """What the proxy did (a snapshot is returned by `FaultProxy.stats`)."""

    connections: int = 0
    delayed_chunks: int = 0
    resets_before_request: int = 0
    resets_mid_stream: int = 0
    outages: int = 0
    outage_resets: int = 0  # live or blackholed connections reset because of an outage
    refusing_s: float = 0.0  # time the listener was closed

    @property
    def faults_injected(self) -> int:
        """Connections broken on purpose, plus the outages themselves."""
        return self.resets_before_request + self.resets_mid_stream + self.outage_resets + self.outages

    def summary(self) -> str:
        return (
            f"conns={self.connections} delayed_chunks={self.delayed_chunks} "
            f"resets={self.resets_before_request}+{self.resets_mid_stream}(mid-stream) "
            f"outages={self.outages} outage_resets={self.outage_resets} refusing_s={self.refusing_s:.1f}"
        )


def _abort(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _interim(response: bytes) -> bool:
    """An HTTP 1xx answer (`100 Continue` before a request body): the request is not done yet."""
    return response.startswith(b"HTTP/1.1 1")


@dataclass
class _Pending:
    """Chunks read from one side, each with the time it may be written to the other."""

    chunks: deque[tuple[float, bytes]] = field(default_factory=deque)

    def due(self, now: float) -> bytes | None:
        if self.chunks and self.chunks[0][0] <= now:
            return self.chunks.popleft()[1]
        return None

    def next_due(self) -> float | None:
        return self.chunks[0][0] if self.chunks else None


class FaultProxy:
    """Forwards `127.0.0.1:<port>` to `upstream`, with faults switched at run time."""

    def __init__(
        self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1", port: int = 0, seed: int = 0
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._host = host
        self._port = port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults = Faults()
        self._stats = ProxyStats()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None

    @classmethod
    def for_url(cls, endpoint_url: str, seed: int = 0) -> "FaultProxy":
        """A proxy in front of an http(s) endpoint URL."""
        parts = urlsplit(endpoint_url)
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.hostname or "127.0.0.1", parts.port or default, seed=seed)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self._listener = self._listen()
        self._port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(5)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The proxy's endpoint URL, to give a client instead of the upstream's."""
        return f"http://{self._host}:{self._port}"

    # --- switching faults --------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._current()

    @property
    def stats(self) -> ProxyStats:
        with self._lock:
            return replace(self._stats)

    def healthy(self) -> None:
        """All faults off (an outage ends now)."""
        self._set(Faults())

    def latency(self, seconds: float) -> None:
        """Hold every chunk back `seconds` (each direction), replacing other faults."""
        self._set(Faults(latency_s=seconds))

    def resets(self, share: float, mid_stream: bool = True, match: bytes | None = None) -> None:
        """Reset a `share` of requests (0..1), replacing other faults.

        `match` limits it to requests whose first chunk (an HTTP request line and headers) holds
        those bytes, e.g. `b" /my-bucket/"` for one S3 bucket (path-style): that bucket alone is cut.
        """
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share {share} is not in 0..1")
        self._set(Faults(reset_share=share, mid_stream=mid_stream, match=match))

    def outage(self, seconds: float | None = None, mode: OutageMode = "refuse") -> None:
        """Cut everything, for `seconds` (then healthy again by itself) or until `healthy()`."""
        until = None if seconds is None else time.monotonic() + seconds
        self._set(Faults(outage=mode, outage_until=until))
        with self._lock:
            self._stats.outages += 1

    def wait_until_healthy(self, timeout: float = 60.0) -> bool:
        """Block until no outage is in force (e.g. one given in seconds has healed) and it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.faults.outage is None and self._listener is not None:
                return True
            time.sleep(_TICK)
        return False

    def _set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    def _current(self) -> Faults:
        """The faults in force (lock held); an outage past its end heals here."""
        f = self._faults
        if f.outage_until is not None and time.monotonic() >= f.outage_until:
            self._faults = f = Faults()
        return f

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def _count(self, name: str, n: float = 1) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + n)

    # --- accepting ---------------------------------------------------------------------------

    def _listen(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.listen(128)
        return sock

    def _accept_loop(self) -> None:
        refusing_since: float | None = None
        while not self._stopping.is_set():
            faults = self.faults
            if faults.outage == "refuse":
                if self._listener is not None:  # closed: connects are refused by the kernel
                    self._listener.close()
                    self._listener = None
                    refusing_since = time.monotonic()
                time.sleep(_TICK)
                continue
            if self._listener is None:
                try:
                    self._listener = self._listen()  # the same port again
                except OSError:
                    time.sleep(_TICK)
                    continue
                if refusing_since is not None:
                    self._count("refusing_s", time.monotonic() - refusing_since)
                    refusing_since = None
            ready, _, _ = select.select([self._listener], [], [], _TICK)
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            self._count("connections")
            thread = threading.Thread(target=self._link, args=(client,), name="faultproxy-link", daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    # --- one connection ----------------------------------------------------------------------

    def _link(self, client: socket.socket) -> None:
        """Pump both directions of one connection until either side closes or a fault breaks it."""
        upstream: socket.socket | None = None
        try:
            if self.faults.outage is None:
                try:
                    upstream = socket.create_connection(self._upstream, timeout=3)
                    upstream.settimeout(None)  # connect within 3 s; then as blocking as the client
                except OSError:
                    _abort(client)
                    return
            _Link(self, client, upstream).run()
        except OSError:
            pass  # a side went away mid-write: the connection is over either way
        finally:
            for sock in (client, upstream):
                if sock is not None and sock.fileno() != -1:
                    sock.close()


class _Link:
    """One proxied connection, pumped by its own thread."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket | None) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.to_upstream = _Pending()
        self.to_client = _Pending()
        self.expect_request = True  # the next client chunk starts a request
        self.cut_response = False  # reset after forwarding part of the next response chunk
        self.eof = False
        self.blackholed = upstream is None  # accepted during an outage

    def abort(self, counter: str) -> None:
        self.proxy._count(counter)
        for sock in (self.client, self.upstream):
            if sock is not None:
                _abort(sock)

    def run(self) -> None:
        while not self.proxy._stopping.is_set():
            faults = self.proxy.faults
            if faults.outage is not None or self.blackholed or self.upstream is None:
                if not self._outage(faults):
                    return
                continue
            if not self._flush(self.upstream) or (self.eof and self._drained()):
                return
            if not self._read(self.upstream, faults):
                return

    def _drained(self) -> bool:
        return not self.to_upstream.chunks and not self.to_client.chunks

    def _outage(self, faults: Faults) -> bool:
        """Refused: break the connection now. Blackholed: swallow until healed, then break it."""
        if faults.outage != "blackhole":  # refused, or a blackhole has healed
            self.abort("outage_resets")
            return False
        self.blackholed = True
        live = [s for s in (self.client, self.upstream) if s is not None]
        ready, _, _ = select.select(live, [], [], _TICK)
        return all(sock.recv(_CHUNK) for sock in ready)

    def _flush(self, upstream: socket.socket) -> bool:
        """Write what is due; False once the connection was cut mid-response."""
        now = time.monotonic()
        while (data := self.to_upstream.due(now)) is not None:
            upstream.sendall(data)
        while (data := self.to_client.due(now)) is not None:
            if self.cut_response and not _interim(data):  # part of the answer, then a reset
                self.client.sendall(data[: max(1, int(len(data) * self.proxy._draw()))])
                self.abort("resets_mid_stream")
                return False
            self.client.sendall(data)
        return True

    def _read(self, upstream: socket.socket, faults: Faults) -> bool:
        """Wait for data (or the next due chunk) and queue it; False once the connection is over."""
        now = time.monotonic()
        waits = [t for t in (self.to_upstream.next_due(), self.to_client.next_due()) if t is not None]
        timeout = max(0.0, min([*waits, now + _TICK]) - now)
        if self.eof:
            time.sleep(timeout)
            return True
        ready, _, _ = select.select([self.client, upstream], [], [], timeout)
        for sock in ready:
            try:
                data = sock.recv(_CHUNK)
            except OSError:
                data = b""
            if not data:
                self.eof = True  # flush what is queued, then close both
                continue
            due = time.monotonic() + faults.latency_s
            if faults.latency_s > 0:
                self.proxy._count("delayed_chunks")
            if sock is self.client:
                if self.expect_request and self._doomed(faults, data):
                    if not faults.mid_stream:
                        self.abort("resets_before_request")
                        return False
                    self.cut_response = True
                self.expect_request = False
                self.to_upstream.chunks.append((due, data))
            else:
                self.expect_request = self.expect_request or not _interim(data)
                self.to_client.chunks.append((due, data))
        return True

    def _doomed(self, faults: Faults, request: bytes) -> bool:
        return (
            faults.reset_share > 0
            and (faults.match is None or faults.match in request)
            and self.proxy._draw() < faults.reset_share
        )
