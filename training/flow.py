"""`train_flow`: load → split → fit every category → evaluate → register → promote, as a Prefect flow.

The only Prefect code of training; every step is a plain function underneath. Evaluations are named
`<category>/<set>` (e.g. `toxicity/olid`, `removal/feedback`): each category on the test split of every
set that labels it with both classes, through the serving path.
"""

import getpass
import json
import random
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import mlflow
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from pydantic import BaseModel
from threadpoolctl import threadpool_limits

from contracts.categories import DEFAULT_ACTING, Category
from contracts.chat import label_of
from contracts.policy import CATEGORY_THRESHOLDS, DEFAULT_THRESHOLDS, ChannelPolicy
from contracts.storage import REFERENCE_FILE, SCORER_FILE, ReferenceRow, gzip_lines
from runtime.logs import run_event
from runtime.paths import PROJECT_ROOT
from stream_consumer import encoder
from stream_consumer.scorer import CategoryModel
from training import registry
from training.adversarial import (
    ALLOWED_TERM,
    LANGUAGE_FAMILIES,
    OBFUSCATIONS,
    EvasionFloors,
    EvasionReport,
    evasion_suite,
)
from training.behaviour import (
    BehaviourCheck,
    BehaviourReport,
    identity_swap_keeps_action,
    padding_checks,
    run_behaviour_tests,
    short_benign_below_review,
)
from training.bias import BiasReport, bias_reports
from training.card import model_card
from training.cascade import fit_cascade
from training.corpora import (
    Example,
    ExampleSplits,
    Source,
    dedupe_key,
    digest_examples,
    load_all,
    load_labelled_csv,
    source_splits,
    split_examples,
)
from training.embeddings import EmbeddingCache
from training.evaluate import EvalReport, auc_difference_interval, evaluate
from training.features import TEXT_COLUMN
from training.plots import save_bias_plot, save_plots
from training.promotion import PromotionDecision, decide
from training.serving import CachedScores, category_scores
from training.settings import TrainingSettings
from training.train import CategoryParams, ModelParams, TrainedCategories, fit_categories


def unwalked[T](value: T) -> T:
    """`value` as a task's argument that Prefect passes on without walking it: by default it visits
    every item of every argument, looking for futures to wait on — seconds per call for the examples
    (tens of thousands) or a model (its vocabulary), several times a training. The task receives
    `value` itself; what is given up is the UI's arrow from the task that made it."""
    return cast(T, quote(value))


# Every task is `cache_policy=NO_CACHE`: Prefect's default cache key (inputs, task source and the flow
# run's id) is never read again, each task running once per flow run with no result persisted, but it
# hashes every input — tens of thousands of examples, a model — at every call.


class TrainResult(BaseModel):
    """What one run of the flow did."""

    run_id: str
    version: str
    promoted: bool
    reasons: list[str]
    champion_before: str | None
    test_roc_auc: dict[str, float]  # by evaluation, `<category>/<set>`
    manifest_uri: str | None
    categories: list[str] = []
    refused_by: list[str] = []  # the gates' failures that refused the version (see `promotion.decide`)
    # passed the offline gate and published as the challenger (`promotion_path` live): promoted on the
    # moderators' labels by live_promotion_flow, or never
    challenger: bool = False

    @property
    def champion_after(self) -> str | None:
        """The version that is champion once the run is over (None: still no champion)."""
        return self.version if self.promoted else self.champion_before

    def outcome(self) -> str:
        """The run's outcome in one line: `promoted: …`, `kept: …` (the champion compared better) or
        `refused: …` naming every gate that refused the version."""
        if self.promoted:
            return f"promoted: version {self.version} is champion (was {self.champion_before or 'none'})"
        if self.challenger:
            return (
                f"challenger: version {self.version} passed the offline gate and is shadow-scored beside "
                f"champion version {self.champion_before}, to be promoted on live evidence"
            )
        stays = f"champion stays version {self.champion_before}" if self.champion_before else "no champion"
        verdict, why = ("refused", self.refused_by) if self.refused_by else ("kept", self.reasons)
        line = f"{verdict}: version {self.version} not promoted, {stays} — " + "; ".join(why)
        return " ".join(line.split())  # one line, whatever a reason holds


