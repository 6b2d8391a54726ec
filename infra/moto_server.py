"""moto's server as the demo and the tests run it (`python -m infra.moto_server -H host -p port`): moto's
own server, with changes that leave every answer as it was.

- **A Query reads only what it can match.** moto answers every Query by sorting the whole table
  (`Table.all_items`), then filtering and sorting the matches again. A table's Query by its partition key
  now reads that partition alone, and an index's Query reads the items unsorted: each query still
  sorts its own matches, so results, pages and their keys are the same. Without it, a Query's cost grew
  with the table (the strikes and review tables a demo fills), where DynamoDB's follows the items read.
- **An item's attribute values written out as they are.** moto holds an item's attributes in the wire's
  form (`{"S": "…"}`, `{"N": "…"}`, lists and maps of them) and writes every answer through its generic
  serializer, which looks each value up under every spelling of each of the ten members an attribute
  value may have: four fifths of a Query's time, growing with the items it answers (a review item has
  a dozen attributes). A value of strings, numbers, booleans, nulls, their sets, lists and maps is
  written as it is held; binary values (base64 on the wire) still go through moto's serializer.
- **Its service modules listed once.** moto finds a request's service by listing its package's folders
  (a `listdir` and a `stat` per folder) on every request, under the lock every request thread shares;
  the list is read once at start.
- **No line per request in its log** (werkzeug's access log): errors are still logged.

The methods patched are checked at start: a moto whose Table or JSON serializer no longer has them
refuses to start, instead of serving slowly or wrongly.
"""

import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto import backends
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.table import Table

_ORIGINAL_QUERY: Callable[..., Any] = Table.query
_ORIGINAL_ALL_ITEMS: Callable[..., Any] = Table.all_items
_ORIGINAL_MODULES: Callable[[], Any] = backends.list_of_moto_modules
_ORIGINAL_STRUCTURE: Callable[..., Any] = BaseJSONSerializer._serialize_type_structure
_SIGNATURE = inspect.signature(_ORIGINAL_QUERY)
if not {"hash_key", "index_name"} <= set(_SIGNATURE.parameters):
    raise RuntimeError(f"moto's Table.query{_SIGNATURE} has changed: review infra/moto_server.py")

# Set while a Query runs on this thread: the table it reads, and the partition (None: an index's query).
_RUNNING = threading.local()


_ATTRIBUTE_VALUE = "AttributeValue"  # the shape of an item's attribute value in DynamoDB's model
_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def plain(value: Any) -> bool:
    """Whether an attribute value in the wire's form needs no serializing: one member, a string,
    number, boolean or null, a set of strings or numbers, or a list or map of such values (not binary,
    which the wire carries in base64)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((member, inner),) = value.items()
    if member in _SCALARS:
        return isinstance(inner, _SCALARS[member])
    if member in ("SS", "NS"):
        return isinstance(inner, list) and all(isinstance(v, str) for v in inner)
    if member == "L":
        return isinstance(inner, list) and all(plain(v) for v in inner)
    if member == "M":
        return isinstance(inner, dict) and all(isinstance(k, str) and plain(v) for k, v in inner.items())
    return False


def _structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if shape.name == _ATTRIBUTE_VALUE and plain(value):  # never the answer itself: a member of it
        self._default_serialize(serialized, value, shape, key)
        return
    _ORIGINAL_STRUCTURE(self, serialized, value, shape, key)


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
    """Queries read only what they can match, attribute values are written as they are held, and the
    service modules are listed once, from now on, in this process."""
    Table.query = _query  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = _structure  # type: ignore[method-assign]
    modules = tuple(_ORIGINAL_MODULES())
    backends.list_of_moto_modules = lambda: modules


def uninstall() -> None:
    Table.query = _ORIGINAL_QUERY  # type: ignore[method-assign]
    Table.all_items = _ORIGINAL_ALL_ITEMS  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = _ORIGINAL_STRUCTURE  # type: ignore[method-assign]
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
