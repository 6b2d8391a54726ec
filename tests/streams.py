"""Read a whole Kinesis stream back, shard by shard, for tests that count every record."""

from typing import TYPE_CHECKING

from mypy_boto3_kinesis.type_defs import RecordTypeDef

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient


def read_stream(kinesis: "KinesisClient", stream: str) -> dict[str, list[RecordTypeDef]]:
    """Every record of every shard, from the trim horizon to the current tip, keyed by shard id."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    out: dict[str, list[RecordTypeDef]] = {}
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[RecordTypeDef] = []
        while iterator:
            resp = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend(resp["Records"])
            if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
                break
            iterator = resp.get("NextShardIterator", "")
        out[shard["ShardId"]] = records
    return out
