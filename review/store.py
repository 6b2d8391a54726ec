"""The review table in DynamoDB: items written once per message id, claimed and decided under
conditions, so that two moderators never decide one item and a redelivered verdict never queues twice.

One table, on-demand, keyed by `pk`:
- an item (`item#<message id>`): the immutable `ReviewItem` as JSON (`body`) and its state: `status`,
  the claim (`claim_by`, `claim_until`), the decision (`decided_by`, `decided_at`, `label`,
  `decided_category`, `undo_until`) and `pending` while its feedback is not yet written;
- a channel's counters (`stats#<channel>`): open, hidden, decided, expired, appealed; each state change
  moves them right after the item (`ReviewStore._apply`);
- an appeal lives on its message's item: `appealed_at`, `appeal_reason`, and the restriction it contests
  (`original_by`, `original_category`); the item waits as `appealed` until a moderator other than
  `original_by` decides it.
Indexes: `queue` (`<channel>#<status>`, `order`): a channel's items in a state, in reading order;
`author` (`<channel>#<user>`, `order`): a user's flagged messages in a channel; `pending` (sparse:
only items whose decision's feedback is not written yet, by `decided_at`).

Every condition the emulator (moto's server) honours as DynamoDB does: a refused one raises
`PreconditionFailedError` (runtime.errors), and nothing was written.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from contracts.chat import Label
from contracts.review import ItemStatus, QueueCounts, QueueEntry, QueueStats, ReviewItem
from review.core import Restriction, order_key
from runtime import tables
from runtime.errors import AwsError, NotFoundError, PreconditionFailedError, aws_errors
from runtime.logs import structured_logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = structured_logger("review")

QUEUE_INDEX = "queue"
AUTHOR_INDEX = "author"
PENDING_INDEX = "pending"
_COUNTERS = ("open", "hidden", "decided", "expired", "appealed")


class ClaimLostError(PreconditionFailedError):
    """The item is claimed by another moderator, already decided, or the caller's claim ran out (or
    the caller made the restriction its appeal contests)."""


class AppealConflictError(PreconditionFailedError):
    """The item changed since it was read (decided, undone, or its decision's feedback not yet final)."""


def ensure_table(dynamodb: "DynamoDBClient", name: str) -> bool:
    """Create the review table (on-demand, with its indexes) unless it exists; True when created.
    Terraform creates the same table in AWS (`infra/terraform/review.tf`)."""
    return tables.ensure_table(
        dynamodb,
        name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "queue", "AttributeType": "S"},
            {"AttributeName": "order", "AttributeType": "S"},
            {"AttributeName": "author", "AttributeType": "S"},
            {"AttributeName": "pending", "AttributeType": "S"},
            {"AttributeName": "decided_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            _index(QUEUE_INDEX, "queue", "order"),
            _index(AUTHOR_INDEX, "author", "order"),
            _index(PENDING_INDEX, "pending", "decided_at"),
        ],
    )


def _index(name: str, hash_key: str, range_key: str) -> Any:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(float(value))}


def _ts(value: datetime) -> float:
    return value.timestamp()


def _entry(raw: dict[str, Any]) -> QueueEntry:
    def s(name: str) -> str | None:
        value = raw.get(name)
        return value["S"] if value else None

    def t(name: str) -> datetime | None:
        value = raw.get(name)
        return datetime.fromtimestamp(float(value["N"]), UTC) if value else None

    label = s("label")
    return QueueEntry(
        item=ReviewItem.model_validate_json(raw["body"]["S"]),
        status=ItemStatus(raw["status"]["S"]),
        claimed_by=s("claim_by"),
        claim_until=t("claim_until"),
        decided_by=s("decided_by"),
        decided_at=t("decided_at"),
        label="remove" if label == "remove" else "allow" if label == "allow" else None,
        decided_category=s("decided_category"),
        appealed_at=t("appealed_at"),
        appeal_reason=s("appeal_reason"),
        original_by=s("original_by"),
        original_category=s("original_category"),
        original_at=t("original_at"),
    )


