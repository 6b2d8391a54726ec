"""The threat model stays current: every control it names is still there — each test a test function of
its file, each Terraform resource a resource of its file — and the README and the security page link it."""

import ast
import re
from pathlib import Path

import hcl2

from runtime.paths import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "threat-model.md"
TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
RESOURCE = re.compile(r"`(infra/terraform/[\w-]+\.tf)` `(\w+)\.(\w+)`")


def _tests(path: str) -> set[str]:
    tree = ast.parse((PROJECT_ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _resources(path: Path) -> set[tuple[str, str]]:
    """The resources and data sources a Terraform file declares."""
    with path.open() as fh:
        doc = hcl2.load(fh)
    return {
        (rtype.strip('"'), name.strip('"'))
        for kind in ("resource", "data")
        for block in doc.get(kind, [])
        for rtype, named in block.items()
        for name in named
    }


BLOCK = re.compile(r'^(?:resource|data) "(\w+)" "(\w+)"')
SKIP = re.compile(r"#\s*checkov:skip=(CKV2?_AWS_\d+):(.+)$")


def _skips() -> list[str]:
    """Every inline checkov skip, as the threat model's table row that must accept it."""
    rows = []
    for tf in sorted((PROJECT_ROOT / "infra" / "terraform").glob("*.tf")):
        block = ""
        for line in tf.read_text(encoding="utf-8").splitlines():
            if found := BLOCK.match(line):
                block = f"{found[1]}.{found[2]}"
            if found := SKIP.search(line):
                rows.append(f"| {found[1]} | `infra/terraform/{tf.name}` `{block}` | {found[2].strip()} |")
    return rows


def test_every_test_the_threat_model_names_exists() -> None:
    named = TEST.findall(DOC.read_text(encoding="utf-8"))
    assert len(named) >= 20
    assert [f"{p}::{n}" for p, n in named if n not in _tests(p)] == []


def test_every_terraform_resource_the_threat_model_names_exists() -> None:
    named = RESOURCE.findall(DOC.read_text(encoding="utf-8"))
    assert len(named) >= 5
    missing = [f"{p} {t}.{n}" for p, t, n in named if (t, n) not in _resources(PROJECT_ROOT / p)]
    assert missing == []


def test_every_row_of_the_controls_table_names_its_proof() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("| boundary | threat | control | proved by |") :].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert len(rows) >= 15
    assert [r for r in rows if not (TEST.search(r) or RESOURCE.search(r))] == []


def test_every_checkov_skip_is_listed_with_its_reason() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("| check | resource | why it does not apply |") :].split("\n\n", 1)[0]
    listed = [line for line in table.splitlines()[2:] if line.startswith("|")]
    skips = _skips()
    assert skips, "the Terraform skips no check: then the table should be empty too"
    assert sorted(listed) == sorted(skips)


def test_the_readme_and_the_security_page_link_the_threat_model() -> None:
    assert "(docs/threat-model.md)" in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "(threat-model.md)" in (PROJECT_ROOT / "docs" / "security.md").read_text(encoding="utf-8")
