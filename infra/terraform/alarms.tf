resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${local.stack.consumer.function_name}-iterator-age"
  alarm_description   = "The consumer is falling behind the chat stream."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.consumer.function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 60000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each            = { poison = aws_sqs_queue.dead_letter.name, esm_failures = aws_sqs_queue.on_failure.name }
  alarm_name          = "${local.stack.consumer.function_name}-${each.key}-depth"
  alarm_description   = "Records are piling up in ${each.value}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.key == "poison" ? 100 : 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops
}

# Dead letters per record over 5 minutes (the consumer's EMF counts), the same rule as the monitoring
# flow's MONITORING_DLQ_RATE_THRESHOLD: a burst of poison records (a producer-side schema change) is
# caught even while the queue depth is still small.
resource "aws_cloudwatch_metric_alarm" "dead_letter_rate" {
  alarm_name          = "${local.stack.consumer.function_name}-dead-letter-rate"
  alarm_description   = "More than ${var.dead_letter_rate_threshold * 100}% of the chat records are dead-lettered."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.dead_letter_rate_threshold
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops

  metric_query {
    id          = "rate"
    expression  = "IF(total > 0, FILL(dl, 0) / total, 0)"
    label       = "dead letters per record"
    return_data = true
  }
  metric_query {
    id         = "total"
    expression = "FILL(dl, 0) + FILL(va, 0) + FILL(vr, 0) + FILL(vx, 0)"
  }
  dynamic "metric_query" {
    for_each = { dl = "DeadLetters", va = "Verdicts_allow", vr = "Verdicts_review", vx = "Verdicts_remove" }
    content {
      id = metric_query.key
      metric {
        namespace   = local.emf.namespace
        metric_name = metric_query.value
        dimensions  = { service = local.emf.service }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}

# The consumer's own failure signals: any of these in a 5-minute period means records are not being
# moderated as they should (a refused model, no model at all, a sink outage).
resource "aws_cloudwatch_metric_alarm" "consumer_emf" {
  for_each = {
    model-reload-failures = { metric = "ModelReloadFailures", periods = 1, what = "A new champion was refused (download, sha256, load or smoke test); the last good one keeps serving." }
    batches-without-model = { metric = "BatchesWithoutModel", periods = 1, what = "Batches fail because no champion could be loaded: the stream is not being moderated." }
    sink-errors           = { metric = "SinkErrors", periods = 3, what = "Batches keep failing on a sink outage (verdict stream, archive or dead-letter queue)." }
  }
  alarm_name          = "${local.stack.consumer.function_name}-${each.key}"
  alarm_description   = each.value.what
  namespace           = local.emf.namespace
  metric_name         = each.value.metric
  dimensions          = { service = local.emf.service }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = each.value.periods
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops
}

# The handler reports poison and unwritable records itself, so a Lambda error (a crash, a timeout) or
# a throttle is never expected.
resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = {
    errors    = { metric = "Errors", what = "The consumer Lambda fails (crash or timeout): its batches are retried, then bisected." }
    throttles = { metric = "Throttles", what = "The consumer Lambda is throttled (reserved concurrency): the stream falls behind." }
  }
  alarm_name          = "${local.stack.consumer.function_name}-lambda-${each.key}"
  alarm_description   = each.value.what
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.consumer.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops
}

# Appeals upheld (review/worker.py::appeal_metrics): the share of a category's decided appeals that
# overturned the restriction, over a day, once at least `min_appeals_for_alarm` were decided. Many
# upheld appeals mean the model (or the channel's thresholds) restricts what it should not; the drift
# check names the model version (monitoring/overturns.py).
locals {
  review_emf = {
    namespace = "ChatModeration"
    service   = "review"
  }
}

resource "aws_cloudwatch_metric_alarm" "appeals_upheld" {
  for_each            = { toxicity = "toxicity", hate = "hate", spam = "spam", removal = "removal" }
  alarm_name          = "${local.services.review.name}-appeals-upheld-${each.key}"
  alarm_description   = "More than ${var.max_appeals_upheld_share * 100}% of the decided appeals of ${each.key} restrictions overturned them in a day."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.max_appeals_upheld_share
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops

  metric_query {
    id          = "upheld"
    expression  = "IF(decided >= ${var.min_appeals_for_alarm}, FILL(overturned, 0) / decided, 0)"
    label       = "share of decided appeals that overturned the restriction"
    return_data = true
  }
  dynamic "metric_query" {
    for_each = { decided = "AppealsDecided", overturned = "Overturned" }
    content {
      id = metric_query.key
      metric {
        namespace   = local.review_emf.namespace
        metric_name = metric_query.value
        dimensions  = { service = local.review_emf.service, category = each.key }
        stat        = "Sum"
        period      = 86400
      }
    }
  }
}
