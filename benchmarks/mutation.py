"""The mutation score of the pure core, from the last `mutmut run` (`make mutation`): per module, the
mutants killed by the unit tests, the survivors (function, line and change), those no test reaches, and
the survivors `mutation-equivalent.toml` names as equivalent (no behaviour changes), each with why.

python -m benchmarks.mutation   # reads mutants/, → results/mutation-<time>.json (and -latest)
"""

import ast
import difflib
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, machine, write_named

MUTANTS = ROOT / "mutants"
LATEST = "mutation-latest.json"
# Survivors that change no behaviour (a codec's other spelling, a bound no input can reach, …): mutant
# name → why. They leave the score; one a test now kills is reported as stale.
EQUIVALENT = Path(__file__).with_name("mutation-equivalent.toml")


def equivalents(path: Path = EQUIVALENT) -> dict[str, str]:
    """The equivalent mutants and why each is, by mutant name."""
    if not path.is_file():
        return {}
    table = tomllib.loads(path.read_text())
    return {str(name): str(why) for name, why in table.get("equivalent", {}).items()}


# mutmut's exit codes (mutmut.stats): a test failed (killed), none did (survived), no test ran the
# mutated function, the type checker refused the mutant, or it ran out of time.
STATUS: dict[int | None, str] = {
    None: "not_checked",
    **dict.fromkeys((1, 3, 37), "killed"),
    0: "survived",
    **dict.fromkeys((5, 33), "no_tests"),
    **dict.fromkeys((36, -24, 24, 152, 255), "timeout"),
}


def status(exit_code: int | None) -> str:
    return STATUS.get(exit_code, "suspicious")


def _change(source: list[str], mutated: list[str]) -> tuple[int | None, str]:
    """The first line the mutant changes (1-based, in the function's mutated copy) and the change."""
    for group in difflib.SequenceMatcher(None, source, mutated).get_opcodes():
        tag, i1, i2, j1, j2 = group
        if tag != "equal":
            before = " / ".join(s.strip() for s in source[i1:i2])
            after = " / ".join(s.strip() for s in mutated[j1:j2])
            return i1 + 1, f"{before} → {after}"
    return None, ""


