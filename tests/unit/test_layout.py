"""The code's shape holds: the packages import each other only down their layers and no module
imports itself back through others (every import counts: at module level, inside a function or for
type checking only); no test module imports another test module (shared test code lives in
tests/builders.py, tests/fakes.py, tests/emulator.py and the chaos rig); and library code never lives in
a package's `__main__.py`."""

import ast
from pathlib import Path

from runtime.paths import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"
PACKAGES = (
    "contracts",
    "runtime",
    "stream_consumer",
    "local_esm",
    "producer_sim",
    "training",
    "monitoring",
    "review",
    "infra",
    "demo",
)


# What each package may import of the project besides itself: each layered on those below it.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "contracts": frozenset(),
    "runtime": frozenset({"contracts"}),
    "infra": frozenset({"contracts", "runtime"}),
    "stream_consumer": frozenset({"contracts", "runtime"}),
    "review": frozenset({"contracts", "runtime"}),
    "local_esm": frozenset({"contracts", "runtime", "stream_consumer"}),
    "training": frozenset({"contracts", "runtime", "stream_consumer"}),
    "producer_sim": frozenset({"contracts", "runtime", "review", "training"}),
    "monitoring": frozenset({"contracts", "runtime", "stream_consumer", "review", "training"}),
    "benchmarks": frozenset(PACKAGES) - {"demo"},
    "demo": frozenset(PACKAGES) - {"demo"},
    "scripts": frozenset(),
}


def _modules() -> dict[str, Path]:
    """Every module of the project's packages by its dotted name (a package by its own)."""
    found = {}
    for package in MAY_IMPORT:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _project_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules `path` imports, wherever the import stands in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _project_imports(path, modules) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's algorithm, without
    recursion): each is a circle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.get(step, ())))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_finding_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles(import_graph()) == []


def test_packages_import_only_down_their_layers() -> None:
    offenders = []
    for module, imported in import_graph().items():
        package = module.split(".")[0]
        for target in sorted(imported):
            other = target.split(".")[0]
            if other != package and other not in MAY_IMPORT[package]:
                offenders.append(f"{module} imports {target}")
    assert offenders == []


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
