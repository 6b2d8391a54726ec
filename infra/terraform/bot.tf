# The moderation bot (`python -m producer_sim bot`): reads the verdicts stream, acts on each verdict
# once, and writes the moderators' decisions to the feedback prefix. Its moderators are simulated from
# the labels in PRODUCER_GROUND_TRUTH_PATH (the chat simulator's side file): without that file it acts
# on verdicts but decides, and so writes, nothing. One task at a time: its shard checkpoints and the
# ids it has acted on are in the task's scratch volume, so a replaced task reads again the verdicts
# still in the stream (24 h) and may write feedback for them again.
resource "aws_ecs_task_definition" "bot" {
  family                   = local.services.bot.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.bot.cpu
  memory                   = local.services.bot.memory_mb
  execution_role_arn       = aws_iam_role.execution["bot"].arn
  task_role_arn            = aws_iam_role.bot.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "bot"
    image                  = local.images.bot
    essential              = true
    readonlyRootFilesystem = true
    command                = ["python", "-m", "producer_sim", "bot"]
    environment = [
      { name = "PRODUCER_OUTPUT_STREAM", value = aws_kinesis_stream.verdicts.name },
      { name = "PRODUCER_ARCHIVE_BUCKET", value = aws_s3_bucket.archive.id },
      { name = "PRODUCER_FEEDBACK_PREFIX", value = local.stack.archive_bucket.feedback_prefix },
      { name = "PRODUCER_STATEMENTS_PREFIX", value = local.stack.archive_bucket.statements_prefix },
      { name = "PRODUCER_AUDIT_BUCKET", value = aws_s3_bucket.audit.id },
      { name = "PRODUCER_AUDIT_PREFIX", value = local.stack.audit_bucket.prefix },
      { name = "PRODUCER_MODELS_BUCKET", value = aws_s3_bucket.models.id },
      { name = "PRODUCER_POLICY_KEY", value = local.stack.models_bucket.policy_key },
      { name = "PRODUCER_APPEAL_URL", value = var.appeal_url },
      { name = "PRODUCER_BOT_STATE_DIR", value = "/tmp/bot" },
      { name = "PRODUCER_ESCALATIONS_QUEUE", value = aws_sqs_queue.escalations.name },
      { name = "PRODUCER_AWS_REGION", value = local.region },
    ]
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["bot"]
  }])
}

resource "aws_ecs_service" "bot" {
  name             = local.services.bot.name
  cluster          = aws_ecs_cluster.services.id
  task_definition  = aws_ecs_task_definition.bot.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  # A rollout stops the old bot before it starts the new one: two would act on every verdict twice.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.bot.id]
    assign_public_ip = false
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
