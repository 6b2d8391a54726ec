# The deployables besides the consumer: the Prefect worker and the flow tasks it starts (flows.tf:
# train_flow, drift_check_flow, and live_promotion_flow with canary_flow), the MLflow tracking
# server (mlflow.tf), the moderation bot (bot.tf) and the strikes writer (strikes.tf), all on ECS
# Fargate in one cluster. Each has its own image repository, log group, security group, execution
# role and task role (iam.tf); nothing is shared between two of them but the cluster and the key.
#
# Why ECS Fargate for the flows: a Prefect ECS work pool starts every flow run as a task of its own,
# from a task definition made here, with that flow's own task role. A long-lived worker on EC2 (or
# a process worker) would run both flows in one process under one role, so training would hold the
# monitoring secret and monitoring could write the champion. The worker itself only polls Prefect
# and calls RunTask; its role can start the flows' task definitions and pass their roles, nothing
# else. Fargate also leaves no instance to patch, and idles at zero between runs.
locals {
  services = local.stack.services
  ecs_services = {
    worker     = local.services.worker
    training   = local.services.training
    monitoring = local.services.monitoring
    promotion  = local.services.promotion
    mlflow     = local.services.mlflow
    bot        = local.services.bot
    strikes    = local.services.strikes
    review     = local.services.review
  }
  image_tags = {
    worker     = var.worker_image_tag
    training   = var.training_image_tag
    monitoring = var.monitoring_image_tag
    promotion  = var.promotion_image_tag
    mlflow     = var.mlflow_image_tag
    bot        = var.bot_image_tag
    strikes    = var.strikes_image_tag
    review     = var.review_image_tag
  }
  images             = { for key, repo in aws_ecr_repository.service : key => "${repo.repository_url}:${local.image_tags[key]}" }
  service_log_groups = { for key, service in local.ecs_services : key => "/ecs/${service.name}" }
  # Each service's container writes to its own group, streams prefixed with the service's key.
  container_logs = {
    for key in keys(local.ecs_services) : key => {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = key
      }
    }
  }
  # Log groups that AWS services write for this stack: created here, so that they are encrypted with
  # the stack's key and kept a year like the others, not created unencrypted on first write.
  aws_written_log_groups = {
    container_insights = "/aws/ecs/containerinsights/${local.services.cluster}/performance"
    postgresql         = "/aws/rds/instance/${local.services.mlflow.name}/postgresql"
    upgrade            = "/aws/rds/instance/${local.services.mlflow.name}/upgrade"
  }
  # A registered version's files in the models bucket: contracts.storage.model_key (held by a test).
  models_prefix = "models/${local.stack.model_name}/"
  region        = data.aws_region.current.name
  account_id    = data.aws_caller_identity.current.account_id

  # Appeals' outcomes, apart from the statements of reasons: contracts.storage.appeal_outcomes_prefix
  # (held by a test).
  appeal_outcomes_prefix = "${local.stack.archive_bucket.statements_prefix}appeals/"
}

resource "aws_ecs_cluster" "services" {
  name = local.services.cluster
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecr_repository" "service" {
  for_each             = local.ecs_services
  name                 = each.value.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }
}

# Like the consumer's: ids, reasons and counts, never message text; kept a year for audits. The
# services' own groups and those AWS writes for them, one definition.
resource "aws_cloudwatch_log_group" "service" {
  for_each          = merge(local.service_log_groups, local.aws_written_log_groups)
  name              = each.value
  retention_in_days = 365
  kms_key_id        = aws_kms_key.data.arn
}

# --- network: every task in the given private subnets, each with a security group of its own ---
# Egress on 443 reaches the AWS APIs (S3, Kinesis, SQS, Secrets Manager, ECR, Logs) through the
# subnets' NAT or endpoints, and the Prefect API. Ingress exists only where something must connect:
# MLflow from the training flow and the operators' CIDRs, its database from MLflow.

