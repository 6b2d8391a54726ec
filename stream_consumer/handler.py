"""The Lambda entry point: wiring only."""

from functools import cache
from typing import Any

from contracts.lambda_event import BatchResponse
from runtime import aws
from runtime.policies import PolicySource
from stream_consumer import encoder
from stream_consumer.champion import ChampionWatcher, serving_canary
from stream_consumer.consumer import Consumer, log_challenger_reload, log_reload, logger, metrics
from stream_consumer.settings import ConsumerSettings
from stream_consumer.sinks import KinesisVerdictSink, S3ArchiveSink, SqsDeadLetterSink


def build_consumer(settings: ConsumerSettings) -> Consumer:
    """A consumer talking to the settings' AWS endpoint, with the cascade's encoder loaded (once per
    process); the champion is loaded on the first batch."""
    s3 = aws.client("s3", settings.aws_endpoint_url, settings.aws_region)
    sqs = aws.client("sqs", settings.aws_endpoint_url, settings.aws_region)
    kinesis = aws.client("kinesis", settings.aws_endpoint_url, settings.aws_region)
    dlq_url = sqs.get_queue_url(QueueName=settings.dead_letter_queue)["QueueUrl"]
    watcher = ChampionWatcher(
        s3, settings.models_bucket, settings.manifest_key, settings.reload_interval_s, on_event=log_reload
    )
    challenger = ChampionWatcher(
        s3,
        settings.models_bucket,
        settings.challenger_manifest_key,
        settings.reload_interval_s,
        on_event=log_challenger_reload,
        optional=True,
    )
    canary = ChampionWatcher(
        s3,
        settings.models_bucket,
        settings.canary_manifest_key,
        settings.reload_interval_s,
        on_event=lambda event: log_challenger_reload(event, "canary"),
        optional=True,
    )
    policies = PolicySource(
        s3,
        settings.models_bucket,
        settings.policy_key,
        settings.policy_file,
        settings.reload_interval_s,
        on_error=lambda msg: logger.error({"event": "policy_error", "detail": msg}),
    )
    return Consumer(
        settings,
        watcher.current,
        policies,
        KinesisVerdictSink(kinesis, settings.output_stream, settings.verdict_put_attempts),
        SqsDeadLetterSink(sqs, dlq_url),
        S3ArchiveSink(s3, settings.archive_bucket),
        encoder.shared(settings.encoder_threads) if settings.encoder else None,
        challenger.current,
        serving_canary(canary),
    )


@cache
def consumer() -> Consumer:
    """The process's one consumer, built on the first invocation (the Lambda cold start)."""
    return build_consumer(ConsumerSettings())


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: object) -> BatchResponse:
    """Kinesis batch in, partial batch response out (with the window's state when windows are on)."""
    return consumer().handle_event(event)
