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
