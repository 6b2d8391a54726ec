"""`make mutation`'s report reads mutmut's files as mutmut writes them: each mutant's status from its exit
code, the score of the mutants run, and where each survivor is and what it changed."""

import json
from pathlib import Path

from benchmarks import mutation

# A module as mutmut 3 rewrites it: the original function and each mutant as its own copy.
BODY = "def x_decide__mutmut_{}(gain, loss):\n    if {}:\n        return {}\n    return {}\n"
TRAMPOLINED = "\n\n".join(
    BODY.format(*copy)
    for copy in (
        ("orig", "gain >= 0.002", "loss < 0.01", False),
        ("1", "gain >= 0.002", "loss <= 0.01", False),
        ("2", "gain > 0.002", "loss < 0.01", False),
        ("3", "gain >= 1.002", "loss < 0.01", False),
        ("4", "gain >= 0.002", "loss < 0.01", True),
    )
)


CODES = {
    "training.promotion.x_decide__mutmut_1": 1,
    "training.promotion.x_decide__mutmut_2": 0,
    "training.promotion.x_decide__mutmut_3": 33,
    "training.promotion.x_decide__mutmut_4": None,
}


def _mutated(root: Path) -> None:
    """A mutated module: one mutant killed, one survived, one no test reached, one not run yet."""
    folder = root / "training"
    folder.mkdir()
    (folder / "promotion.py").write_text(TRAMPOLINED)
    (folder / "promotion.py.meta").write_text(json.dumps({"exit_code_by_key": CODES}))


def test_statuses_score_and_survivors_come_from_mutmuts_files(tmp_path: Path) -> None:
    # GIVEN a mutated module: one mutant killed, one survived, one no test reached, one not run yet
    _mutated(tmp_path)
    # WHEN the report collects them
    results = mutation.collect(tmp_path, equivalent={})
    module = results["modules"]["training/promotion.py"]
    # THEN each status is counted, and the score is the killed of the mutants run (untested ones count
    # against it)
    assert {k: module[k] for k in ("mutants", "killed", "survived", "no_tests", "not_checked")} == {
        "mutants": 4,
        "killed": 1,
        "survived": 1,
        "no_tests": 1,
        "not_checked": 1,
    }
    assert module["score"] == round(1 / 3, 4)
    assert results["score"] == round(1 / 3, 4)
    # AND the survivor names its function, the line of the function it changed and the change
    (survivor,) = module["survivors"]
    assert survivor["function"] == "decide"
    assert survivor["line_in_function"] == 1
    assert survivor["change"] == "if gain >= 0.002: → if gain > 0.002:"
    # AND the rendered table says the same
    rendered = mutation.render(results)
    assert "| `training/promotion.py` | 4 | 1 | 1 | 1 | 0 | 1 | 33.3% |" in rendered
    assert "`if gain >= 0.002: → if gain > 0.002:`" in rendered


def test_a_survivor_listed_as_equivalent_leaves_the_score_with_its_reason(tmp_path: Path) -> None:
    # GIVEN the surviving mutant listed as equivalent, and the killed one too (a stale entry)
    _mutated(tmp_path)
    listed = {
        "training.promotion.x_decide__mutmut_2": "no gain is exactly 0.002",
        "training.promotion.x_decide__mutmut_1": "thought equivalent",
    }
    # WHEN the report collects them
    results = mutation.collect(tmp_path, equivalent=listed)
    module = results["modules"]["training/promotion.py"]
    # THEN the equivalent one is counted apart, with its change and why, and the score leaves it out
    assert (module["survived"], module["equivalent"], module["killed"]) == (0, 1, 1)
    assert module["score"] == round(1 / 2, 4)
    (same,) = module["equivalents"]
    assert (same["change"], same["why"]) == (
        "if gain >= 0.002: → if gain > 0.002:",
        "no gain is exactly 0.002",
    )
    # AND a listed mutant a test kills is named as stale, in the results and the rendered report
    assert results["stale_equivalents"] == ["training.promotion.x_decide__mutmut_1"]
    assert "no longer surviving: training.promotion.x_decide__mutmut_1" in mutation.render(results)


def test_the_equivalents_file_names_mutants_with_a_reason_each(tmp_path: Path) -> None:
    path = tmp_path / "equivalent.toml"
    path.write_text('[equivalent]\n"a.b.x_f__mutmut_1" = "why"\n')
    assert mutation.equivalents(path) == {"a.b.x_f__mutmut_1": "why"}
    assert mutation.equivalents(tmp_path / "missing.toml") == {}
    assert all(why.strip() for why in mutation.equivalents().values())
