"""The argument types and the result printer of `python -m monitoring`'s live promotion and canary checks."""

import argparse

from pydantic import BaseModel


def share(value: str) -> float:
    """A share of channels, in (0, 1]."""
    try:
        parsed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a share: {value[:40]!r}") from None
    if not 0 < parsed <= 1:  # nan too
        raise argparse.ArgumentTypeError(f"a share must be in (0, 1]: {value[:40]!r}")
    return parsed


def shares(value: str) -> list[float]:
    """`0.1,0.5,1` → the shares of channels, each in (0, 1]."""
    return [share(v) for v in value.split(",")]


def print_check(result: BaseModel, as_json: bool, headline: str, reasons: list[str]) -> int:
    """A promotion or canary check's result: one JSON document, or its headline and a line per reason."""
    if as_json:
        print(result.model_dump_json())
        return 0
    print(headline)
    for reason in reasons:
        print(f"  {reason}")
    return 0
