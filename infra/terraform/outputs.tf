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
