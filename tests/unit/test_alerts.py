"""Alert payloads, and a webhook that fails never breaks the caller."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitoring.alerts import AlertKind, Notifier, payload


@contextmanager
def _webhook(*statuses: int) -> Iterator[tuple[str, list[int]]]:
    """A local webhook answering each post with the next status (the last one repeated); its URL and
    the statuses it gave."""
    answered: list[int] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status = statuses[min(len(answered), len(statuses) - 1)]
            answered.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", answered
    finally:
        server.shutdown()
        server.server_close()


def test_payload_is_slack_compatible() -> None:
    body = payload(AlertKind.CHAMPION_PROMOTED, "version 4", {"rscience_roc_auc": 0.80123, "window": 500})
    assert body["text"] == ":trophy: chat-moderation — version 4"
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    assert len(blocks) == 2
    assert blocks[1]["text"]["text"] == "*rscience_roc_auc*: 0.8012\n*window*: 500"
    assert body["kind"] == "champion_promoted"


def test_without_a_url_alerts_are_only_logged() -> None:
    assert Notifier(None).send(AlertKind.DRIFT_DETECTED, "drift") is True


def test_an_unreachable_webhook_is_retried_then_given_up_on_without_raising() -> None:
    # GIVEN a port nobody listens on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    notifier = Notifier(f"http://127.0.0.1:{port}/hook", timeout_s=0.5, attempts=3, sleep=waits.append)
    # WHEN an alert is sent THEN it reports failure after backing off twice, and raises nothing
    assert notifier.send(AlertKind.DLQ_RATE_HIGH, "dead letters", rate=0.2) is False
    assert waits == [0.5, 1.0]


@pytest.mark.parametrize(
    ("statuses", "delivered", "waits"),
    [
        ((503, 429, 200), True, [0.5, 1.0]),  # failing, then throttled, then up: retried until delivered
        ((500,), False, [0.5, 1.0]),  # failing throughout: given up on after its attempts
        ((404,), False, []),  # the webhook refuses the alert itself: the same post would fail again
        ((400, 200), False, []),
    ],
)
def test_a_failing_webhook_is_retried_and_one_that_refuses_the_alert_is_not(
    statuses: tuple[int, ...], delivered: bool, waits: list[float]
) -> None:
    slept: list[float] = []
    with _webhook(*statuses) as (url, answered):
        notifier = Notifier(url, timeout_s=2.0, attempts=3, sleep=slept.append)
        assert notifier.send(AlertKind.DRIFT_DETECTED, "drift") is delivered
    assert slept == waits
    assert len(answered) == len(waits) + 1


def test_a_hostile_value_cannot_ping_a_channel_or_make_slack_refuse_the_alert() -> None:
    # GIVEN a title and a field carrying Slack's control syntax, and a 10,000-character name
    body = payload(
        AlertKind.LABELS_HELD_OUT, "<!channel> m3 held out", {"labeller": "<@U1|x>" + "x" * 10_000}
    )
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    # THEN the control characters are escaped and every section fits Slack's limit
    assert blocks[0]["text"]["text"] == ":shield: chat-moderation — &lt;!channel&gt; m3 held out"
    assert blocks[1]["text"]["text"].startswith("*labeller*: &lt;@U1|x&gt;xxx")
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)


def test_a_name_cannot_forge_a_line_emphasis_or_a_link() -> None:
    # GIVEN a labeller's name with a line break, Slack markup and links, in a field and in the title
    name = "m3\n*:trophy: champion promoted* _ok_ ~x~ `y` https://evil.example/login www.evil.example"
    body = payload(AlertKind.LABELS_HELD_OUT, f"{name} held out", {"labeller": name})
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    title, fields = blocks[0]["text"]["text"], blocks[1]["text"]["text"]
    # THEN each is one line (ours: "*labeller*: …"), with no markup but our own and no link Slack would make
    for text in (title, fields.removeprefix("*labeller*: ")):
        assert "\n" not in text
        assert not any(c in text for c in "*_~`")
        assert "://" not in text
        assert "evil.example" not in text
    assert "https[:]//evil[.]example/login" in fields
    assert fields.startswith("*labeller*: m3 ")


def test_a_name_cannot_reorder_what_a_reader_sees() -> None:
    body = payload(AlertKind.LABELS_HELD_OUT, "held out", {"labeller": "m3 \u202eevil\u202c \u2067x\u2069"})
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    text = blocks[1]["text"]["text"]
    assert not any(c in text for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
