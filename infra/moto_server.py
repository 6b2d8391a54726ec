"""moto's server as the demo and the tests run it (`python -m infra.moto_server -H host -p port`): moto's
own server, with two changes that leave every answer as it was.

- **A Query reads only what it can match.** moto answers every Query by sorting the whole table
  (`Table.all_items`), then filtering and sorting the matches again. A table's Query by its partition key
  now reads that partition alone, and an index's Query reads the items unsorted: each query still
  sorts its own matches, so results, pages and their keys are the same. Without it, a Query's cost grew
  with the table (the strikes and review tables a demo fills), where DynamoDB's follows the items read.
- **Its service modules listed once.** moto finds a request's service by listing its package's folders
  (a `listdir` and a `stat` per folder) on every request, under the lock every request thread shares;
  the list is read once at start.
- **No line per request in its log** (werkzeug's access log): errors are still logged.

Both are checked at start: a moto whose Table no longer has the methods patched here refuses to start,
instead of serving slowly or wrongly.
"""

import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto import backends
from moto.dynamodb.models.table import Table

_ORIGINAL_QUERY: Callable[..., Any] = Table.query
_ORIGINAL_ALL_ITEMS: Callable[..., Any] = Table.all_items
_ORIGINAL_MODULES: Callable[[], Any] = backends.list_of_moto_modules
_SIGNATURE = inspect.signature(_ORIGINAL_QUERY)
if not {"hash_key", "index_name"} <= set(_SIGNATURE.parameters):
    raise RuntimeError(f"moto's Table.query{_SIGNATURE} has changed: review infra/moto_server.py")

# Set while a Query runs on this thread: the table it reads, and the partition (None: an index's query).
_RUNNING = threading.local()


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    bound = _SIGNATURE.bind(self, *args, **kwargs)
    partition = None if bound.arguments.get("index_name") else bound.arguments.get("hash_key")
    _RUNNING.query = (self, partition)
    try:
        return _ORIGINAL_QUERY(self, *args, **kwargs)
    finally:
        _RUNNING.query = None


def _all_items(self: Table) -> Any:
    running = getattr(_RUNNING, "query", None)
    if running is None or running[0] is not self:
        return _ORIGINAL_ALL_ITEMS(self)  # a Scan's order is its pages' order: kept sorted
    partition = running[1]
    if partition is not None:
        found = self.items.get(partition)
        if found is None:
            return []
        return list(found.values()) if self.range_key_attr else [found]
    if self.range_key_attr:
        return [item for part in self.items.values() for item in part.values()]
    return list(self.items.values())


def install() -> None:
    """Queries read only what they can match, and the service modules are listed once, from now on, in
    this process."""
    Table.query = _query  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]
    modules = tuple(_ORIGINAL_MODULES())
    backends.list_of_moto_modules = lambda: modules


def uninstall() -> None:
    Table.query = _ORIGINAL_QUERY  # type: ignore[method-assign]
    Table.all_items = _ORIGINAL_ALL_ITEMS  # type: ignore[method-assign]
    backends.list_of_moto_modules = _ORIGINAL_MODULES


@contextmanager
def installed() -> Iterator[None]:
    install()
    try:
        yield
    finally:
        uninstall()


def main() -> None:
    from moto.server import main as serve  # noqa: PLC0415 - the server's imports, only when serving

    install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve()


if __name__ == "__main__":
    main()
