"""The integration tests' shared helpers live in tests/emulator.py and the trained champions in the
root conftest; the names stay importable here for the modules that still import them from here."""

from tests.emulator import consumer_settings, publish_scorer, read_verdicts

__all__ = ["consumer_settings", "publish_scorer", "read_verdicts"]
