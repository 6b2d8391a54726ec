"""Labelled text from the real data sets and from user files, validated with errors that name the row.

No heavy imports, so the chat simulator can replay the same rows the model trains on.
"""

import csv
import hashlib
import html
import random
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from contracts.categories import Category
from contracts.chat import Label
from contracts.storage import ModeratorDecision

csv.field_size_limit(sys.maxsize)  # r/science bodies run to ~9k characters


class Community(StrEnum):
    """Where a text comes from: the training community and the one the chat drifts to."""

    RSCIENCE = "rscience"
    TWEETS = "tweets"
    SPAM = "spam"  # promotion and scams posted into a chat channel (the spam sets' spam messages)
    GERMAN = "german"  # a German-speaking channel (GermEval 2018's tweets; its moderators remove offense)
    FEEDBACK = "feedback"
    USER = "user"


RSCIENCE_FILE = Path("rscience") / "comments.csv"
DAVIDSON_FILE = Path("davidson") / "labeled_data.csv"


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One human-labelled text."""

    text: str
    label: Label  # the community's moderators' decision (the `removal` category)
    community: Community
    # What the text is in each category its set labels (1 = the category), `removal` included.
    categories: tuple[tuple[str, int], ...] = ()

    @property
    def y(self) -> int:
        return 1 if self.label == "remove" else 0


class DataFileError(ValueError):
    """A data file is missing, lacks a column or holds a bad value; the message names where."""


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise DataFileError(f"{path}: file not found (set DATA_DIR to the folder holding the data sets)")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFileError(f"{path}: missing column(s) {missing}; found {reader.fieldnames}")
        for row in reader:
            # line_num is the physical line where the record ended: what an editor shows
            yield reader.line_num, row


def _label[T: str](path: Path, line: int, column: str, value: str, allowed: dict[str, T]) -> T:
    try:
        return allowed[value.strip()]
    except KeyError:
        raise DataFileError(
            f"{path}: line {line}, column {column!r}: {value!r} is not one of {sorted(allowed)}"
        ) from None


def load_rscience(data_dir: Path) -> list[LabelledText]:
    """r/science comments: BODY, REMOVED (1 = removed by the moderators)."""
    path = data_dir / RSCIENCE_FILE
    out = []
    for line, row in _rows(path, ("BODY", "REMOVED")):
        allowed: dict[str, Label] = {"1": "remove", "0": "allow"}
        label = _label(path, line, "REMOVED", row["REMOVED"], allowed)
        if row["BODY"].strip():
            out.append(LabelledText(row["BODY"], label, Community.RSCIENCE))
    return out


def load_davidson(data_dir: Path) -> list[LabelledText]:
    """Davidson tweets: class 0 (hate) and 1 (offensive) should be removed, 2 (neither) allowed.

    The file holds HTML entities; they are decoded, so emoji are characters as in live chat."""
    path = data_dir / DAVIDSON_FILE
    allowed: dict[str, Label] = {"0": "remove", "1": "remove", "2": "allow"}
    out = []
    for line, row in _rows(path, ("class", "tweet")):
        label = _label(path, line, "class", row["class"], allowed)
        text = html.unescape(row["tweet"])  # "&amp;", "&#128514;": the characters the tweet showed
        if text.strip():
            out.append(LabelledText(text, label, Community.TWEETS))
    return out


def load_labelled_csv(
    path: Path,
    text_column: str = "text",
    label_column: str = "label",
    community: Community = Community.USER,
) -> list[LabelledText]:
    """Any labelled CSV a user supplies: label is remove/allow or 1/0; an optional `category` column
    names the category each row decides (moderators' feedback), else the caller's category applies."""
    allowed: dict[str, Label] = {"1": "remove", "0": "allow", "remove": "remove", "allow": "allow"}
    categories = {c.value: c.value for c in Category}
    out = []
    for line, row in _rows(path, (text_column, label_column)):
        label = _label(path, line, label_column, row[label_column], allowed)
        text = row[text_column]
        if not text.strip():
            raise DataFileError(f"{path}: line {line}, column {text_column!r}: empty text")
        decided: tuple[tuple[str, int], ...] = ()
        if row.get("category"):
            category = _label(path, line, "category", row["category"], categories)
            decided = ((category, int(label == "remove")),)
        out.append(LabelledText(text, label, community, decided))
    return out


@dataclass(frozen=True, slots=True)
class Splits:
    """Train / validation / test, disjoint in text; test is for the final report only."""

    train: list[LabelledText]
    validation: list[LabelledText]
    test: list[LabelledText]
    duplicates_dropped: int
    conflicts_dropped: int


def dedupe_key(text: str) -> str:
    """Two texts that differ only in case and white space are the same text."""
    return " ".join(text.casefold().split())


def dedupe(items: Sequence[LabelledText]) -> tuple[list[LabelledText], int, int]:
    """One row per text (white space and case ignored); a text labelled both ways is dropped."""
    groups: dict[str, list[LabelledText]] = {}
    for item in items:
        groups.setdefault(dedupe_key(item.text), []).append(item)
    kept, duplicates, conflicts = [], 0, 0
    for group in groups.values():
        if len({g.label for g in group}) > 1:
            conflicts += len(group)
            continue
        kept.append(group[0])
        duplicates += len(group) - 1
    return kept, duplicates, conflicts


def split(
    items: Sequence[LabelledText], seed: int = 42, validation: float = 0.15, test: float = 0.15
) -> Splits:
    """Deduplicate, then split each (community, label) stratum by the same shares, reproducibly."""
    if not (0 < validation < 1 and 0 < test < 1 and validation + test < 1):
        raise ValueError("validation and test shares must be in (0, 1) and sum below 1")
    kept, duplicates, conflicts = dedupe(items)
    strata: dict[tuple[Community, Label], list[LabelledText]] = {}
    for item in kept:
        strata.setdefault((item.community, item.label), []).append(item)
    rng = random.Random(seed)
    train, val, tst = [], [], []
    for key in sorted(strata):
        group = strata[key]
        rng.shuffle(group)
        n_test = round(len(group) * test)
        n_val = round(len(group) * validation)
        tst.extend(group[:n_test])
        val.extend(group[n_test : n_test + n_val])
        train.extend(group[n_test + n_val :])
    for part in (train, val, tst):
        rng.shuffle(part)
    return Splits(train, val, tst, duplicates, conflicts)


def digest(items: Sequence[LabelledText]) -> str:
    """A content hash of a labelled set, logged so a run names exactly the data it saw."""
    h = hashlib.sha256()
    for item in items:
        h.update(f"{item.community}\t{item.label}\t{item.text}\n".encode())
    return h.hexdigest()


def join_feedback(
    decisions: Iterable[ModeratorDecision], texts: Mapping[UUID, str]
) -> tuple[list[LabelledText], int]:
    """Labelled texts from moderator decisions joined with archived text; returns (rows, unknown ids).

    The latest decision on a message wins, per category decided on; each row carries its category.
    """
    latest: dict[tuple[UUID, str], ModeratorDecision] = {}
    for d in decisions:
        key = (d.message_id, d.category)
        if key not in latest or d.decided_at >= latest[key].decided_at:
            latest[key] = d
    rows, unknown = [], 0
    for (message_id, category), decision in latest.items():
        text = texts.get(message_id)
        if text is None:
            unknown += 1
            continue
        y = int(decision.label == "remove")
        rows.append(LabelledText(text, decision.label, Community.FEEDBACK, ((category, y),)))
    return rows, unknown