class Datasets(BaseModel):
    """Every labelled example, split; `extra` names the sets given at run time, newest last."""

    model_config = {"arbitrary_types_allowed": True}

    splits: ExampleSplits
    extra: list[str] = []

    def evaluations(self, part: str = "test") -> dict[str, tuple[Category, list[Example]]]:
        """`<category>/<set>` → the part's examples of that set labelling the category (both classes)."""
        out: dict[str, tuple[Category, list[Example]]] = {}
        examples: list[Example] = getattr(self.splits, part)
        for category in Category:
            by_set: dict[str, list[Example]] = {}
            for e in examples:
                if e.label(category) is not None:
                    by_set.setdefault(e.source, []).append(e)
            for name, items in sorted(by_set.items()):
                if len({e.labels[category] for e in items}) == 2:
                    out[f"{category}/{name}"] = (category, items)
        return out


def as_category_params(params: CategoryParams | ModelParams | None) -> CategoryParams:
    """Per-category parameters; a single `ModelParams` sets the featurizer and every head's regression
    (each head keeps its category's window, form and class weights)."""
    if params is None or isinstance(params, CategoryParams):
        return params or CategoryParams()
    defaults = CategoryParams()
    heads = {
        c: params.model_copy(
            update={
                "window_tokens": h.window_tokens,
                "max_windows": h.max_windows,
                "row_norm": h.row_norm,
                "stacked": h.stacked,
                "padded": h.padded,
                "swaps": h.swaps,
                "style": h.style,
                "chars": h.chars,
                "class_weight": h.class_weight,
            }
        )
        for c, h in defaults.heads.items()
    }
    return CategoryParams(min_df=params.min_df, bigrams=params.bigrams, heads=heads)


# The design against the plain baseline, as `make bench` last measured it (shown on the model card).
BASELINE_RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "baseline-latest.json"


def _baseline_results() -> dict[str, Any] | None:
    """The newest baseline benchmark's results, when a bench has run here."""
    try:
        found: dict[str, Any] = json.loads(BASELINE_RESULTS.read_text())
    except (OSError, ValueError):
        return None
    return found


@task(cache_policy=NO_CACHE)
def load_and_split(settings: TrainingSettings, extra: Sequence[list[Example]] = ()) -> Datasets:
    """The configured sets of DATA_DIR plus any labelled sets given at run time, split together."""
    examples = load_all(settings.data_dir, [Source(s) for s in settings.sources])
    for items in extra:  # `load_labelled_csv` refuses a row without text
        examples += items
    splits = split_examples(examples, settings.seed, settings.validation_share, settings.test_share)
    run_event(
        get_run_logger(),
        {
            "event": "splits",
            "examples": len(examples),
            "train": len(splits.train),
            "validation": len(splits.validation),
            "test": len(splits.test),
            "dropped": splits.dropped,
        },
    )
    return Datasets(splits=splits, extra=[items[0].source for items in extra if items])


