"""``classify_frame``: a Dask DataFrame in, the same DataFrame with ``nameort batch``'s result columns out.

The columns hold the very strings ``nameort batch`` writes (``batch.result_cells``
renders them), so a frame and a file classified alike agree cell for cell.
pandas and ``dask.dataframe`` are imported only when a frame is classified:
``classify_csv`` and its workers need neither.
"""

from __future__ import annotations

from .. import batch
from ..errors import MissingDependencyError
from .cluster import default_client
from .messages import INSTALL_HINT
from .models import cached_classifier, check_top_k, model_card, model_ref


def classify_frame(
    ddf,
    column,
    *,
    model=None,
    top_k: int | None = None,
    threshold: float | None = None,
    other_threshold: float | None = None,
    probabilities: bool = False,
    device: str = "auto",
    client=None,
):
    """``ddf`` with the result columns ``nameort batch`` appends, computed lazily, partition by partition.

    ``column``: a column name, or a 1-based position (a name wins). The new
    columns (``nameort_label``, ``nameort_confidence``, ``nameort_status``,
    ``nameort_unknown_chars``, then ``nameort_top<i>_label`` /
    ``nameort_top<i>_probability`` with ``top_k`` and ``nameort_p_<label>``
    with ``probabilities``) hold the very strings ``nameort batch`` writes:
    ``pd.to_numeric`` them for arithmetic. A missing value in the name column
    counts as an empty name. Read CSV files with ``dtype=str,
    keep_default_na=False, na_filter=False`` so that "NA", "NULL", "None" and
    leading zeros stay as written (``classify_csv`` does all of this, and
    splits files with quoted line breaks safely). ``client``: the distributed
    client that will compute the result (default: the current default
    client, if any): the model is shipped to its workers now, so compute on
    that client (``client.compute(result)``, or ``result.compute()`` when it
    is the default one). Without a distributed client the result computes on
    Dask's local schedulers, loading the model from its path.
    """
    dd, pd = _dataframe_modules()  # only here: classify_csv needs neither, nor do its workers
    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(f"classify_frame needs a dask DataFrame, not {type(ddf).__name__}")
    batch.check_options(top_k=top_k, threshold=threshold, other_threshold=other_threshold)
    columns = [str(c) for c in ddf.columns]
    batch.refuse_prefixed(columns, "the DataFrame")
    index = batch.column_index(column, columns, None, "the DataFrame")
    card = model_card(model)
    ref = model_ref(card, device, client if client is not None else default_client())
    check_top_k(card, top_k, other_threshold)
    names = batch.result_columns(card.labels, top_k, probabilities)
    meta = ddf._meta.assign(**{name: pd.Series([], dtype=_str_dtype(pd)) for name in names})
    return ddf.map_partitions(
        _classify_pandas, ddf.columns[index], ref, top_k, threshold, other_threshold, probabilities, names, meta=meta,
        token=f"nameort-{ref.key}",
    )


def _dataframe_modules():
    try:
        import dask.dataframe as dd
        import pandas as pd
    except ImportError as exc:
        raise MissingDependencyError(
            f"classify_frame needs dask.dataframe ({exc.name or exc} is missing): {INSTALL_HINT}"
        ) from None
    return dd, pd


def _str_dtype(pd):
    """What pandas makes of Python strings here: object, or the "str" dtype of pandas 3."""
    return pd.Series(["x"]).dtype


def _classify_pandas(part, column, ref, top_k, threshold, other_threshold, probabilities, names):
    """In a task: one pandas partition with the result columns added."""
    import pandas as pd

    clf = cached_classifier(ref)
    values = part[column]
    texts = ["" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in values.tolist()]
    cells = batch.result_cells(clf, texts, top_k=top_k, threshold=threshold, other_threshold=other_threshold,
                               probabilities=probabilities)
    by_column = list(zip(*cells)) if cells else [() for _ in names]
    dtype = _str_dtype(pd)
    added = pd.DataFrame({name: pd.Series(col, index=part.index, dtype=dtype) for name, col in zip(names, by_column)})
    return pd.concat([part, added], axis=1)
