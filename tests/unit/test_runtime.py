"""The runtime's one vocabulary: AWS errors translated once, one backoff, one poll-until, and an image
that copies exactly what the handler imports."""

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from pydantic import SecretStr
from urllib3.exceptions import ProtocolError

from monitoring.settings import MonitoringSettings
from producer_sim.settings import ProducerSettings
from review.settings import ReviewSettings
from runtime.errors import (
    AwsError,
    NotFoundError,
    NotModifiedError,
    PreconditionFailedError,
    RequestError,
    TransientError,
    aws_errors,
    translate,
)
from runtime.logs import run_event
from runtime.paths import PROJECT_ROOT
from runtime.retry import PollTimeoutError, backoff_delay, idle_backoff, poll_until, resend
from runtime.settings import STACK
from stream_consumer.settings import ConsumerSettings
from tests.builders import client_error
from training.settings import TrainingSettings


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (client_error("304", status=304), NotModifiedError, "304"),
        (client_error("NoSuchKey", status=404), NotFoundError, "NoSuchKey"),
        (client_error("PreconditionFailed", status=412), PreconditionFailedError, "PreconditionFailed"),
        (client_error("ConditionalRequestConflict", status=409), PreconditionFailedError, None),
        (client_error("AWS.SimpleQueueService.NonExistentQueue", status=400), NotFoundError, None),
        (client_error("ProvisionedThroughputExceededException", status=400), TransientError, None),
        (client_error("InternalError", status=500), TransientError, None),
        (client_error("Whatever", status=503), TransientError, "Whatever"),
        (client_error("AccessDenied", status=403), RequestError, "AccessDenied"),
        (EndpointConnectionError(endpoint_url="http://x"), TransientError, "EndpointConnectionError"),
        (ProtocolError("connection broken"), TransientError, "ProtocolError"),
        (NoCredentialsError(), RequestError, "NoCredentialsError"),
    ],
)
def test_library_errors_are_translated_once(error: Exception, kind: type[AwsError], code: str | None) -> None:
    translated = translate(error, "GetObject k")
    assert type(translated) is kind
    assert translated.operation == "GetObject k"
    if code is not None:
        assert translated.code == code
    with pytest.raises(kind) as raised, aws_errors("op"):
        raise error
    assert raised.value.__cause__ is error


def test_backoff_doubles_up_to_its_cap_and_jitters_below_it() -> None:
    assert [backoff_delay(a, base=0.5, cap=3.0, jitter=False) for a in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert all(0 <= backoff_delay(3, base=0.5) <= 2.0 for _ in range(100))


class Flaky:
    """A send that fails as scripted, call by call: a list of items to refuse, or an error to raise."""

    def __init__(self, *script: "list[int] | AwsError") -> None:
        self.script = list(script)
        self.calls: list[list[int]] = []

    def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        step = self.script.pop(0) if self.script else []
        if isinstance(step, AwsError):
            raise step
        return [i for i in items if i in step]


def test_resend_sends_again_only_what_failed_until_nothing_is_left() -> None:
    send, waits = Flaky([2, 3], [3]), list[float]()
    assert resend(send, [1, 2, 3], 5, base=0.5, jitter=False, sleep=waits.append) == []
    assert send.calls == [[1, 2, 3], [2, 3], [3]]
    assert waits == [0.5, 1.0]


def test_resend_sends_everything_again_after_a_transient_error_and_gives_up_after_its_attempts() -> None:
    throttled = TransientError("PutRecords", "ThrottlingException")
    send, waits = Flaky(throttled, [1], [1]), list[float]()
    seen: list[tuple[TransientError, list[int]]] = []
    still = resend(
        send,
        [1, 2],
        3,
        base=0.1,
        jitter=False,
        sleep=waits.append,
        on_transient=lambda e, p: seen.append((e, p)),
    )
    assert still == [1]  # the caller reports it
    assert send.calls == [[1, 2], [1, 2], [1]]
    assert seen == [(throttled, [1, 2])]
    assert waits == [0.1, 0.2]  # no wait after the last attempt


def test_resend_raises_an_error_retrying_cannot_fix_at_once() -> None:
    for permanent in (RequestError("SendMessageBatch", "AccessDenied"), NotFoundError("PutRecords", "x")):
        send, waits = Flaky([1], permanent), list[float]()
        with pytest.raises(type(permanent)):
            resend(send, [1, 2], 5, sleep=waits.append)
        assert len(send.calls) == 2  # not a third
        assert len(waits) == 1


def test_an_idle_loop_backs_off_to_its_cap() -> None:
    waits = [1.0]
    for _ in range(4):
        waits.append(idle_backoff(waits[-1], 4.0))
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_cap_under_the_loops_interval_never_shortens_its_wait() -> None:
    assert idle_backoff(2.0, 1.0) == 2.0


def test_poll_until_returns_the_first_truthy_answer_or_times_out() -> None:
    answers = iter([None, 0, "ready"])
    assert poll_until(lambda: next(answers), timeout=5, sleep=lambda _: None) == "ready"
    clock = iter(range(100))
    with pytest.raises(PollTimeoutError, match="queue drained: not met within 3 s"):
        poll_until(
            lambda: False, timeout=3, what="queue drained", clock=lambda: next(clock), sleep=lambda _: None
        )


def _copied_packages() -> set[str]:
    """The top-level packages the container image copies (`COPY <pkg>/ <pkg>/` lines)."""
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    return set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile, re.MULTILINE))


