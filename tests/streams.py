"""Read a whole Kinesis stream back, shard by shard, for tests that count every record."""

from infra.kinesis import read_stream

__all__ = ["read_stream"]
