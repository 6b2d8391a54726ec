"""What every deployable shares at run time: AWS clients and the one translation of their errors, the
one retry policy and poll-until, the stack's names, checkpoints, queues and paths."""