@task(cache_policy=NO_CACHE)
def fit_model(settings: TrainingSettings, data: Datasets, params: CategoryParams) -> TrainedCategories:
    """One featurizer, one calibrated head per category the data can teach; then the cascade's encoder
    heads over it (unless turned off).

    BLAS runs on one thread while they are fitted: the fits' dense parts are small, and on a machine
    whose cores are busy (a test suite's other worker, a second training) BLAS threads waiting on each
    other cost several times what they share; the coefficients then do not depend on the machine's
    core count either."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_model(settings, data, params)


def _fit_model(settings: TrainingSettings, data: Datasets, params: CategoryParams) -> TrainedCategories:
    model = fit_categories(data.splits, params, settings.categories)
    logger = get_run_logger()
    for category, c in model.chosen_c.items():
        run_event(
            logger,
            {
                "event": "head_fit",
                "category": category,
                "c": c,
                "validation_auc_by_c": model.validation_auc_by_c[category],
            },
        )
    if not settings.cascade:
        return model
    enc = encoder.shared()
    cache = EmbeddingCache(settings.embedding_cache, enc)

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        def progress(done: int, total: int) -> None:
            run_event(logger, {"event": "embedding", "done": done, "total": total})

        return cache.embed(texts, progress)

    fit = fit_cascade(
        model.model,
        data.splits,
        embed,
        enc.sha256,
        settings.escalation_share,
        min_language_texts=settings.min_language_texts,
        validation_rows=model.validation_rows,
    )
    for name, aucs in fit.validation_auc.items():
        run_event(
            logger,
            {
                "event": "cascade_fit",
                "category": name,
                "c": fit.chosen_c[name],
                "band": fit.cascade.heads[name].band,
                "escalated_share": round(fit.escalated_share[name], 4),
                "validation_auc": {k: round(v, 4) for k, v in aucs.items()},
            },
        )
    run_event(logger, {"event": "fast_model_languages", "languages": list(fit.cascade.languages)})
    return replace(model, model=replace(model.model, cascade=fit.cascade), cascade=fit)


def scored_parts(
    scores: CachedScores, parts: dict[str, tuple[Category, list[Example]]]
) -> dict[str, NDArray[np.float64]]:
    """Each part's scores of its category (the parts of the model's categories): every text scored once,
    for every category, however many parts hold it (a set labelling two categories is in two)."""
    kept = {name: part for name, part in parts.items() if part[0] in scores.model.categories}
    texts = list(dict.fromkeys(e.text for _, items in kept.values() for e in items))
    row = {t: i for i, t in enumerate(texts)}
    every = scores(texts)
    return {
        name: every[category][np.fromiter((row[e.text] for e in items), dtype=np.int64, count=len(items))]
        for name, (category, items) in kept.items()
    }


def _report(category: Category, items: Sequence[Example], scores: NDArray[np.float64]) -> EvalReport:
    return evaluate(
        [int(e.labels[category]) for e in items],
        scores,
        [e.source for e in items],
        [len(e.text) for e in items],
        CATEGORY_THRESHOLDS.get(category, DEFAULT_THRESHOLDS),
    )


def _reports(scores: CachedScores, data: Datasets) -> dict[str, EvalReport]:
    parts = data.evaluations()
    return {
        name: _report(parts[name][0], parts[name][1], s) for name, s in scored_parts(scores, parts).items()
    }


@task(cache_policy=NO_CACHE)
def evaluate_on_tests(scores: CachedScores, data: Datasets) -> dict[str, EvalReport]:
    """Every head on every test split that labels its category (what the consumer would output)."""
    return _reports(scores, data)


@task(cache_policy=NO_CACHE)
def behaviour(settings: TrainingSettings, scores: CachedScores, data: Datasets) -> BehaviourReport:
    """Behaviour tests on the model alone: short benign chat, padding and identity swaps for every
    category acting by default; names, white space and insults for the community's removals."""
    checks: list[BehaviourCheck] = []
    validation = data.evaluations("validation")
    for category in scores.model.categories:
        cat = Category(category)

        def score(texts: Sequence[str], cat: Category = cat) -> NDArray[np.float64]:
            return scores(texts)[cat]

        if cat in DEFAULT_ACTING:
            t = CATEGORY_THRESHOLDS[cat]
            labelled = [e for c, items in validation.values() if c == cat for e in items]
            random.Random(settings.seed).shuffle(labelled)
            # up to 300 of each class, spread over the sets, so a rare category still has flagged messages
            sample = [e.text for e in labelled if e.labels[cat]][:300] + [
                e.text for e in labelled if not e.labels[cat]
            ][:300]
            checks += [
                short_benign_below_review(cat, score, t.review),
                *padding_checks(
                    cat, score, sample, t.review, settings.padding_floor_kept, settings.padding_max_raised
                ),
                identity_swap_keeps_action(cat, score, t.review, t.remove),
            ]
        elif cat is Category.REMOVAL:
            benign = [
                e.text
                for name, (c, items) in validation.items()
                if c == cat
                for e in items
                if not e.labels[cat]
            ]
            removal = run_behaviour_tests(score, benign)
            checks += [c.model_copy(update={"name": f"removal/{c.name}"}) for c in removal.checks]
    return BehaviourReport(checks=checks)


def evasion_head(model: CategoryModel) -> Category:
    """The head the evasion suite measures: toxicity (what evaders hide) when the model has it."""
    return Category.TOXICITY if Category.TOXICITY in model.categories else Category(model.categories[0])


