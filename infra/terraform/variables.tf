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
