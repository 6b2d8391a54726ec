output "input_stream_arn" {
  value = aws_kinesis_stream.input.arn
}

output "verdicts_stream_arn" {
  value = aws_kinesis_stream.verdicts.arn
}

output "consumer_image_repository" {
  value = aws_ecr_repository.consumer.repository_url
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letter.url
}

output "mlflow_tracking_uri" {
  description = "MLflow inside the VPC (the training flow's MLFLOW_TRACKING_URI; operators from var.operator_cidrs)."
  value       = local.mlflow_tracking_uri
}

output "service_image_repositories" {
  description = "ECR repository of each service's image (push each with the tag its *_image_tag variable names)."
  value       = { for key, repo in aws_ecr_repository.service : key => repo.repository_url }
}

output "secrets_to_fill" {
  description = "Secrets created empty: put their values with `aws secretsmanager put-secret-value`."
  value = {
    prefect_api_key = aws_secretsmanager_secret.prefect_api_key.arn
    alert_webhook   = aws_secretsmanager_secret.alert_webhook.arn
  }
}

# The ECS work pool's settings and each deployment's job variables. The worker's role cannot look up
# subnets (no EC2 permissions), so each run's network configuration goes in the pool's base job
# template (`task_run_request.networkConfiguration`), not `vpc_id`.
output "prefect_deployments" {
  description = "Work pool settings, and per flow the task definition and network configuration of its runs."
  value = {
    work_pool                  = local.services.worker.work_pool
    cluster                    = aws_ecs_cluster.services.arn
    launch_type                = "FARGATE"
    prefect_api_key_secret_arn = aws_secretsmanager_secret.prefect_api_key.arn
    flows = {
      train_flow = {
        task_definition_arn = aws_ecs_task_definition.training.arn
        network_configuration = {
          awsvpcConfiguration = { subnets = var.subnet_ids, securityGroups = [aws_security_group.training.id], assignPublicIp = "DISABLED" }
        }
      }
      drift_check_flow = {
        task_definition_arn = aws_ecs_task_definition.monitoring.arn
        network_configuration = {
          awsvpcConfiguration = { subnets = var.subnet_ids, securityGroups = [aws_security_group.monitoring.id], assignPublicIp = "DISABLED" }
        }
      }
      # the two promotion checks: one task definition and role (flows.tf)
      live_promotion_flow = {
        task_definition_arn = aws_ecs_task_definition.promotion.arn
        network_configuration = {
          awsvpcConfiguration = { subnets = var.subnet_ids, securityGroups = [aws_security_group.promotion.id], assignPublicIp = "DISABLED" }
        }
      }
      canary_flow = {
        task_definition_arn = aws_ecs_task_definition.promotion.arn
        network_configuration = {
          awsvpcConfiguration = { subnets = var.subnet_ids, securityGroups = [aws_security_group.promotion.id], assignPublicIp = "DISABLED" }
        }
      }
    }
  }
}
