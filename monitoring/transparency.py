"""A transparency report (EU DSA Art. 15 and 24) for a period: the restrictions by category, kind and who
decided them, the shares detected and decided by automated means, and the appeals — received, decided,
overturned, confirmed, the median time to decide, and how many were decided by the one who made the
restriction (none may be).

Read from what the system already keeps: the statements of reasons (one per restriction) and the
appeals' outcomes under the statements prefix, and the appeals' receipts in the audit trail. `report` is
pure; `python -m monitoring transparency --from … --to …` writes it as JSON and CSV.
"""

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from contracts.audit import AuditKind, AuditRecord
from contracts.statement import AppealOutcome, AppealResult, AutomatedDecision, StatementOfReasons


class RestrictionCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str
    restriction: str  # hide (the model's), remove (a moderator's)
    automated_decision: str
    count: int


class TransparencyReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: date  # inclusive
    end: date  # exclusive
    restrictions: int
    by_category: list[RestrictionCount]
    automated_detection_share: float
    automated_decision_share: float  # decided by the model alone
    appeals_received: int
    appeals_decided: int
    appeals_overturned: int
    appeals_confirmed: int
    median_hours_to_decide: float | None
    appeals_decided_by_restrictor: int  # an appeal decided by whoever made the restriction: must be 0


def _within(at: datetime, start: date, end: date) -> bool:
    return start <= at.date() < end


def report(
    statements: Iterable[StatementOfReasons],
    outcomes: Iterable[AppealOutcome],
    trail: Iterable[AuditRecord],
    start: date,
    end: date,
) -> TransparencyReport:
    """The period's counts: restrictions by when they applied, appeals by when they were made or decided
    (an event a writer repeated counts once; a statement rewritten by a redelivery, once by its id)."""
    restricted = {s.statement_id: s for s in statements if _within(s.applied_at, start, end)}.values()
    counts = Counter((s.category, s.restriction.value, s.automated_decision.value) for s in restricted)
    decided = {o.message_id: o for o in outcomes if _within(o.decided_at, start, end)}.values()
    received = {r.message_id for r in trail if r.kind is AuditKind.APPEAL and _within(r.at, start, end)}
    hours = [(o.decided_at - o.appealed_at).total_seconds() / 3600 for o in decided]
    n = len(restricted)
    return TransparencyReport(
        start=start,
        end=end,
        restrictions=n,
        by_category=[
            RestrictionCount(category=c, restriction=r, automated_decision=a, count=k)
            for (c, r, a), k in sorted(counts.items())
        ],
        automated_detection_share=sum(s.automated_detection for s in restricted) / n if n else 0.0,
        automated_decision_share=(
            sum(s.automated_decision is AutomatedDecision.FULLY for s in restricted) / n if n else 0.0
        ),
        appeals_received=len(received),
        appeals_decided=len(decided),
        appeals_overturned=sum(o.result is AppealResult.RESTORED for o in decided),
        appeals_confirmed=sum(o.result is AppealResult.CONFIRMED for o in decided),
        median_hours_to_decide=statistics.median(hours) if hours else None,
        appeals_decided_by_restrictor=sum(o.decided_by == o.original_by for o in decided),
    )


def as_csv(r: TransparencyReport) -> str:
    """The report as one CSV table: a row per figure (section, name, value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "name", "value"])
    writer.writerow(["period", "start", r.start.isoformat()])
    writer.writerow(["period", "end", r.end.isoformat()])
    writer.writerow(["restrictions", "total", r.restrictions])
    for row in r.by_category:
        writer.writerow(
            ["restrictions", f"{row.category}/{row.restriction}/{row.automated_decision}", row.count]
        )
    writer.writerow(["automated means", "detection_share", f"{r.automated_detection_share:.4f}"])
    writer.writerow(["automated means", "decision_share", f"{r.automated_decision_share:.4f}"])
    for name in ("received", "decided", "overturned", "confirmed", "decided_by_restrictor"):
        writer.writerow(["appeals", name, getattr(r, f"appeals_{name}")])
    median = "" if r.median_hours_to_decide is None else f"{r.median_hours_to_decide:.2f}"
    writer.writerow(["appeals", "median_hours_to_decide", median])
    return out.getvalue()
