"""The model card: a short markdown page about one trained version, logged with it."""

from collections.abc import Mapping

from training.evaluate import EvalReport


def model_card(
    model_name: str,
    params: Mapping[str, object],
    data: Mapping[str, Mapping[str, object]],
    reports: Mapping[str, EvalReport],
    behaviour: list[str],
    decision: list[str] | None = None,
) -> str:
    """Data, splits, test metrics per domain and length, behaviour tests and known limits."""
    lines = [
        f"# {model_name}",
        "",
        "Calibrated probability that a community's moderators would remove a chat message.",
        "",
    ]
    lines += [
        "## Data",
        "",
        "| set | train | validation | test | removed share | digest |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in data.items():
        lines.append(
            f"| {name} | {d['train']} | {d['validation']} | {d['test']} "
            f"| {float(str(d['removed_share'])):.3f} | `{str(d['digest'])[:12]}` |"
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
        "| set | n | ROC-AUC | PR-AUC | Brier | remove P/R | review P/R |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in reports.items():
        pr = {o.name: f"{o.precision:.2f}/{o.recall:.2f}" for o in r.operating_points}
        lines.append(
            f"| {name} | {r.n} | {r.roc_auc:.4f} | {r.pr_auc:.4f} | {r.brier:.4f} "
            f"| {pr['remove']} | {pr['review']} |"
        )
    for name, r in reports.items():
        lines += ["", f"By length ({name}):", "", "| chars | n | ROC-AUC |", "|---|---|---|"]
        for bucket, s in r.by_length.items():
            auc = f"{s.roc_auc:.4f}" if s.roc_auc is not None else "–"
            lines.append(f"| {bucket} | {s.n} | {auc} |")
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
