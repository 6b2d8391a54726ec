"""The launcher of the project's moto server (`infra/moto_server.py`), in this process: what it
installs and takes back. Its answers over HTTP are held equal to moto's own in
`tests/integration/test_moto_server.py`."""

import pytest
from moto import backends

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
