"""The model card: a short markdown page about one trained version, logged with it."""

from collections.abc import Mapping
from typing import Any

from training.bias import BiasReport, Estimate
from training.evaluate import EvalReport


def model_card(
    model_name: str,
    params: Mapping[str, object],
    data: Mapping[str, Mapping[str, object]],
    reports: Mapping[str, EvalReport],
    behaviour: list[str],
    decision: list[str] | None = None,
    biases: Mapping[str, BiasReport] | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> str:
    """Data, splits, test metrics per category, set and length, bias by subgroup with intervals, the
    design against the plain baseline (when measured), behaviour tests and known limits."""
    lines = [
        f"# {model_name}",
        "",
        "Calibrated probabilities per harm category (toxicity, hate, spam) and of a community's own",
        "removals, for chat messages.",
        "",
    ]
    lines += [
        "## Data",
        "",
        "| set | train | validation | test | positive share by category | digest |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in data.items():
        shares = d.get("positive_share", {})
        share_text = (
            ", ".join(f"{c} {float(v):.3f}" for c, v in shares.items()) if isinstance(shares, dict) else ""
        )
        lines.append(
            f"| {name} | {d['train']} | {d['validation']} | {d['test']} | {share_text} "
            f"| `{str(d['digest'])[:12]}` |"
        )
    lines += [
        "",
        "Texts are deduplicated (case and white space ignored) before splitting, so no text sits in two",
        "splits; splits are stratified by community and label with a fixed seed. The test split is used",
        "for this report only; C is chosen and the scores calibrated on the validation split.",
        "",
    ]
    lines += ["## Parameters", ""] + [f"- `{k}`: {v}" for k, v in params.items()] + [""]
    lines += [
        "## Test metrics",
        "",
        "Per category and set (`category/set`), at the category's default thresholds: the share of",
        "messages sent to human review and the precision of the automatic removals and allows.",
        "",
        "| set | n | ROC-AUC (95% bootstrap) | PR-AUC | Brier | to review | precision remove "
        "| precision allow | remove P/R | review P/R |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in reports.items():
        pr = {o.name: f"{o.precision:.2f}/{o.recall:.2f}" for o in r.operating_points}
        auc = f"{r.roc_auc:.4f}" + (f" ({r.roc_auc_95[0]:.3f}–{r.roc_auc_95[1]:.3f})" if r.roc_auc_95 else "")
        lines.append(
            f"| {name} | {r.n} | {auc} | {r.pr_auc:.4f} | {r.brier:.4f} | {r.review_share:.1%} "
            f"| {r.remove_precision:.1%} | {r.allow_precision:.1%} | {pr['remove']} | {pr['review']} |"
        )
    for name, r in reports.items():
        lines += ["", f"By length ({name}):", "", "| chars | n | ROC-AUC |", "|---|---|---|"]
        for bucket, s in r.by_length.items():
            auc = f"{s.roc_auc:.4f}" if s.roc_auc is not None else "–"
            lines.append(f"| {bucket} | {s.n} | {auc} |")
    if biases:
        lines += _bias_section(biases)
    if baseline:
        lines += baseline_section(baseline)
    lines += ["", "## Behaviour tests", ""] + [f"- {b}" for b in behaviour]
    if decision:
        lines += ["", "## Promotion", ""] + [f"- {d}" for d in decision]
    lines += [
        "",
        "## Limits",
        "",
        "- Learned from what moderators removed in the communities above; a new community's norms differ",
        "  (an r/science-only model ranks tweets poorly) — monitoring watches for that drift.",
        "- English only. Length is a strong, shallow signal in r/science (removed comments are short).",
        "- Scores are calibrated on the validation split of the training communities; calibration on",
        "  other traffic is not guaranteed.",
        "- A linear model over words: it can be evaded by wording it has not seen; the consumer's",
        "  normalisation and per-channel term lists cover trivial evasions.",
    ]
    return "\n".join(lines) + "\n"


def _interval(e: Estimate) -> str:
    return f"{e.value:.3f}" + (f" ({e.lo:.3f}–{e.hi:.3f})" if e.lo is not None and e.hi is not None else "")


def _bias_section(biases: Mapping[str, BiasReport]) -> list[str]:
    """Per report: the Jigsaw final score and its three families, then each subgroup, with intervals."""
    lines = [
        "",
        "## Identity bias",
        "",
        "Subgroup AUC (messages mentioning the subgroup), BPSN (background positives, subgroup negatives)",
        "and BNSP (background negatives, subgroup positives); each family summarised by the power mean",
        "with p = −5; final = ¼ overall AUC + ¼ each family (Borkan et al., 2019). 95% bootstrap intervals.",
        "",
        "| set | n | overall AUC | subgroup | BPSN | BNSP | final |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in biases.items():
        lines.append(
            f"| {name} | {r.n} | {_interval(r.overall_auc)} | {_interval(r.subgroup_auc)} "
            f"| {_interval(r.bpsn_auc)} | {_interval(r.bnsp_auc)} | {_interval(r.final)} |"
        )
    for name, r in biases.items():
        lines += [
            "",
            f"By subgroup ({name}):",
            "",
            "| subgroup | n | subgroup AUC | BPSN | BNSP |",
            "|---|---|---|---|---|",
        ]
        for row in r.subgroups:
            lines.append(
                f"| {row.name} | {row.n} | {_interval(row.subgroup_auc)} | {_interval(row.bpsn_auc)} "
                f"| {_interval(row.bnsp_auc)} |"
            )
    return lines


def baseline_section(results: Mapping[str, Any]) -> list[str]:
    """The design against the plain baseline, as `python -m benchmarks.baseline` measured it (the
    results file's rows: test splits, each source left out, bias), with where and when it was measured."""
    machine = results.get("machine", {})
    lines = [
        "",
        "## Against the plain baseline",
        "",
        "This training design against a word + character TF-IDF logistic regression fitted on the same",
        f"texts, measured by `python -m benchmarks.baseline` (commit {machine.get('commit', '?')}; the",
        "served score: the fast model and the cascade). Won: ahead by at least the baseline's 95% interval",
        "half-width or 0.01.",
        "",
        "| category | rows | source | served | baseline | difference | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results.get("rows", []):
        verdict = "won" if r["won"] else "ahead" if r["ahead"] else "behind"
        lines.append(
            f"| {r['category']} | {r['kind']} | {r['source']} | {r['champion']['roc_auc']:.3f} "
            f"| {r['baseline']['roc_auc']:.3f} | {r['difference']['value']:+.3f} | {verdict} |"
        )
    return lines
