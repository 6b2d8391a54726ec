"""`python -m training evaluate`'s contract without a model: how a labelled file is read and mapped to
0/1, which category's scores are taken from a model's output, and the errors (one line, exit code 2)."""

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training.__main__ import main
from training.file_evaluation import CategoryError, ModelError, category_scores
from training.labelled_file import FileLayout, LabelledFileError, read_labelled_file


def _file(tmp_path: Path, content: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


# --- reading and mapping ---------------------------------------------------------------------------


def test_default_positives_are_1_and_true_in_any_case_and_spacing(tmp_path: Path) -> None:
    # GIVEN labels written every which way
    path = _file(tmp_path, "text,label\na,1\nb, TRUE \nc,True\nd,0\ne,false\nf,remove\ng, 1\n")
    # WHEN the file is read with the default positives
    got = read_labelled_file(path, "text", "label")
    # THEN 1 and true count as 1 whatever their case and spacing, every other value as 0
    assert got.texts == ["a", "b", "c", "d", "e", "f", "g"]
    assert got.labels == [1, 1, 1, 0, 0, 0, 1]
    assert (got.n, got.positives, got.skipped_empty) == (7, 4, 0)


def test_named_positives_replace_the_defaults(tmp_path: Path) -> None:
    # GIVEN a file labelled in words, and a 1 that is no longer a positive value
    path = _file(tmp_path, "msg,verdict\nx,Removed\ny,approved\nz,1\nw, spam \n")
    # WHEN the positives are named (case and spacing differing from the file's)
    got = read_labelled_file(path, "msg", "verdict", positive=[" removed", "SPAM"])
    # THEN exactly those values are 1
    assert got.labels == [1, 0, 0, 1]


def test_tab_separated_file_keeps_commas_inside_texts(tmp_path: Path) -> None:
    path = _file(tmp_path, "text\tlabel\nhello, world\t1\nfine, thanks\t0\n", "labels.tsv")
    got = read_labelled_file(path, "text", "label", layout=FileLayout(separator="\t"))
    assert got.texts == ["hello, world", "fine, thanks"]
    assert got.labels == [1, 0]


def test_headerless_file_takes_the_named_columns(tmp_path: Path) -> None:
    # GIVEN a file whose first row is data
    path = _file(tmp_path, "7,first text,1\n8,second text,0\n")
    # WHEN its columns are named
    got = read_labelled_file(path, "body", "y", layout=FileLayout(columns=("id", "body", "y")))
    # THEN the first row is read as data
    assert got.texts == ["first text", "second text"]
    assert got.labels == [1, 0]


def test_empty_texts_are_skipped_and_counted(tmp_path: Path) -> None:
    path = _file(tmp_path, 'text,label\nkept,1\n,1\n"   ",0\n"\n\t",0\nalso kept,0\n\n')
    got = read_labelled_file(path, "text", "label")
    assert got.texts == ["kept", "also kept"]
    assert got.labels == [1, 0]
    assert got.skipped_empty == 3  # the blank line at the end is no row at all


def test_long_quoted_fields_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    # GIVEN a spreadsheet export (byte-order mark) with a 200k-character field holding lines and commas
    long = "word, and more\n" * 14_000
    path = tmp_path / "export.csv"
    path.write_text(f'text,label\n"{long}",1\nshort,0\n', encoding="utf-8-sig")
    got = read_labelled_file(path, "text", "label")
    assert got.texts == [long, "short"]


# --- errors: one line naming the file and what was found ----------------------------------------


def test_a_positive_value_matching_no_row_is_named_with_the_values_found(tmp_path: Path) -> None:
    path = _file(tmp_path, "text,label\na,remove\nb,allow\nc,allow\n")
    with pytest.raises(LabelledFileError) as err:
        read_labelled_file(path, "text", "label", positive=["remove", "removed"])
    assert str(err.value) == (
        f"{path}: --positive 'removed' matches no row of column 'label', "
        "whose values are 'allow' (2), 'remove' (1)"
    )


def test_a_file_of_one_class_after_mapping_is_refused_with_a_hint(tmp_path: Path) -> None:
    # GIVEN labels in words, none of which is a default positive value
    path = _file(tmp_path, "text,label\na,remove\nb,allow\n")
    with pytest.raises(LabelledFileError, match=r"one class only: all 2 rows are negative") as err:
        read_labelled_file(path, "text", "label")
    assert "'remove' (1), 'allow' (1)" in str(err.value)
    assert str(err.value).endswith("name the positive values with --positive")


def test_all_rows_positive_is_one_class_too(tmp_path: Path) -> None:
    path = _file(tmp_path, "text,label\na,spam\nb,SPAM\n,ham\n")  # the one 'ham' row has no text
    with pytest.raises(LabelledFileError, match=r"one class only: all 2 rows are positive"):
        read_labelled_file(path, "text", "label", positive=["spam"])


def test_a_missing_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    path = _file(tmp_path, "body,REMOVED\nx,1\n")
    with pytest.raises(LabelledFileError) as err:
        read_labelled_file(path, "text", "REMOVED")
    found = "the columns found in the header are 'body', 'REMOVED'"
    assert str(err.value) == f"{path}: no column 'text'; {found}"


def test_a_missing_column_of_a_tab_file_read_as_csv_suggests_the_separator(tmp_path: Path) -> None:
    path = _file(tmp_path, "text\tlabel\nx\t1\n")
    hint = r"no column 'text'.*'text\\tlabel' \(is the separator '\\t'\?"
    with pytest.raises(LabelledFileError, match=hint):
        read_labelled_file(path, "text", "label")


def test_a_missing_column_of_a_headerless_file_lists_the_named_columns(tmp_path: Path) -> None:
    path = _file(tmp_path, "x,1\n")
    found = r"no column 'text'; the columns found in --columns are 'a', 'b'"
    with pytest.raises(LabelledFileError, match=found):
        read_labelled_file(path, "text", "b", layout=FileLayout(columns=("a", "b")))


def test_a_column_named_twice_is_ambiguous(tmp_path: Path) -> None:
    path = _file(tmp_path, "text,label,text\na,1,b\n")
    with pytest.raises(LabelledFileError, match=r"column 'text' appears 2 times in the header"):
        read_labelled_file(path, "text", "label")


def test_a_row_with_a_stray_separator_is_refused_by_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "text,label\nfine,0\nhello, world,1\n")
    with pytest.raises(LabelledFileError, match=r"line 3 has 3 fields where the columns are 2"):
        read_labelled_file(path, "text", "label")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent.csv", "cannot read the file: No such file or directory"),
        (lambda d: d, "cannot read the file: Is a directory"),
        (lambda d: _bytes(d / "latin1.csv", b"text,label\ncaf\xe9,1\n"), "not UTF-8 text"),
        (lambda d: _bytes(d / "empty.csv", b""), "the file is empty"),
        (lambda d: _bytes(d / "blank.csv", b"text,label\n ,1\n"), "no row has a text in column 'text'"),
    ],
)
def test_an_unreadable_file_is_one_clear_error(tmp_path: Path, make: Any, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(LabelledFileError, match=message) as err:
        read_labelled_file(path, "text", "label")
    assert str(err.value).startswith(f"{path}: ")
    assert "\n" not in str(err.value)


def _bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# --- the category's scores in a model's output ----------------------------------------------------


def test_a_1d_output_is_the_removal_category() -> None:
    scores = category_scores(np.array([0.1, 0.9]), "removal", 2)
    assert scores.tolist() == [0.1, 0.9]
    with pytest.raises(CategoryError, match=r"does not score category 'hate'; it scores removal$"):
        category_scores(np.array([0.1, 0.9]), "hate", 2)


def test_a_frame_output_gives_the_named_categorys_column() -> None:
    frame = pd.DataFrame(
        {"toxicity": [0.2, 0.3], "hate": [0.0, 0.1], "spam": [0.5, 0.5], "removal": [0.9, 0.4]}
    )
    assert category_scores(frame, "hate", 2).tolist() == [0.0, 0.1]
    assert category_scores(frame, "removal", 2).tolist() == [0.9, 0.4]
    with pytest.raises(CategoryError, match=r"'sentiment'; it scores toxicity, hate, spam, removal$"):
        category_scores(frame, "sentiment", 2)


@pytest.mark.parametrize(
    "output", [np.array([0.5]), np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0.5, np.nan]), ["a", "b"]]
)
def test_an_output_that_is_not_one_probability_per_text_is_a_model_error(output: Any) -> None:
    with pytest.raises(ModelError):
        category_scores(output, "removal", 2)


