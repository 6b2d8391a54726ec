"""The documentation's measured numbers are its results files': `benchmarks/results/latest.md` is what
`benchmarks.report` renders from the files it names, every table a page (the README or one under `docs/`)
quotes is a table of `latest.md` (caption and rows), each on the page it belongs to, and every figure in a
page's prose is its results file's value, as are the claims the prose makes about them, each looked for on
its own page. A number edited by hand on either side fails here."""

import re
from dataclasses import dataclass
from typing import Any

import pytest

from benchmarks import report
from benchmarks.common import RESULTS
from runtime.paths import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
LATEST = RESULTS / report.LATEST
# The tables the pages must quote, by how their header starts (a header carries figures too), and the page
# each is quoted on.
QUOTED = {
    "| measure | value | previous | change |": "benchmarks.md",
    "| family | offensive tweets: still removed |": "hostile-text.md",
    "| model | ROC-AUC | PR-AUC |": "benchmarks.md",
    "| model | test ROC-AUC (95% bootstrap) |": "benchmarks.md",
}
# The evasion suite's goals the pages measure against (training.settings names them as well).
GOAL_REMOVED, GOAL_FLAGGED, GOAL_FALSE_FLAGS = 0.95, 0.90, 0.02


@dataclass(frozen=True)
class Table:
    """A markdown table: the line that introduces it (if any), its header and its data rows."""

    caption: str | None
    header: str
    rows: tuple[str, ...]


def tables(text: str) -> list[Table]:
    """Every table of a markdown text, with the non-blank line just above it as its caption."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("|") or (i and lines[i - 1].startswith("|")):
            i += 1
            continue
        above = [line for line in lines[max(0, i - 2) : i] if line.strip()]
        end = i
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        found.append(Table(above[-1] if above else None, lines[i], tuple(lines[i + 2 : end])))
        i = end
    return found


def flat(text: str) -> str:
    """White space collapsed, so that a phrase may wrap across a page's lines."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def sources() -> report.Sources:
    src = report.sources(RESULTS)
    assert None not in (src.bench, src.previous, src.tradeoff, src.comparison, src.evasion_before)
    return src


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    """Every page by name: the README and each page under `docs/`."""
    found = {"README.md": (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")}
    found |= {p.name: p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))}
    return found


def test_latest_md_is_what_its_results_files_render() -> None:
    # GIVEN the results files  WHEN latest.md is rendered from them again
    rendered = report.render(RESULTS)
    # THEN it is latest.md, to the character (`python -m benchmarks report` rewrites it)
    assert LATEST.read_text() == rendered, "a results file changed: run `python -m benchmarks report`"


def test_every_table_the_pages_quote_is_a_table_of_latest_md(pages: dict[str, str]) -> None:
    # GIVEN the tables of latest.md, by header
    latest: dict[str, list[Table]] = {}
    for t in tables(LATEST.read_text()):
        latest.setdefault(t.header, []).append(t)
    required = tuple(QUOTED)
    problems = []
    for page, text in pages.items():
        # WHEN each page's tables that quote them are read
        quoted = [t for t in tables(text) if t.header in latest or t.header.startswith(required)]
        # THEN each required one is on its page, with latest.md's header and rows, and the benchmark's
        # tables with latest.md's caption too (the suites' tables have the page's own prose above them)
        problems += [
            f"no {page} table starts {p!r}"
            for p, home in QUOTED.items()
            if home == page and not any(t.header.startswith(p) for t in quoted)
        ]
        for t in quoted:
            if t.header not in latest:
                problems.append(f"{page} table header is not latest.md's: {t.header}")
                continue
            captions = {m.caption for m in latest[t.header]}
            if t.header.startswith(required) and t.caption not in captions:
                problems.append(
                    f"{page} caption {t.caption!r} is not latest.md's: {sorted(map(str, captions))}"
                )
            rows = {r for m in latest[t.header] for r in m.rows}
            problems += [f"{page} row not in latest.md: {r}" for r in t.rows if r not in rows]
            if not t.rows:
                problems.append(f"{page} table without rows: {t.header}")
    assert set(QUOTED.values()) <= set(pages)
    assert problems == []


def test_the_pages_name_the_results_files_they_quote(pages: dict[str, str], sources: report.Sources) -> None:
    names = [
        ("benchmarks/results/latest.md", "README.md"),
        ("benchmarks/results/latest.md", "benchmarks.md"),
        *(
            (p.name, "benchmarks.md")
            for p in (sources.bench, sources.previous, sources.comparison, sources.tradeoff)
            if p
        ),
        *((p.name, "hostile-text.md") for p in (sources.evasion_before,) if p),
    ]
    assert [f"{page}: {n}" for n, page in names if n not in pages[page]] == []


def _champion(trade: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in trade["rows"] if r["model"].endswith("(the champion)"))


