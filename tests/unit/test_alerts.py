"""Alert payloads, and a webhook that fails never breaks the caller."""

import socket

from monitoring.alerts import AlertKind, Notifier, payload


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
