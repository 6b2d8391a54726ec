"""Overturns as a signal: how many of a model version's removals its users' appeals overturned, per
category and channel, beside drift in every check — and the model versions above the policy's rate.

A removal is the model's when its appeal names `model:<version>` as the one who made it (a moderator's
removal on the model's flag is the moderator's decision: its overturn says nothing of the model alone).
The rate is overturned ÷ removals the archive holds for that version, category and channel: an appeal
that was never made is a removal nobody contested.
"""

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from contracts.categories import Category
from contracts.review import decider_model
from contracts.statement import AppealOutcome, AppealResult
from contracts.storage import ArchivedMessage
from contracts.verdict import Action


class OverturnRow(BaseModel):
    """One model version's removals in one category and channel, and what their appeals decided."""

    model_config = ConfigDict(frozen=True)

    model_version: str
    category: str
    channel_id: str
    removals: int
    appeals_decided: int
    overturned: int

    @property
    def rate(self) -> float:
        return self.overturned / self.removals if self.removals else 0.0


Key = tuple[str, str, str]  # model version, category, channel


def removals(messages: Iterable[ArchivedMessage]) -> Counter[Key]:
    """The model's removals in the archive, by version, deciding category and channel."""
    return Counter(
        (m.verdict.model_version, m.verdict.category or Category.REMOVAL, m.verdict.channel_id)
        for m in messages
        if m.verdict.action is Action.REMOVE
    )


def overturns(outcomes: Iterable[AppealOutcome], removed: Counter[Key]) -> list[OverturnRow]:
    """Every (version, category, channel) the model removed in, with its appeals' outcomes (only the
    appeals of the model's own removals count), sorted."""
    decided: Counter[Key] = Counter()
    overturned: Counter[Key] = Counter()
    for o in outcomes:
        version = decider_model(o.original_by)
        if version is None:
            continue
        key = (version, o.category, o.channel_id)
        decided[key] += 1
        overturned[key] += o.result is AppealResult.RESTORED
    keys = sorted(set(removed) | set(decided))
    return [
        OverturnRow(
            model_version=v,
            category=c,
            channel_id=ch,
            removals=max(removed[(v, c, ch)], overturned[(v, c, ch)]),
            appeals_decided=decided[(v, c, ch)],
            overturned=overturned[(v, c, ch)],
        )
        for v, c, ch in keys
    ]


def above_rate(
    rows: Iterable[OverturnRow], max_rate: float, min_removals: int
) -> list[tuple[str, str, float]]:
    """(model version, category, rate) of every version whose removals in a category, over all channels,
    are overturned above `max_rate`, once it made at least `min_removals` of them."""
    totals: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        t = totals.setdefault((r.model_version, r.category), [0, 0])
        t[0] += r.removals
        t[1] += r.overturned
    return [
        (version, category, overturned / removed)
        for (version, category), (removed, overturned) in sorted(totals.items())
        if removed >= min_removals and overturned / removed > max_rate
    ]
