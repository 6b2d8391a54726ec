"""Slack-compatible incoming-webhook alerts. No URL configured: the alert is only logged. A failing
webhook is retried a few times with a timeout and then given up on: an alert never breaks a flow.

The URL is a secret (whoever has it can post to the channel): it comes from the settings
(`MONITORING_WEBHOOK_URL`) or, at run time, from AWS Secrets Manager (`MONITORING_WEBHOOK_SECRET_ID`,
see `webhook_url_from_secret`), and is never logged.
"""

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from runtime.errors import AwsError, RequestError, TransientError, aws_errors
from runtime.logs import structured_logger
from runtime.retry import resend

log = structured_logger("monitoring", to_stderr=True)


class AlertKind(StrEnum):
    DRIFT_DETECTED = "drift_detected"
    RETRAINING_STARTED = "retraining_started"
    RETRAINING_FINISHED = "retraining_finished"
    CHAMPION_PROMOTED = "champion_promoted"
    CHAMPION_REJECTED = "champion_rejected"
    # passed the offline gate and published as the challenger: promoted on live evidence, or never
    CHALLENGER_PUBLISHED = "challenger_published"
    DLQ_RATE_HIGH = "dlq_rate_high"
    LABELS_HELD_OUT = "labels_held_out"  # the label guard kept a labeller's decisions out of training
    OVERTURNS_HIGH = "overturns_high"  # a model version's removals are overturned on appeal too often


_ICONS = {
    AlertKind.DRIFT_DETECTED: ":warning:",
    AlertKind.RETRAINING_STARTED: ":hammer_and_wrench:",
    AlertKind.RETRAINING_FINISHED: ":white_check_mark:",
    AlertKind.CHAMPION_PROMOTED: ":trophy:",
    AlertKind.CHAMPION_REJECTED: ":no_entry:",
    AlertKind.CHALLENGER_PUBLISHED: ":mag:",
    AlertKind.DLQ_RATE_HIGH: ":rotating_light:",
    AlertKind.LABELS_HELD_OUT: ":shield:",
    AlertKind.OVERTURNS_HIGH: ":scales:",
}


# Slack refuses a section whose text is longer; a refused alert is a lost one.
SECTION_CHARS = 3000


def _mrkdwn(text: str) -> str:
    """Text for a section: Slack's three control characters escaped (a value such as a labeller's name
    cannot ping a channel or forge a link), cut to what a section takes."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= SECTION_CHARS else text[: SECTION_CHARS - 1] + "…"


# What a value (a labeller's name, an id) may not bring into an alert: line breaks (a forged line),
# Slack's markup (bold, italic, strike, code: a forged emphasis) — shown as look-alikes —, and links
# (defanged as security reports do: "https[:]//evil[.]example").
# Line breaks and the bidi controls (which would reorder what a reader sees) become a space.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_MARKUP = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02b9"})
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")
_DOMAIN_DOT = re.compile(r"(?i)(?<=[a-z0-9-])\.(?=[a-z]{2,}\b)")


def inert(value: str) -> str:
    """A value as plain, one-line text in an alert: no line break, markup or link survives."""
    one_line = _BREAKS.sub(" ", value).translate(_MARKUP)
    return _DOMAIN_DOT.sub("[.]", _SCHEME.sub(r"\1[:]", one_line))


def payload(kind: AlertKind, title: str, fields: Mapping[str, object]) -> dict[str, object]:
    """A Slack incoming-webhook body: a `text` fallback plus one section of fields. The title and the
    values may carry names others chose: both are made inert; the field names are the code's own."""
    lines = [
        f"*{k}*: {v:.4f}" if isinstance(v, float) else f"*{k}*: {inert(str(v))}" for k, v in fields.items()
    ]
    text = _mrkdwn(f"{_ICONS[kind]} chat-moderation — {inert(title)}")
    fields_section = {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn("\n".join(lines))}}
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            *([fields_section] if lines else []),
        ],
        "kind": kind.value,
    }


def webhook_url_from_secret(secret_id: str, endpoint_url: str | None, region: str) -> str | None:
    """The webhook URL kept in AWS Secrets Manager: the secret string itself, or its `url` (or
    `webhook_url`) key when it holds JSON. None when it cannot be read: logged (without the value),
    and alerts are then only logged, since an alert never breaks a flow."""
    from runtime import aws  # noqa: PLC0415 - boto3 only when a secret is named

    try:
        with aws_errors(f"GetSecretValue {secret_id}"):
            secret = aws.client("secretsmanager", endpoint_url, region).get_secret_value(SecretId=secret_id)
    except AwsError as err:
        log.error({"event": "alert_secret_unreadable", "secret_id": secret_id, "error": err.code})
        return None
    value = secret.get("SecretString", "").strip()
    if value.startswith("{"):
        try:
            doc = json.loads(value)
        except json.JSONDecodeError:
            doc = {}
        value = str(doc.get("url") or doc.get("webhook_url") or "") if isinstance(doc, dict) else ""
    if not value.startswith(("https://", "http://")):
        log.error({"event": "alert_secret_not_a_url", "secret_id": secret_id})
        return None
    return value


def _log_retry(err: TransientError, _: list[bytes]) -> None:
    log.warning({"event": "alert_retry", "error": err.code})


@dataclass
class Notifier:
    """Posts alerts to a webhook URL (or only logs them when there is none)."""

    url: str | None
    timeout_s: float = 5.0
    attempts: int = 3
    sleep: Callable[[float], None] = time.sleep

    def send(self, kind: AlertKind, title: str, **fields: object) -> bool:
        """True when delivered (or logged, with no URL); False when the webhook kept failing."""
        body = payload(kind, title, fields)
        log.info({"event": "alert", "kind": kind.value, "title": title})
        if not self.url:
            return True
        data = json.dumps(body, default=str).encode()
        try:
            failed = resend(
                self._post,
                [data],
                self.attempts,
                base=0.5,
                cap=8.0,
                jitter=False,
                sleep=self.sleep,
                on_transient=_log_retry,
            )
        except AwsError as err:  # the webhook refused the alert itself (4xx): the same post fails again
            log.error({"event": "alert_refused", "kind": kind.value, "error": err.code})
            return False
        if not failed:
            return True
        log.error({"event": "alert_failed", "kind": kind.value})
        return False

    def _post(self, bodies: list[bytes]) -> list[bytes]:
        """One post of the alert (`bodies` holds it): nothing left on a 2xx; `TransientError` when the
        webhook is unreachable, slow or failing (5xx, 429) and `RequestError` when it refuses the alert
        (any other 4xx)."""
        (data,) = bodies
        req = urllib.request.Request(
            self.url or "", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return [] if 200 <= resp.status < 300 else bodies
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code != 429:
                raise RequestError("webhook", str(err.code), err.code) from err
            raise TransientError("webhook", str(err.code), err.code) from err
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise TransientError("webhook", type(err).__name__) from err
