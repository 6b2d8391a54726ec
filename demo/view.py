"""What the demo shows: the steps with their timings and the consumer's running figures (a live view
on a terminal, a plain line per step elsewhere), and the closing tables."""

import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from contracts import metrics
from contracts.statement import AutomatedDecision
from contracts.verdict import Action, Stage
from demo.live import ConsumerFigures, LogFollower
from demo.summary import Summary, retrained
from demo.traffic import Traffic


@dataclass
class Step:
    """One step of the story, as the view shows it."""

    title: str
    status: str = "pending"  # pending, running, done
    started: float | None = None
    ended: float | None = None
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.monotonic()) - self.started


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


class LiveView:
    """The story's steps and the consumer's figures, folded from its log as it grows."""

    def __init__(
        self,
        console: Console,
        titles: dict[str, str],
        traffic: Traffic,
        consumer_log: Path,
        bot_seen: Path,
        tag: str,
    ) -> None:
        self.console = console
        self.steps = {key: Step(title) for key, title in titles.items()}
        self.figures = ConsumerFigures()
        self.t0 = time.monotonic()
        self._traffic = traffic
        self._follower = LogFollower(consumer_log)
        self._bot_seen = bot_seen
        self._tag = tag
        self._lock = threading.Lock()  # the live view's thread and the main thread both fold the log

    def begin(self, key: str) -> None:
        """Mark a step running (off a terminal, print its title)."""
        step = self.steps[key]
        step.status, step.started = "running", time.monotonic()
        if not self.console.is_terminal:
            self.console.print(f"== {step.title}")

    def end(self, key: str, detail: str = "") -> None:
        """Mark a step done with what it achieved (off a terminal, print its time and detail)."""
        step = self.steps[key]
        step.status, step.ended, step.detail = "done", time.monotonic(), detail
        if not self.console.is_terminal:
            self.console.print(f"   done in {step.seconds or 0:.1f} s{': ' + detail if detail else ''}")

    def timings(self) -> dict[str, float]:
        """Seconds each step took (0 for those that never ran)."""
        return {k: round(s.seconds or 0, 1) for k, s in self.steps.items()}

    def refresh(self) -> None:
        """Fold the consumer's new log lines into the figures."""
        with self._lock:
            for line in self._follower.new_lines():
                self.figures.ingest(line)

    def counts(self) -> Counter[str]:
        """A copy of the consumer's counts so far."""
        self.refresh()
        with self._lock:
            return Counter(self.figures.counts)

    def mix_line(self, since: Counter[str] | None = None) -> str:
        """Verdicts by action and dead letters (since an earlier `counts()`, if given)."""
        with self._lock:
            counts = self.figures.counts - (since or Counter())
        verdicts = sum(counts[metrics.verdicts(a)] for a in Action)
        shares = " ".join(f"{a} {100 * counts[metrics.verdicts(a)] / max(verdicts, 1):.0f}%" for a in Action)
        return f"verdicts {verdicts:,} ({shares}), dead letters {counts[metrics.DEAD_LETTERS]:,}"

    def stage_line(self) -> str:
        """How the verdicts were scored: the escalation share of the cascade and its stage mix."""
        with self._lock:
            counts = self.figures.counts.copy()
        staged = {s: counts[metrics.stage(s)] for s in Stage}
        total = max(sum(staged.values()), 1)
        mix = " ".join(f"{s.value} {staged[s]:,}" for s in Stage)
        return f"escalated {100 * staged[Stage.ENCODER] / total:.1f}% ({mix})"

    def context_line(self) -> str:
        """Verdicts each context signal fired for (acting, or shown to a moderator), windows closed."""
        with self._lock:
            counts = self.figures.counts.copy()
        fired = " ".join(f"{name} {counts[metrics.signal(name)]:,}" for name in metrics.SIGNALS)
        return f"{fired}; windows closed {counts[metrics.WINDOWS_CLOSED]:,}"

    def render(self) -> Group:
        """The steps table and the running figures (rich's `Live` calls it a few times a second)."""
        self.refresh()
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(width=2)
        table.add_column()
        table.add_column(justify="right", width=8)
        table.add_column(style="dim")
        marks = {"pending": "·", "running": "[yellow]▶", "done": "[green]✓"}
        for step in self.steps.values():
            secs = f"{step.seconds:.1f} s" if step.seconds is not None else ""
            table.add_row(marks[step.status], step.title, secs, step.detail)
        f, t = self.figures, self._traffic
        lag = t.published - f.verdicts - f.counts[metrics.DEAD_LETTERS]
        p50 = f"{f.handler_p50_ms:.0f} ms" if f.handler_p50_ms is not None else "-"
        bot_seen = _count_lines(self._bot_seen)
        stats = Text.from_markup(
            f"[bold]in[/] {t.published:,} ({t.phase})   [bold]out[/] {self.mix_line()}   "
            f"[bold]in flight[/] {max(lag, 0):,}   [bold]retried[/] {f.counts[metrics.RETRIED_RECORDS]:,}\n"
            f"[bold]champion[/] v{f.champion_version or '-'}   reloads {f.counts[metrics.MODEL_RELOADS]}"
            f" (failed {f.counts[metrics.MODEL_RELOAD_FAILURES]})   [bold]handler p50[/] {p50} over"
            f" {f.batches:,} batches   [bold]cascade[/] {self.stage_line()}\n"
            f"[bold]context[/] {self.context_line()}\n"
            f"[bold]bot[/] read {bot_seen:,} verdicts   "
            f"[dim]elapsed {time.monotonic() - self.t0:.0f} s, stack tag {self._tag}[/]"
        )
        return Group(table, Text(""), stats)