@task(cache_policy=NO_CACHE)
def evasion(settings: TrainingSettings, model: CategoryModel, data: Datasets) -> EvasionReport:
    """The evasion suite on held-out tweets (the Davidson test split, less any text the model trained
    on), through the serving path with a channel that allows `ALLOWED_TERM`."""
    trained_on = {dedupe_key(e.text) for e in data.splits.train + data.splits.validation}
    held_out = [
        x
        for x in source_splits(
            settings.data_dir,
            Source.DAVIDSON,
            seed=settings.seed,
            validation=settings.validation_share,
            test=settings.test_share,
        ).test
        if dedupe_key(x.text) not in trained_on
    ]
    n = settings.evasion_messages
    toxic = [x.text for x in held_out if x.labels[Category.TOXICITY] == 1][:n]
    benign = [x.text for x in held_out if x.labels[Category.TOXICITY] == 0][:n]
    policy = ChannelPolicy(allow_terms=(ALLOWED_TERM,))
    head = evasion_head(model)
    thresholds = CATEGORY_THRESHOLDS.get(head, DEFAULT_THRESHOLDS)
    # The language families attack the harm categories; a model of a community's removals alone (an
    # English community's standard) says nothing of text in another language, so it is not held to them.
    harm = head is not Category.REMOVAL
    families = OBFUSCATIONS if harm else {k: f for k, f in OBFUSCATIONS.items() if k not in LANGUAGE_FAMILIES}
    report = evasion_suite(
        lambda texts: category_scores(model, texts, policy)[head],
        toxic,
        benign,
        thresholds,
        families,
        foreign_families=None if harm else {},
    )
    run_event(
        get_run_logger(),
        {"event": "evasion_suite", "head": head, "toxic_removed_clean": len(toxic), "benign": len(benign)},
    )
    return report


def evasion_floors(settings: TrainingSettings) -> EvasionFloors:
    return EvasionFloors(
        still_flagged=settings.evasion_floor_flagged,
        still_removed=settings.evasion_floor_removed,
        false_flag_increase=settings.evasion_max_false_flag_increase,
    )


@task(cache_policy=NO_CACHE)
def bias(settings: TrainingSettings, scores: CachedScores, data: Datasets) -> dict[str, BiasReport]:
    """Identity-bias metrics of the toxicity and hate heads: on the templated identity set, and on
    HateXplain's test posts by target community (offensive-or-hate for toxicity, hate for hate)."""
    posts = [e for e in data.splits.test if e.source == Source.HATEXPLAIN]
    reports: dict[str, BiasReport] = {}
    for category in (Category.TOXICITY, Category.HATE):
        if category not in scores.model.categories:
            continue

        def score(texts: Sequence[str], category: Category = category) -> NDArray[np.float64]:
            return scores(texts)[category]

        found = bias_reports(score, posts, n_boot=settings.bias_resamples, seed=settings.seed, min_posts=20)
        own = "hatexplain_hate" if category is Category.HATE else "hatexplain_toxic"
        for name, report in found.items():
            if name in ("templated", own):
                reports[f"{category}.{name}"] = report
    return reports


# The gate reads the hate head on the templated identity set: its toxic templates attack a group for
# who they are ("I hate …", "all … should die"), which is what `hate` scores; toxicity's is reported.
TEMPLATED = "hate.templated"


def bias_failures(
    settings: TrainingSettings, challenger: dict[str, BiasReport], champion: dict[str, BiasReport] | None
) -> list[str]:
    """The bias gate: the hate head's templated final score reaches the floor and does not fall below
    the champion's lower confidence bound."""
    mine = challenger.get(TEMPLATED)
    if mine is None:
        return []
    failures = []
    if mine.final.value < settings.bias_floor:
        failures.append(
            f"templated identity set: final score {mine.final.value:.4f} below {settings.bias_floor}"
        )
    bound = _champion_bound(champion)
    if bound is not None and mine.final.value < bound - settings.bias_max_decline:
        accepted = (
            f" less the accepted decline {settings.bias_max_decline}" if settings.bias_max_decline else ""
        )
        failures.append(
            f"templated identity set: final score {mine.final.value:.4f} below the champion's lower "
            f"bound {bound:.4f}{accepted}"
        )
    return failures


def _champion_bound(champion: dict[str, BiasReport] | None) -> float | None:
    """The champion's lower confidence bound on the templated set (None: nothing to compare with)."""
    theirs = (champion or {}).get(TEMPLATED)
    return None if theirs is None else theirs.final.lo