def _tradeoff(sources: report.Sources) -> dict[str, Any]:
    assert sources.tradeoff
    loaded = report.load(sources.tradeoff)
    return dict(loaded.get("tradeoff", loaded))


def figures(sources: report.Sources) -> dict[str, list[tuple[str, str]]]:
    """By page, each phrase of its prose that carries a measured figure, as its results file gives it,
    with the file's name."""
    assert sources.bench is not None
    assert sources.previous is not None
    assert sources.tradeoff is not None
    assert sources.comparison is not None
    bench, previous = report.load(sources.bench), report.load(sources.previous)
    b, t = sources.bench.name, sources.tradeoff.name
    trade = _tradeoff(sources)
    champion = _champion(trade)
    low, high = champion["test_roc_auc_95"]
    hostile, tweets = bench["hostile"], bench["evasion"][report.TWEETS_MODEL]
    rises = sorted((r["benign_flagged"] - r["benign_flagged_clean"], r["family"]) for r in tweets)
    drift, text_drift = bench["drift"], bench["drift_with_text_content"]
    windows = drift["windows"]
    e2e = {e["emulator"]: e for e in bench["e2e"]}
    local = max(e2e["localstack"]["runs"], key=lambda r: r["rate_target"])
    moto = max(e2e["moto"]["runs"], key=lambda r: r["rate_target"])
    handler, handler_before = (r["handler"]["handler_msg_per_s_batch100"] for r in (bench, previous))
    return {
        "model.md": [
            (
                f"the champion's ROC-AUC is {champion['validation_roc_auc']:.3f} on validation and "
                f"{champion['test_roc_auc']:.3f} on test (95% bootstrap interval {low:.3f}–{high:.3f}), "
                f"PR-AUC on test {champion['test_pr_auc']:.3f}",
                t,
            ),
        ],
        "hostile-text.md": [
            (
                f"the worst generator, {hostile['worst']}, takes "
                f"{hostile['worst_ms_per_message']:.1f} ms per message — "
                f"{hostile['worst_over_ordinary']:.1f}× ordinary text",
                b,
            ),
            (f"a batch of 100 of the worst messages {hostile['worst_ms_per_batch_of_100']:.0f} ms", b),
            (f"the Davidson test split holds {tweets[0]['benign']} benign ones", b),
            (f"{len(tweets)} obfuscation families applied", b),
            (
                f"its lowest: {min(r['still_removed'] for r in tweets):.1%} still removed, "
                f"{min(r['still_flagged'] for r in tweets):.1%} still flagged",
                b,
            ),
            (
                f"more than the goal's 2 points for {sum(rise > GOAL_FALSE_FLAGS for rise, _ in rises)} "
                f"families, most with {rises[-1][1]} (+{rises[-1][0] * 100:.1f} points)",
                b,
            ),
        ],
        "moderating.md": [
            (f"{windows} windows of {drift['window_size']} messages per case", b),
            (f"{drift['false_alarms_in_windows']} false alarms", b),
            (f"20% tweets flagged {round(drift['flagged_share_20pct_tweets'] * windows)}/{windows}", b),
            (
                f"10% tweets {round(drift['flagged_share_10pct_tweets'] * windows)}/{windows} "
                f"({drift['flagged_within_two_windows_10pct']:.0%} within two windows)",
                b,
            ),
            (f"{drift['drift_check_s_per_10k_messages']:.1f} s per 10k messages", b),
            (
                f"or {text_drift['drift_check_s_per_10k_messages']:.1f} s "
                "with Evidently's text-content drift",
                b,
            ),
        ],
        "benchmarks.md": [
            (
                f"at a {local['rate_target']:,.0f} msg/s target one producer got "
                f"{local['rate_achieved']:,.0f} msg/s into it, so the backlog grew "
                f"(p50 {local['p50_s']:.3f} s",
                b,
            ),
            (
                "its highest rate with p99 under a second was "
                f"{e2e['localstack']['max_rate_p99_under_1s']:,.0f} msg/s",
                b,
            ),
            (f"moto's server sustained {moto['rate_target']:,.0f} msg/s with p99 {moto['p99_s']:.3f} s", b),
            (f"one core handles ~{handler / 1000:.1f}k msg/s", b),
            (
                f"The normal form cost {1 - handler / handler_before:.0%} of the handler's throughput on "
                f"r/science text ({handler_before:,.0f} → {handler:,.0f} msg/s/core, batches of 100)",
                b,
            ),
            (
                f"fewer windows with 10% tweets ({previous['drift']['flagged_share_10pct_tweets']:.2f} → "
                f"{drift['flagged_share_10pct_tweets']:.2f})",
                b,
            ),
            (f"It last ran in `{sources.comparison.name}`", sources.comparison.name),
            (f"On one split of {trade['splits']['test']} test comments", t),
            (trade["optional_note"], t),  # which rows the table lacks, and why
        ],
        "operating.md": [(f"One invocation handles ~{handler / 1000:.0f}k msg/s of CPU on one core", b)],
        "README.md": [(_mutation_phrase(sources), "mutation-latest.json")],
    }


