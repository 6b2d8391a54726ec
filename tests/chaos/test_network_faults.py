"""Chaos on the network path between the consumer/bot and LocalStack: nothing is lost, nothing is
acted on twice, and the processes keep running."""

import time
from pathlib import Path

import pytest

from runtime import aws
from runtime.retry import poll_until
from runtime.stack import Stack
from stream_consumer.scorer import LinearScorer
from tests.chaos.faultproxy import FaultProxy
from tests.chaos.rig import LogCapture, Rig
from tests.emulator import publish_scorer

pytestmark = pytest.mark.integration


def test_latency_then_resets_then_an_outage_mid_stream_lose_nothing(
    endpoint_url: str,
    fresh_stack: Stack,
    scorers: dict[str, LinearScorer],
    data_dir: Path,
    tmp_path: Path,
    proxy: FaultProxy,
    consumer_log: LogCapture,
) -> None:
    # GIVEN a champion, and the consumer and the bot reaching LocalStack only through the proxy
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    rig = Rig(endpoint_url, fresh_stack, tmp_path, proxy.url, proxy.url, data_dir)
    rig.start()
    try:
        # WHEN chat traffic (150 msg/s, 3% poison) flows while the network degrades in turn
        # (each phase lasts until it has hit enough requests: the machine's speed varies):
        with rig.streaming(rate=150):
            poll_until(lambda: rig.acted() >= 100, what="traffic flowing")
            proxy.latency(0.15)  # every chunk held back 150 ms each way
            poll_until(lambda: proxy.stats.delayed_chunks >= 40, what="delayed chunks")
            proxy.resets(0.25, mid_stream=False)  # a quarter of requests reset before they arrive
            poll_until(lambda: proxy.stats.resets_before_request >= 8, what="resets")
            proxy.resets(0.25, mid_stream=True)  # ... or after the work was done, answer cut short
            poll_until(lambda: proxy.stats.resets_mid_stream >= 8, what="mid-stream resets")
            proxy.outage(5.0)  # then nothing at all for 5 s: connections reset, connects refused
            assert proxy.wait_until_healthy()
            time.sleep(1)
        rig.wait_until_drained()
        alive = rig.alive()
    finally:
        rig.stop()
        proxy.healthy()
    # THEN the runner and the bot survived every fault
    assert alive == {"runner": True, "bot": True}, rig.crashes
    # AND every message has exactly one verdict effect or one DLQ entry
    tally = rig.account()
    stats = proxy.stats
    print(tally.line("network latency+resets+outage", stats.summary()))
    assert stats.delayed_chunks > 0
    assert stats.resets_before_request > 0
    assert stats.resets_mid_stream > 0
    assert stats.outages == 1
    assert tally.messages_in == tally.distinct_verdicts + tally.dead_letters


def test_feedback_writes_that_land_but_lose_their_answer_are_not_repeated(
    endpoint_url: str,
    fresh_stack: Stack,
    scorers: dict[str, LinearScorer],
    data_dir: Path,
    tmp_path: Path,
    proxy: FaultProxy,
    consumer_log: LogCapture,
) -> None:
    # GIVEN the bot reaching LocalStack through the proxy, where every feedback write reaches S3
    # but its answer is cut short (the bot cannot tell a lost write from a lost answer)
    publish_scorer(aws.client("s3", endpoint_url), fresh_stack.models_bucket.name, scorers["1"], "1")
    archive = fresh_stack.archive_bucket
    proxy.resets(1.0, mid_stream=True, match=f"PUT /{archive.name}/{archive.feedback_prefix}".encode())
    rig = Rig(endpoint_url, fresh_stack, tmp_path, endpoint_url, proxy.url, data_dir)
    rig.start()
    try:
        with rig.streaming(rate=100):
            poll_until(lambda: proxy.stats.resets_mid_stream >= 6, what="feedback writes cut")
            # WHEN the network heals
            proxy.healthy()
            poll_until(lambda: rig.acted() >= 300, what="verdicts acted on")
        rig.wait_until_drained()
        alive = rig.alive()
    finally:
        rig.stop()
        proxy.healthy()
    # THEN the bot kept running, acted once per message, and wrote each decision once
    assert alive == {"runner": True, "bot": True}, rig.crashes
    tally = rig.account()
    stats = proxy.stats
    print(tally.line("feedback writes cut mid-answer", stats.summary()))
    assert tally.messages_in == tally.distinct_verdicts + tally.dead_letters
    assert rig.bot is not None
    assert rig.bot.state.counts["read_errors"] > 0
