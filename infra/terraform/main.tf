# Every name and event-source-mapping setting comes from the one stack file the Python side reads too.
locals {
  stack     = jsondecode(file("${path.module}/../../runtime/stack.json"))
  esm       = local.stack.event_source_mapping
  shards    = var.input_shards > 0 ? var.input_shards : local.stack.input_stream.shards
  alarm_ops = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
}

resource "aws_kms_key" "data" {
  description         = "chat-moderation: streams, buckets and queues at rest"
  enable_key_rotation = true
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
  bucket = local.stack.archive_bucket.name
}

resource "aws_s3_bucket" "models" {
  bucket = local.stack.models_bucket.name
}

resource "aws_s3_bucket_versioning" "all" {
  for_each = { archive = aws_s3_bucket.archive.id, models = aws_s3_bucket.models.id }
  bucket   = each.value
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "all" {
  for_each = { archive = aws_s3_bucket.archive.id, models = aws_s3_bucket.models.id }
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
  for_each                = { archive = aws_s3_bucket.archive.id, models = aws_s3_bucket.models.id }
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