def _functions(path: Path) -> dict[str, list[str]]:
    """Each function's lines in mutmut's trampolined file, by name (`x_f__mutmut_orig`, `x_f__mutmut_1`,
    methods `xǁClassǁm__mutmut_1`): the original and every mutant are functions of their own."""
    lines = path.read_text().splitlines()
    return {
        node.name: lines[node.lineno - 1 : node.end_lineno]
        for node in ast.walk(ast.parse("\n".join(lines)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def survivor(copies: dict[str, list[str]], mutant: str) -> dict[str, Any]:
    """Where a surviving mutant is, among its module's functions (`_functions`): its function, line within
    it and change (mutmut show tells the same)."""
    function = mutant.rsplit(".", 1)[-1]
    original = function.rpartition("__mutmut_")[0]
    orig = copies.get(f"{original}__mutmut_orig", [])
    mutated = copies.get(function, [])
    line, change = _change(orig[1:], mutated[1:])
    return {
        "mutant": mutant,
        "function": (original[2:] if original.startswith(("x_", "xǁ")) else original).replace("ǁ", "."),
        "line_in_function": line,
        "change": change,
    }


def collect(root: Path = MUTANTS, equivalent: dict[str, str] | None = None) -> dict[str, Any]:
    equivalent = equivalents() if equivalent is None else equivalent
    modules: dict[str, Any] = {}
    seen: dict[str, str] = {}  # every mutant run, by name: its status
    for meta in sorted(root.rglob("*.py.meta")):
        source = meta.with_suffix("")  # the trampolined copy mutmut wrote
        name = str(source.relative_to(root))
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        statuses = {m: status(c) for m, c in codes.items()}
        seen.update(statuses)
        for m, s in statuses.items():
            if s == "survived" and m in equivalent:
                statuses[m] = "equivalent"
        counts = Counter(statuses.values())
        killed, survived = counts["killed"], counts["survived"]
        survived_mutants = [m for m, s in sorted(statuses.items()) if s == "survived"]
        equivalent_mutants = [m for m, s in sorted(statuses.items()) if s == "equivalent"]
        # the module's file, parsed once
        copies = _functions(source) if survived_mutants or equivalent_mutants else {}
        judged = killed + survived + counts["timeout"] + counts["no_tests"]
        modules[name] = {
            "mutants": len(codes),
            **{
                k: counts[k]
                for k in (
                    "killed",
                    "survived",
                    "timeout",
                    "no_tests",
                    "not_checked",
                    "suspicious",
                    "equivalent",
                )
            },
            # of the mutants run: a timeout is one the tests noticed (an endless loop), killed as mutmut
            # counts it; one no unit test reaches is as good as a survivor; an equivalent one is left out
            "score": round((killed + counts["timeout"]) / judged, 4) if judged else None,
            "survivors": [survivor(copies, m) for m in survived_mutants],
            "equivalents": [survivor(copies, m) | {"why": equivalent[m]} for m in equivalent_mutants],
        }
    total = Counter[str]()
    for m in modules.values():
        total.update(
            {k: m[k] for k in ("mutants", "killed", "survived", "timeout", "no_tests", "equivalent")}
        )
    judged = total["killed"] + total["survived"] + total["timeout"] + total["no_tests"]
    return {
        "machine": machine(),
        "tool": "mutmut",
        "tests": "tests/unit",
        "modules": modules,
        "total": dict(total),
        "score": round((total["killed"] + total["timeout"]) / judged, 4) if judged else None,
        # listed as equivalent, yet killed by a test: the list wants mending
        "stale_equivalents": sorted(m for m in equivalent if m in seen and seen[m] != "survived"),
    }


def render(results: dict[str, Any], survivors: int = 10) -> str:
    """The score per module (of the mutants run), then the first survivors of each module."""
    rows = [
        "| module | mutants | killed | survived | no unit test reaches | equivalent | not run | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in results["modules"].items():
        score = "—" if m["score"] is None else f"{m['score']:.1%}"
        rows.append(
            f"| `{name}` | {m['mutants']} | {m['killed'] + m['timeout']} | {m['survived']} | {m['no_tests']} "
            f"| {m.get('equivalent', 0)} | {m['not_checked']} | {score} |"
        )
    total = results["total"]
    score = "—" if results["score"] is None else f"{results['score']:.1%}"
    rows.append(
        f"| all | {total.get('mutants', 0)} | {total.get('killed', 0) + total.get('timeout', 0)} "
        f"| {total.get('survived', 0)} | {total.get('no_tests', 0)} | {total.get('equivalent', 0)} "
        f"| {sum(m['not_checked'] for m in results['modules'].values())} | {score} |"
    )
    lines = [
        "Score: killed (or timed out) of the mutants run, against `tests/unit`; the equivalent ones "
        "(`benchmarks/mutation-equivalent.toml`, each with why) left out.",
        "",
        *rows,
        "",
    ]
    if results.get("stale_equivalents"):
        lines += [
            f"Listed as equivalent but no longer surviving: {', '.join(results['stale_equivalents'])}",
            "",
        ]
    for name, m in results["modules"].items():
        if m["survivors"]:
            lines.append(f"Survivors in `{name}` (first {min(survivors, len(m['survivors']))}):")
            lines += [
                f"- `{s['function']}` line {s['line_in_function']} of the function: `{s['change']}`"
                for s in m["survivors"][:survivors]
            ]
            lines.append("")
    return "\n".join(lines)


def main() -> int:
    if not MUTANTS.is_dir():
        print("no mutants/ folder: run `make mutation` (mutmut run) first", file=sys.stderr)
        return 1
    results = collect()
    for name, m in results["modules"].items():
        counts = f"{m['killed']:4} killed {m['survived']:4} survived {m['no_tests']:4} untested"
        print(f"{name:40} {counts}  {m['not_checked']:4} not run  score {m['score']}")
    print(f"results: {write_named('mutation', results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
