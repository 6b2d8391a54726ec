# The production dashboard: the consumer's own EMF metrics (aws-lambda-powertools, namespace and
# `service` dimension as stream_consumer/consumer.py sets them) beside what AWS measures of the Lambda,
# its event source mapping, the input stream and the dead-letter queues.
#
# Every EMF metric is written `[local.emf.namespace, "<name>", "service", local.emf.service, ...]`;
# tests/unit/test_terraform_uses_stack.py holds those names (and the alarms' ones) to the names the
# consumer emits, so a renamed metric fails the test instead of leaving an empty graph.
locals {
  emf = {
    namespace = "ChatModeration"
    service   = "consumer"
  }
  dashboard_region = data.aws_region.current.name
  function_name    = aws_lambda_function.consumer.function_name
}

data "aws_region" "current" {}

resource "aws_cloudwatch_dashboard" "production" {
  dashboard_name = "${local.stack.consumer.function_name}-production"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Verdicts per minute"
          region  = local.dashboard_region
          view    = "timeSeries"
          stacked = true
          period  = 60
          stat    = "Sum"
          metrics = [
            [local.emf.namespace, "Verdicts_allow", "service", local.emf.service, { label = "allow" }],
            [local.emf.namespace, "Verdicts_review", "service", local.emf.service, { label = "review" }],
            [local.emf.namespace, "Verdicts_remove", "service", local.emf.service, { label = "remove" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Dead-letter rate (dead letters per record)"
          region = local.dashboard_region
          view   = "timeSeries"
          period = 300
          yAxis  = { left = { min = 0, max = 1 } }
          metrics = [
            [{ id = "rate", label = "dead-letter rate", expression = "IF(total > 0, FILL(dl, 0) / total, 0)" }],
            [{ id = "total", visible = false, expression = "FILL(dl, 0) + FILL(va, 0) + FILL(vr, 0) + FILL(vx, 0)" }],
            [local.emf.namespace, "DeadLetters", "service", local.emf.service, { id = "dl", stat = "Sum", visible = false }],
            [local.emf.namespace, "Verdicts_allow", "service", local.emf.service, { id = "va", stat = "Sum", visible = false }],
            [local.emf.namespace, "Verdicts_review", "service", local.emf.service, { id = "vr", stat = "Sum", visible = false }],
            [local.emf.namespace, "Verdicts_remove", "service", local.emf.service, { id = "vx", stat = "Sum", visible = false }],
          ]
          annotations = { horizontal = [{ label = "alarm", value = var.dead_letter_rate_threshold }] }
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Records not moderated on the first try"
          region = local.dashboard_region
          view   = "timeSeries"
          period = 60
          stat   = "Sum"
          metrics = [
            [local.emf.namespace, "DeadLetters", "service", local.emf.service, { label = "dead-lettered (poison)" }],
            [local.emf.namespace, "RetriedRecords", "service", local.emf.service, { label = "reported for retry" }],
            [local.emf.namespace, "SinkErrors", "service", local.emf.service, { label = "batches failed: sink outage" }],
            [local.emf.namespace, "BatchesWithoutModel", "service", local.emf.service, { label = "batches failed: no champion" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Iterator age (how far behind the chat the consumer is)"
          region = local.dashboard_region
          view   = "timeSeries"
          period = 60
          stat   = "Maximum"
          metrics = [
            ["AWS/Lambda", "IteratorAge", "FunctionName", local.function_name, { label = "Lambda IteratorAge (ESM)" }],
            ["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", aws_kinesis_stream.input.name, { label = "input stream GetRecords" }],
          ]
          annotations = { horizontal = [{ label = "alarm", value = 60000 }] }
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "Batch duration (ms)"
          region = local.dashboard_region
          view   = "timeSeries"
          period = 60
          metrics = [
            [local.emf.namespace, "HandlerDuration", "service", local.emf.service, { stat = "p50", label = "handler p50" }],
            [local.emf.namespace, "HandlerDuration", "service", local.emf.service, { stat = "p99", label = "handler p99" }],
            ["AWS/Lambda", "Duration", "FunctionName", local.function_name, { stat = "p99", label = "Lambda p99" }],
            ["AWS/Lambda", "Duration", "FunctionName", local.function_name, { stat = "Maximum", label = "Lambda max" }],
          ]
          annotations = { horizontal = [{ label = "timeout", value = local.stack.consumer.timeout_seconds * 1000 }] }
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "Lambda errors and throttles"
          region = local.dashboard_region
          view   = "timeSeries"
          period = 60
          stat   = "Sum"
          metrics = [
            ["AWS/Lambda", "Errors", "FunctionName", local.function_name, { label = "errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", local.function_name, { label = "throttles" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title  = "Champion: version served and reloads; the challenger's shadow scoring; the canary"
          region = local.dashboard_region
          view   = "timeSeries"
          period = 300
          metrics = [
            [local.emf.namespace, "ChampionVersion", "service", local.emf.service, { stat = "Maximum", label = "version (max)", yAxis = "right" }],
            [local.emf.namespace, "ChampionVersion", "service", local.emf.service, { stat = "Minimum", label = "version (min)", yAxis = "right" }],
            [local.emf.namespace, "ModelReloads", "service", local.emf.service, { stat = "Sum", label = "reloads" }],
            [local.emf.namespace, "ModelReloadFailures", "service", local.emf.service, { stat = "Sum", label = "reload failures" }],
            [local.emf.namespace, "ShadowScored", "service", local.emf.service, { stat = "Sum", label = "shadow-scored messages" }],
            [local.emf.namespace, "ShadowDropped", "service", local.emf.service, { stat = "Sum", label = "shadow batches dropped" }],
            [local.emf.namespace, "CanaryServed", "service", local.emf.service, { stat = "Sum", label = "verdicts by the canary" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 18, width = 12, height = 6
        properties = {
          title  = "Dead-letter queues: depth"
          region = local.dashboard_region
          view   = "timeSeries"
          period = 300
          stat   = "Maximum"
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dead_letter.name, { label = "poison records" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.on_failure.name, { label = "ESM on-failure" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 24, width = 24, height = 6
        properties = {
          title   = "Cascade: how verdicts were scored"
          region  = local.dashboard_region
          view    = "timeSeries"
          stacked = true
          period  = 60
          stat    = "Sum"
          metrics = [
            [local.emf.namespace, "Stage_fast", "service", local.emf.service, { label = "fast model" }],
            [local.emf.namespace, "Stage_encoder", "service", local.emf.service, { label = "escalated to the encoder" }],
            [local.emf.namespace, "Stage_fast_over_budget", "service", local.emf.service, { label = "escalated, over budget" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 30, width = 24, height = 6
        properties = {
          title   = "Context: verdicts a signal across messages fired for, and windows closed"
          region  = local.dashboard_region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = "Sum"
          metrics = [
            [local.emf.namespace, "Signal_flood", "service", local.emf.service, { label = "flood" }],
            [local.emf.namespace, "Signal_raid", "service", local.emf.service, { label = "raid" }],
            [local.emf.namespace, "Signal_links", "service", local.emf.service, { label = "link flood" }],
            [local.emf.namespace, "Signal_mentions", "service", local.emf.service, { label = "mention flood" }],
            [local.emf.namespace, "Signal_heat", "service", local.emf.service, { label = "heat" }],
            [local.emf.namespace, "WindowsClosed", "service", local.emf.service, { label = "windows closed" }],
            [local.emf.namespace, "WindowStateErrors", "service", local.emf.service, { label = "unreadable window states" }],
          ]
        }
      },
      {
        type = "alarm", x = 0, y = 36, width = 24, height = 4
        properties = {
          title = "Alarms"
          alarms = concat(
            [aws_cloudwatch_metric_alarm.iterator_age.arn],
            [for a in aws_cloudwatch_metric_alarm.dead_letters : a.arn],
            [aws_cloudwatch_metric_alarm.dead_letter_rate.arn],
            [for a in aws_cloudwatch_metric_alarm.consumer_emf : a.arn],
            [for a in aws_cloudwatch_metric_alarm.lambda : a.arn],
          )
        }
      },
    ]
  })
}
