resource "aws_ecr_repository" "consumer" {
  name                 = local.stack.consumer.function_name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }
}

# The consumer's logs carry ids, reasons and counts, never message text; kept a year for audits.
resource "aws_cloudwatch_log_group" "consumer" {
  name              = "/aws/lambda/${local.stack.consumer.function_name}"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_lambda_function" "consumer" {
  # checkov:skip=CKV_AWS_116:a stream-triggered function has no asynchronous invocations; records it gives up on go to the event source mapping's on-failure queue
  # checkov:skip=CKV_AWS_117:it calls AWS APIs only (Kinesis, S3, SQS, KMS); no private resource to reach, and a VPC would add NAT or endpoints in front of every call
  # checkov:skip=CKV_AWS_272:code signing applies to .zip packages; the function is a container image from an immutable, scanned, KMS-encrypted ECR repository
  function_name                  = local.stack.consumer.function_name
  role                           = aws_iam_role.consumer.arn
  package_type                   = "Image"
  image_uri                      = "${aws_ecr_repository.consumer.repository_url}:${var.image_tag}"
  memory_size                    = local.stack.consumer.memory_mb
  timeout                        = local.stack.consumer.timeout_seconds
  reserved_concurrent_executions = local.stack.consumer.reserved_concurrency
  kms_key_arn                    = aws_kms_key.data.arn
  tracing_config {
    mode = "Active"
  }
  environment {
    variables = {
      CONSUMER_OUTPUT_STREAM     = aws_kinesis_stream.verdicts.name
      CONSUMER_ARCHIVE_BUCKET    = aws_s3_bucket.archive.id
      CONSUMER_MODELS_BUCKET     = aws_s3_bucket.models.id
      CONSUMER_DEAD_LETTER_QUEUE = aws_sqs_queue.dead_letter.name
      CONSUMER_CONTEXT_KEY       = var.context_key # encrypted at rest with the data key
      POWERTOOLS_SERVICE_NAME    = "chat-moderation"
    }
  }
  depends_on = [aws_cloudwatch_log_group.consumer]
}

resource "aws_lambda_event_source_mapping" "input" {
  function_name                      = aws_lambda_function.consumer.arn
  event_source_arn                   = aws_kinesis_stream.input.arn
  starting_position                  = local.esm.starting_position
  batch_size                         = local.esm.batch_size
  maximum_batching_window_in_seconds = local.esm.maximum_batching_window_seconds
  parallelization_factor             = local.esm.parallelization_factor
  bisect_batch_on_function_error     = local.esm.bisect_batch_on_function_error
  maximum_retry_attempts             = local.esm.maximum_retry_attempts
  maximum_record_age_in_seconds      = local.esm.maximum_record_age_seconds
  function_response_types            = local.esm.function_response_types
  tumbling_window_in_seconds         = local.esm.tumbling_window_seconds
  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.on_failure.arn
    }
  }
}
