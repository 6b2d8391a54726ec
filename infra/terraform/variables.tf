variable "region" {
  description = "AWS region; empty means the region in runtime/stack.json."
  type        = string
  default     = ""
}

variable "input_shards" {
  description = "Shards of the chat-messages stream; 0 means the count in runtime/stack.json. Scale out here."
  type        = number
  default     = 0
}

variable "image_tag" {
  description = "Tag of the consumer's container image in the ECR repository."
  type        = string
  default     = "latest"
}

variable "alarm_topic_arn" {
  description = "SNS topic that receives alarm notifications (empty: alarms without actions)."
  type        = string
  default     = ""
}

variable "dead_letter_rate_threshold" {
  description = "Alarm when more than this share of the chat records is dead-lettered (5-minute periods)."
  type        = number
  default     = 0.05
}

# --- the services on ECS (Prefect worker and its flows, MLflow, the moderation bot) -------------
# No VPC is created here: the services join an existing one. Its subnets must reach the AWS APIs
# (a NAT gateway or VPC endpoints) and, for the worker and the flows, the Prefect API.

variable "vpc_id" {
  description = "VPC the services, the MLflow database and the service-discovery namespace live in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two or more, in different availability zones) for the tasks and the database."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An RDS subnet group needs subnets in at least two availability zones."
  }
}

variable "operator_cidrs" {
  description = "CIDR blocks (VPN, bastion) whose operators may open the MLflow UI; empty: nobody outside the training flow."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for cidr in var.operator_cidrs : can(cidrhost(cidr, 0)) && !endswith(cidr, "/0")])
    error_message = "Each operator CIDR must be a valid block narrower than the whole internet."
  }
}

variable "prefect_api_url" {
  description = "The Prefect API the worker polls and the flow runs report to (Prefect Cloud or a self-hosted server, over HTTPS)."
  type        = string
}

variable "worker_image_tag" {
  description = "Tag of the Prefect worker's image (prefect with prefect-aws) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "training_image_tag" {
  description = "Tag of the train_flow image (the project with its training group and DATA_DIR's labelled sets) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "monitoring_image_tag" {
  description = "Tag of the drift_check_flow image (the project with its monitoring group) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "promotion_image_tag" {
  description = "Tag of the live_promotion_flow and canary_flow image (the project with its training group: MLflow and Prefect) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "mlflow_image_tag" {
  description = "Tag of the MLflow server's image (mlflow with psycopg2 and boto3) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "bot_image_tag" {
  description = "Tag of the moderation bot's image (the project) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "strikes_image_tag" {
  description = "Tag of the strikes writer's image (the project) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "mlflow_db_instance_class" {
  description = "RDS instance class of MLflow's PostgreSQL backend store."
  type        = string
  default     = "db.t4g.small"
}

variable "review_image_tag" {
  description = "Tag of the review app's image (the project) in its ECR repository."
  type        = string
  default     = "latest"
}

variable "review_certificate_arn" {
  description = "ACM certificate of the review app's HTTPS listener."
  type        = string
}

variable "review_allowed_cidr" {
  description = "The network moderators reach the review app from (the load balancer is internal)."
  type        = string
}

variable "appeal_url" {
  description = "Where users appeal a restriction of their message (the platform's own page, which reaches the review app's appeals): named in every statement of reasons"
  type        = string
  default     = "https://chat.example/moderation"
}

variable "max_appeals_upheld_share" {
  description = "Alarm when more than this share of a category's decided appeals overturn the restriction in a day."
  type        = number
  default     = 0.5
}

variable "min_appeals_for_alarm" {
  description = "The decided appeals of a category in a day below which the appeals-upheld alarm stays quiet."
  type        = number
  default     = 10
}

variable "context_key" {
  description = "The secret the consumer's raid signal draws its hash functions and user fingerprints from (CONSUMER_CONTEXT_KEY; empty: the built-in, public ones)"
  type        = string
  default     = ""
  sensitive   = true
}

variable "promotion_path" {
  description = "Where a retrained version that passes its offline gates goes (TRAINING_PROMOTION_PATH): live, published as the challenger and promoted by live_promotion_flow through a canary; offline, champion at once."
  type        = string
  default     = "live"
  validation {
    condition     = contains(["live", "offline"], var.promotion_path)
    error_message = "The promotion path is live or offline."
  }
}
