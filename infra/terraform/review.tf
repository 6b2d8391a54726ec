# The moderators' review app (`python -m review serve`): a FastAPI app on ECS Fargate behind an
# application load balancer that terminates TLS, its queue in a DynamoDB table. The same process
# follows the archive (new objects → queue items) and writes decisions to the feedback prefix.
#
# Identity: in AWS the load balancer sits in front of the platform's identity provider (an OIDC
# `authenticate-oidc` action on the listener, configured per platform, e.g. the company's Okta or
# Cognito), so that moderators sign in with their own accounts and MFA; the users file stays the
# app's role and channel map. The session cookie is signed with a secret injected from Secrets
# Manager, `Secure` and `SameSite=Strict`.

resource "aws_dynamodb_table" "review" {
  name         = local.stack.review_table.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "queue"
    type = "S"
  }
  attribute {
    name = "order"
    type = "S"
  }
  attribute {
    name = "author"
    type = "S"
  }
  attribute {
    name = "pending"
    type = "S"
  }
  attribute {
    name = "decided_at"
    type = "N"
  }
  global_secondary_index {
    name            = "queue"
    hash_key        = "queue"
    range_key       = "order"
    projection_type = "ALL"
  }
  global_secondary_index {
    name            = "author"
    hash_key        = "author"
    range_key       = "order"
    projection_type = "ALL"
  }
  global_secondary_index {
    name            = "pending"
    hash_key        = "pending"
    range_key       = "decided_at"
    projection_type = "ALL"
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

resource "aws_secretsmanager_secret" "review_session" {
  # checkov:skip=CKV2_AWS_57:a new signing secret signs every moderator out; it is replaced by an operator at a chosen time, not by a rotation Lambda
  name        = "${local.services.review.name}/session-secret"
  description = "Signs the review app's session cookies (REVIEW_SESSION_SECRET)"
  kms_key_id  = aws_kms_key.data.arn
}

resource "aws_secretsmanager_secret" "review_appeal_token" {
  # checkov:skip=CKV2_AWS_57:the platform holds the same token; it is replaced with the platform's configuration, not by a rotation Lambda
  name        = "${local.services.review.name}/appeal-token"
  description = "What the chat platform sends to file its users' appeals (REVIEW_APPEAL_TOKEN)"
  kms_key_id  = aws_kms_key.data.arn
}

resource "aws_ecs_task_definition" "review" {
  family                   = local.services.review.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.services.review.cpu
  memory                   = local.services.review.memory_mb
  execution_role_arn       = aws_iam_role.execution["review"].arn
  task_role_arn            = aws_iam_role.review.arn
  volume {
    name = "scratch"
  }
  container_definitions = jsonencode([{
    name                   = "review"
    image                  = local.images.review
    essential              = true
    readonlyRootFilesystem = true
    portMappings           = [{ containerPort = local.services.review.port, protocol = "tcp" }]
    command                = ["python", "-m", "review", "serve"]
    environment = [
      { name = "REVIEW_REVIEW_TABLE", value = aws_dynamodb_table.review.name },
      { name = "REVIEW_STRIKES_TABLE", value = aws_dynamodb_table.strikes.name },
      { name = "REVIEW_ARCHIVE_BUCKET", value = aws_s3_bucket.archive.id },
      { name = "REVIEW_ARCHIVE_PREFIX", value = local.stack.archive_bucket.archive_prefix },
      { name = "REVIEW_FEEDBACK_PREFIX", value = local.stack.archive_bucket.feedback_prefix },
      { name = "REVIEW_STATEMENTS_PREFIX", value = local.stack.archive_bucket.statements_prefix },
      { name = "REVIEW_PUBLIC_URL", value = var.appeal_url },
      { name = "REVIEW_AUDIT_BUCKET", value = aws_s3_bucket.audit.id },
      { name = "REVIEW_AUDIT_PREFIX", value = local.stack.audit_bucket.prefix },
      { name = "REVIEW_MODELS_BUCKET", value = aws_s3_bucket.models.id },
      { name = "REVIEW_HOST", value = "0.0.0.0" },
      { name = "REVIEW_PORT", value = tostring(local.services.review.port) },
      { name = "REVIEW_USERS_FILE", value = "/app/review-users/users.json" },
      { name = "REVIEW_AWS_REGION", value = local.region },
    ]
    secrets = [
      { name = "REVIEW_SESSION_SECRET", valueFrom = aws_secretsmanager_secret.review_session.arn },
      { name = "REVIEW_APPEAL_TOKEN", valueFrom = aws_secretsmanager_secret.review_appeal_token.arn },
    ]
    mountPoints      = local.scratch_mount
    logConfiguration = local.container_logs["review"]
  }])
}

resource "aws_ecs_service" "review" {
  name             = local.services.review.name
  cluster          = aws_ecs_cluster.services.id
  task_definition  = aws_ecs_task_definition.review.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.review.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.review.arn
    container_name   = "review"
    container_port   = local.services.review.port
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

resource "aws_security_group" "review" {
  name        = local.services.review.name
  description = "Review app: from its load balancer in, to the AWS APIs out"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "review_from_lb" {
  security_group_id            = aws_security_group.review.id
  description                  = "The app's port, from its load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = local.services.review.port
  to_port                      = local.services.review.port
  referenced_security_group_id = aws_security_group.review_lb.id
}

resource "aws_security_group" "review_lb" {
  name        = "${local.services.review.name}-lb"
  description = "Review app load balancer: HTTPS from the moderators' network"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "review_lb_https" {
  security_group_id = aws_security_group.review_lb.id
  description       = "HTTPS from the moderators' network"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.review_allowed_cidr
}

resource "aws_vpc_security_group_egress_rule" "review_lb_to_app" {
  security_group_id            = aws_security_group.review_lb.id
  description                  = "To the app's port"
  ip_protocol                  = "tcp"
  from_port                    = local.services.review.port
  to_port                      = local.services.review.port
  referenced_security_group_id = aws_security_group.review.id
}

resource "aws_lb" "review" {
  # checkov:skip=CKV2_AWS_28:the WAF web ACL is the platform's, attached where its edge is configured
  # checkov:skip=CKV_AWS_91:access logs need a bucket of their own writable by the ELB service account, per region; the app logs every sign-in and decision itself
  name                       = local.services.review.name
  internal                   = true
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.review_lb.id]
  subnets                    = var.subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = true
}

resource "aws_lb_target_group" "review" {
  # checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the task stays inside the VPC's private subnets
  name        = local.services.review.name
  port        = local.services.review.port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path    = "/healthz"
    matcher = "200"
  }
}

resource "aws_lb_listener" "review_https" {
  load_balancer_arn = aws_lb.review.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.review_certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.review.arn
  }
}
