"""``nameort.classify_frame`` on pandas and polars DataFrames: index, order and columns kept, typed results."""

import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pytest

import nameort
from nameort import Classifier

NAMES = ["Rossi", None, "Schmidt", "Rossi", float("nan"), "", "Garc\u00eda", "\U0001f600", "Weber", "Rossi"]


@pytest.fixture(scope="module")
def clf():
    return Classifier.load()


def expected(clf, names, **options):
    """predict_many's answers, a missing value read as an empty name."""
    return clf.predict_many(["" if not isinstance(n, str) else n for n in names], **options)


def test_pandas_frame_keeps_index_order_and_columns(clf):
    index = pd.Index([30, 10, 10, 99, 5, 7, 8, 1, 2, 3], name="key")  # not sorted, one label twice
    df = pd.DataFrame({"id": range(10), "surname": NAMES, "city": list("abcdefghij")}, index=index)
    out = nameort.classify_frame(df, "surname", model=clf, top_k=2, probabilities=True)
    assert out is not df and list(df.columns) == ["id", "surname", "city"]  # the input is unchanged
    assert out.index.equals(df.index)
    assert list(out.columns[:3]) == ["id", "surname", "city"]
    assert list(out.columns[3:]) == nameort.batch.result_columns(clf.labels, top_k=2, probabilities=True)
    pd.testing.assert_frame_equal(out[["id", "surname", "city"]], df)
    want = expected(clf, NAMES, top_k=2)
    assert [v if isinstance(v, str) else None for v in out["nameort_label"]] == [p.label for p in want]
    assert out["nameort_status"].tolist() == [p.status for p in want]
    assert out["nameort_status"].tolist()[1] == out["nameort_status"].tolist()[4] == "empty"
    conf = out["nameort_confidence"].to_numpy()
    assert conf.dtype == np.float64
    assert [None if np.isnan(c) else c for c in conf] == [p.confidence for p in want]
    assert out["nameort_top1_label"].iloc[0] == want[0].top[0][0]
    assert out["nameort_p_German"].dtype == np.float64
    assert out["nameort_unknown_chars"].iloc[6] == "\u00ed"
    assert pd.api.types.is_string_dtype(out["nameort_label"]) and pd.api.types.is_string_dtype(out["nameort_status"])


def test_pandas_odd_dtypes(clf):
    df = pd.DataFrame({
        "cat": pd.Categorical(["Rossi", "Weber", "Rossi", None]),
        "num": [1, 2, 3, 4],
        "nullable": pd.array(["Rossi", pd.NA, "Weber", "Bianchi"], dtype="string"),
    })
    out = nameort.classify_frame(df, "cat", model=clf)
    assert out["nameort_label"].tolist()[:3] == [p.label for p in clf.predict_many(["Rossi", "Weber", "Rossi"])]
    assert out["nameort_status"].iloc[3] == "empty"
    numbers = nameort.classify_frame(df, "num", model=clf)
    assert numbers["nameort_status"].tolist() == ["unsupported"] * 4  # "1", "2", ... are read, not dropped
    nullable = nameort.classify_frame(df, 3, model=clf)  # a 1-based position
    assert nullable["nameort_status"].tolist() == ["ok", "empty", "ok", "ok"]
    assert len(nameort.classify_frame(df.iloc[:0], "cat", model=clf)) == 0


def test_pandas_integer_column_labels_and_errors(clf):
    df = pd.DataFrame({0: ["Rossi"], 5: ["Weber"]})
    assert nameort.classify_frame(df, 5, model=clf)["nameort_label"].iloc[0] == clf.predict("Weber").label
    assert nameort.classify_frame(df, 1, model=clf)["nameort_label"].iloc[0] == clf.predict("Rossi").label
    listing = r"no column 'surname' in the DataFrame; the columns are: 1:'0', 2:'5'"
    with pytest.raises(nameort.InputError, match=listing):
        nameort.classify_frame(df, "surname", model=clf)
    done = nameort.classify_frame(df, 5, model=clf)
    with pytest.raises(nameort.InputError, match="classified already"):
        nameort.classify_frame(done, 5, model=clf)
    with pytest.raises(TypeError, match="pandas or polars DataFrame"):
        nameort.classify_frame([["Rossi"]], 1)
    with pytest.raises(ValueError, match="top_k"):
        nameort.classify_frame(df, 5, model=clf, top_k=len(clf.labels) + 1)


def test_polars_frame(clf):
    df = pl.DataFrame({"id": list(range(10)), "surname": [n if isinstance(n, str) else None for n in NAMES]})
    out = nameort.classify_frame(df, "surname", model=clf, top_k=1)
    assert out.columns[:2] == ["id", "surname"] and out["id"].to_list() == list(range(10))
    assert out.schema["nameort_label"] == pl.Utf8 and out.schema["nameort_confidence"] == pl.Float64
    want = expected(clf, NAMES, top_k=1)
    assert out["nameort_label"].to_list() == [p.label for p in want]  # null without a prediction
    assert out["nameort_confidence"].to_list() == [p.confidence for p in want]
    assert out["nameort_status"].to_list() == [p.status for p in want]
    assert out["nameort_top1_label"].to_list()[0] == want[0].top[0][0]


def test_neither_library_is_imported_by_nameort():
    code = (
        "import sys, nameort, nameort.frame, nameort.batch, nameort.columnar; "
        "print(sorted(m for m in ('pandas', 'polars', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
