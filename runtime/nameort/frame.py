"""``classify_frame``: a pandas or polars DataFrame in, the same frame with typed result columns out.

The names of one column go through ``columnar.classify`` (each distinct name
once); the frame comes back as a new frame with the input's index, row order
and columns, followed by the result columns ``nameort batch`` appends, typed:

* ``nameort_label`` (str; missing without a prediction), ``nameort_confidence`` (float64),
  ``nameort_status`` (str), ``nameort_unknown_chars`` (str);
* with ``top_k``: ``nameort_top<i>_label`` (str) and ``nameort_top<i>_probability`` (float64);
* with ``probabilities``: ``nameort_p_<label>`` (float64) for every label.

A missing value (None, NaN, ``pd.NA``, null) is an empty name: status
``empty``, no prediction, the row kept. A value that is not a string (an
integer column, say) is classified as its ``str``. Neither pandas nor polars is
a dependency of nameort: this module imports neither, and looks only at the
type of the frame it is given.
"""

from __future__ import annotations

import numpy as np

from .batch.formats import result_columns
from .rendering import status_cells
from .batch.options import check_options
from .batch.reading import column_index, refuse_prefixed


def classify_frame(
    df,
    column,
    *,
    top_k: int | None = None,
    threshold: float | None = None,
    other_threshold: float | None = None,
    probabilities: bool = False,
    model=None,
    device: str = "auto",
):
    """``df`` with the ``nameort_*`` result columns added on the right (a new frame; ``df`` is unchanged).

    ``df``: a pandas or polars DataFrame. ``column``: a column label, or a
    1-based position when no column has that label. ``model``: a loaded
    ``Classifier``, a bundled model's name, a folder or ``.onnx`` file, or
    None for the default model. Options as in ``Classifier.predict``.
    """
    kind = _kind(df)
    check_options(top_k=top_k, threshold=threshold, other_threshold=other_threshold)
    labels = list(df.columns)
    refuse_prefixed([str(c) for c in labels], "the DataFrame")
    key = _column(column, labels)
    values = df[key].to_list() if kind == "polars" else df[key].tolist()
    names = _names(values)

    from .classifier import Classifier
    from .columnar import classify

    if isinstance(model, Classifier):
        cols = classify(model, names, top_k=top_k, threshold=threshold, other_threshold=other_threshold)
    else:
        with Classifier.load(model, device=device) as clf:
            cols = classify(clf, names, top_k=top_k, threshold=threshold, other_threshold=other_threshold)
    results = _result_values(cols, top_k, probabilities)
    if kind == "polars":
        return _polars(df, results)
    return _pandas(df, results)


def _kind(df) -> str:
    root = type(df).__module__.split(".")[0]
    if root == "pandas" and type(df).__name__ == "DataFrame":
        return "pandas"
    if root == "polars" and type(df).__name__ == "DataFrame":
        return "polars"
    raise TypeError(
        f"classify_frame needs a pandas or polars DataFrame, not {type(df).__name__} "
        f"(for a dask DataFrame use nameort.dask_engine.classify_frame)"
    )


def _column(column, labels):
    """The label of the name column: ``column`` itself when a column has it, else a 1-based position."""
    found = [label for label in labels if _same(label, column)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ValueError(f"column {column!r} appears {len(found)} times in the DataFrame; rename one first")
    if isinstance(column, (str, int)) and not isinstance(column, bool):
        return labels[column_index(column, [str(c) for c in labels], None, "the DataFrame")]
    raise ValueError(f"no column {column!r} in the DataFrame")


def _same(label, column) -> bool:
    try:
        return bool(label == column) and type(label) is type(column)
    except (TypeError, ValueError):
        return False


def _missing(value) -> bool:
    """None, NaN, NaT, ``pd.NA``: anything that is not equal to itself or cannot say."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pd.NA refuses to be a bool
        return True


def _names(values: list) -> list:
    """Column values as names: str as they are, missing values None (status empty), anything else its str."""
    if all(type(v) is str for v in values):
        return values
    return [v if type(v) is str else None if _missing(v) else str(v) for v in values]


def _result_values(cols, top_k, probabilities) -> dict:
    """Result column name -> (values, "str" or "float"), floats as NumPy arrays with NaN for missing."""
    names = result_columns(cols.labels, top_k, probabilities)
    values = [(cols.label_strings(), "str"), (cols.confidence, "float"), (status_cells(cols), "str"),
              (cols.unknown_chars.tolist(), "str")]
    for k in range(top_k or 0):
        labels = list(map((cols.labels + (None,)).__getitem__, cols.top_index[:, k].tolist()))
        values += [(labels, "str"), (cols.top_probability[:, k], "float")]
    if probabilities:
        values += [(cols.probabilities[:, j], "float") for j in range(len(cols.labels))]
    return dict(zip(names, values))


def _pandas(df, results: dict):
    import pandas as pd

    added = {}
    for name, (values, kind) in results.items():
        if kind == "float":
            added[name] = pd.Series(np.asarray(values, np.float64), index=df.index, name=name)
        else:
            added[name] = pd.Series(values, index=df.index, name=name, dtype=_str_dtype(pd))
    out = df.copy(deep=False)
    for name, series in added.items():
        out[name] = series.array  # by position: no alignment on an index that may repeat labels
    return out


def _str_dtype(pd):
    """What pandas makes of Python strings: object, or the "str" dtype of pandas 3."""
    return pd.Series(["x"]).dtype


def _polars(df, results: dict):
    import polars as pl

    series = []
    for name, (values, kind) in results.items():
        if kind == "float":
            arr = np.asarray(values, np.float64)
            series.append(pl.Series(name, arr, dtype=pl.Float64).fill_nan(None))
        else:
            series.append(pl.Series(name, values, dtype=pl.Utf8))
    return df.with_columns(series)


__all__ = ["classify_frame"]
