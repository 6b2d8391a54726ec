# The Prefect worker (an ECS service polling the work pool) and the task definitions of the flows it
# starts, one ECS task per flow run. The work pool's deployments name these task definitions
# (`task_definition_arn`; output `prefect_deployments`): the worker's role cannot register task
# definitions of its own, so a deployment without one fails to start instead of running with a role
# nobody reviewed.
#
# The drift check runs with `MONITORING_RETRAIN_ON_DRIFT=false`: drift_check_flow retrains by calling
# train_flow in its own process, which would run the training under the monitoring role (or need that
# role to write the champion). Deployed, a drift check alerts, and train_flow runs as its own
# deployment (its schedule, or started by an operator), under its own role.
#
# live_promotion_flow (monitoring/live_flow.py) and canary_flow (monitoring/canary.py) share one task
# definition and role, `promotion`: both move the champion on live evidence (the archive, the
# moderators' labels, appeals' outcomes) under the champion lock, as `python -m monitoring
# serve-promotions` serves them together (hourly, one run of each at a time); in the work pool each is
# a deployment of its own. Neither runs under the monitoring role, which cannot write the champion,
# nor under the training role, which cannot read the archive.

# Secret values are never in Terraform: an operator puts them (aws secretsmanager put-secret-value).
resource "aws_secretsmanager_secret" "prefect_api_key" {
  # checkov:skip=CKV2_AWS_57:the key is issued by Prefect; it is rotated there (a new key) and then put here, not by a rotation Lambda
  name        = local.services.worker.prefect_credentials
  description = "Prefect API key of the worker and the flow runs it starts"
  kms_key_id  = aws_kms_key.data.arn
}

resource "aws_secretsmanager_secret" "alert_webhook" {
  # checkov:skip=CKV2_AWS_57:the webhook URL is issued by the chat workspace; it is rotated there (a new URL) and then put here, not by a rotation Lambda
  name        = local.services.monitoring.webhook_credentials
  description = "Alert webhook URL of drift_check_flow (monitoring/alerts.py reads it at run time)"
  kms_key_id  = aws_kms_key.data.arn
}

locals {
  prefect_environment = [
    { name = "PREFECT_API_URL", value = var.prefect_api_url },
    { name = "PREFECT_HOME", value = "/tmp/prefect" },
  ]
  prefect_secrets = [{ name = "PREFECT_API_KEY", valueFrom = aws_secretsmanager_secret.prefect_api_key.arn }]
  # Every container's root filesystem is read-only; /tmp is the task's own scratch volume.
  scratch_mount = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
}

resource "aws_ecs_task_definition" "worker" {
  family                   = local.services.worker.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.worker.cpu
  memory                   = local.services.worker.memory_mb
  execution_role_arn       = aws_iam_role.execution["worker"].arn
  task_role_arn            = aws_iam_role.worker.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "worker"
    image                  = local.images.worker
    essential              = true
    readonlyRootFilesystem = true
    command                = ["prefect", "worker", "start", "--pool", local.services.worker.work_pool, "--type", "ecs"]
    environment = concat(local.prefect_environment, [
      # A run's state comes from the run itself; the ECS observer would need an SQS queue fed by
      # EventBridge, and the role to read it.
      { name = "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED", value = "false" },
    ])
    secrets          = local.prefect_secrets
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["worker"]
  }])
}

resource "aws_ecs_service" "worker" {
  name             = local.services.worker.name
  cluster          = aws_ecs_cluster.services.id
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = false
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

# The container is named `prefect`, the name Prefect's ECS worker runs a flow in; the worker sets its
# command and the run's variables, and the work pool's `prefect_api_key_secret_arn` leaves the API key
# to this definition's secret instead of the run request.
resource "aws_ecs_task_definition" "training" {
  family                   = local.services.training.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.training.cpu
  memory                   = local.services.training.memory_mb
  execution_role_arn       = aws_iam_role.execution["training"].arn
  task_role_arn            = aws_iam_role.training.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "prefect"
    image                  = local.images.training
    essential              = true
    readonlyRootFilesystem = true
    environment = concat(local.prefect_environment, [
      { name = "MLFLOW_TRACKING_URI", value = local.mlflow_tracking_uri },
      { name = "DATA_DIR", value = "/data" }, # the labelled sets, inside the image
      { name = "TRAINING_STATE_DIR", value = "/tmp/state" },
      { name = "TRAINING_MODELS_BUCKET", value = aws_s3_bucket.models.id },
      { name = "TRAINING_AWS_REGION", value = local.region },
      { name = "TRAINING_PROMOTION_PATH", value = var.promotion_path },
      { name = "MPLCONFIGDIR", value = "/tmp/matplotlib" },
    ])
    secrets          = local.prefect_secrets
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["training"]
  }])
}

resource "aws_ecs_task_definition" "monitoring" {
  family                   = local.services.monitoring.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.monitoring.cpu
  memory                   = local.services.monitoring.memory_mb
  execution_role_arn       = aws_iam_role.execution["monitoring"].arn
  task_role_arn            = aws_iam_role.monitoring.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "prefect"
    image                  = local.images.monitoring
    essential              = true
    readonlyRootFilesystem = true
    environment = concat(local.prefect_environment, [
      { name = "MONITORING_ARCHIVE_BUCKET", value = aws_s3_bucket.archive.id },
      { name = "MONITORING_MODELS_BUCKET", value = aws_s3_bucket.models.id },
      { name = "MONITORING_DEAD_LETTER_QUEUE", value = aws_sqs_queue.dead_letter.name },
      { name = "MONITORING_WEBHOOK_SECRET_ID", value = aws_secretsmanager_secret.alert_webhook.arn },
      { name = "MONITORING_RETRAIN_ON_DRIFT", value = "false" }, # see the top of this file
      { name = "MONITORING_WORKSPACE_DIR", value = "/tmp/evidently" },
      { name = "MONITORING_AWS_REGION", value = local.region },
    ])
    secrets          = local.prefect_secrets
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["monitoring"]
  }])
}

# The live promotion and canary checks: MonitoringSettings names the archive and the channel policies,
# TrainingSettings the models bucket, the champion lock, the audit trail and MLflow.
resource "aws_ecs_task_definition" "promotion" {
  family                   = local.services.promotion.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.promotion.cpu
  memory                   = local.services.promotion.memory_mb
  execution_role_arn       = aws_iam_role.execution["promotion"].arn
  task_role_arn            = aws_iam_role.promotion.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "prefect"
    image                  = local.images.promotion
    essential              = true
    readonlyRootFilesystem = true
    environment = concat(local.prefect_environment, [
      { name = "MLFLOW_TRACKING_URI", value = local.mlflow_tracking_uri },
      { name = "TRAINING_STATE_DIR", value = "/tmp/state" }, # registry.client creates it
      { name = "TRAINING_MODELS_BUCKET", value = aws_s3_bucket.models.id },
      { name = "TRAINING_AUDIT_BUCKET", value = aws_s3_bucket.audit.id },
      { name = "TRAINING_AWS_REGION", value = local.region },
      { name = "MONITORING_ARCHIVE_BUCKET", value = aws_s3_bucket.archive.id },
      { name = "MONITORING_MODELS_BUCKET", value = aws_s3_bucket.models.id }, # policy.json
      { name = "MONITORING_AWS_REGION", value = local.region },
    ])
    secrets          = local.prefect_secrets
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["promotion"]
  }])
}