def bias_accepted(
    settings: TrainingSettings, challenger: dict[str, BiasReport], champion: dict[str, BiasReport] | None
) -> list[str]:
    """The decline an operator accepted (`bias_max_decline`), when the challenger used it: a reason the
    promotion records beside its decision."""
    mine, bound = challenger.get(TEMPLATED), _champion_bound(champion)
    if mine is None or bound is None or not bound - settings.bias_max_decline <= mine.final.value < bound:
        return []
    return [
        f"templated identity score {mine.final.value:.4f} under the champion's lower bound "
        f"{bound:.4f}, within the operator's accepted decline {settings.bias_max_decline}"
    ]


def _reference(model: CategoryModel, items: Sequence[Example], size: int, seed: int, path: Path) -> Path:
    """Monitoring's drift reference: held-out texts of the community being served (the sets labelling
    its removals), with every category's score from this very model.

    Held out (validation and test), not the fitted rows: the model saw every word of those, so their
    unseen-word share is zero and their scores are over-confident — any live window would look drifted.
    """
    sample = random.Random(seed).sample(list(items), min(size, len(items)))
    scores = category_scores(model, [e.text for e in sample])
    rows = (
        ReferenceRow(
            text=e.text,
            label=label_of(e.removal()),
            community=e.source,
            score=float(scores[Category.REMOVAL][i]) if Category.REMOVAL in scores else 0.0,
            scores={c: float(p[i]) for c, p in scores.items()},
        )
        for i, e in enumerate(sample)
    )
    path.write_bytes(gzip_lines(r.model_dump_json() for r in rows))
    return path


def _log_data(
    settings: TrainingSettings, data: Datasets, params: CategoryParams, model: TrainedCategories, trigger: str
) -> dict[str, dict[str, object]]:
    """The run's parameters and, per labelled set, its sizes, positive shares and content digest."""
    mlflow.log_params(
        {
            "min_df": params.min_df,
            "bigrams": params.bigrams,
            **{f"{c}.window": f"{h.window_tokens}/{h.max_windows}" for c, h in params.heads.items()},
            **{f"{c}.row_norm": h.row_norm for c, h in params.heads.items()},
            **{f"{c}.chosen_C": v for c, v in model.chosen_c.items()},
            "seed": settings.seed,
            "trigger": trigger,
            "sources": ",".join(settings.sources),
        }
    )
    data_info: dict[str, dict[str, object]] = {}
    parts = {"train": data.splits.train, "validation": data.splits.validation, "test": data.splits.test}
    for name in sorted({e.source for e in data.splits.train + data.splits.validation + data.splits.test}):
        members = {p: [e for e in items if e.source == name] for p, items in parts.items()}
        everything = [e for items in members.values() for e in items]
        shares = {
            str(c): sum(e.labels[c] for e in everything if c in e.labels)
            / max(sum(1 for e in everything if c in e.labels), 1)
            for c in Category
            if any(c in e.labels for e in everything)
        }
        data_info[name] = {**{p: len(items) for p, items in members.items()}, "positive_share": shares}
        data_info[name]["digest"] = digest_examples(everything)
        mlflow.log_params(
            {f"data.{name}.digest": data_info[name]["digest"], f"data.{name}.rows": len(everything)}
        )
    return data_info


def _log_evaluation(
    out: Path,
    model: TrainedCategories,
    reports: dict[str, EvalReport],
    checks: BehaviourReport,
    evasions: EvasionReport,
    biases: dict[str, BiasReport],
) -> None:
    """Validation AUC by C, test metrics per evaluation, behaviour, evasion and bias."""
    for category, by_c in model.validation_auc_by_c.items():
        for c, auc in by_c.items():
            mlflow.log_metric(f"{category}.validation_roc_auc", auc, step=int(c * 1000))
    for name, report in reports.items():
        slug = name.replace("/", ".")
        mlflow.log_metrics(report.metrics(prefix=f"test.{slug}."))
        (out / f"eval_{slug}.json").write_text(report.model_dump_json(indent=2))
        mlflow.log_artifact(str(out / f"eval_{slug}.json"), "evaluation")
    for check in checks.checks:
        mlflow.log_metric(f"behaviour.{check.name.replace('/', '.')}", check.measured)
    (out / "evasion.json").write_text(json.dumps(evasions.table(), indent=2))
    mlflow.log_artifact(str(out / "evasion.json"), "evaluation")
    mlflow.log_metrics(
        {
            "evasion.min_still_flagged": min(f.still_flagged for f in evasions.families),
            "evasion.min_still_removed": min(f.still_removed for f in evasions.families),
            "evasion.max_false_flag_increase": max(f.false_flag_increase for f in evasions.families),
        }
    )
    for name, bias_report in biases.items():
        head = name.split(".")[0]
        metrics = bias_report.metrics()
        mlflow.log_metrics({k.replace("bias.", f"bias.{head}.", 1): v for k, v in metrics.items()})
        (out / f"bias_{name}.json").write_text(bias_report.model_dump_json(indent=2))
        mlflow.log_artifact(str(out / f"bias_{name}.json"), "evaluation")
        plot = save_bias_plot(out / "bias" / head, bias_report)
        mlflow.log_artifact(str(plot), f"plots/bias_{head}")