# --- the command: exit codes, stderr, stdout -----------------------------------------------------


def test_a_bad_positive_exits_2_with_one_line_on_stderr_before_any_model_is_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a tab-separated file, named with the two characters backslash-t
    path = _file(tmp_path, "text\tlabel\na, b\tremove\nc\tallow\n", "labels.tsv")
    # WHEN the command names a positive value no row has (and a model URI that does not exist)
    argv = ["evaluate", "--model-uri", "models:/none@champion", "--data", str(path), "--separator", "\\t"]
    code = main([*argv, "--positive", "removed", "--json"])
    # THEN it exits 2 with the reason on stderr (the tab was understood: the values are listed), stdout empty
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        f"error: {path}: --positive 'removed' matches no row of column 'label', "
        "whose values are 'remove' (1), 'allow' (1)\n"
    )


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--data", str(tmp_path / "nope.csv"), "--json"]) == 2
    out, err = capsys.readouterr()
    assert (out, err.count("\n")) == ("", 1)
    assert "nope.csv: cannot read the file" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--separator", ";"], "argument --separator: invalid choice: ';'"),
        (["--no-header"], "--no-header and --columns go together"),
        (["--columns", "a,b"], "--no-header and --columns go together"),
        (["--no-header", "--columns", "a,,b"], "name every column once"),
        (["--no-header", "--columns", "a,b,a"], "name every column once"),
        (["--positive"], "argument --positive: expected at least one argument"),
    ],
)
def test_bad_arguments_exit_2_as_argparse_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--data", str(tmp_path / "x.csv"), *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_no_mlflow_store_exits_1_and_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    path = _file(tmp_path, "text,label\na,1\nb,0\n")
    assert main(["evaluate", "--data", str(path), "--json"]) == 1
    assert f"no MLflow store at {store}" in capsys.readouterr().err
    assert not store.exists()