def test_the_image_copies_exactly_the_handlers_import_closure() -> None:
    # GIVEN the project's packages the handler module imports, transitively (a fresh interpreter)
    code = (
        "import sys, stream_consumer.handler; from pathlib import Path; "
        f"root = Path({str(PROJECT_ROOT)!r}); "
        "print(sorted({m for m, mod in sys.modules.items() "
        "if getattr(mod, '__file__', None) and Path(mod.__file__).resolve().is_relative_to(root) "
        "and '.venv' not in Path(mod.__file__).parts}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    modules = set(eval(out.stdout))
    imported = {m.split(".")[0] for m in modules}
    # THEN the Dockerfile copies those packages, and no other
    assert imported == _copied_packages()
    assert {"stream_consumer", "runtime"} <= imported
    # AND the consumer's own package is the Lambda and nothing else: every module of it is one the
    # handler imports (local tooling such as the event-source-mapping emulator lives outside it)
    own = {
        ".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (PROJECT_ROOT / "stream_consumer").rglob("*.py")
    }
    assert own - modules == set()


def test_settings_are_built_for_a_stack_and_rebuilt_from_their_environment() -> None:
    # GIVEN a renamed stack and each deployable's settings for it
    stack = STACK.renamed("t1")
    for cls in (ConsumerSettings, ProducerSettings, TrainingSettings, MonitoringSettings):
        built = cls.for_stack(stack, aws_endpoint_url="http://127.0.0.1:4566")
        # THEN every resource field names the stack's resource, and the environment rebuilds them equal
        for field in cls.STACK_RESOURCES:
            assert getattr(built, field) == getattr(stack, field).name
        rebuilt = _from_env(cls, built.to_env())
        assert rebuilt.model_dump() == built.model_dump()
    # AND a secret reaches the child as itself, not as its mask
    review = ReviewSettings.for_stack(stack, appeal_token=SecretStr("token-of-the-run"))
    env = review.to_env()
    assert env["REVIEW_APPEAL_TOKEN"] == "token-of-the-run"  # pragma: allowlist secret
    assert _from_env(ReviewSettings, env).appeal_token == review.appeal_token


def _from_env[T](cls: type[T], env: dict[str, str]) -> T:
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return cls()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a_flows_event_reaches_the_run_logger_as_one_json_object(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("flow-run")
    with caplog.at_level(logging.INFO, logger="flow-run"):
        run_event(logger, {"event": "promoted", "version": "3", "reasons": ["gain 0.004"]})
        run_event(logger, {"event": "label_guard_alert", "alert": "m3 held out"}, logging.WARNING)
    first, second = caplog.records
    assert json.loads(first.getMessage()) == {"event": "promoted", "version": "3", "reasons": ["gain 0.004"]}
    assert (second.levelno, json.loads(second.getMessage())["event"]) == (
        logging.WARNING,
        "label_guard_alert",
    )
