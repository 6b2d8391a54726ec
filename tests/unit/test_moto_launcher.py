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
