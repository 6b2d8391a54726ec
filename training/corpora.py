"""The labelled sets of `DATA_DIR`, read as examples labelled per harm category.

Each set labels the categories it was annotated for (`LABEL_MAPPING`, also the table of
docs/operating.md, "Data"). Where a
set's texts plainly are not of a category it was not annotated for, they count as negatives of it
(`ASSUMED_NEGATIVE`): tweets and comments are not promotion, so every non-spam set's rows are spam
negatives; a set's own benign rows (kept r/science comments, ham messages and comments, `neither` /
`NOT` / `normal` / `OTHER` posts) are negatives of toxicity and hate. A text's unknown labels are left
out of that category's training and evaluation.

Only the files shared for training are read; each set's official test part is held out elsewhere, and
`split_examples` keeps a test split of every set here for reporting alone.
"""

import csv
import hashlib
import html
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from contracts.categories import Category
from contracts.storage import ModeratorDecision

csv.field_size_limit(sys.maxsize)  # r/science bodies run to ~9k characters

FEEDBACK = "feedback"  # the source of the moderators' decisions joined with the archived texts


class DataFileError(ValueError):
    """A data file is missing, lacks a column or holds a bad value; the message names where."""


def dedupe_key(text: str) -> str:
    """Two texts that differ only in case and white space are the same text."""
    return " ".join(text.casefold().split())


class Source(StrEnum):
    """Where an example comes from (one labelled set of `DATA_DIR`)."""

    RSCIENCE = "rscience"
    DAVIDSON = "davidson"
    OLID = "olid"
    HATEXPLAIN = "hatexplain"
    ETHOS = "ethos"
    YOUTUBE = "youtube"
    SMS = "sms"
    GERMEVAL = "germeval"


@dataclass(frozen=True, slots=True)
class Example:
    """One text with the categories its annotators (or the set's nature) decide; others are unknown."""

    text: str
    source: str  # a `Source`, or the name of a labelled set given at run time ("feedback", a CSV)
    labels: dict[Category, int]
    group: str = ""  # a finer origin inside the set: the YouTube video, HateXplain's target communities
    language: str = "en"

    def label(self, category: Category) -> int | None:
        return self.labels.get(category)

    def removal(self) -> int:
        """Whether its moderators remove it (its `removal` label; a text without one stays)."""
        return self.labels.get(Category.REMOVAL, 0)


# The label-mapping table of docs/operating.md: set → category → how its own labels map (1 = the category).
LABEL_MAPPING: dict[Source, dict[Category, str]] = {
    Source.RSCIENCE: {Category.REMOVAL: "REMOVED = 1"},
    Source.DAVIDSON: {Category.TOXICITY: "class 0 (hate) or 1 (offensive)", Category.HATE: "class 0 (hate)"},
    Source.OLID: {Category.TOXICITY: "subtask_a = OFF"},
    Source.HATEXPLAIN: {
        Category.TOXICITY: "majority_label offensive or hatespeech",
        Category.HATE: "majority_label = hatespeech",
    },
    Source.ETHOS: {Category.HATE: "isHate ≥ 0.5"},
    Source.YOUTUBE: {Category.SPAM: "CLASS = 1"},
    Source.SMS: {Category.SPAM: "label = spam"},
    Source.GERMEVAL: {Category.TOXICITY: "coarse = OFFENSE"},
}
ASSUMED_NEGATIVE: dict[Source, dict[Category, str]] = {
    Source.RSCIENCE: {
        Category.SPAM: "every comment",
        Category.TOXICITY: "kept comments",
        Category.HATE: "kept comments",
    },
    Source.DAVIDSON: {Category.SPAM: "every tweet"},
    Source.OLID: {Category.SPAM: "every tweet", Category.HATE: "subtask_a = NOT"},
    Source.HATEXPLAIN: {Category.SPAM: "every post"},
    Source.ETHOS: {Category.SPAM: "every comment"},
    Source.YOUTUBE: {Category.TOXICITY: "ham comments", Category.HATE: "ham comments"},
    Source.SMS: {Category.TOXICITY: "ham messages", Category.HATE: "ham messages"},
    Source.GERMEVAL: {Category.SPAM: "every tweet", Category.HATE: "coarse = OTHER"},
}