class _FourCategoryModel:
    """A loaded model whose `predict` returns one column per category (the multi-category form)."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        length = frame["text"].str.len().astype(float)
        return pd.DataFrame(
            {"toxicity": 1 / length, "hate": 0.5, "spam": 0.1, "removal": length / length.max()}
        )


def test_a_frame_model_is_scored_on_the_named_category_and_prints_only_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a store and a model returning four categories (loaded through mlflow.pyfunc.load_model)
    (tmp_path / "mlflow.db").touch()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    loaded: list[str] = []

    def load_model(uri: str) -> _FourCategoryModel:
        loaded.append(uri)
        print(f"downloading {uri}")  # what a loader may print: it must not reach stdout
        return _FourCategoryModel()

    monkeypatch.setattr(mlflow.pyfunc, "load_model", load_model)
    path = _file(tmp_path, "text,label\nab,0\nabcd,toxic\n,toxic\nabc,0\nabcdefgh,TOXIC\nabcdef,0\n")
    # WHEN toxicity is evaluated
    argv = ["evaluate", "--model-uri", "models:/m@champion", "--data", str(path), "--positive", "toxic"]
    assert main([*argv, "--category", "toxicity", "--json"]) == 0
    # THEN stdout is one JSON document scoring the toxicity column, with its context
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert "downloading models:/m@champion" in err
    y, texts = [0, 1, 0, 1, 0], ["ab", "abcd", "abc", "abcdefgh", "abcdef"]
    assert report["roc_auc"] == pytest.approx(roc_auc_score(y, [1 / len(t) for t in texts]))
    assert isinstance(report["pr_auc"], float)
    assert {k: report[k] for k in ("category", "n", "positives", "skipped_empty", "model_uri")} == {
        "category": "toxicity",
        "n": 5,
        "positives": 2,
        "skipped_empty": 1,
        "model_uri": "models:/m@champion",
    }
    assert {"brier", "operating_points", "by_length", "data"} <= report.keys()
    assert loaded == ["models:/m@champion"]
    # AND a category the model does not score exits 2, listing the ones it does
    assert main([*argv, "--category", "sentiment", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    scored = "toxicity, hate, spam, removal"
    assert err.splitlines()[-1] == f"error: the model does not score category 'sentiment'; it scores {scored}"


def test_without_json_a_table_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlflow.db").touch()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda uri: _FourCategoryModel())
    path = _file(tmp_path, "text,label\nab,0\nabcd,1\nabc,0\nabcdefgh,1\n")
    assert main(["evaluate", "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ROC-AUC" in out
    assert "1.0000" in out  # removal = length, which separates the classes perfectly


def test_positive_values_add_up_across_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlflow.db").touch()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda uri: _FourCategoryModel())
    path = _file(tmp_path, "text,label\nab,ok\nabcd,remove\nabc,ok\nabcdefgh,spam\nabcdef,Scam\n")
    argv = ["evaluate", "--data", str(path), "--json", "--positive", "remove", "--positive", "spam", "scam"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["positives"] == 3