def _log_plots(out: Path, scores: CachedScores, data: Datasets) -> None:
    """ROC, precision-recall and reliability plots per category, on validation and on test."""
    for part in ("validation", "test"):
        by_category: dict[Category, list[Example]] = {}
        for category, items in data.evaluations(part).values():
            by_category.setdefault(category, []).extend(items)
        scored = scored_parts(scores, {str(c): (c, items) for c, items in by_category.items()})
        for category, items in by_category.items():
            if str(category) not in scored:
                continue
            labels_ = np.array([e.labels[category] for e in items])
            domains = np.array([e.source for e in items])
            folder = f"plots_{category}_{part}"
            for p in save_plots(out / folder, labels_, scored[str(category)], domains, f"{category}, {part}"):
                mlflow.log_artifact(str(p), f"plots/{folder}")


def _log_serving_form(out: Path, settings: TrainingSettings, model: CategoryModel, data: Datasets) -> str:
    """The exported model, the drift reference, the vocabulary and the pyfunc model; its URI."""
    model.save(out / SCORER_FILE)
    mlflow.log_artifact(str(out / SCORER_FILE))
    mlflow.log_params({"normal_form": model.normal_form, "categories": ",".join(model.categories)})
    community = {e.source for e in data.splits.train if Category.REMOVAL in e.labels}
    held_out = [e for e in data.splits.validation + data.splits.test if e.source in community]
    _reference(model, held_out, settings.reference_size, settings.seed, out / REFERENCE_FILE)
    mlflow.log_artifact(str(out / REFERENCE_FILE))
    mlflow.log_text("\n".join(sorted(model.vocabulary)), "vocabulary.txt")
    example = pd.DataFrame({TEXT_COLUMN: [e.text for e in data.splits.validation[:5]]})
    return registry.log_model(out / SCORER_FILE, "model", example)


def _log_cascade(settings: TrainingSettings, model: TrainedCategories) -> dict[str, str]:
    """The cascade's parameters and validation figures (MLflow), and its lines of the model card."""
    fit = model.cascade
    if fit is None:
        return {"cascade": "off"}
    mlflow.log_params(
        {
            "cascade.encoder": fit.cascade.encoder,
            "cascade.encoder_sha256": fit.cascade.encoder_sha256,
            "cascade.escalation_share": settings.escalation_share,
            "cascade.languages": ",".join(fit.cascade.languages),
        }
    )
    mlflow.log_metrics(
        {
            **{
                f"cascade.validation_roc_auc.{c}.{k}": v
                for c, aucs in fit.validation_auc.items()
                for k, v in aucs.items()
            },
            **{f"cascade.escalated_share.{c}": v for c, v in fit.escalated_share.items()},
        }
    )
    return {
        "cascade": f"{fit.cascade.encoder}, escalation target {settings.escalation_share:.0%} of validation",
        "languages the fast model knows": ", ".join(fit.cascade.languages) or "none",
        **{
            f"{c} validation ROC-AUC (fast → cascade, encoder alone)": (
                f"{a['fast']:.3f} → {a['cascade']:.3f}, {a['encoder']:.3f}"
            )
            for c, a in fit.validation_auc.items()
        },
    }


