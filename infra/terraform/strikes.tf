# Strikes (`python -m strikes`, strikes/): a consumer of its own beside the classifier, never in its
# path. It follows the verdicts stream from its own checkpoints and the moderators' decisions under the
# feedback prefix, keeps strikes per (channel, user) in a DynamoDB table (conditional writes: one strike
# per message however often it is read) and sends each new strike's escalation (warning, timeout, ban
# suggestion) to the escalations queue, which the bot applies once per id. An outage of the table or
# the queue stops escalations, never a classifier batch: the StrikesUnavailable alarm says so.

resource "aws_dynamodb_table" "strikes" {
  name         = local.stack.strikes_table.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"
  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  # Clean-up only: every read weighs the strikes it finds by their age (strikes/core.py::decayed), and
  # AWS deletes expired items lazily (up to days late).
  ttl {
    attribute_name = "expires"
    enabled        = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
  point_in_time_recovery {
    enabled = true
  }
  deletion_protection_enabled = true
}

# An escalation the bot cannot read (a newer schema, a broken body) is received five times, then moved
# here with its body, for an operator.
resource "aws_sqs_queue" "escalations_dead_letter" {
  name                      = "${local.stack.escalations_queue.name}-dlq"
  message_retention_seconds = local.stack.escalations_queue.retention_seconds
  kms_master_key_id         = aws_kms_key.data.arn
}

resource "aws_sqs_queue" "escalations" {
  name                      = local.stack.escalations_queue.name
  message_retention_seconds = local.stack.escalations_queue.retention_seconds
  kms_master_key_id         = aws_kms_key.data.arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.escalations_dead_letter.arn
    maxReceiveCount     = 5
  })
}

# One task at a time: its checkpoints are in the task's scratch volume, so a replaced task reads the
# verdicts still in the stream (24 h) and the decisions again — which add nothing (conditional writes)
# and send no escalation twice (a strike is marked once its escalation was sent).
resource "aws_ecs_task_definition" "strikes" {
  family                   = local.services.strikes.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.strikes.cpu
  memory                   = local.services.strikes.memory_mb
  execution_role_arn       = aws_iam_role.execution["strikes"].arn
  task_role_arn            = aws_iam_role.strikes.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "strikes"
    image                  = local.images.strikes
    essential              = true
    readonlyRootFilesystem = true
    command                = ["python", "-m", "strikes"]
    environment = [
      { name = "STRIKES_OUTPUT_STREAM", value = aws_kinesis_stream.verdicts.name },
      { name = "STRIKES_ARCHIVE_BUCKET", value = aws_s3_bucket.archive.id },
      { name = "STRIKES_FEEDBACK_PREFIX", value = local.stack.archive_bucket.feedback_prefix },
      { name = "STRIKES_MODELS_BUCKET", value = aws_s3_bucket.models.id },
      { name = "STRIKES_POLICY_KEY", value = local.stack.models_bucket.policy_key },
      { name = "STRIKES_STRIKES_TABLE", value = aws_dynamodb_table.strikes.name },
      { name = "STRIKES_ESCALATIONS_QUEUE", value = aws_sqs_queue.escalations.name },
      { name = "STRIKES_WINDOW_S", value = tostring(local.stack.event_source_mapping.tumbling_window_seconds) },
      { name = "STRIKES_STATE_DIR", value = "/tmp/strikes" },
      { name = "STRIKES_AWS_REGION", value = local.region },
    ]
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["strikes"]
  }])
}

resource "aws_ecs_service" "strikes" {
  name             = local.services.strikes.name
  cluster          = aws_ecs_cluster.services.id
  task_definition  = aws_ecs_task_definition.strikes.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  # A rollout stops the old writer before it starts the new one (two would only repeat each other's
  # work, but one checkpoint owner keeps it simple).
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.strikes.id]
    assign_public_ip = false
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

resource "aws_security_group" "strikes" {
  name        = local.services.strikes.name
  description = "Strikes writer: out to Kinesis, S3, DynamoDB and SQS only"
  vpc_id      = var.vpc_id
}

# Least privilege: read the verdicts and the feedback prefix and the policies; its own table's items
# (no scan, no delete); send to the escalations queue.
resource "aws_iam_role" "strikes" {
  name               = "${local.services.strikes.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "strikes" {
  statement {
    sid       = "ReadVerdicts"
    actions   = ["kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"]
    resources = [aws_kinesis_stream.verdicts.arn]
  }
  statement {
    sid       = "ListFeedback"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archive.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.stack.archive_bucket.feedback_prefix}*"]
    }
  }
  statement {
    sid     = "ReadFeedbackAndPolicies"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.feedback_prefix}*",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.policy_key}",
    ]
  }
  statement {
    sid = "Strikes"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:Query",
    ]
    resources = [aws_dynamodb_table.strikes.arn]
  }
  statement {
    sid       = "Escalate"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [aws_sqs_queue.escalations.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "strikes" {
  name   = "strikes"
  role   = aws_iam_role.strikes.id
  policy = data.aws_iam_policy_document.strikes.json
}

# --- alarms: throttling of the table, the writer's outages, escalations nobody could read ---------
locals {
  strikes_emf = {
    namespace = "ChatModeration"
    service   = "strikes"
  }
}

resource "aws_cloudwatch_metric_alarm" "strikes_throttles" {
  for_each            = { read = "ReadThrottleEvents", write = "WriteThrottleEvents" }
  alarm_name          = "${local.stack.strikes_table.name}-${each.key}-throttles"
  alarm_description   = "The strikes table throttles ${each.key}s: escalations are late (classification is not affected)."
  namespace           = "AWS/DynamoDB"
  metric_name         = each.value
  dimensions          = { TableName = aws_dynamodb_table.strikes.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops
}

resource "aws_cloudwatch_metric_alarm" "strikes_unavailable" {
  alarm_name          = "${local.services.strikes.name}-unavailable"
  alarm_description   = "The strikes writer cannot reach its table or the escalations queue: no escalations meanwhile; nothing is lost."
  namespace           = local.strikes_emf.namespace
  metric_name         = "StrikesUnavailable"
  dimensions          = { service = local.strikes_emf.service }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops
}

resource "aws_cloudwatch_metric_alarm" "escalations_dead_letters" {
  alarm_name          = "${local.stack.escalations_queue.name}-dead-letters"
  alarm_description   = "Escalations the bot could not read were moved to the dead-letter queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.escalations_dead_letter.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_ops
}
