# Every name and event-source-mapping setting comes from the one stack file the Python side reads too.
locals {
  stack     = jsondecode(file("${path.module}/../../runtime/stack.json"))
  esm       = local.stack.event_source_mapping
  shards    = var.input_shards > 0 ? var.input_shards : local.stack.input_stream.shards
  alarm_ops = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
}

data "aws_caller_identity" "current" {}

# The account administers the key (IAM policies then grant its use: each deployable's roles); CloudWatch
# Logs may use it for this stack's log groups only.
data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_111:a key policy's resource "*" is the key itself; AWS requires it so
  # checkov:skip=CKV_AWS_356:a key policy's resource "*" is the key itself; AWS requires it so
  # checkov:skip=CKV_AWS_109:the account root administers its own key (the default key policy); use is granted by IAM, to each deployable's own roles
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid = "LogsEncryptThisStacksLogGroups"
    actions = [
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair",
      "kms:GenerateDataKeyPairWithoutPlaintext", "kms:DescribeKey",
    ]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [for name in local.log_group_names : "arn:aws:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${name}"]
    }
  }
}

locals {
  log_group_names = concat(
    ["/aws/lambda/${local.stack.consumer.function_name}"],
    values(local.service_log_groups),
    values(local.aws_written_log_groups),
  )
}

resource "aws_kms_key" "data" {
  description         = "chat-moderation: streams, buckets, queues, logs, secrets, the database and the images at rest"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
}

resource "aws_kinesis_stream" "input" {
  name             = local.stack.input_stream.name
  shard_count      = local.shards
  retention_period = local.stack.input_stream.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.data.arn
  stream_mode_details {
    stream_mode = "PROVISIONED"
  }
}

resource "aws_kinesis_stream" "verdicts" {
  name             = local.stack.output_stream.name
  shard_count      = local.stack.output_stream.shards
  retention_period = local.stack.output_stream.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.data.arn
}

resource "aws_s3_bucket" "archive" {
  # checkov:skip=CKV_AWS_18:object-level audit is the account's CloudTrail data events, set once per account; a per-stack access-log bucket would itself be unlogged and SSE-S3 only
  # checkov:skip=CKV_AWS_144:single-region by design: chat is personal data, kept where it was written and expired after 90 days; versioning guards against loss
  # checkov:skip=CKV2_AWS_62:nothing reacts to new archive objects: monitoring reads windows of the archive on its schedule
  bucket = local.stack.archive_bucket.name
}

resource "aws_s3_bucket" "models" {
  # checkov:skip=CKV_AWS_18:object-level audit is the account's CloudTrail data events, set once per account; a per-stack access-log bucket would itself be unlogged and SSE-S3 only
  # checkov:skip=CKV_AWS_144:single-region by design; every model version is also in the MLflow registry, and versioning guards against loss
  # checkov:skip=CKV2_AWS_62:the consumer polls champion.json with a conditional GET; no event consumer exists
  bucket = local.stack.models_bucket.name
}

# The audit trail (contracts/audit.py): segments written once, each day's records a hash chain, and
# every object locked against deletion and overwrite for the retention period (Object Lock in
# compliance mode: not even the account's root can shorten it).
resource "aws_s3_bucket" "audit" {
  # checkov:skip=CKV_AWS_18:object-level audit is the account's CloudTrail data events, set once per account; a per-stack access-log bucket would itself be unlogged and SSE-S3 only
  # checkov:skip=CKV_AWS_144:single-region by design; Object Lock and the hash chains guard the records, and replication would copy the personal ids elsewhere
  # checkov:skip=CKV2_AWS_62:the audit CLI reads the trail on request; no event consumer exists
  bucket              = local.stack.audit_bucket.name
  object_lock_enabled = true
}

resource "aws_s3_bucket_object_lock_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = local.stack.audit_bucket.retention_days
    }
  }
}

resource "aws_s3_bucket" "mlflow_artifacts" {
  # checkov:skip=CKV_AWS_18:object-level audit is the account's CloudTrail data events, set once per account; a per-stack access-log bucket would itself be unlogged and SSE-S3 only
  # checkov:skip=CKV_AWS_144:single-region by design; the champion's serving files are also in the models bucket, and versioning guards against loss
  # checkov:skip=CKV2_AWS_62:only the MLflow server reads and writes it, on request; no event consumer exists
  bucket = local.services.mlflow.artifacts_bucket
}

locals {
  buckets = {
    archive          = aws_s3_bucket.archive.id
    audit            = aws_s3_bucket.audit.id
    models           = aws_s3_bucket.models.id
    mlflow_artifacts = aws_s3_bucket.mlflow_artifacts.id
  }
}

resource "aws_s3_bucket_versioning" "all" {
  for_each = local.buckets
  bucket   = each.value
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "all" {
  for_each = local.buckets
  bucket   = each.value
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "all" {
  for_each                = local.buckets
  bucket                  = each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    id     = "expire-archive"
    status = "Enabled"
    filter {
      prefix = local.stack.archive_bucket.archive_prefix
    }
    expiration {
      days = local.stack.archive_bucket.expire_after_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# The two versioned buckets besides the archive: superseded versions are kept 90 days, then expire.
# The current version of every object is never expired — in the models bucket the champion and the
# lock with its fencing token; in MLflow's, the artifacts until MLflow deletes them (`mlflow gc`).
resource "aws_s3_bucket_lifecycle_configuration" "versioned" {
  for_each = { models = aws_s3_bucket.models.id, mlflow_artifacts = aws_s3_bucket.mlflow_artifacts.id }
  bucket   = each.value
  rule {
    id     = "expire-superseded-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# The audit trail expires after its retention (the lock's period); nothing is superseded in it.
resource "aws_s3_bucket_lifecycle_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    id     = "expire-audit"
    status = "Enabled"
    filter {}
    expiration {
      days = local.stack.audit_bucket.retention_days + 1
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = local.stack.dead_letter_queue.name
  message_retention_seconds = local.stack.dead_letter_queue.retention_seconds
  kms_master_key_id         = aws_kms_key.data.arn
}

resource "aws_sqs_queue" "on_failure" {
  name                      = local.stack.on_failure_queue.name
  message_retention_seconds = local.stack.on_failure_queue.retention_seconds
  kms_master_key_id         = aws_kms_key.data.arn
}