def _mutation_phrase(sources: report.Sources) -> str:
    """What the README says of the last `make mutation`: its score, of how many mutants."""
    assert sources.mutation is not None
    total = report.load(sources.mutation)["total"]
    judged = sum(total.get(k, 0) for k in ("killed", "survived", "timeout", "no_tests"))
    score = (total["killed"] + total.get("timeout", 0)) / judged
    return (
        f"its last run killed {score:.1%} of the {judged:,} mutants it judged "
        f"({total.get('equivalent', 0)} more are listed as equivalent, each with why)"
    )


def test_every_figure_in_the_prose_is_its_results_files(
    pages: dict[str, str], sources: report.Sources
) -> None:
    # GIVEN each page's text, its line breaks ignored
    # WHEN each figure it quotes is written from the results files
    # THEN the page says exactly that
    missing = [
        f"{file}: {page} should say {phrase!r}"
        for page, quoted in figures(sources).items()
        for phrase, file in quoted
        if phrase not in flat(pages[page])
    ]
    assert missing == []


def claims(sources: report.Sources) -> dict[str, list[tuple[str, bool]]]:
    """By page, what its prose says of the results without a figure, and whether the results say so."""
    assert sources.bench is not None
    assert sources.evasion_before is not None
    bench, before = report.load(sources.bench), report.load(sources.evasion_before)
    trade = _tradeoff(sources)
    rows = trade["rows"]
    champion = _champion(trade)
    tweets = bench["evasion"][report.TWEETS_MODEL]
    rscience = {r["family"]: r for r in bench["evasion"][report.RSCIENCE_MODEL]}
    rscience_before = {r["family"]: r for r in before["models"][report.RSCIENCE_MODEL]}
    padding = rscience["50 neutral words appended"]
    e2e = {e["emulator"]: e for e in bench["e2e"]}
    local = max(e2e["localstack"]["runs"], key=lambda r: r["rate_target"])
    moto = max(e2e["moto"]["runs"], key=lambda r: r["rate_target"])
    word_rows = [r for r in rows if r["model"].startswith("word") and r is not champion]
    characters = next(r for r in rows if "character" in r["model"])
    return {
        "model.md": [
            (
                "The goal of 0.85 was **not** reached, by the champion or by any other model of the "
                "trade-off table",
                all(r["test_roc_auc"] < 0.85 for r in [*rows, *trade.get("optional_rows", [])]),
            ),
        ],
        "hostile-text.md": [
            (
                "meets the goals on every family for what it removes",
                all(
                    r["still_removed"] >= GOAL_REMOVED and r["still_flagged"] >= GOAL_FLAGGED for r in tweets
                ),
            ),
            (
                "lower nearly every one below remove while most stay flagged",
                padding["still_removed"] <= 0.05 and padding["still_flagged"] > 0.5,
            ),
            (
                "under leet digits and an asterisk for a vowel it removes fewer than the model before, which "
                "had removed more of the same tweets in clean form",
                all(
                    rscience[f]["still_removed"] < rscience_before[f]["still_removed"]
                    for f in ("leet digits", "asterisk for a vowel")
                )
                and rscience_before["leet digits"]["toxic"] > rscience["leet digits"]["toxic"],
            ),
        ],
        "benchmarks.md": [
            ("every record still delivered and judged", local["verdicts"] == local["messages"]),
            ("moto's server sustained", moto["rate_achieved"] >= 0.95 * moto["rate_target"]),
            (
                "the consumer is not the bottleneck",
                bench["handler"]["handler_msg_per_s_batch100"] > moto["rate_target"],
            ),
            (
                "each row's test ROC-AUC lies inside every other row's bootstrap interval",
                all(
                    lo <= r["test_roc_auc"] <= hi
                    for r in rows
                    for lo, hi in (o["test_roc_auc_95"] for o in rows)
                ),
            ),
            (
                "ranks the champion's style features above word n-grams alone",
                all(champion["cv_roc_auc"]["mean"] > r["cv_roc_auc"]["mean"] for r in word_rows),
            ),
            ("character n-grams cost most of the speed", characters["msg_per_s"] < champion["msg_per_s"] / 2),
        ],
    }


def test_what_the_prose_says_of_the_results_holds(pages: dict[str, str], sources: report.Sources) -> None:
    said = claims(sources)
    assert [
        f"{page}: {p}" for page, made in said.items() for p, _ in made if p not in flat(pages[page])
    ] == []
    assert [f"{page}: {p}" for page, made in said.items() for p, holds in made if not holds] == []