def record(item: ReviewItem, status: ItemStatus) -> dict[str, Any]:
    """An item as the table holds it (the benchmark bulk-loads these)."""
    return {
        "pk": _s(f"item#{item.message_id}"),
        "queue": _s(f"{item.channel_id}#{status}"),
        "order": _s(order_key(item)),
        "author": _s(f"{item.channel_id}#{item.user_id}"),
        "user_id": _s(item.user_id),
        "channel_id": _s(item.channel_id),
        "status": _s(status),
        "was": _s(status),
        "enqueued_at": _n(_ts(item.enqueued_at)),
        "body": _s(item.model_dump_json()),
    }


class ReviewStore:
    """The review table through one DynamoDB client."""

    def __init__(self, dynamodb: "DynamoDBClient", table: str) -> None:
        self._db = dynamodb
        self.table = table

    # --- writing items ----------------------------------------------------------------------

    def enqueue(self, item: ReviewItem, status: ItemStatus) -> bool:
        """Write the item unless one for its message exists; True when written. A redelivered, replayed
        or re-scored verdict finds its message's item (decided or not) and changes nothing."""
        try:
            self._apply(
                "enqueue",
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": record(item, status),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                item.channel_id,
                {status: 1},
            )
        except PreconditionFailedError:
            return False
        return True

    def _apply(self, operation: str, action: Any, channel_id: str, moves: dict[str, int]) -> None:
        """One conditional write (`PreconditionFailedError` when its condition is refused), then the
        channel's counters. Two writes, not one transaction: moto's server copies the whole table for
        every transaction (a demo's queue grew it past 19 GB), so the counters follow the item; a crash
        between the two, or a failed counter write (logged), leaves a count off — the listing is the
        truth, the counters are the page's summary."""
        ((kind, params),) = action.items()
        calls: dict[str, Any] = {
            "Put": self._db.put_item,
            "Update": self._db.update_item,
            "Delete": self._db.delete_item,
        }
        call = calls[kind]
        with aws_errors(f"{kind}Item {operation}"):
            call(**params)
        try:
            with aws_errors("UpdateItem counters"):
                self._db.update_item(**self._count(channel_id, moves)["Update"])
        except AwsError as err:
            log.warning({"event": "review_counter_error", "channel": channel_id, "code": err.code})

    def _count(self, channel_id: str, moves: dict[str, int]) -> Any:
        names = {f"#c{i}": name for i, name in enumerate(moves)}
        values = {f":v{i}": {"N": str(delta)} for i, delta in enumerate(moves.values())}
        adds = ", ".join(f"#c{i} :v{i}" for i in range(len(moves)))
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": _s(f"stats#{channel_id}")},
                "UpdateExpression": f"ADD {adds}",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # --- reading ----------------------------------------------------------------------------

    def get(self, message_id: UUID) -> QueueEntry | None:
        with aws_errors("GetItem"):
            raw = self._db.get_item(
                TableName=self.table, Key={"pk": _s(f"item#{message_id}")}, ConsistentRead=True
            )
        return _entry(raw["Item"]) if "Item" in raw else None

    def entries(self, message_ids: list[UUID]) -> list[QueueEntry]:
        """The items of these messages that exist (batches of 100; unprocessed keys asked again)."""
        found: list[QueueEntry] = []
        for start in range(0, len(message_ids), 100):
            keys: list[Any] = [{"pk": _s(f"item#{m}")} for m in message_ids[start : start + 100]]
            while keys:
                with aws_errors("BatchGetItem"):
                    raw = self._db.batch_get_item(RequestItems={self.table: {"Keys": keys}})
                responses: Any = raw["Responses"]
                found += [_entry(r) for r in responses.get(self.table, [])]
                unprocessed: Any = raw.get("UnprocessedKeys", {})
                keys = list(unprocessed.get(self.table, {}).get("Keys", []))
        return found

    def listing(
        self,
        channel_id: str,
        status: ItemStatus,
        limit: int,
        after: str | None = None,
        before: str | None = None,
    ) -> list[QueueEntry]:
        """A channel's items in one state in reading order (oldest, then most severe), from after the
        order key `after` (a page's last), or only those ordered before `before`."""
        condition = "#q = :q"
        values: dict[str, Any] = {":q": _s(f"{channel_id}#{status}")}
        if before is not None:
            condition += " AND #o < :b"
            values[":b"] = _s(before)
        kwargs: dict[str, Any] = {}
        if after is not None:
            kwargs["ExclusiveStartKey"] = self._start_key(channel_id, status, after)
        with aws_errors("Query queue"):
            raw = self._db.query(
                TableName=self.table,
                IndexName=QUEUE_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeNames={"#q": "queue", **({"#o": "order"} if before is not None else {})},
                ExpressionAttributeValues=values,
                Limit=limit,
                **kwargs,
            )
        return [_entry(r) for r in raw["Items"]]

    def _start_key(self, channel_id: str, status: ItemStatus, after: str) -> dict[str, Any]:
        message_id = after.rsplit("#", 1)[-1]
        return {
            "pk": _s(f"item#{message_id}"),
            "queue": _s(f"{channel_id}#{status}"),
            "order": _s(after),
        }

    def history(self, channel_id: str, user_id: str, limit: int = 10) -> list[QueueEntry]:
        """The user's flagged messages in the channel, newest first."""
        with aws_errors("Query author"):
            raw = self._db.query(
                TableName=self.table,
                IndexName=AUTHOR_INDEX,
                KeyConditionExpression="author = :a",
                ExpressionAttributeValues={":a": _s(f"{channel_id}#{user_id}")},
                ScanIndexForward=False,
                Limit=limit,
            )
        return [_entry(r) for r in raw["Items"]]

    def counts(self, channel_id: str) -> QueueCounts:
        """The channel's counters: one read of its counter item (a listing is a query of the index)."""
        with aws_errors("GetItem stats"):
            raw = self._db.get_item(TableName=self.table, Key={"pk": _s(f"stats#{channel_id}")}).get(
                "Item", {}
            )
        counts = {name: int(raw[name]["N"]) if name in raw else 0 for name in _COUNTERS}
        return QueueCounts(channel_id=channel_id, **counts)

    def stats(self, channel_id: str, open_listing: list[QueueEntry] | None = None) -> QueueStats:
        """The channel's counters and its oldest open item: the first of `open_listing` (the channel's
        open items in reading order, when the caller has read them), else queried."""
        counts = self.counts(channel_id)
        first = open_listing if open_listing is not None else self.listing(channel_id, ItemStatus.OPEN, 1)
        return QueueStats(
            **counts.model_dump(), oldest_enqueued_at=first[0].item.enqueued_at if first else None
        )

    # --- a moderator's moves ----------------------------------------------------------------

    def claim(self, message_id: UUID, moderator: str, now: datetime, lease: timedelta) -> QueueEntry:
        """Claim an undecided item for `lease` (or renew one's own claim); `ClaimLostError` when another
        moderator's claim runs or the item was decided or expired."""
        try:
            with aws_errors("UpdateItem claim"):
                raw = self._db.update_item(
                    TableName=self.table,
                    Key={"pk": _s(f"item#{message_id}")},
                    UpdateExpression="SET claim_by = :me, claim_until = :until",
                    ConditionExpression=(
                        "attribute_exists(pk) AND #s IN (:open, :hidden, :appealed) AND "
                        "(attribute_not_exists(claim_by) OR claim_by = :me OR claim_until < :now) AND "
                        "(#s <> :appealed OR original_by <> :me)"
                    ),
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":me": _s(moderator),
                        ":until": _n(_ts(now + lease)),
                        ":now": _n(_ts(now)),
                        ":open": _s(ItemStatus.OPEN),
                        ":hidden": _s(ItemStatus.HIDDEN),
                        ":appealed": _s(ItemStatus.APPEALED),
                    },
                    ReturnValues="ALL_NEW",
                )
        except PreconditionFailedError as err:
            raise ClaimLostError(err.operation, err.code, err.status) from err
        return _entry(raw["Attributes"])

    def appeal(
        self, entry: QueueEntry, restriction: Restriction, reason: str, now: datetime
    ) -> tuple[QueueEntry, bool]:
        """Record the user's appeal of the restriction `entry` is under (read just before): the item waits
        as `appealed`; returns the item and whether this call made the appeal. Idempotent: when the
        message was appealed meanwhile, that appeal is returned.
        `AppealConflictError` when the item changed otherwise (or a moderator's decision is still inside
        its undo window: its feedback not written yet)."""
        item = entry.item
        was = entry.status
        update: Any = {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": _s(f"item#{item.message_id}")},
                "UpdateExpression": (
                    "SET #s = :appealed, #q = :queue, was = :was, appealed_at = :now, "
                    "appeal_reason = :reason, original_by = :by, original_category = :category, "
                    "original_at = :at "
                    "REMOVE claim_by, claim_until"
                ),
                "ConditionExpression": (
                    "#s = :was AND attribute_not_exists(appealed_at) AND attribute_not_exists(pending)"
                ),
                "ExpressionAttributeNames": {"#s": "status", "#q": "queue"},
                "ExpressionAttributeValues": {
                    ":appealed": _s(ItemStatus.APPEALED),
                    ":queue": _s(f"{item.channel_id}#{ItemStatus.APPEALED}"),
                    ":was": _s(was),
                    ":now": _n(_ts(now)),
                    ":reason": _s(reason),
                    ":by": _s(restriction.by),
                    ":category": _s(restriction.category),
                    ":at": _n(_ts(restriction.at)),
                },
            }
        }
        try:
            self._apply("appeal", update, item.channel_id, {was: -1, ItemStatus.APPEALED: 1})
        except PreconditionFailedError as err:
            now_entry = self.get(item.message_id)
            if now_entry is not None and now_entry.appealed_at is not None:
                return now_entry, False
            raise AppealConflictError(err.operation, err.code, err.status) from err
        # the condition held: the item is what was read, with the appeal written over it (times as
        # the table gives them back)
        appealed = {
            "status": ItemStatus.APPEALED,
            "claimed_by": None,
            "claim_until": None,
            "appealed_at": datetime.fromtimestamp(_ts(now), UTC),
            "appeal_reason": reason,
            "original_by": restriction.by,
            "original_category": restriction.category,
            "original_at": datetime.fromtimestamp(_ts(restriction.at), UTC),
        }
        return entry.model_copy(update=appealed), True

    def decide(
        self,
        entry: QueueEntry,
        moderator: str,
        label: Label,
        category: str,
        now: datetime,
        undo: timedelta,
    ) -> None:
        """Record a decision on an item the moderator claims (its claim still running); the feedback
        is written once the undo window has passed (`pending`). `ClaimLostError` otherwise."""
        item = entry.item
        was = entry.status
        update: Any = {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": _s(f"item#{item.message_id}")},
                "UpdateExpression": (
                    "SET #s = :decided, #q = :queue, was = :was, decided_by = :me, decided_at = :now, "
                    "label = :label, decided_category = :category, undo_until = :undo, pending = :p "
                    "REMOVE claim_by, claim_until"
                ),
                "ConditionExpression": "#s = :was AND claim_by = :me AND claim_until >= :now",
                "ExpressionAttributeNames": {"#s": "status", "#q": "queue"},
                "ExpressionAttributeValues": {
                    ":decided": _s(ItemStatus.DECIDED),
                    ":queue": _s(f"{item.channel_id}#{ItemStatus.DECIDED}"),
                    ":was": _s(was),
                    ":me": _s(moderator),
                    ":now": _n(_ts(now)),
                    ":label": _s(label),
                    ":category": _s(category),
                    ":undo": _n(_ts(now + undo)),
                    ":p": _s("1"),
                },
            }
        }
        try:
            self._apply("decide", update, item.channel_id, {was: -1, ItemStatus.DECIDED: 1})
        except PreconditionFailedError as err:
            raise ClaimLostError(err.operation, err.code, err.status) from err

    def undo(self, entry: QueueEntry, moderator: str, now: datetime, lease: timedelta) -> None:
        """Take back one's own decision within its undo window (its feedback not written yet): the item
        is undecided again and claimed by the same moderator. `ClaimLostError` after the window."""
        item = entry.item
        with aws_errors("GetItem undo"):
            raw = self._db.get_item(
                TableName=self.table, Key={"pk": _s(f"item#{item.message_id}")}, ConsistentRead=True
            ).get("Item")
        if raw is None:
            raise NotFoundError("undo", "NotFound")
        was = ItemStatus(raw.get("was", _s(ItemStatus.OPEN))["S"])
        update: Any = {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": _s(f"item#{item.message_id}")},
                "UpdateExpression": (
                    "SET #s = :was, #q = :queue, claim_by = :me, claim_until = :until "
                    "REMOVE decided_by, decided_at, label, decided_category, undo_until, pending"
                ),
                "ConditionExpression": (
                    "#s = :decided AND decided_by = :me AND undo_until >= :now AND attribute_exists(pending)"
                ),
                "ExpressionAttributeNames": {"#s": "status", "#q": "queue"},
                "ExpressionAttributeValues": {
                    ":was": _s(was),
                    ":queue": _s(f"{item.channel_id}#{was}"),
                    ":me": _s(moderator),
                    ":until": _n(_ts(now + lease)),
                    ":decided": _s(ItemStatus.DECIDED),
                    ":now": _n(_ts(now)),
                },
            }
        }
        try:
            self._apply("undo", update, item.channel_id, {ItemStatus.DECIDED: -1, was: 1})
        except PreconditionFailedError as err:
            raise ClaimLostError(err.operation, err.code, err.status) from err

    def pending_feedback(self, now: datetime) -> tuple[list[QueueEntry], int]:
        """Decided items whose feedback is not written yet and whose undo window has passed, and how
        many decisions wait for their feedback in all (inside their undo window or not): one query."""
        due: list[QueueEntry] = []
        pending = 0
        cutoff = _ts(now)
        kwargs: dict[str, Any] = {}
        while True:
            with aws_errors("Query pending"):
                raw = self._db.query(
                    TableName=self.table,
                    IndexName=PENDING_INDEX,
                    KeyConditionExpression="pending = :p",
                    ExpressionAttributeValues={":p": _s("1")},
                    **kwargs,
                )
            pending += len(raw["Items"])
            due += [_entry(r) for r in raw["Items"] if float(r["undo_until"]["N"]) < cutoff]
            if "LastEvaluatedKey" not in raw:
                return due, pending
            kwargs["ExclusiveStartKey"] = raw["LastEvaluatedKey"]

    def feedback_written(self, message_id: UUID) -> None:
        """The decision's feedback object exists: the item leaves the pending index."""
        with aws_errors("UpdateItem written"):
            self._db.update_item(
                TableName=self.table,
                Key={"pk": _s(f"item#{message_id}")},
                UpdateExpression="REMOVE pending",
            )

    def expire(self, channel_id: str, cutoff: str, now: datetime) -> int:
        """Expire the channel's open items ordered before `cutoff` (enqueued before the channel's expiry
        time) that nobody holds a running claim on; returns how many."""
        expired = 0
        for entry in self.listing(channel_id, ItemStatus.OPEN, 100, before=cutoff):
            update: Any = {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": _s(f"item#{entry.item.message_id}")},
                    "UpdateExpression": "SET #s = :expired, #q = :queue, expired_at = :now",
                    "ConditionExpression": (
                        "#s = :open AND (attribute_not_exists(claim_by) OR claim_until < :now)"
                    ),
                    "ExpressionAttributeNames": {"#s": "status", "#q": "queue"},
                    "ExpressionAttributeValues": {
                        ":expired": _s(ItemStatus.EXPIRED),
                        ":queue": _s(f"{channel_id}#{ItemStatus.EXPIRED}"),
                        ":open": _s(ItemStatus.OPEN),
                        ":now": _n(_ts(now)),
                    },
                }
            }
            try:
                self._apply("expire", update, channel_id, {ItemStatus.OPEN: -1, ItemStatus.EXPIRED: 1})
            except PreconditionFailedError:
                continue  # claimed or decided meanwhile
            expired += 1
        return expired

    def erase_user(self, user_id: str, dry_run: bool = False) -> int:
        """Delete every item of the user's messages (an erasure request); returns how many (on a dry
        run, how many there are). A scan: erasure is rare, and no index is by user alone."""
        erased = 0
        kwargs: dict[str, Any] = {}
        while True:
            with aws_errors("Scan erase"):
                raw = self._db.scan(
                    TableName=self.table,
                    FilterExpression="user_id = :u",
                    ExpressionAttributeValues={":u": _s(user_id)},
                    ProjectionExpression="pk, channel_id, #s",
                    ExpressionAttributeNames={"#s": "status"},
                    **kwargs,
                )
            for r in raw["Items"]:
                if dry_run:
                    erased += 1
                    continue
                delete = {"Delete": {"TableName": self.table, "Key": {"pk": r["pk"]}}}
                self._apply("erase", delete, r["channel_id"]["S"], {r["status"]["S"]: -1})
                erased += 1
            if "LastEvaluatedKey" not in raw:
                return erased
            kwargs["ExclusiveStartKey"] = raw["LastEvaluatedKey"]
