# The MLflow tracking server: an ECS Fargate service, its backend store on RDS PostgreSQL, its
# artifacts in a bucket of their own.
#
# Fargate rather than EC2: the server keeps no state of its own (runs and the registry in PostgreSQL,
# artifacts in S3), so a task is enough; it then gets a task role like every other deployable here,
# the same image, log and network pattern, and no instance to patch, harden (IMDSv2, SSH) or give an
# instance profile.
#
# A bucket of its own rather than a prefix of the models bucket: the consumer reads the models bucket
# and trusts what champion.json names there; the MLflow server, reachable over the network by the
# training flow and the operators, can then write nothing the consumer reads. The server proxies
# every artifact upload and download (`--serve-artifacts`), so the training flow reaches artifacts
# through it, over the network, and only this role touches the bucket.
locals {
  mlflow_host         = "${aws_service_discovery_service.mlflow.name}.${aws_service_discovery_private_dns_namespace.services.name}"
  mlflow_tracking_uri = "http://${local.mlflow_host}:${local.services.mlflow.port}"
}

resource "aws_db_subnet_group" "mlflow" {
  name       = local.services.mlflow.name
  subnet_ids = var.subnet_ids
}

# TLS required on every connection; statements slower than a second and schema changes logged.
resource "aws_db_parameter_group" "mlflow" {
  name   = local.services.mlflow.name
  family = "postgres16"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

# The master password is made and kept by RDS in Secrets Manager (encrypted with the stack's key);
# it is never in Terraform's state. The MLflow task gets it as PGPASSWORD from its execution role.
resource "aws_db_instance" "mlflow" {
  # checkov:skip=CKV_AWS_157:the registry is off the serving path (the consumer follows champion.json in S3); one zone, automated backups and deletion protection
  # checkov:skip=CKV_AWS_161:MLflow connects through SQLAlchemy with the RDS-managed password; IAM tokens last 15 minutes and the server has no way to renew them
  # checkov:skip=CKV_AWS_118:Performance Insights and the exported PostgreSQL log cover a registry's load; enhanced monitoring needs a role with an AWS-managed policy
  identifier                      = local.services.mlflow.name
  engine                          = "postgres"
  engine_version                  = "16"
  instance_class                  = var.mlflow_db_instance_class
  allocated_storage               = 20
  max_allocated_storage           = 100
  storage_type                    = "gp3"
  storage_encrypted               = true
  kms_key_id                      = aws_kms_key.data.arn
  db_name                         = local.services.mlflow.database
  username                        = "mlflow"
  manage_master_user_password     = true
  master_user_secret_kms_key_id   = aws_kms_key.data.arn
  db_subnet_group_name            = aws_db_subnet_group.mlflow.name
  parameter_group_name            = aws_db_parameter_group.mlflow.name
  vpc_security_group_ids          = [aws_security_group.mlflow_db.id]
  publicly_accessible             = false
  backup_retention_period         = 14
  deletion_protection             = true
  skip_final_snapshot             = false
  final_snapshot_identifier       = "${local.services.mlflow.name}-final"
  copy_tags_to_snapshot           = true
  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.data.arn
  depends_on                      = [aws_cloudwatch_log_group.service]
}

resource "aws_service_discovery_service" "mlflow" {
  name = local.services.mlflow.name
  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.services.id
    routing_policy = "MULTIVALUE"
    dns_records {
      type = "A"
      ttl  = 10
    }
  }
}

resource "aws_ecs_task_definition" "mlflow" {
  family                   = local.services.mlflow.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.mlflow.cpu
  memory                   = local.services.mlflow.memory_mb
  execution_role_arn       = aws_iam_role.execution["mlflow"].arn
  task_role_arn            = aws_iam_role.mlflow.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "mlflow"
    image                  = local.images.mlflow
    essential              = true
    readonlyRootFilesystem = true
    portMappings           = [{ containerPort = local.services.mlflow.port, protocol = "tcp" }]
    command = [
      "mlflow", "server",
      "--host", "0.0.0.0",
      "--port", tostring(local.services.mlflow.port),
      "--workers", "2",
      # No password in the URI: libpq takes it from PGPASSWORD.
      "--backend-store-uri", "postgresql://${aws_db_instance.mlflow.username}@${aws_db_instance.mlflow.address}:${aws_db_instance.mlflow.port}/${local.services.mlflow.database}?sslmode=require",
      "--serve-artifacts",
      "--artifacts-destination", "s3://${aws_s3_bucket.mlflow_artifacts.id}/",
      # The Host headers it answers (against DNS rebinding): its name in the VPC.
      "--allowed-hosts", "${local.mlflow_host},${local.mlflow_host}:${local.services.mlflow.port}",
    ]
    environment = [
      { name = "AWS_DEFAULT_REGION", value = local.region },
      { name = "TMPDIR", value = "/tmp" },
    ]
    secrets          = [{ name = "PGPASSWORD", valueFrom = "${aws_db_instance.mlflow.master_user_secret[0].secret_arn}:password::" }]
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["mlflow"]
  }])
}

resource "aws_ecs_service" "mlflow" {
  name             = local.services.mlflow.name
  cluster          = aws_ecs_cluster.services.id
  task_definition  = aws_ecs_task_definition.mlflow.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.mlflow.id]
    assign_public_ip = false
  }
  service_registries {
    registry_arn = aws_service_discovery_service.mlflow.arn
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
