"""The documentation's category tables are the code's and the results files': the label mapping
(`docs/operating.md`) is the one the loaders apply, and the measured tables are what
`benchmarks.categories` and `benchmarks.proxies` render from their latest results (`docs/categories.md`),
and so are the cascade's and the baseline's (`docs/model.md`) and the context signals'
(`docs/stream.md`); edited by hand on either side, they fail here. The channel policy example
(`docs/stream.md`) is a valid policy."""

import json

from benchmarks import baseline, cascade, categories, context
from benchmarks.common import RESULTS
from contracts.categories import Category
from contracts.policy import POLICY_SCHEMA_VERSION, PolicyBook
from runtime.paths import PROJECT_ROOT
from training.corpora import ASSUMED_NEGATIVE, LABEL_MAPPING, Source


def _page(name: str) -> str:
    return (PROJECT_ROOT / "docs" / name).read_text(encoding="utf-8")


OPERATING, CATEGORIES, MODEL, STREAM = (
    _page(n) for n in ("operating.md", "categories.md", "model.md", "stream.md")
)


def test_the_label_mapping_table_is_the_loaders() -> None:
    header = "| set | file | " + " | ".join(c.value for c in Category) + " |"
    lines = OPERATING.splitlines()
    start = lines.index(header)
    rows = {line.split(" | ")[0].strip("| "): line for line in lines[start + 2 : start + 2 + len(Source)]}
    assert set(rows) == {s.value for s in Source}
    for source in Source:
        cells = [c.strip() for c in rows[source].strip("|").split("|")][2:]
        expected = [
            LABEL_MAPPING[source].get(c)
            or (f"0: {ASSUMED_NEGATIVE[source][c]}" if c in ASSUMED_NEGATIVE.get(source, {}) else "–")
            for c in Category
        ]
        assert cells == expected, source


def test_the_category_tables_are_the_latest_results() -> None:
    results = json.loads((RESULTS / categories.LATEST).read_text())
    rendered = categories.render(results)
    assert rendered in CATEGORIES


def test_the_policy_example_is_a_valid_version_2_policy() -> None:
    section = STREAM[STREAM.index("**Channel policy** (`schema_version` 2)") :]
    body = section[
        section.index("```json") + len("```json") : section.index("```", section.index("```json") + 7)
    ]
    book = PolicyBook.model_validate_json(body)
    assert book.schema_version == POLICY_SCHEMA_VERSION
    assert book.channels["science"].rule("removal").acts
    assert not book.channels["gaming"].rule("spam").acts
    assert not book.default.rule("removal").acts  # removal acts only where a channel opts in


def test_the_goal_table_is_the_latest_results_and_proxies() -> None:
    results = json.loads((RESULTS / categories.LATEST).read_text())
    proxies = json.loads((RESULTS / "proxies-latest.json").read_text())
    assert categories.render_goals(results, proxies) in CATEGORIES


def test_the_cascade_tables_are_the_latest_results() -> None:
    results = json.loads((RESULTS / cascade.LATEST).read_text())
    assert cascade.render(results) in MODEL
    assert cascade.render_goals(results) in MODEL


def test_the_context_tables_are_the_latest_results() -> None:
    results = json.loads((RESULTS / context.LATEST).read_text())
    assert context.render(results) in STREAM


def test_the_baseline_table_is_the_latest_results() -> None:
    results = json.loads((RESULTS / baseline.LATEST).read_text())
    section = MODEL[MODEL.index("<!-- baseline: measured -->") : MODEL.index("<!-- /baseline -->")]
    assert baseline.render(results) in section
