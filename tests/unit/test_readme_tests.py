"""Every test the README names exists: each `tests/…py::name` is a test function in that file, and
every row of the README's event-source-mapping table names at least one."""

import ast
import re

from runtime.paths import PROJECT_ROOT

NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _readme() -> str:
    return (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def _functions(path: str) -> set[str]:
    tree = ast.parse((PROJECT_ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_test_the_readme_names_exists() -> None:
    named = NAMED.findall(_readme())
    assert len(named) >= 20
    missing = [f"{path}::{name}" for path, name in named if name not in _functions(path)]
    assert not missing


def test_every_row_of_the_esm_table_names_a_test() -> None:
    text = _readme()
    table = text[text.index("| ESM behaviour | proved by |") :].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert len(rows) >= 15
    assert [r for r in rows if not NAMED.search(r)] == []
