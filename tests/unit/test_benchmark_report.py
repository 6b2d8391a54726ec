"""`benchmarks/results/latest.md` has a section for every suite, rendered from that suite's newest
results file by the suite's own renderer; a suite without results says so, and the baseline
comparison, when its file is there, is a table."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cascade, categories, context, proxies, report
from benchmarks.common import RESULTS

HEADINGS = (
    "## `make bench`",
    "## Model trade-off",
    "## Categories",
    "## The categories' in-repo proxies",
    "## The cascade",
    "## Context across messages",
    "## The strikes writer",
    "## Shadow scoring's cost",
    "## The champion against the baseline",
    "## Mutation testing of the pure core",
)
BASELINE = {
    "machine": {"cpu": "AMD EPYC", "cores": 2, "python": "3.13.0"},
    "rows": [
        {
            "category": "toxicity",
            "kind": "test",
            "source": "olid",
            "n": 1977,
            "positives": 657,
            "champion": {"roc_auc": 0.8123, "lo": 0.79, "hi": 0.83},
            "baseline": {"roc_auc": 0.7912, "lo": 0.77, "hi": 0.81},
            "difference": {"value": 0.0211, "lo": 0.01, "hi": 0.03},
            "margin": 0.02,
            "won": True,
            "ahead": True,
        },
        {
            "category": "hate",
            "kind": "bias",
            "source": "templated",
            "champion": {"roc_auc": 0.904, "lo": None, "hi": None},
            "baseline": {"roc_auc": 0.911, "lo": None, "hi": None},
            "difference": {"value": -0.007},
            "margin": 0.01,
            "won": False,
            "ahead": False,
        },
    ],
    "remove_precision": 0.95,
    "allow_precision": 0.99,
    "speed": {"texts": 4000, "champion_msg_per_s": 2513.2, "baseline_msg_per_s": 812.7},
    "load": [
        {
            "category": "toxicity",
            "n": 100,
            "champion": {"review_share": 0.143, "remove_share": 0.5, "allow_share": 0.357},
            "baseline": {"review_share": 0.2, "remove_share": 0.4, "allow_share": 0.4},
        }
    ],
}


def _load(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((RESULTS / name).read_text())
    return result


@pytest.fixture(scope="module")
def rendered() -> str:
    return report.render(RESULTS)


@pytest.fixture
def results_copy(tmp_path: Path) -> Path:
    """The committed results files, in a folder of the test's own."""
    for path in RESULTS.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_every_suite_has_its_section_in_order(rendered: str) -> None:
    # GIVEN the committed results  WHEN latest.md is rendered  THEN every suite has its heading, in order
    at = [rendered.find(h) for h in HEADINGS]
    assert -1 not in at, [h for h, i in zip(HEADINGS, at, strict=True) if i < 0]
    assert at == sorted(at)


@pytest.mark.parametrize(
    ("suite", "tables"),
    [
        ("categories", lambda: [categories.render(_load(categories.LATEST))]),
        (
            "proxies",
            lambda: [
                proxies.render(_load(proxies.LATEST)),
                categories.render_goals(_load(categories.LATEST), _load(proxies.LATEST)),
            ],
        ),
        (
            "cascade",
            lambda: [cascade.render(_load(cascade.LATEST)), cascade.render_goals(_load(cascade.LATEST))],
        ),
        ("context", lambda: [context.render(_load(context.LATEST))]),
    ],
)
def test_each_suites_tables_are_its_renderers_on_its_latest_file(
    rendered: str, suite: str, tables: Any
) -> None:
    # GIVEN a suite's newest results file and its own renderer
    # WHEN latest.md is rendered  THEN its tables are there, under a line naming the file
    for table in tables():
        assert table.rstrip() in rendered, suite
    assert f"From `{suite}-latest.json` (a copy of `{suite}-2" in rendered


def test_the_bench_and_trade_off_sections_are_the_newest_files(rendered: str) -> None:
    src = report.sources(RESULTS)
    assert src.bench is not None
    assert src.tradeoff is not None
    assert src.bench == max(RESULTS.glob("bench-*.json"))
    assert (
        report.table(report.load(src.bench), report.load(src.previous) if src.previous else None) in rendered
    )
    assert report.tradeoff_section(src.tradeoff) in rendered


def test_a_newer_results_file_is_the_one_rendered(results_copy: Path) -> None:
    # GIVEN a newer trade-off file than any other
    newest = json.loads((RESULTS / "tradeoff-20261129T115243Z.json").read_text())
    newest["rows"][0]["test_roc_auc"] = 0.5
    (results_copy / "tradeoff-20301231T235959Z.json").write_text(json.dumps(newest))
    # WHEN latest.md is rendered THEN that file is the trade-off section's
    rendered = report.render(results_copy)
    assert "Model trade-off, from `tradeoff-20301231T235959Z.json`" in rendered
    assert "| 0.500 (" in rendered


def test_a_baseline_file_is_rendered_as_a_table(results_copy: Path) -> None:
    # GIVEN the baseline comparison's results
    (results_copy / report.BASELINE_LATEST).write_text(json.dumps(BASELINE))
    # WHEN latest.md is rendered
    rendered = report.render(results_copy)
    section = rendered[rendered.index("## The champion against the baseline") :]
    # THEN each row is in its table, with the intervals where measured, and the speed and load figures
    assert (
        "| toxicity | test | olid | 1,977 (657) | 0.812 (0.790–0.830) | 0.791 (0.770–0.810) "
        "| +0.021 (needs +0.020) | **won** |" in section
    )
    assert (
        "| hate | bias | templated | – | 0.904 (–) | 0.911 (–) | -0.007 (needs +0.010) | behind |" in section
    )
    assert "served 2,513 (fast model and cascade), baseline 813." in section
    assert "| toxicity | 100 | 14.3% | 50.0% | 35.7% | 20.0% | – |" in section
    assert "From `baseline-latest.json`; AMD EPYC, 2 cores" in section


def test_a_suite_without_results_says_how_to_measure_it(results_copy: Path) -> None:
    # GIVEN no baseline file, and the cascade's removed
    (results_copy / report.BASELINE_LATEST).unlink(missing_ok=True)
    (results_copy / cascade.LATEST).unlink()
    # WHEN latest.md is rendered THEN both sections are there, each saying so
    rendered = report.render(results_copy)
    assert "## The cascade\n\nNot measured yet: no results file (`python -m benchmarks.cascade`)." in rendered
    assert "Not measured yet: no results file (`python -m benchmarks.baseline`)." in rendered
    assert context.render(_load(context.LATEST)) in rendered


def test_an_empty_results_folder_renders_every_heading(tmp_path: Path) -> None:
    rendered = report.render(tmp_path)
    assert all(h in rendered for h in HEADINGS)
    assert rendered.count("Not measured yet") == len(HEADINGS) - 1  # the trade-off says it its own way
