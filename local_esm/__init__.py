"""The local event source mapping: local tooling that polls Kinesis and invokes the consumer's handler
in-process as AWS's event source mapping would (batches, retries, bisection, tumbling windows,
checkpoints, the on-failure destination). LocalStack cannot run Lambda code without Docker, so the demo,
the tests and the benchmarks run the consumer through it. It is not part of the Lambda image."""
