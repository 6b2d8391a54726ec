"""Bad data files fail with an error that names the file, the column and the line."""

from pathlib import Path

import pytest

from contracts.categories import Category
from training.corpora import DataFileError, load_labelled_csv, load_rscience


def test_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("body,label\nhello,1\n")
    with pytest.raises(DataFileError, match=r"x\.csv: missing column\(s\) \['text'\]"):
        load_labelled_csv(path)


def test_bad_label_names_the_line_and_value(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text('text,label\nfine,0\n"two\nlines",1\nbad,maybe\n')
    with pytest.raises(DataFileError, match=r"labels\.csv: line 5, column 'label': 'maybe'"):
        load_labelled_csv(path)


def test_an_empty_text_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("text,label\nfine,0\n  ,1\n")
    with pytest.raises(DataFileError, match=r"labels\.csv: line 3, column 'text': empty text"):
        load_labelled_csv(path)


def test_missing_data_dir_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="DATA_DIR"):
        load_rscience(tmp_path)


def test_labels_accept_words_and_digits_of_the_callers_category(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("msg,y\nspam spam,remove\nhi there,allow\nbuy now,1\n")
    rows = load_labelled_csv(path, Category.SPAM, text_column="msg", label_column="y")
    assert [r.labels for r in rows] == [{Category.SPAM: 1}, {Category.SPAM: 0}, {Category.SPAM: 1}]
    assert {r.source for r in rows} == {"ok"}  # the set is named by its file


def test_a_category_column_labels_each_row_in_its_category(tmp_path: Path) -> None:
    # GIVEN moderators' feedback on two categories, and a row in an unknown one
    path = tmp_path / "feedback.csv"
    path.write_text("text,label,category\nbuy now,remove,spam\nyou clown,allow,toxicity\nhi,1,\n")
    examples = load_labelled_csv(path)
    # THEN each row teaches the category it names; a row naming none teaches the caller's category
    assert [e.labels for e in examples] == [
        {Category.SPAM: 1},
        {Category.TOXICITY: 0},
        {Category.REMOVAL: 1},
    ]
    path.write_text("text,label,category\nbuy now,remove,scam\n")
    with pytest.raises(DataFileError, match=r"line 2, column 'category': 'scam'"):
        load_labelled_csv(path)