def summary_tables(summary: Summary) -> Group:
    """The closing tables: traffic by phase, the drift checks, and where to look next."""
    phases = Table(title=f"The story in numbers (stack tag {summary.tag}, {summary.wall_time_s:.0f} s)")
    for col in (
        "phase",
        "messages",
        "verdicts",
        "dead letters",
        "allow / review / remove",
        "served by",
        "ROC-AUC served",
    ):
        phases.add_column(col, justify="left" if col in {"phase", "served by"} else "right")
    for p in summary.phases:
        mix = " / ".join(str(p.actions.get(a, 0)) for a in ("allow", "review", "remove"))
        served = ", ".join(f"v{v} ({n})" for v, n in sorted(p.versions.items()))
        aucs = ", ".join(f"v{v} {a:.3f}" for v, a in sorted(p.served_roc_auc.items()))
        phases.add_row(
            p.name, f"{p.published:,}", f"{p.verdicts:,}", f"{p.dead_letters:,}", mix, served, aucs
        )
    categories = category_table(summary)
    checks = Table(title="Drift checks (Evidently over the archive)")
    for col in ("check", "window", "drifted", "unseen words", "reasons", "retraining"):
        checks.add_column(col)
    for i, c in enumerate(summary.drift_checks, 1):
        t = c.get("training")
        retrain = "-"
        if t:
            aucs = ", ".join(f"{k} {v:.3f}" for k, v in t["test_roc_auc"].items())
            retrain = f"v{t['version']} {retrained(t)} ({aucs})"
        checks.add_row(
            str(i),
            str(c["window"]),
            "[red]yes" if c["drifted"] else "[green]no",
            f"{c['reference_unseen_word_share']:.3f} → {c['unseen_word_share']:.3f}",
            "; ".join(c["reasons"]) or "-",
            retrain,
        )
    problems = [
        f"{n} {what}"
        for n, what in (
            (summary.unaccounted, "with neither a verdict nor a dead letter"),
            (summary.with_both, "with both"),
            (summary.retries_exhausted, "discarded after their retries (on-failure queue)"),
        )
        if n
    ]
    ledger = Text.from_markup(
        f"[bold]Ledger:[/] {summary.published:,} records published = {summary.with_verdict:,} with a verdict"
        f" + {summary.dead_lettered:,} dead-lettered"
        + (f" [red]({'; '.join(problems)})[/]" if problems else " — nothing lost, nothing twice")
        + f"; redelivered verdict records {summary.duplicate_verdicts} (the bot acts once per message id)."
        + f"\n[bold]Champions:[/] {' → '.join('v' + v for v in summary.champion_versions)}"
        + f" of {summary.model_name}.  [bold]Bot:[/] "
        + ", ".join(f"{k} {v:,}" for k, v in summary.bot.items())
    )
    shapes = shape_table(summary)
    review = review_table(summary)
    appeals = transparency_table(summary)
    ladder = strikes_table(summary)
    urls = Table(title="Look closer", show_header=False)
    urls.add_column()
    urls.add_column()
    for name, url in summary.urls.items():
        urls.add_row(name, url)
    promotion = promotion_table(summary)
    return Group(
        phases, categories, review, appeals, ladder, shapes, checks, promotion, ledger, Text(""), urls
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def category_table(summary: Summary) -> Table:
    """Per phase and category: what each category did on its own, the share of messages it sent to
    human review, the precision of its automatic removals and allows, and its served ROC-AUC."""
    table = Table(title="Verdicts by category (each category's own action at its thresholds)")
    for col in (
        "phase",
        "category",
        "allow / review / remove",
        "to review",
        "precision remove",
        "precision allow",
        "ROC-AUC served",
    ):
        table.add_column(col, justify="left" if col in {"phase", "category"} else "right")
    for p in summary.phases:
        for name, c in p.categories.items():
            mix = " / ".join(str(c.actions.get(a, 0)) for a in ("allow", "review", "remove"))
            if c.actions.get("not acting"):
                mix += f" (not acting {c.actions['not acting']})"
            aucs = ", ".join(f"v{v} {a:.3f}" for v, a in sorted(c.served_roc_auc.items())) or "-"
            table.add_row(
                p.name,
                name,
                mix,
                _share(c.review_share),
                _share(c.remove_precision),
                _share(c.allow_precision),
                aucs,
            )
    return table


def promotion_table(summary: Summary) -> Table:
    """How the retrained model reached users: per check (the live promotion after its shadow period,
    then each canary step) and compared category, both models on the same labelled messages — the
    Horvitz–Thompson ROC-AUC of each, the paired 95% interval of the difference, the share each sends to
    review and the precision of its automatic removals — and what the check did."""
    table = Table(title="How the new model reached users: shadow, then canary (both models, same messages)")
    for col in (
        "check",
        "category",
        "labelled",
        "ROC-AUC old → new",
        "difference (95%)",
        "to review old → new",
        "precision remove old → new",
        "then",
    ):
        table.add_column(col, justify="left" if col in {"check", "category", "then"} else "right")

    def pair(one: float | None, two: float | None, fmt: str = "{:.3f}") -> str:
        return " → ".join("-" if v is None else fmt.format(v) for v in (one, two))

    for check in summary.promotion:
        if check["check"] == "canary":
            old, new = check["champion"], check["canary"]
            then = f"{check['action']} ({check['share_before']:g} → {check['share_after']:g} of channels)"
        else:
            old, new = check["champion_before"], check["challenger"]
            then = f"canary on {check['canary_share']:g} of channels" if check["promoted"] else "kept out"
        for c in check["compared"]:
            low, high = c["interval"] or (None, None)
            shares = c["review_shares"] or (None, None)
            table.add_row(
                f"{check['check']}: v{old} → v{new}",
                c["category"],
                f"{c['champion']['n']:,}",
                pair(c["champion"]["roc_auc"], c["challenger"]["roc_auc"]),
                "-" if c["difference"] is None else f"{c['difference']:+.3f} ({low:+.3f}..{high:+.3f})",
                pair(shares[0], shares[1], fmt="{:.1%}"),
                pair(c["champion"]["remove_precision"], c["challenger"]["remove_precision"], fmt="{:.1%}"),
                then,
            )
    return table


def shape_table(summary: Summary) -> Table:
    """Per raid, flood and burst: messages, those a context signal acted on, and how many seconds after
    its first message the first was flagged; then the ordinary and burst users a signal fired for."""
    table = Table(title="Context across messages: what the signals caught, and how fast")
    for col in ("shape", "messages", "users", "caught", "caught after the 5th", "first flag after onset"):
        table.add_column(col, justify="left" if col == "shape" else "right")
    for r in summary.shapes:
        first = f"{r.first_flag_s:.1f} s" if r.first_flag_s is not None else "-"
        table.add_row(
            r.shape, f"{r.messages:,}", f"{r.users:,}", f"{r.caught:,}", _share(r.caught_after_first_5), first
        )
    for kind, u in summary.users_fired.items():
        table.add_row(
            f"{kind} users",
            "",
            f"{u.users:,}",
            f"{u.fired:,} ({_share(u.share)})",
            f"on allowed: {u.fired_on_allowed:,} ({_share(u.share_on_allowed)})",
            "",
        )
    return table


def strikes_table(summary: Summary) -> Table:
    """Repeat offenders: per rung of the ladder, the users who reached it (repeat offenders among
    them), the escalations the bot applied and the median seconds from a user's first strike; then
    the strikes table against the ledger, and the ordinary users escalated beyond a warning."""
    s = summary.strikes
    table = Table(title="Repeat offenders: strikes and the ladder (the bot applies each escalation once)")
    for col in ("rung", "users", "of them offenders", "escalations", "median from first strike"):
        table.add_column(col, justify="left" if col == "rung" else "right")
    if s is None:
        return table
    for rung, r in s.rungs.items():
        after = "-" if r.median_s_from_first_strike is None else f"{r.median_s_from_first_strike:.1f} s"
        table.add_row(rung.replace("_", " "), f"{r.users:,}", f"{r.offenders:,}", f"{r.escalations:,}", after)
    ledger = "[green]0 lost, 0 extra" if not (s.lost or s.extra) else f"[red]{s.lost} lost, {s.extra} extra"
    table.add_row(
        "strikes held",
        f"{s.held:,}",
        "",
        f"expected {s.expected:,}",
        f"{ledger}[/], repeats {s.repeats_suppressed}",
    )
    table.add_row(
        "ordinary users",
        f"{s.ordinary_users:,}",
        "",
        f"beyond a warning {s.ordinary_beyond_warning:,}",
        _share(s.ordinary_beyond_warning_share),
    )
    table.add_row(
        "beyond a warning, innocent",
        f"{s.posters:,}",
        "",
        f"≤ 1 harmful message {s.innocent_beyond_warning:,}",
        _share(s.innocent_beyond_warning_share),
    )
    table.add_row(
        "offenders",
        f"{s.offenders:,}",
        "",
        f"timed out {s.offenders_timed_out:,}",
        f"by the 3rd strike {s.offenders_timed_out_by_third:,}",
    )
    return table


def review_table(summary: Summary) -> Table:
    """Per phase: what reached the moderators' queue, what they decided in the review app and how
    long it waited, and what was left waiting at the end."""
    table = Table(title="Review queue: the moderators' room (decided through the review app)")
    for col in (
        "phase",
        "queued",
        "hidden",
        "audit sample",
        "decided",
        "wait median",
        "wait p95",
        "expired",
        "left waiting",
    ):
        table.add_column(col, justify="left" if col == "phase" else "right")

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    for r in summary.review:
        table.add_row(
            r.name,
            f"{r.queued:,}",
            f"{r.hidden:,}",
            f"{r.audited:,}",
            f"{r.decided:,}",
            seconds(r.median_wait_s),
            seconds(r.p95_wait_s),
            f"{r.expired:,}",
            f"{r.open_at_end:,}",
        )
    return table


def transparency_table(summary: Summary) -> Table:
    """The run's transparency report (`python -m monitoring transparency`): the restrictions by category,
    who decided them, and the appeals — received, decided, overturned — with the bot's restores."""
    t = summary.transparency
    table = Table(title="Appeals and the transparency report (statements of reasons, appeals, outcomes)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    if not t:
        return table
    for row in t["by_category"]:
        who = "the model alone" if row["automated_decision"] == AutomatedDecision.FULLY else "a moderator"
        table.add_row(f"restrictions: {row['category']}, {row['restriction']} by {who}", f"{row['count']:,}")
    table.add_row("decided by automated means", _share(t["automated_decision_share"]))
    table.add_row("appeals received / decided", f"{t['appeals_received']:,} / {t['appeals_decided']:,}")
    table.add_row(
        "overturned (restored by the bot) / confirmed",
        (f"{t['appeals_overturned']:,} ({summary.bot.get('restored', 0):,}) / {t['appeals_confirmed']:,}"),
    )
    hours = t["median_hours_to_decide"]
    table.add_row("median time to decide an appeal", "-" if hours is None else f"{hours * 3600:.0f} s")
    table.add_row("appeals decided by whoever restricted", f"{t['appeals_decided_by_restrictor']:,}")
    return table