@task(cache_policy=NO_CACHE)
def register_challenger(
    settings: TrainingSettings,
    model: TrainedCategories,
    scores: CachedScores,
    data: Datasets,
    params: CategoryParams,
    reports: dict[str, EvalReport],
    checks: BehaviourReport,
    evasions: EvasionReport,
    biases: dict[str, BiasReport],
    trigger: str,
    label_audit: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Log everything about the candidate to MLflow (with the audit of the labels it was given, when a
    drift check gave them), register it and alias it `challenger`. `scores` are the model's own (the
    plots read the test splits the evaluation scored)."""
    client = registry.client(settings)
    with (
        mlflow.start_run(run_name=f"train-{datetime.now(UTC):%Y%m%dT%H%M%S}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        data_info = _log_data(settings, data, params, model, trigger)
        cascade_info = _log_cascade(settings, model)
        _log_evaluation(out, model, reports, checks, evasions, biases)
        _log_plots(out, scores, data)
        card = model_card(
            settings.model_name,
            {
                "categories": ", ".join(model.model.categories),
                **{f"{c} C": v for c, v in model.chosen_c.items()},
                **cascade_info,
            },
            data_info,
            reports,
            [c.detail if c.passed else f"FAILED {c.name}: {c.detail}" for c in checks.checks],
            biases=biases,
            baseline=_baseline_results(),
        )
        mlflow.log_text(card, "model_card.md")
        if label_audit is not None:
            mlflow.log_dict(label_audit, "label_audit.json")
        model_uri = _log_serving_form(out, settings, model.model, data)
        version = registry.register(
            client,
            settings.model_name,
            model_uri,
            run.info.run_id,
            {
                "trigger": trigger,
                "categories": ",".join(model.model.categories),
                "behaviour_passed": str(checks.passed).lower(),
                "evasion_passed": str(not evasions.failures(evasion_floors(settings))).lower(),
                **{f"test_roc_auc.{n}": f"{r.roc_auc:.4f}" for n, r in reports.items()},
            },
        )
    run_event(
        get_run_logger(),
        {
            "event": "registered",
            "model": settings.model_name,
            "version": version.version,
            "alias": "challenger",
        },
    )
    return run.info.run_id, str(version.version)


class IncumbentReports(BaseModel):
    """The serving champion's version, its evaluations on the challenger's test splits and its bias."""

    version: str | None  # None before the first promotion
    reports: dict[str, EvalReport]
    biases: dict[str, BiasReport] = {}
    # per evaluation, the 95% paired-bootstrap interval of challenger − champion ROC-AUC
    differences: dict[str, tuple[float, float]] = {}


@task(cache_policy=NO_CACHE)
def incumbent_reports(
    settings: TrainingSettings, data: Datasets, challenger: CachedScores | None = None
) -> IncumbentReports:
    """The current champion's serving model, evaluated on the same test splits (and, given the
    challenger, the paired interval of their difference on each)."""
    client = registry.client(settings)
    current = registry.champion_version(client, settings.model_name)
    if current is None:
        return IncumbentReports(version=None, reports={})
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_artifact(client, str(current.run_id), SCORER_FILE, Path(tmp))
        champion = CachedScores(CategoryModel.load(path))
    parts = data.evaluations()
    scores = scored_parts(champion, parts)
    reports = {name: _report(parts[name][0], parts[name][1], s) for name, s in scores.items()}
    differences = {}
    if challenger is not None:
        for name, theirs in scored_parts(challenger, parts).items():
            if name not in scores:
                continue
            category, items = parts[name]
            differences[name] = auc_difference_interval(
                np.array([int(e.labels[category]) for e in items]),
                theirs,
                scores[name],
                resamples=settings.bias_resamples,
                seed=settings.seed,
            )
    return IncumbentReports(
        version=str(current.version),
        reports=reports,
        biases=bias.fn(settings, champion, data),
        differences=differences,
    )


def goes_live(settings: TrainingSettings, champion_version: str | None) -> bool:
    """Whether a version the offline gate passes is published as the challenger (promoted on live
    evidence) rather than made champion: with `promotion_path` live, when a champion serves to compare."""
    return champion_version is not None and settings.promotion_path == "live"


@task(cache_policy=NO_CACHE)
def promote(
    settings: TrainingSettings,
    version: str,
    champion_version: str | None,
    decision: PromotionDecision,
    trigger: str,
    live: bool,
) -> str | None:
    """Move `champion` under the champion lock (refused if it moved meanwhile), or publish the challenger
    (`live`: the decision promotes and `goes_live`), or record why not; the manifest written."""
    client = registry.client(settings)
    logger = get_run_logger()
    for key, value in {
        "promotion.decision": "challenger" if live else "promoted" if decision.promote else "rejected",
        "promotion.reasons": " | ".join(decision.reasons)[:5000],
        **({"promotion.refused_by": " | ".join(decision.refused_by)[:5000]} if decision.refused_by else {}),
    }.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    if not decision.promote:
        run_event(
            logger, {"event": "champion_kept", "champion": champion_version, "reasons": decision.reasons}
        )
        return None
    who = f"train_flow:{trigger} by {getpass.getuser()}@{socket.gethostname()}"
    if live:
        registry.publish_challenger(settings, client, version, who)
        return f"s3://{settings.models_bucket}/{settings.challenger_manifest_key}"
    moved = registry.move_champion(settings, client, version, champion_version, who)
    run_event(
        logger, {"event": "promoted", "version": version, "replaced": moved.replaced, "token": moved.token}
    )
    return moved.manifest_uri


def default_target(reports: dict[str, EvalReport], data: Datasets) -> str:
    """The evaluation that must improve: the newest run-time set's (moderators' decisions; of its
    categories, the one with the most test labels), else the community's own removals, else the first."""
    for name in reversed(data.extra):
        found = [n for n in reports if n.endswith(f"/{name}")]
        if found:
            return max(found, key=lambda n: reports[n].n)
    return (
        f"{Category.REMOVAL}/{Source.RSCIENCE}"
        if f"{Category.REMOVAL}/{Source.RSCIENCE}" in reports
        else next(iter(reports))
    )


