# Least privilege, one role per deployable (tests/unit/test_iam_least_privilege.py holds it): no
# action with a wildcard, no resource "*" but where the action has no resource-level permission
# (each such statement says so), every policy an aws_iam_policy_document, no managed policy.
#
# The consumer reads its one input stream, writes its one output stream, the archive prefix and the
# dead-letter queues, and reads the models bucket. Nothing else.
data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "consumer" {
  name               = "${local.stack.consumer.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

data "aws_iam_policy_document" "consumer" {
  statement {
    sid = "ReadInput"
    actions = [
      "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:ListStreams",
    ]
    resources = [aws_kinesis_stream.input.arn]
  }
  statement {
    sid       = "WriteVerdicts"
    actions   = ["kinesis:PutRecords", "kinesis:PutRecord"]
    resources = [aws_kinesis_stream.verdicts.arn]
  }
  statement {
    sid       = "WriteArchive"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.archive_prefix}*"]
  }
  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.models.arn}/*"]
  }
  # challenger.json (canary.json) is absent whenever no challenger (canary) is published: NoSuchKey, not
  # AccessDenied, says so.
  statement {
    sid       = "TellMissingFromForbidden"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.models.arn]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.dead_letter.arn, aws_sqs_queue.on_failure.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.consumer.arn}:*"]
  }
}

resource "aws_iam_role_policy" "consumer" {
  name   = "consumer"
  role   = aws_iam_role.consumer.id
  policy = data.aws_iam_policy_document.consumer.json
}

# --- the ECS deployables: a task role each (what its code calls) and an execution role each (what
# ECS does to start it: pull its image, write its log group, read the secrets its definition names)

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each           = local.ecs_services
  name               = "${each.value.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.ecs_services
  statement {
    sid       = "RegistryToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the registry token is account-wide: the action has no resource-level permission
  }
  statement {
    sid       = "PullOwnImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.service[each.key].arn]
  }
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.service[each.key].arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.ecs_services
  name     = "execution"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution[each.key].json
}

# The secrets a task definition injects into its container (the bot's names none).
locals {
  injected_secrets = {
    worker     = [aws_secretsmanager_secret.prefect_api_key.arn]
    training   = [aws_secretsmanager_secret.prefect_api_key.arn]
    monitoring = [aws_secretsmanager_secret.prefect_api_key.arn]
    promotion  = [aws_secretsmanager_secret.prefect_api_key.arn]
    mlflow     = [aws_db_instance.mlflow.master_user_secret[0].secret_arn]
    review     = [aws_secretsmanager_secret.review_session.arn, aws_secretsmanager_secret.review_appeal_token.arn]
  }
}

data "aws_iam_policy_document" "execution_secrets" {
  for_each = local.injected_secrets
  dynamic "statement" {
    for_each = each.value
    content {
      sid       = "InjectedSecret${statement.key}"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  for_each = local.injected_secrets
  name     = "injected-secrets"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution_secrets[each.key].json
}

# The Prefect worker starts the flows' task definitions (any revision: training, monitoring and
# promotion) in this cluster, watches and stops those tasks, and passes the flows' roles to ECS. It
# registers no task definition and reads no data.
locals {
  cluster_tasks = "arn:aws:ecs:${local.region}:${local.account_id}:task/${local.services.cluster}/*"
}

resource "aws_iam_role" "worker" {
  name               = "${local.services.worker.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid     = "RunTheFlows"
    actions = ["ecs:RunTask"]
    resources = [
      "${aws_ecs_task_definition.training.arn_without_revision}:*",
      "${aws_ecs_task_definition.monitoring.arn_without_revision}:*",
      "${aws_ecs_task_definition.promotion.arn_without_revision}:*",
    ]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.services.arn]
    }
  }
  statement {
    sid       = "TagTheTasksItStarts"
    actions   = ["ecs:TagResource"]
    resources = [local.cluster_tasks]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }
  statement {
    sid       = "WatchAndStopItsTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.cluster_tasks]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.services.arn]
    }
  }
  statement {
    sid       = "ReadTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"] # DescribeTaskDefinition has no resource-level permission; it reads, never runs
  }
  statement {
    sid     = "PassTheFlowsRoles"
    actions = ["iam:PassRole"]
    resources = [
      aws_iam_role.training.arn,
      aws_iam_role.monitoring.arn,
      aws_iam_role.promotion.arn,
      aws_iam_role.execution["training"].arn,
      aws_iam_role.execution["monitoring"].arn,
      aws_iam_role.execution["promotion"].arn,
    ]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# train_flow (training/registry.py, training/lock.py): reads and conditionally writes champion.json
# and the lock record locks/champion.json (If-None-Match / If-Match: a plain s3:PutObject), writes a
# version's files under models/<model>/, challenger.json and canary.json, deletes nothing but those two
# (shadow scoring withdrawn, a canary completed or rolled back), never touches policy.json. Its labels come
# from DATA_DIR and the run's parameters, not from the archive; MLflow is reached over the network.
resource "aws_iam_role" "training" {
  name               = "${local.services.training.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "training" {
  statement {
    sid     = "ReadChampionAndLock"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.challenger_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.canary_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_lock_key}",
    ]
  }
  statement {
    sid     = "WriteChampionLockAndVersions"
    actions = ["s3:PutObject"]
    resources = [
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.challenger_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.canary_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_lock_key}",
      "${aws_s3_bucket.models.arn}/${local.models_prefix}*",
    ]
  }
  # `python -m training shadow --stop`: shadow scoring ends when challenger.json is gone; a canary
  # completes or rolls back when canary.json is.
  statement {
    sid     = "WithdrawChallengerOrCanary"
    actions = ["s3:DeleteObject"]
    resources = [
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.challenger_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.canary_manifest_key}",
    ]
  }
  # Without it a missing key answers AccessDenied, not NoSuchKey: the first run finds no champion and
  # no lock, and runtime.objects.read_object tells "absent" from "forbidden" by that code.
  statement {
    sid       = "TellMissingFromForbidden"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.models.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "training" {
  name   = "training"
  role   = aws_iam_role.training.id
  policy = data.aws_iam_policy_document.training.json
}

# drift_check_flow (monitoring/flow.py, archive.py, alerts.py): lists and reads the archive and feedback
# prefixes, reads and writes the reports prefix (reports, the drift state), reads champion.json and the
# champion's files and policy.json, reads the dead-letter queue's depth and the alert webhook secret.
resource "aws_iam_role" "monitoring" {
  name               = "${local.services.monitoring.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "monitoring" {
  # The archive, the moderators' decisions and the appeals' outcomes (monitoring/flow.py
  # check_overturns: each model version's removals beside what their appeals decided).
  statement {
    sid     = "ReadArchiveAndFeedback"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.archive_prefix}*",
      "${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.feedback_prefix}*",
      "${aws_s3_bucket.archive.arn}/${local.appeal_outcomes_prefix}*",
    ]
  }
  statement {
    sid       = "ReadWriteReports"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.reports_prefix}*"]
  }
  # ListObjectsV2 over the two prefixes, and NoSuchKey (not AccessDenied) for a drift state not yet written.
  statement {
    sid       = "ListArchive"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archive.arn]
  }
  statement {
    sid     = "ReadChampion"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.models_prefix}*",
    ]
  }
  # `python -m monitoring shadow`: each channel's audit share, the probability its labels were asked for.
  statement {
    sid       = "ReadPolicies"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.models.arn}/${local.stack.models_bucket.policy_key}"]
  }
  statement {
    sid       = "DeadLetterDepth"
    actions   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }
  statement {
    sid       = "AlertWebhook"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.alert_webhook.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "monitoring" {
  name   = "monitoring"
  role   = aws_iam_role.monitoring.id
  policy = data.aws_iam_policy_document.monitoring.json
}

# live_promotion_flow (monitoring/live_flow.py) and canary_flow (monitoring/canary.py): list and read
# the archive, feedback and appeals' outcomes (monitoring/archive.py read_archive, read_feedback,
# read_outcomes), read policy.json (runtime/policies.py PolicySource); in the models bucket read
# challenger.json and canary.json, and move the champion through training/registry.py (start_canary,
# widen_canary, end_canary: a completion is move_champion): the champion lock and champion.json read and
# conditionally written (If-None-Match / If-Match: a plain s3:PutObject), a version's files staged
# under models/<model>/, canary.json rewritten, challenger.json and canary.json deleted. Never writes
# policy.json or challenger.json (publishing a challenger is train_flow's); registry versions are
# read and tagged over the network, in MLflow; the audit trail is appended (audit_append below).
resource "aws_iam_role" "promotion" {
  name               = "${local.services.promotion.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "promotion" {
  # ListObjectsV2 of the three prefixes the flows read (read_archive, read_feedback, read_outcomes);
  # no single key of this bucket is read that may be absent.
  statement {
    sid       = "ListEvidence"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archive.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.stack.archive_bucket.archive_prefix}*",
        "${local.stack.archive_bucket.feedback_prefix}*",
        "${local.appeal_outcomes_prefix}*",
      ]
    }
  }
  # the verdicts both models gave, the moderators' labels, and (canary_flow) appeals' outcomes: not the
  # statements of reasons beside them
  statement {
    sid     = "ReadEvidence"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.archive_prefix}*",
      "${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.feedback_prefix}*",
      "${aws_s3_bucket.archive.arn}/${local.appeal_outcomes_prefix}*",
    ]
  }
  # the manifests and the lock (training/registry.py read_champion, read_canary, champion_lock; the
  # challenger in live_flow.py), and the channels' policies the evidence is weighed by
  statement {
    sid     = "ReadManifestsLockAndPolicies"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.challenger_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.canary_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_lock_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.policy_key}",
    ]
  }
  # start_canary and widen_canary, and a completion's move_champion (stage_champion, commit_manifest, the
  # lock taken and released)
  statement {
    sid     = "MoveChampionAndCanary"
    actions = ["s3:PutObject"]
    resources = [
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.canary_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.champion_lock_key}",
      "${aws_s3_bucket.models.arn}/${local.models_prefix}*",
    ]
  }
  # start_canary ends the challenger publication of its version; end_canary, completed or rolled back
  statement {
    sid     = "WithdrawChallengerOrCanary"
    actions = ["s3:DeleteObject"]
    resources = [
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.challenger_manifest_key}",
      "${aws_s3_bucket.models.arn}/${local.stack.models_bucket.canary_manifest_key}",
    ]
  }
  # challenger.json and canary.json are absent when nothing is published, the lock before the first
  # move: runtime.objects.read_object tells that NoSuchKey from AccessDenied by this permission.
  statement {
    sid       = "TellMissingFromForbidden"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.models.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "promotion" {
  name   = "promotion"
  role   = aws_iam_role.promotion.id
  policy = data.aws_iam_policy_document.promotion.json
}

# The MLflow server: its artifact bucket only (the backend store is reached with a password).
resource "aws_iam_role" "mlflow" {
  name               = "${local.services.mlflow.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "mlflow" {
  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.mlflow_artifacts.arn]
  }
  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.mlflow_artifacts.arn}/*"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "mlflow" {
  name   = "mlflow"
  role   = aws_iam_role.mlflow.id
  policy = data.aws_iam_policy_document.mlflow.json
}

# The moderation bot (producer_sim/bot.py): ListShards, GetShardIterator and GetRecords on the verdicts
# stream, the escalations queue received and deleted, PutObject under the feedback and statements
# prefixes, GetObject of the channel policies.
resource "aws_iam_role" "bot" {
  name               = "${local.services.bot.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "bot" {
  statement {
    sid       = "ReadVerdicts"
    actions   = ["kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"]
    resources = [aws_kinesis_stream.verdicts.arn]
  }
  statement {
    sid       = "ApplyEscalations"
    actions   = ["sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [aws_sqs_queue.escalations.arn]
  }
  statement {
    sid     = "WriteFeedbackAndStatements"
    actions = ["s3:PutObject"]
    resources = [
      "${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.feedback_prefix}*",
      "${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.statements_prefix}*",
    ]
  }
  statement {
    sid       = "ReadPolicies"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.models.arn}/${local.stack.models_bucket.policy_key}"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "bot" {
  name   = "bot"
  role   = aws_iam_role.bot.id
  policy = data.aws_iam_policy_document.bot.json
}

# The review app (review/): its table and indexes; the strikes read and cleared; the archive read (list
# and get under the archive prefix); decisions written under the feedback prefix and appeals' outcomes under the statements
# prefix; the channel policies read.
resource "aws_iam_role" "review" {
  name               = "${local.services.review.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "review" {
  statement {
    sid = "ReviewTable"
    actions = [
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
      "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
    ]
    resources = [aws_dynamodb_table.review.arn, "${aws_dynamodb_table.review.arn}/index/*"]
  }
  statement {
    # an item's page reads its author's strikes; a moderator clears them (a `cleared` item)
    sid       = "ReadAndClearStrikes"
    actions   = ["dynamodb:Query", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.strikes.arn]
  }
  statement {
    sid       = "ListArchive"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archive.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.stack.archive_bucket.archive_prefix}*"]
    }
  }
  statement {
    sid       = "ReadArchive"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.archive_prefix}*"]
  }
  statement {
    sid       = "WriteDecisions"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.feedback_prefix}*"]
  }
  statement {
    sid       = "WriteAppealOutcomes"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.stack.archive_bucket.statements_prefix}*"]
  }
  statement {
    sid       = "ReadPolicies"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.models.arn}/${local.stack.models_bucket.policy_key}"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "review" {
  name   = "review"
  role   = aws_iam_role.review.id
  policy = data.aws_iam_policy_document.review.json
}

# The audit trail's writers (runtime/audit.py): the bot, the review app, a champion's move in train_flow,
# a champion's or canary's move in live_promotion_flow and canary_flow (training/registry.py _audit,
# _audit_move), and an erasure run as the monitoring task. Each appends segments under the audit prefix
# (created only if absent) and reads its own last one back; nothing here can delete or overwrite
# (Object Lock).
data "aws_iam_policy_document" "audit_append" {
  statement {
    sid       = "AppendAudit"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/${local.stack.audit_bucket.prefix}*"]
  }
  statement {
    sid       = "ListAudit"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.stack.audit_bucket.prefix}*"]
    }
  }
}

resource "aws_iam_role_policy" "audit_append" {
  for_each = {
    bot        = aws_iam_role.bot.id
    review     = aws_iam_role.review.id
    training   = aws_iam_role.training.id
    monitoring = aws_iam_role.monitoring.id
    promotion  = aws_iam_role.promotion.id
  }
  name   = "audit-append"
  role   = each.value
  policy = data.aws_iam_policy_document.audit_append.json
}
