"""The README is the front door and the pages under `docs/` are the rest: the README stays within 200
lines, links every page of the site's navigation (`mkdocs.yml`), and every page is in that navigation;
every link of the README reaches a file (and a heading, where it names one); every function the
documentation names (`path.py::name`) is defined in that file. `make lint` builds the site strictly,
which holds the pages' own links."""

import ast
import re
import unicodedata
from pathlib import Path

from runtime.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"
MAX_README_LINES = 200
NAV_PAGE = re.compile(r"^\s*-\s+(?:[^:\n]+:\s+)?([\w/-]+\.md)\s*$", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")
NAMED = re.compile(r"`([\w/]+\.py)::(\w+)`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def _nav() -> list[str]:
    """The pages `mkdocs.yml`'s navigation lists, in order."""
    text = (PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return NAV_PAGE.findall(text[text.index("\nnav:") :])


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _anchor(heading: str) -> str:
    """A heading's anchor as the site's table of contents makes it (Python-Markdown's `slugify`)."""
    text = heading.replace("`", "")  # code in a heading is its text; the pages' headings use no other markup
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return {_anchor(h) for h in HEADING.findall(text)}


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {node.name for node in ast.walk(tree) if isinstance(node, kinds)}


def test_the_readme_stays_within_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines: move the detail to docs/"


def test_the_readme_links_every_page_of_the_site() -> None:
    nav = _nav()
    assert len(nav) >= 10
    text = README.read_text(encoding="utf-8")
    linked = {link.split("#", 1)[0] for link in LINK.findall(text)}
    assert [page for page in nav if f"docs/{page}" not in linked] == []


def test_every_page_is_in_the_navigation() -> None:
    nav = _nav()
    assert len(nav) == len(set(nav))
    assert sorted(nav) == sorted(p.name for p in DOCS.glob("*.md"))


def test_every_link_of_the_readme_reaches_its_file_and_heading() -> None:
    broken = []
    for link in LINK.findall(README.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", link):
            continue  # an address outside the repository
        path, _, anchor = link.partition("#")
        target = PROJECT_ROOT / path
        if not target.exists() or (anchor and target.suffix == ".md" and anchor not in _anchors(target)):
            broken.append(link)
    assert broken == []


def test_the_anchor_is_the_sites() -> None:
    # GIVEN headings with code and punctuation  THEN their anchors are what the site's TOC makes of them
    assert _anchor("The consumer (`stream_consumer`)") == "the-consumer-stream_consumer"
    assert _anchor("The stack, described once") == "the-stack-described-once"
    assert _anchor("Threats and controls (STRIDE per boundary)") == "threats-and-controls-stride-per-boundary"


def test_every_function_the_pages_name_is_defined_there() -> None:
    named = [(page.name, found) for page in _pages() for found in NAMED.findall(page.read_text("utf-8"))]
    assert len([n for page, n in named if page == README.name and not n[0].startswith("tests/")]) >= 15
    missing = [
        f"{page}: {path}::{name}"
        for page, (path, name) in named
        if not (PROJECT_ROOT / path).is_file() or name not in _defined(PROJECT_ROOT / path)
    ]
    assert missing == []