resource "aws_security_group" "worker" {
  name        = local.services.worker.name
  description = "Prefect worker: out to the Prefect and ECS APIs only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "training" {
  # checkov:skip=CKV2_AWS_5:attached to each train_flow run by the Prefect worker's RunTask (the work pool's network configuration), not by a resource here
  name        = local.services.training.name
  description = "train_flow runs: out to the AWS and Prefect APIs and to MLflow"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "monitoring" {
  # checkov:skip=CKV2_AWS_5:attached to each drift_check_flow run by the Prefect worker's RunTask (the work pool's network configuration), not by a resource here
  name        = local.services.monitoring.name
  description = "drift_check_flow runs: out to the AWS and Prefect APIs and the alert webhook"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "promotion" {
  # checkov:skip=CKV2_AWS_5:attached to each live_promotion_flow and canary_flow run by the Prefect worker's RunTask (the work pool's network configuration), not by a resource here
  name        = local.services.promotion.name
  description = "live_promotion_flow and canary_flow runs: out to the AWS and Prefect APIs and to MLflow"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "mlflow" {
  name        = local.services.mlflow.name
  description = "MLflow server: in from train_flow runs and the operators, out to S3 and its database"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "mlflow_db" {
  name        = "${local.services.mlflow.name}-db"
  description = "MLflow's PostgreSQL: in from the MLflow server only, no egress"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "bot" {
  name        = local.services.bot.name
  description = "Moderation bot: out to Kinesis and S3 only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = {
    worker     = aws_security_group.worker.id
    training   = aws_security_group.training.id
    monitoring = aws_security_group.monitoring.id
    promotion  = aws_security_group.promotion.id
    mlflow     = aws_security_group.mlflow.id
    bot        = aws_security_group.bot.id
    strikes    = aws_security_group.strikes.id
    review     = aws_security_group.review.id
  }
  security_group_id = each.value
  description       = "HTTPS to the AWS APIs and the Prefect API"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "training_to_mlflow" {
  security_group_id            = aws_security_group.training.id
  description                  = "MLflow tracking API"
  ip_protocol                  = "tcp"
  from_port                    = local.services.mlflow.port
  to_port                      = local.services.mlflow.port
  referenced_security_group_id = aws_security_group.mlflow.id
}

resource "aws_vpc_security_group_ingress_rule" "mlflow_from_training" {
  security_group_id            = aws_security_group.mlflow.id
  description                  = "train_flow runs"
  ip_protocol                  = "tcp"
  from_port                    = local.services.mlflow.port
  to_port                      = local.services.mlflow.port
  referenced_security_group_id = aws_security_group.training.id
}

# The promotion flows read and tag registry versions and download a version's files through MLflow.
resource "aws_vpc_security_group_egress_rule" "promotion_to_mlflow" {
  security_group_id            = aws_security_group.promotion.id
  description                  = "MLflow tracking API"
  ip_protocol                  = "tcp"
  from_port                    = local.services.mlflow.port
  to_port                      = local.services.mlflow.port
  referenced_security_group_id = aws_security_group.mlflow.id
}

resource "aws_vpc_security_group_ingress_rule" "mlflow_from_promotion" {
  security_group_id            = aws_security_group.mlflow.id
  description                  = "live_promotion_flow and canary_flow runs"
  ip_protocol                  = "tcp"
  from_port                    = local.services.mlflow.port
  to_port                      = local.services.mlflow.port
  referenced_security_group_id = aws_security_group.promotion.id
}

resource "aws_vpc_security_group_ingress_rule" "mlflow_from_operators" {
  for_each          = toset(var.operator_cidrs)
  security_group_id = aws_security_group.mlflow.id
  description       = "operators (the MLflow UI)"
  ip_protocol       = "tcp"
  from_port         = local.services.mlflow.port
  to_port           = local.services.mlflow.port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "mlflow_to_db" {
  security_group_id            = aws_security_group.mlflow.id
  description                  = "PostgreSQL backend store"
  ip_protocol                  = "tcp"
  from_port                    = aws_db_instance.mlflow.port
  to_port                      = aws_db_instance.mlflow.port
  referenced_security_group_id = aws_security_group.mlflow_db.id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_mlflow" {
  security_group_id            = aws_security_group.mlflow_db.id
  description                  = "the MLflow server"
  ip_protocol                  = "tcp"
  from_port                    = aws_db_instance.mlflow.port
  to_port                      = aws_db_instance.mlflow.port
  referenced_security_group_id = aws_security_group.mlflow.id
}

# The flows find MLflow by name inside the VPC (Cloud Map keeps the name on the running task's address).
resource "aws_service_discovery_private_dns_namespace" "services" {
  name        = "${local.services.cluster}.internal"
  description = "names of the chat-moderation services inside the VPC"
  vpc         = var.vpc_id
}
