"""The code's shape holds: no test module imports another test module (shared test code lives in
tests/builders.py, tests/fakes.py, tests/emulator.py and the chaos rig), and library code never lives in
a package's `__main__.py`."""

import ast
from pathlib import Path

from runtime.paths import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"
PACKAGES = (
    "contracts",
    "runtime",
    "stream_consumer",
    "producer_sim",
    "training",
    "monitoring",
    "review",
    "infra",
    "demo",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for module in _imports(path):
            last = module.rsplit(".", 1)[-1]
            if module.startswith("tests") and (last.startswith("test_") or last == "conftest"):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)} imports {module}")
    assert offenders == []


def test_no_module_imports_library_code_from_a_packages_main() -> None:
    """Only a CLI's `main` may be imported from `__main__.py` (a test runs the CLI in-process)."""
    offenders = []
    for package in (*PACKAGES, "tests", "benchmarks"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(".__main__"):
                    offenders += [
                        f"{path.relative_to(PROJECT_ROOT)}: {a.name}" for a in node.names if a.name != "main"
                    ]
    assert offenders == []
