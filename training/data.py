"""Labelled text from the real data sets and from user files, validated with errors that name the row.

Pure standard library, so the chat simulator can replay the same rows the model trains on.
"""

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

csv.field_size_limit(sys.maxsize)  # r/science bodies run to ~9k characters

Label = Literal["remove", "allow"]


class Community(StrEnum):
    """Where a text comes from: the training community and the one the chat drifts to."""

    RSCIENCE = "rscience"
    TWEETS = "tweets"
    FEEDBACK = "feedback"
    USER = "user"


RSCIENCE_FILE = Path("rscience") / "comments.csv"
DAVIDSON_FILE = Path("davidson") / "labeled_data.csv"


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One human-labelled text."""

    text: str
    label: Label
    community: Community

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


def _label(path: Path, line: int, column: str, value: str, allowed: dict[str, Label]) -> Label:
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
        label = _label(path, line, "REMOVED", row["REMOVED"], {"1": "remove", "0": "allow"})
        if row["BODY"].strip():
            out.append(LabelledText(row["BODY"], label, Community.RSCIENCE))
    return out


def load_davidson(data_dir: Path) -> list[LabelledText]:
    """Davidson tweets: class 0 (hate) and 1 (offensive) should be removed, 2 (neither) allowed."""
    path = data_dir / DAVIDSON_FILE
    allowed: dict[str, Label] = {"0": "remove", "1": "remove", "2": "allow"}
    out = []
    for line, row in _rows(path, ("class", "tweet")):
        label = _label(path, line, "class", row["class"], allowed)
        if row["tweet"].strip():
            out.append(LabelledText(row["tweet"], label, Community.TWEETS))
    return out


def load_labelled_csv(
    path: Path,
    text_column: str = "text",
    label_column: str = "label",
    community: Community = Community.USER,
) -> list[LabelledText]:
    """Any labelled CSV a user supplies: label is remove/allow or 1/0."""
    allowed: dict[str, Label] = {"1": "remove", "0": "allow", "remove": "remove", "allow": "allow"}
    out = []
    for line, row in _rows(path, (text_column, label_column)):
        label = _label(path, line, label_column, row[label_column], allowed)
        text = row[text_column]
        if not text.strip():
            raise DataFileError(f"{path}: line {line}, column {text_column!r}: empty text")
        out.append(LabelledText(text, label, community))
    return out


def load_community(data_dir: Path, community: Community) -> list[LabelledText]:
    """The labelled texts of one of the bundled communities."""
    if community is Community.RSCIENCE:
        return load_rscience(data_dir)
    if community is Community.TWEETS:
        return load_davidson(data_dir)
    raise ValueError(f"no bundled data set for community {community}")
