"""The project's moto server (`python -m infra.moto_server`) answers exactly as moto's own: the same
tables (the review table with its indexes, the strikes table), the same items, and every kind of query
the stores make — by partition, by index, paged, backwards, counted, filtered — read from both."""

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.localstack import MotoServer, free_port
from review.store import AUTHOR_INDEX, PENDING_INDEX, QUEUE_INDEX
from review.store import ensure_table as ensure_review_table
from runtime import aws
from strikes.store import ensure_table as ensure_strikes_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """moto's own server and the project's, each fresh."""
    folder = tmp_path_factory.mktemp("moto-pair")
    motos_own = (str(Path(sys.executable).with_name("moto_server")),)
    plain = MotoServer(free_port(), folder / "plain.log", command=motos_own)
    ours = MotoServer(free_port(), folder / "ours.log")
    plain.start()
    ours.start()
    yield plain.endpoint_url, ours.endpoint_url, ours.log_path
    plain.stop()
    ours.stop()


def _items(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    review, strikes = [], []
    for n in range(600):
        item: dict[str, Any] = {
            "pk": {"S": f"item#{n:04d}"},
            "order": {"S": f"{rng.randrange(50):03d}#{n:04d}"},
        }
        item["queue"] = {"S": f"channel-{rng.randrange(4)}#{rng.choice(['open', 'decided'])}"}
        item["author"] = {"S": f"channel-{rng.randrange(4)}#user-{rng.randrange(30)}"}
        if rng.random() < 0.3:
            item["pending"] = {"S": "1"}
            item["decided_at"] = {"N": str(rng.randrange(1_000))}
        if n % 10 == 0:  # every kind of attribute value (the project's own items hold strings and numbers)
            item |= _every_kind(n)
        review.append(item)
    for n in range(900):
        strikes.append(
            {
                "pk": {"S": f"channel-{rng.randrange(3)}#user-{rng.randrange(40)}"},
                "sk": {"S": f"{rng.randrange(10_000):05d}#{n}"},
                "weight": {"N": str(rng.randrange(1, 4))},
            }
        )
    return review, strikes


def _every_kind(n: int) -> dict[str, Any]:
    """Attributes of every type an item may hold: scalars, sets, binary, and lists and maps of them."""
    scalars = {"S": f'text {n} \u202e\u05d0 "quoted"', "N": str(n * 1.5), "BOOL": n % 20 == 0, "NULL": True}
    return {
        "text": {"S": scalars["S"]},
        "empty": {"S": ""},
        "score": {"N": scalars["N"]},
        "flag": {"BOOL": scalars["BOOL"]},
        "nothing": {"NULL": True},
        "words": {"SS": [f"w{n}", f"v{n}"]},
        "counts": {"NS": [str(n), str(n + 1)]},
        "blob": {"B": bytes([n % 256, 0, 255])},
        "blobs": {"BS": [b"a", bytes([n % 256])]},
        "list": {"L": [{k: v} for k, v in scalars.items()] + [{"L": [{"N": "1"}]}, {"B": b"x"}]},
        "map": {"M": {"a": {"S": "b"}, "nested": {"M": {"n": {"N": "2"}, "l": {"L": [{"S": "c"}]}}}}},
    }


def _queries() -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for channel in range(5):  # the fifth channel holds nothing
        for status in ("open", "decided"):
            q = {":q": {"S": f"channel-{channel}#{status}"}}
            queries += [
                {
                    "IndexName": QUEUE_INDEX,
                    "KeyConditionExpression": "#q = :q",
                    "ExpressionAttributeValues": q,
                },
                {
                    "IndexName": QUEUE_INDEX,
                    "KeyConditionExpression": "#q = :q AND #o < :b",
                    "ExpressionAttributeValues": {**q, ":b": {"S": "020"}},
                    "Limit": 7,
                },
                {
                    "IndexName": QUEUE_INDEX,
                    "KeyConditionExpression": "#q = :q",
                    "ExpressionAttributeValues": q,
                    "ScanIndexForward": False,
                    "Limit": 9,
                },
            ]
        for user in (0, 3, 29, 31):
            a = {":a": {"S": f"channel-{channel}#user-{user}"}}
            queries.append(
                {
                    "IndexName": AUTHOR_INDEX,
                    "KeyConditionExpression": "author = :a",
                    "ExpressionAttributeValues": a,
                    "ScanIndexForward": False,
                    "Limit": 10,
                }
            )
    pending = {":p": {"S": "1"}}
    queries += [
        {
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "pending = :p",
            "ExpressionAttributeValues": pending,
        },
        {
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "pending = :p",
            "ExpressionAttributeValues": pending,
            "Select": "COUNT",
        },
        {
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "pending = :p AND decided_at BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {**pending, ":lo": {"N": "100"}, ":hi": {"N": "400"}},
            "Limit": 11,
        },
        {"KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "item#0042"}}},
        {"KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "item#9999"}}},
    ]
    return queries


def _strike_queries() -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for channel in range(4):
        for user in (0, 7, 39, 40):
            k = {":pk": {"S": f"channel-{channel}#user-{user}"}}
            queries += [
                {
                    "KeyConditionExpression": "pk = :pk",
                    "ExpressionAttributeValues": k,
                    "ConsistentRead": True,
                },
                {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": k, "Limit": 3},
                {
                    "KeyConditionExpression": "pk = :pk AND begins_with(sk, :s)",
                    "ExpressionAttributeValues": {**k, ":s": {"S": "0"}},
                    "ScanIndexForward": False,
                },
                {
                    "KeyConditionExpression": "pk = :pk AND sk > :s",
                    "FilterExpression": "weight > :w",
                    "ExpressionAttributeValues": {**k, ":s": {"S": "05000"}, ":w": {"N": "1"}},
                    "Limit": 4,
                },
            ]
    return queries


def _every_page(db: Any, table: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of the query, each with its items, count and last key (names added where used)."""
    names = {k: v for k, v in {"#q": "queue", "#o": "order"}.items() if k in query["KeyConditionExpression"]}
    kwargs = {**query, **({"ExpressionAttributeNames": names} if names else {})}
    pages = []
    while True:
        page = db.query(TableName=table, **kwargs)
        pages.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        if "LastEvaluatedKey" not in page or len(pages) > 200:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_the_projects_moto_server_answers_every_query_as_motos_own(servers: tuple[str, str, Path]) -> None:
    plain_url, ours_url, ours_log = servers
    review, strikes = _items(random.Random(7))
    answers: list[list[list[dict[str, Any]]]] = []
    reads: list[list[list[dict[str, Any]]]] = []
    for url in (plain_url, ours_url):
        db = aws.client("dynamodb", url)
        ensure_review_table(db, "review")
        ensure_strikes_table(db, "strikes")
        for item in review:
            db.put_item(TableName="review", Item=item)
        for item in strikes:
            db.put_item(TableName="strikes", Item=item)
        # an update and a delete after the writes: a query must read the table as it is now
        db.update_item(
            TableName="review",
            Key={"pk": {"S": "item#0042"}},
            UpdateExpression="SET #q = :q",
            ExpressionAttributeNames={"#q": "queue"},
            ExpressionAttributeValues={":q": {"S": "channel-4#open"}},
        )
        db.delete_item(TableName="strikes", Key={"pk": strikes[0]["pk"], "sk": strikes[0]["sk"]})
        answers.append(
            [_every_page(db, "review", q) for q in _queries()]
            + [_every_page(db, "strikes", q) for q in _strike_queries()]
        )
        # a scan keeps its order and its pages
        scan = db.scan(TableName="strikes", Limit=50)
        answers[-1].append([{k: scan.get(k) for k in ("Items", "Count", "LastEvaluatedKey")}])
        # items of every kind of attribute, read by key, in a batch and as an update returns them
        keys = [{"pk": {"S": f"item#{n:04d}"}} for n in range(0, 600, 10)]
        batch = db.batch_get_item(RequestItems={"review": {"Keys": keys[:50]}})["Responses"]["review"]
        updated = db.update_item(
            TableName="review",
            Key=keys[3],
            UpdateExpression="SET score = :s",
            ExpressionAttributeValues={":s": {"N": "7"}},
            ReturnValues="ALL_NEW",
        )
        reads.append(
            [
                [db.get_item(TableName="review", Key=k).get("Item", {}) for k in keys],
                sorted(batch, key=lambda i: i["pk"]["S"]),
                [updated["Attributes"]],
            ]
        )
    plain, ours = answers
    assert len(plain) == len(ours) > 100
    for expected, got in zip(plain, ours, strict=True):
        assert got == expected
    # the answers are not trivially equal: queries found items, several pages and none
    counts = [sum(p["Count"] for p in pages) for pages in plain]
    assert max(counts) > 20
    assert min(counts) == 0
    assert any(len(pages) > 3 for pages in plain)
    assert "POST / HTTP" not in ours_log.read_text()  # no line per request
    # and the items of every kind of attribute, as moto's own gives them
    assert reads[1] == reads[0]
    assert reads[0][0][0]["blob"] == {"B": bytes([0, 0, 255])}
    assert reads[0][0][0]["map"]["M"]["nested"]["M"]["l"] == {"L": [{"S": "c"}]}


def test_a_moto_without_the_methods_it_patches_is_refused() -> None:
    """The launcher checks moto's Table before serving: a Table.query without `index_name` stops it."""
    script = (
        "import moto.dynamodb.models.table as t\n"
        "def query(self, hash_key, *a): pass\n"
        "t.Table.query = query\n"
        "import infra.moto_server\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "review infra/moto_server.py" in done.stderr
