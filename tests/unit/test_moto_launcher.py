"""The launcher of the project's moto server (`infra/moto_server.py`), in this process: what it
installs and takes back. Its answers over HTTP are held equal to moto's own in
`tests/integration/test_moto_server.py`."""

from typing import Any

import pytest
from moto import backends
from moto.core.serialize import JSONSerializer, ResponseSerializer
from moto.core.utils import get_service_model

from infra import moto_server


def test_the_service_modules_are_listed_once_and_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto lists its package's folders on every request to find the service; installed, the launcher
    answers from the list read at start (the same names), touching no folder."""
    listed = list(backends.list_of_moto_modules())
    assert "dynamodb" in listed
    with moto_server.installed():

        def no_listing(path: object) -> list[str]:
            raise AssertionError(f"listed {path}")

        monkeypatch.setattr("os.listdir", no_listing)
        assert list(backends.list_of_moto_modules()) == listed
        monkeypatch.undo()
    assert list(backends.list_of_moto_modules()) == listed


def test_attribute_values_of_strings_numbers_and_their_sets_lists_and_maps_are_written_as_held() -> None:
    """What needs no serializing: one member, in the wire's form, of a kind JSON carries as it is;
    binary (base64 on the wire), anywhere in the value, goes through moto's serializer."""
    held = [
        {"S": "x"},
        {"S": ""},
        {"N": "1.5"},
        {"BOOL": False},
        {"NULL": True},
        {"SS": ["a", "b"]},
        {"NS": ["1", "2"]},
        {"L": [{"S": "a"}, {"L": [{"N": "1"}]}]},
        {"M": {"a": {"M": {"b": {"BOOL": True}}}}},
    ]
    assert all(moto_server.plain(v) for v in held)
    serialized = [
        {"B": "eA=="},
        {"BS": ["eA=="]},
        {"L": [{"S": "a"}, {"B": "eA=="}]},
        {"M": {"a": {"M": {"b": {"B": "eA=="}}}}},
        {"S": "a", "N": "1"},  # two members
        {"N": 1},  # a number not in the wire's form
        {"BOOL": "true"},
        {"SS": ["a", 1]},
        {"L": {"S": "a"}},
        {"M": [{"S": "a"}]},
        {},
        "S",
    ]
    assert not any(moto_server.plain(v) for v in serialized)


def test_an_items_plain_attribute_values_are_written_without_looking_up_their_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Installed, the serializer writes a plain attribute value as held (none of its members looked
    up), binary through moto's own, and each answer is moto's; uninstalled, moto's own again."""
    model = get_service_model("dynamodb").operation_model("GetItem")
    plain = {"pk": {"S": "a"}, "n": {"N": "1"}, "m": {"M": {"l": {"L": [{"BOOL": True}]}}}}
    binary = {"pk": {"S": "a"}, "b": {"B": "eA=="}}
    looked_up: list[str] = []
    lookup = ResponseSerializer.get_value

    def counted(self: ResponseSerializer, value: Any, key: str, shape: Any) -> Any:
        looked_up.append(key)
        return lookup(self, value, key, shape)

    monkeypatch.setattr(ResponseSerializer, "get_value", counted)

    def answer(item: dict[str, Any]) -> tuple[str | bytes, set[str]]:
        looked_up.clear()
        body = JSONSerializer(model).serialize({"Item": item})["body"]
        return body, set(looked_up)

    motos = [answer(plain), answer(binary)]
    with moto_server.installed():
        ours = [answer(plain), answer(binary)]
    assert [body for body, _ in ours] == [body for body, _ in motos]
    assert {"S", "N", "M", "L", "BOOL"} <= motos[0][1]
    assert ours[0][1] == {"Item", "ConsumedCapacity"}  # the output's members only
    assert "B" in ours[1][1]
    # only an attribute value is written as held: another structure holding what looks like one is not
    odd = {"Item": plain, "ConsumedCapacity": {"N": "1"}}
    motos_odd = JSONSerializer(model).serialize(odd)["body"]
    with moto_server.installed():
        assert JSONSerializer(model).serialize(odd)["body"] == motos_odd
    assert [answer(plain), answer(binary)] == motos  # taken back
