"""The fault proxy itself, against a tiny local echo server (no services needed)."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.chaos.faultproxy import FaultProxy


class EchoServer:
    """Echoes every chunk back, and remembers what it received (to tell 'reached' from 'lost')."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.received = bytearray()
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    self.received += data
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    echo = EchoServer()
    with FaultProxy("127.0.0.1", echo.port, seed=1) as p:
        p.echo = echo  # type: ignore[attr-defined]
        yield p
    echo.close()


def roundtrip(proxy: FaultProxy, payload: bytes = b"ping", timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return got


def roundtrip_on(sock: socket.socket, payload: bytes = b"b") -> bytes:
    sock.sendall(payload)
    return sock.recv(10)


def test_healthy_and_delayed_traffic_arrives_intact(proxy: FaultProxy) -> None:
    assert roundtrip(proxy, b"hello") == b"hello"
    proxy.latency(0.05)
    assert roundtrip(proxy, b"slow but whole") == b"slow but whole"
    assert proxy.stats.delayed_chunks >= 2  # the request and the echo
    proxy.healthy()
    assert roundtrip(proxy) == b"ping"


def test_resets_break_a_request_before_or_after_it_reached_the_server(proxy: FaultProxy) -> None:
    echo: EchoServer = proxy.echo  # type: ignore[attr-defined]
    # before: the server never sees the request
    proxy.resets(1.0, mid_stream=False)
    with pytest.raises((ConnectionResetError, BrokenPipeError, AssertionError)):
        assert roundtrip(proxy, b"lost") == b"lost"
    assert b"lost" not in echo.received
    # mid-stream: the server did the work, the client hears at most part of the answer
    proxy.resets(1.0, mid_stream=True)
    try:
        got = roundtrip(proxy, b"done-but-unheard")
    except ConnectionResetError:
        got = b""
    assert got != b"done-but-unheard"
    assert b"done-but-unheard" in echo.received
    assert proxy.stats.resets_before_request == 1
    assert proxy.stats.resets_mid_stream == 1
    # only the requests that hold given bytes (one bucket's path, say)
    proxy.resets(1.0, mid_stream=False, match=b"/models/")
    assert roundtrip(proxy, b"GET /archive/x") == b"GET /archive/x"
    with pytest.raises((ConnectionResetError, BrokenPipeError, AssertionError)):
        assert roundtrip(proxy, b"GET /models/x") == b"GET /models/x"
    proxy.healthy()
    assert roundtrip(proxy) == b"ping"


def test_an_outage_refuses_new_connections_and_resets_live_ones_then_heals(proxy: FaultProxy) -> None:
    live = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    live.sendall(b"a")
    assert live.recv(10) == b"a"
    proxy.outage(1.0)
    with pytest.raises((ConnectionResetError, BrokenPipeError, AssertionError)):
        assert roundtrip_on(live) == b"b"
    live.close()
    refused = False
    while proxy.faults.outage is not None:  # until it heals by itself
        try:
            socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
        except ConnectionRefusedError:
            refused = True
        except (ConnectionResetError, TimeoutError):
            pass  # queued just before the listener closed
        time.sleep(0.05)
    assert refused
    assert proxy.wait_until_healthy()
    assert roundtrip(proxy) == b"ping"
    assert proxy.stats.outages == 1
    assert proxy.stats.outage_resets >= 1


def test_a_blackhole_outage_answers_nothing_and_resets_at_the_end(proxy: FaultProxy) -> None:
    proxy.outage(mode="blackhole")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.3) as s:
        s.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            s.recv(10)
        proxy.healthy()
        s.settimeout(5)
        with pytest.raises(ConnectionResetError):
            s.recv(10)
    assert b"anyone?" not in proxy.echo.received  # type: ignore[attr-defined]
    assert roundtrip(proxy) == b"ping"
