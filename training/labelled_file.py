"""A labelled file a user brings to `python -m training evaluate`: texts and 0/1 labels, read and mapped.

Pure: a path and options in, texts, labels and counts out. Which label values count as positive is the
caller's to say; every problem is a `LabelledFileError` whose one-line message names the file and what
was found, so a script can show it as is.
"""

import csv
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from training.corpora import DataFileError

csv.field_size_limit(sys.maxsize)  # r/science bodies run to ~9k characters, other exports further

DEFAULT_POSITIVE = ("1", "true")
SEPARATORS = (",", "\t")
MAX_VALUES_SHOWN = 10


class LabelledFileError(DataFileError):
    """The file cannot be evaluated as asked; the one-line message says why."""


@dataclass(frozen=True, slots=True)
class FileLayout:
    """How the file is written: its separator, and the column names of a file without a header row."""

    separator: str = ","
    columns: tuple[str, ...] | None = None  # None: the first row names the columns


@dataclass(frozen=True, slots=True)
class LabelledFile:
    """The rows with a text, each labelled 1 (positive) or 0, and how many rows had an empty text."""

    texts: list[str]
    labels: list[int]
    skipped_empty: int

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def positives(self) -> int:
        return sum(self.labels)


def label_key(value: str) -> str:
    """The form labels and `--positive` values are compared in: stripped, case folded."""
    return value.strip().casefold()


def read_labelled_file(
    path: Path,
    text_column: str,
    label_column: str,
    positive: Sequence[str] | None = None,
    layout: FileLayout = FileLayout(),
) -> LabelledFile:
    """Texts and labels of a CSV/TSV: a label is 1 when it is one of `positive` (default 1, true), else 0;
    rows with an empty text are skipped and counted. Raises `LabelledFileError`."""
    rows = _records(path, text_column, label_column, layout)
    kept = [(t, label_key(label)) for t, label in rows if t.strip()]
    if not kept:
        raise LabelledFileError(f"{path}: no row has a text in column {text_column!r} ({len(rows)} rows)")
    found = Counter(label for _, label in kept)
    if positive is not None:
        unmatched = [p for p in positive if label_key(p) not in found]
        if unmatched:
            raise LabelledFileError(
                f"{path}: --positive {', '.join(map(repr, unmatched))} matches no row of column "
                f"{label_column!r}, whose values are {_shown(found)}"
            )
    wanted = {label_key(p) for p in (positive if positive is not None else DEFAULT_POSITIVE)}
    labels = [1 if label in wanted else 0 for _, label in kept]
    if 0 < sum(labels) < len(labels):
        return LabelledFile([t for t, _ in kept], labels, len(rows) - len(kept))
    which = "positive" if labels[0] else "negative"
    hint = "" if positive is not None else "; name the positive values with --positive"
    raise LabelledFileError(
        f"{path}: one class only: all {len(labels)} rows are {which} (positive values "
        f"{', '.join(map(repr, sorted(wanted)))}; column {label_column!r} holds {_shown(found)}){hint}"
    )


def _records(path: Path, text_column: str, label_column: str, layout: FileLayout) -> list[tuple[str, str]]:
    """(text, label) of every non-blank row; the header (or `layout.columns`) must name both columns."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a spreadsheet's byte-order mark
            reader = csv.reader(fh, delimiter=layout.separator)
            header = list(layout.columns) if layout.columns is not None else next(reader, None)
            if header is None:
                raise LabelledFileError(f"{path}: the file is empty")
            text_at, label_at = (_column(path, header, c, layout) for c in (text_column, label_column))
            out = []
            for row in reader:
                if not row:
                    continue  # a blank line
                if len(row) != len(header):
                    raise LabelledFileError(
                        f"{path}: line {reader.line_num} has {len(row)} fields where the columns are "
                        f"{len(header)} (quote a field that holds the separator)"
                    )
                out.append((row[text_at], row[label_at]))
            return out
    except OSError as err:
        raise LabelledFileError(f"{path}: cannot read the file: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise LabelledFileError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from err
    except csv.Error as err:
        raise LabelledFileError(f"{path}: not readable as CSV: {err}") from err


def _column(path: Path, header: list[str], name: str, layout: FileLayout) -> int:
    where = "--columns" if layout.columns is not None else "the header"
    if header.count(name) > 1:
        raise LabelledFileError(f"{path}: column {name!r} appears {header.count(name)} times in {where}")
    if name in header:
        return header.index(name)
    others = [s for s in SEPARATORS if s != layout.separator and s in "".join(header)]
    hint = f" (is the separator {others[0]!r}? see --separator)" if len(header) == 1 and others else ""
    raise LabelledFileError(
        f"{path}: no column {name!r}; the columns found in {where} are {', '.join(map(repr, header))}{hint}"
    )


def _shown(found: Counter[str]) -> str:
    """The label values found, most frequent first, with their counts."""
    values = [f"{v!r} ({n})" for v, n in found.most_common(MAX_VALUES_SHOWN)]
    more = len(found) - MAX_VALUES_SHOWN
    return ", ".join(values) + (f" and {more} more" if more > 0 else "")