def _rows(
    path: Path,
    required: Sequence[str] = (),
    delimiter: str = ",",
    fieldnames: Sequence[str] | None = None,
    missing: str = "file not found",
) -> Iterator[tuple[int, dict[str, str]]]:
    """A CSV file's rows, each with the physical line it ended on (what an editor shows); a missing
    file or a missing `required` column is a `DataFileError` naming the file."""
    if not path.is_file():
        raise DataFileError(f"{path}: {missing}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter, fieldnames=fieldnames)
        absent = [c for c in required if c not in (reader.fieldnames or [])]
        if absent:
            raise DataFileError(f"{path}: missing column(s) {absent}; found {reader.fieldnames}")
        for row in reader:
            yield reader.line_num, row


def _read(
    path: Path, delimiter: str = ",", fieldnames: Sequence[str] | None = None
) -> Iterator[dict[str, str]]:
    """A bundled set's rows (DATA_DIR's files)."""
    missing = "file not found (set DATA_DIR to the folder holding the data sets)"
    for _, row in _rows(path, (), delimiter, fieldnames, missing):
        yield row


def _column(path: Path, row: dict[str, str], name: str) -> str:
    value = row.get(name)
    if value is None:
        raise DataFileError(f"{path}: missing column {name!r}; found {sorted(row)}")
    return value


def load_rscience(data_dir: Path) -> list[Example]:
    path = data_dir / "rscience" / "comments.csv"
    out = []
    for row in _read(path):
        removed = int(_column(path, row, "REMOVED") == "1")
        labels = {Category.REMOVAL: removed, Category.SPAM: 0}
        if not removed:
            labels |= {Category.TOXICITY: 0, Category.HATE: 0}
        out.append(Example(row["BODY"], Source.RSCIENCE, labels))
    return out


def load_davidson(data_dir: Path) -> list[Example]:
    path = data_dir / "davidson" / "labeled_data.csv"
    out = []
    for row in _read(path):
        klass = _column(path, row, "class")
        labels = {
            Category.TOXICITY: int(klass in {"0", "1"}),
            Category.HATE: int(klass == "0"),
            Category.SPAM: 0,
        }
        out.append(Example(html.unescape(row["tweet"]), Source.DAVIDSON, labels))
    return out


def load_olid(data_dir: Path) -> list[Example]:
    path = data_dir / "olid" / "olid_train.utf8.csv"
    out = []
    for row in _read(path):
        offensive = int(_column(path, row, "subtask_a") == "OFF")
        labels = {Category.TOXICITY: offensive, Category.SPAM: 0}
        if not offensive:
            labels[Category.HATE] = 0
        out.append(Example(row["tweet"], Source.OLID, labels))
    return out


def load_hatexplain(data_dir: Path) -> list[Example]:
    path = data_dir / "hatexplain" / "hatexplain_val_derived.utf8.csv"
    out = []
    for row in _read(path):
        label = _column(path, row, "majority_label")
        labels = {
            Category.TOXICITY: int(label in {"offensive", "hatespeech"}),
            Category.HATE: int(label == "hatespeech"),
            Category.SPAM: 0,
        }
        out.append(Example(row["text"], Source.HATEXPLAIN, labels, group=row.get("targets_2plus", "")))
    return out


def load_ethos(data_dir: Path) -> list[Example]:
    path = data_dir / "ethos" / "Ethos_Dataset_Binary.csv"
    out = []
    for row in _read(path, delimiter=";"):
        share = float(_column(path, row, "isHate"))
        out.append(
            Example(row["comment"], Source.ETHOS, {Category.HATE: int(share >= 0.5), Category.SPAM: 0})
        )
    return out


def load_youtube(data_dir: Path) -> list[Example]:
    """The YouTube comments; `group` names the video (DATE is never read: it leaks the label)."""
    out = []
    for path in sorted((data_dir / "spam" / "youtube").glob("Youtube0*.csv")):
        video = path.stem.split("-", 1)[-1]
        for row in _read(path):
            spam = int(_column(path, row, "CLASS") == "1")
            text = html.unescape(row["CONTENT"].replace("<br />", "\n")).replace("\ufeff", "")
            labels = {Category.SPAM: spam}
            if not spam:
                labels |= {Category.TOXICITY: 0, Category.HATE: 0}
            out.append(Example(text, Source.YOUTUBE, labels, group=video))
    if not out:
        raise DataFileError(f"{data_dir / 'spam' / 'youtube'}: no Youtube0*.csv files")
    return out


def load_sms(data_dir: Path) -> list[Example]:
    path = data_dir / "spam" / "sms" / "sms_spam.utf8.csv"
    out = []
    for row in _read(path):
        spam = int(_column(path, row, "label") == "spam")
        labels = {Category.SPAM: spam}
        if not spam:
            labels |= {Category.TOXICITY: 0, Category.HATE: 0}
        out.append(Example(html.unescape(row["text"]), Source.SMS, labels))
    return out


def load_germeval(data_dir: Path) -> list[Example]:
    path = data_dir / "germeval2018" / "germeval2018.training.utf8.csv"
    out = []
    for row in _read(path):
        offensive = int(_column(path, row, "coarse") == "OFFENSE")
        labels = {Category.TOXICITY: offensive, Category.SPAM: 0}
        if not offensive:
            labels[Category.HATE] = 0
        out.append(Example(row["text"].replace("|LBR|", "\n"), Source.GERMEVAL, labels, language="de"))
    return out


LOADERS: dict[Source, Callable[[Path], list[Example]]] = {
    Source.RSCIENCE: load_rscience,
    Source.DAVIDSON: load_davidson,
    Source.OLID: load_olid,
    Source.HATEXPLAIN: load_hatexplain,
    Source.ETHOS: load_ethos,
    Source.YOUTUBE: load_youtube,
    Source.SMS: load_sms,
    Source.GERMEVAL: load_germeval,
}


def load_all(data_dir: Path, sources: Sequence[Source] = tuple(Source)) -> list[Example]:
    """Every example of the named sets (non-empty texts)."""
    return [e for s in sources for e in LOADERS[s](data_dir) if e.text.strip()]


def _value[T](path: Path, line: int, column: str, value: str, allowed: Mapping[str, T]) -> T:
    try:
        return allowed[value.strip()]
    except KeyError:
        raise DataFileError(
            f"{path}: line {line}, column {column!r}: {value!r} is not one of {sorted(allowed)}"
        ) from None


_REMOVE = {"1": 1, "0": 0, "remove": 1, "allow": 0}


def load_labelled_csv(
    path: Path,
    category: Category = Category.REMOVAL,
    text_column: str = "text",
    label_column: str = "label",
) -> list[Example]:
    """A labelled CSV given at run time (moderators' decisions, a user's file), named by its file's stem:
    label is remove/allow or 1/0 of the category an optional `category` column names, else of
    `category`. A row without text is an error that names its line."""
    categories = {c.value: c for c in Category}
    out = []
    for line, row in _rows(path, (text_column, label_column)):
        y = _value(path, line, label_column, row[label_column], _REMOVE)
        text = row[text_column]
        if not text.strip():
            raise DataFileError(f"{path}: line {line}, column {text_column!r}: empty text")
        decided = category
        if row.get("category"):
            decided = _value(path, line, "category", row["category"], categories)
        out.append(Example(text, path.stem, {decided: y}))
    return out


def join_feedback(
    decisions: Iterable[ModeratorDecision], texts: Mapping[UUID, str]
) -> tuple[list[Example], int]:
    """Moderator decisions joined with archived text, one example per message and category decided on
    (the latest decision wins); returns (examples, decisions whose message is not archived)."""
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
        rows.append(Example(text, FEEDBACK, {Category(category): int(decision.label == "remove")}))
    return rows, unknown


def categories_with_both_classes(examples: Sequence[Example]) -> list[Category]:
    """The categories these examples can teach: some labelled 1 and some 0."""
    seen: dict[Category, set[int]] = {}
    for e in examples:
        for c, y in e.labels.items():
            seen.setdefault(c, set()).add(y)
    return [c for c in Category if seen.get(c) == {0, 1}]


@dataclass(frozen=True)
class ExampleSplits:
    """Train / validation / test of every set, disjoint in text across sets too."""

    train: list[Example]
    validation: list[Example]
    test: list[Example]
    dropped: dict[str, int] = field(default_factory=dict)

    def of(self, part: str, category: Category) -> tuple[list[str], list[int]]:
        """A part's texts and labels for one category (examples that do not label it left out)."""
        items = [e for e in getattr(self, part) if e.label(category) is not None]
        return [e.text for e in items], [int(e.labels[category]) for e in items]


_BUNDLED = frozenset(s.value for s in Source)


def _unit(text: str, seed: int) -> float:
    """A number in [0, 1) fixed by the text (case and white space ignored) and the seed."""
    digest = hashlib.sha256(f"{seed}:{dedupe_key(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_examples(
    examples: Sequence[Example], seed: int = 42, validation: float = 0.15, test: float = 0.15
) -> ExampleSplits:
    """One row per text across every set (case and white space ignored; its labels merged, and a text two
    rows label differently dropped), then each (set, labels) stratum of the first rows split by the same
    shares: adding a set, or labels on texts a set already holds, never moves another set's split. A set
    given at run time (moderators' decisions) grows from one retraining to the next, so each of its texts
    is split alone, by a hash: a text the last champion trained on never lands in the next one's test
    split, where it would flatter the champion."""
    groups: dict[str, list[Example]] = {}
    for e in examples:
        groups.setdefault(dedupe_key(e.text), []).append(e)
    # Each text's stratum is its first row's set and labels: labels another set adds to the same text
    # (a moderator's decision on a text a labelled set holds) ride along without moving it.
    strata: dict[tuple[str, tuple[tuple[str, int], ...]], list[Example]] = {}
    duplicates = conflicts = 0
    for group in groups.values():
        merged: dict[Category, int] = {}
        clash = False
        for e in group:
            for c, y in e.labels.items():
                clash |= merged.setdefault(c, y) != y
        if clash:
            conflicts += len(group)
            continue
        first = group[0]
        kept = Example(first.text, first.source, merged, first.group, first.language)
        strata.setdefault((first.source, tuple(sorted(first.labels.items()))), []).append(kept)
        duplicates += len(group) - 1
    train: list[Example] = []
    val: list[Example] = []
    tst: list[Example] = []
    later: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}  # run-time sets' texts
    rngs: dict[str, random.Random] = {}  # one per set: adding a set never moves another set's split
    for key in sorted(strata):
        group = strata[key]
        if key[0] not in _BUNDLED:  # a set given at run time grows between runs: split each text alone
            for e in group:
                u = _unit(e.text, seed)
                later["test" if u < test else "validation" if u < test + validation else "train"].append(e)
            continue
        rngs.setdefault(key[0], random.Random(seed)).shuffle(group)
        n_test, n_val = round(len(group) * test), round(len(group) * validation)
        tst += group[:n_test]
        val += group[n_test : n_test + n_val]
        train += group[n_test + n_val :]
    # Each part: the bundled sets' texts in the order the seed gives them, then the run-time sets' in
    # the order their own hashes give: a retraining on more decisions sees the bundled texts, and draws
    # their padded and identity-swapped copies, exactly as the last one did (`bundled_count`).
    rng = random.Random(seed)
    for part, name in ((train, "train"), (val, "validation"), (tst, "test")):
        rng.shuffle(part)
        part.extend(sorted(later[name], key=lambda e: _unit(e.text, seed + 1)))
    return ExampleSplits(train, val, tst, {"duplicates": duplicates, "conflicts": conflicts})


def source_splits(
    data_dir: Path, *sources: Source, seed: int = 42, validation: float = 0.15, test: float = 0.15
) -> ExampleSplits:
    """Some sets' split alone: the same parts as when they are split with the other sets."""
    return split_examples(load_all(data_dir, sources), seed, validation, test)


def bundled_count(part: Sequence[Example]) -> int:
    """How many texts of a split part come from the bundled sets (`split_examples` puts them first)."""
    n = sum(e.source in _BUNDLED for e in part)
    if any(e.source not in _BUNDLED for e in part[:n]):
        raise ValueError("the bundled sets' texts are not first in this part")
    return n


def digest_examples(examples: Sequence[Example]) -> str:
    """A content hash of labelled examples, logged so a run names exactly the data it saw."""
    h = hashlib.sha256()
    for e in examples:
        labels = ",".join(f"{c}={y}" for c, y in sorted(e.labels.items()))
        h.update(f"{e.source}\t{labels}\t{e.text}\n".encode())
    return h.hexdigest()