@flow(name="train_flow", log_prints=True)
def train_flow(
    settings: TrainingSettings | None = None,
    params: CategoryParams | ModelParams | None = None,
    extra_labels: list[Path] | None = None,
    target: str | None = None,
    trigger: str = "manual",
    extra_category: Category = Category.REMOVAL,
    label_audit: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a challenger for every category, compare it with the champion on the same test splits,
    promote if better.

    `target` names the evaluation that must improve (default: the newest labelled set's, else
    `removal/rscience`); every other evaluation — every category on every set — is guarded against
    losing more than the policy's margin, so a challenger cannot win one category by losing another.
    Labelled CSVs given at run time label `extra_category` (the moderators' removals by default);
    `label_audit`, the label guard's audit of them, is kept with the run.
    """
    settings = settings or TrainingSettings()
    heads = as_category_params(params)
    extra = [load_labelled_csv(Path(p), extra_category) for p in extra_labels or []]
    data = load_and_split(settings, extra)
    model = fit_model(settings, unwalked(data), heads)
    served, examples = unwalked(model.model), unwalked(data)
    scores = unwalked(CachedScores(model.model))  # every list of texts scored once by this model
    reports = evaluate_on_tests(scores, examples)
    checks = behaviour(settings, scores, examples)
    evasions = evasion(settings, served, examples)
    biases = bias(settings, scores, examples)
    run_id, version = register_challenger(
        settings,
        unwalked(model),
        scores,
        examples,
        heads,
        reports,
        checks,
        evasions,
        biases,
        trigger,
        label_audit,
    )
    incumbent = incumbent_reports(settings, examples, scores)
    champion_version = incumbent.version
    target = target if target and target in reports else default_target(reports, data)
    decision = decide(
        {n: r.roc_auc for n, r in reports.items()},
        {n: r.roc_auc for n, r in incumbent.reports.items()} if champion_version else None,
        target=target,
        guarded=[n for n in reports if n != target],
        behaviour_failures=checks.failures,
        evasion_failures=evasions.failures(evasion_floors(settings)),
        bias_failures=bias_failures(settings, biases, incumbent.biases if champion_version else None),
        policy=settings.promotion_policy,
        sizes={n: (r.n, r.positives) for n, r in reports.items()},
        differences=incumbent.differences,
    )
    accepted = bias_accepted(settings, biases, incumbent.biases if champion_version else None)
    if decision.promote and accepted:  # the operator's acceptance is part of why it was promoted
        decision = decision.model_copy(
            update={"reasons": [*decision.reasons, *(f"bias gate: {a}" for a in accepted)]}
        )
    live = decision.promote and goes_live(settings, champion_version)
    manifest_uri = promote(settings, version, champion_version, decision, trigger, live)
    return TrainResult(
        run_id=run_id,
        version=version,
        promoted=decision.promote and not live,
        challenger=live,
        reasons=decision.reasons,
        champion_before=champion_version,
        test_roc_auc={n: r.roc_auc for n, r in reports.items()},
        manifest_uri=manifest_uri,
        categories=list(model.model.categories),
        refused_by=decision.refused_by,
    )
