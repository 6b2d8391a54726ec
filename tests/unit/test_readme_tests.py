"""Every test the documentation names exists: each `tests/…py::name` in the README or a page under `docs/`
is a test function in that file, and every row of the event-source-mapping table (`docs/stream.md`)
names at least one."""

import ast
import re

from runtime.paths import PROJECT_ROOT

NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _pages() -> str:
    """The README and every page under `docs/`, one after the other."""
    paths = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    return "\n\n".join(p.read_text(encoding="utf-8") for p in paths)


def _page(name: str) -> str:
    return (PROJECT_ROOT / "docs" / name).read_text(encoding="utf-8")


def _functions(path: str) -> set[str]:
    tree = ast.parse((PROJECT_ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_test_the_pages_name_exists() -> None:
    named = NAMED.findall(_pages())
    assert len(named) >= 20
    missing = [f"{path}::{name}" for path, name in named if name not in _functions(path)]
    assert not missing


def test_every_row_of_the_esm_table_names_a_test() -> None:
    text = _page("stream.md")
    table = text[text.index("| ESM behaviour | proved by |") :].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert len(rows) >= 15
    assert [r for r in rows if not NAMED.search(r)] == []
