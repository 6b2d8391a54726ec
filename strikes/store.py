"""The strikes table in DynamoDB: one item per strike, written under conditions, so that nothing read
twice adds a second strike.

On-demand, keyed by `pk` (`<length of the channel id>:<channel>#<user>`) and `sk`:
- a strike (`sk` = its key, `msg#<message id>` or `flood#<window start>`): `at`, `weight`, `source`,
  `category`, `decided_at` (the latest decision on it), `escalated` once its escalation was sent, and
  `expires` (TTL: clean-up only, `strikes.core.decayed` weighs every strike on read);
- a clearing (`sk` = `cleared`): when a moderator last cleared the user's strikes, and who.

A model's strike is put only where its key has none (`attribute_not_exists`): a redelivered verdict or
a replayed dead letter changes nothing, and a moderator's decision read first is not overwritten. A
decision replaces the strike unless a later decision is already there. Terraform creates the same
table in AWS (`infra/terraform/strikes.tf`).
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from contracts.strikes import Strike, StrikeSource
from runtime import tables
from runtime.errors import PreconditionFailedError, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CLEARED = "cleared"
TTL_ATTRIBUTE = "expires"  # Terraform's `ttl` block names the same
# A strike is deleted by TTL once it has decayed past any rung: 12 half-lives leave 1/4096 of it.
EXPIRE_AFTER_HALF_LIVES = 12


def ensure_table(dynamodb: "DynamoDBClient", name: str) -> bool:
    """Create the strikes table (on-demand, encrypted, TTL on `expires`) unless it exists; True when
    created. Terraform creates the same table in AWS (`infra/terraform/strikes.tf`)."""
    created = tables.ensure_table(
        dynamodb,
        name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    if created:
        with aws_errors("UpdateTimeToLive"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
    return created


def user_key(channel_id: str, user_id: str) -> str:
    """The partition of a user's strikes in a channel. Ids may hold "#": the channel's length comes
    first, so that ("a#b", "c") and ("a", "b#c") never share one."""
    return f"{len(channel_id)}:{channel_id}#{user_id}"


def _time(value: datetime) -> dict[str, str]:
    return {"N": repr(value.timestamp())}


def _from(value: Any) -> datetime | None:
    return datetime.fromtimestamp(float(value["N"]), UTC) if value else None


def _written(raw: dict[str, Any]) -> bool:
    """Whether an item read is a whole strike. DynamoDB applies an update atomically; moto's server
    (the tests' DynamoDB) first puts the bare key of an item an update creates, then sets its
    attributes, and a read in between sees the key alone: not a strike yet."""
    return "at" in raw


def _strike(raw: dict[str, Any]) -> Strike:
    at = _from(raw["at"])
    assert at is not None
    return Strike(
        key=raw["sk"]["S"],
        channel_id=raw["channel"]["S"],
        user_id=raw["user"]["S"],
        at=at,
        weight=float(raw["weight"]["N"]),
        source=StrikeSource(raw["source"]["S"]),
        category=raw["category"]["S"] if "category" in raw else None,
        decided_at=_from(raw.get("decided_at")),
        escalated=bool(raw.get("escalated", {}).get("BOOL", False)),
    )


class StrikeStore:
    """Strikes per (channel, user) in one table."""

    def __init__(self, dynamodb: "DynamoDBClient", table: str, half_life_days: float = 30.0) -> None:
        self._db = dynamodb
        self._table = table
        self._keep = timedelta(days=half_life_days * EXPIRE_AFTER_HALF_LIVES)

    def _attributes(self, strike: Strike) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "channel": {"S": strike.channel_id},  # as written: the key joins them with "#", ids may hold one
            "user": {"S": strike.user_id},
            "weight": {"N": repr(float(strike.weight))},
            "source": {"S": str(strike.source)},
            TTL_ATTRIBUTE: {"N": str(int((strike.at + self._keep).timestamp()))},
        }
        if strike.category is not None:
            attributes["category"] = {"S": strike.category}
        return attributes

    def add(self, strike: Strike) -> Strike | None:
        """Put a strike where its key has none; None when written, else the strike already there
        (read consistently)."""
        item = {
            "pk": {"S": user_key(strike.channel_id, strike.user_id)},
            "sk": {"S": strike.key},
            "at": _time(strike.at),
            "escalated": {"BOOL": strike.escalated},
            **self._attributes(strike),
        }
        try:
            with aws_errors("PutItem strike"):
                self._db.put_item(
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            return None
        except PreconditionFailedError:
            return self.get(strike.channel_id, strike.user_id, strike.key)

    def decide(self, strike: Strike) -> tuple[bool, Strike | None]:
        """Set a moderator's decision on its strike, unless a later decision is there: (applied, the
        strike as it was before, None when there was none)."""
        assert strike.decided_at is not None
        attributes = self._attributes(strike)
        names = {f"#{k}": k for k in attributes} | {"#at": "at", "#decided_at": "decided_at"}
        values = {f":{k}": v for k, v in attributes.items()} | {
            ":at": _time(strike.at),
            ":decided_at": _time(strike.decided_at),
        }
        sets = ", ".join(f"#{k} = :{k}" for k in attributes)
        try:
            with aws_errors("UpdateItem strike"):
                old = self._db.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": user_key(strike.channel_id, strike.user_id)}, "sk": {"S": strike.key}},
                    UpdateExpression=f"SET {sets}, #decided_at = :decided_at, #at = if_not_exists(#at, :at)",
                    ConditionExpression="attribute_not_exists(#decided_at) OR #decided_at <= :decided_at",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_OLD",
                ).get("Attributes")
        except PreconditionFailedError:
            return False, None
        return True, (_strike(old) if old and _written(old) else None)

    def mark_escalated(self, strike: Strike) -> None:
        """Its escalation was sent (a strike read again is not escalated twice)."""
        with aws_errors("UpdateItem escalated"):
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": user_key(strike.channel_id, strike.user_id)}, "sk": {"S": strike.key}},
                UpdateExpression="SET escalated = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )

    def get(self, channel_id: str, user_id: str, key: str) -> Strike | None:
        with aws_errors("GetItem strike"):
            raw = self._db.get_item(
                TableName=self._table,
                Key={"pk": {"S": user_key(channel_id, user_id)}, "sk": {"S": key}},
                ConsistentRead=True,
            ).get("Item")
        return _strike(raw) if raw and _written(raw) else None

    def of_user(self, channel_id: str, user_id: str) -> tuple[list[Strike], datetime | None]:
        """A user's strikes in a channel (expired ones the TTL has not removed yet among them) and when
        a moderator last cleared them (None: never)."""
        strikes: list[Strike] = []
        cleared: datetime | None = None
        paginator = self._db.get_paginator("query")
        with aws_errors("Query strikes"):
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": user_key(channel_id, user_id)}},
                ConsistentRead=True,
            ):
                for raw in page.get("Items", []):
                    if not _written(raw):
                        continue
                    if raw["sk"]["S"] == CLEARED:
                        cleared = _from(raw["at"])
                    else:
                        strikes.append(_strike(raw))
        return strikes, cleared

    def every_strike(self) -> Iterator[Strike]:
        """Every strike in the table (a scan: for reconciliation and reports, not the hot path)."""
        paginator = self._db.get_paginator("scan")
        with aws_errors("Scan strikes"):
            for page in paginator.paginate(TableName=self._table, ConsistentRead=True):
                items = page.get("Items", [])
                yield from (_strike(r) for r in items if _written(r) and r["sk"]["S"] != CLEARED)

    def clear(self, channel_id: str, user_id: str, by: str, at: datetime) -> None:
        """A moderator cleared the user's strikes: those made until `at` no longer count."""
        with aws_errors("PutItem cleared"):
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": user_key(channel_id, user_id)},
                    "sk": {"S": CLEARED},
                    "at": _time(at),
                    "by": {"S": by},
                    "channel": {"S": channel_id},
                    "user": {"S": user_id},
                },
            )

    def erase_user(self, user_id: str, dry_run: bool = False) -> int:
        """Delete the user's strikes and clearings in every channel (an erasure request); how many (on
        a dry run, how many there are). A scan: erasure is rare, and no index is by user alone."""
        found = 0
        paginator = self._db.get_paginator("scan")
        with aws_errors("Scan erase strikes"):
            pages = list(
                paginator.paginate(
                    TableName=self._table,
                    FilterExpression="#user = :user",
                    ExpressionAttributeNames={"#user": "user"},
                    ExpressionAttributeValues={":user": {"S": user_id}},
                    ProjectionExpression="pk, sk",
                )
            )
        for page in pages:
            for raw in page.get("Items", []):
                found += 1
                if not dry_run:
                    with aws_errors("DeleteItem strike"):
                        self._db.delete_item(TableName=self._table, Key={"pk": raw["pk"], "sk": raw["sk"]})
        return found
