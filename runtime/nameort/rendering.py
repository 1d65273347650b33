"""``columnar.Columns`` as text: CSV cells and JSON objects, byte for byte what the per-name path writes.

The per-name path formats one ``Prediction`` at a time (``output.probability_cell``
for CSV cells, ``json.dumps(p.to_dict(), ensure_ascii=False)`` for JSON).
Here each field is formatted for a whole column in one C-level ``map`` with
the very same formatting function (``"{:.6f}".format``, ``float.__repr__``,
``json``'s own string escaper, Python's ``round``), then the fields are put
together with a ``%`` template per row. No dict or ``Prediction`` is made per
name; the output is identical (tests/test_columnar.py compares them).
"""

from __future__ import annotations

import itertools
import json.encoder

import numpy as np

from .columnar import NO_LABEL, STATUS_TEXT, Columns

# json.dumps(..., ensure_ascii=False) escapes strings with this very function.
json_quote = _quote = json.encoder.encode_basestring
_cell = "{:.6f}".format  # output.probability_cell's format
DECIMALS = 6  # JSONL probabilities are rounded to this many places (Python's round)


def probability_cells(values: np.ndarray) -> list:
    """``output.probability_cell`` of each value: 6 decimals, or "" for NaN (no value)."""
    cells = list(map(_cell, values.tolist()))
    missing = np.isnan(values)
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            cells[i] = ""
    return cells


def label_cells(cols: Columns) -> list:
    """The answered label of each row as a CSV cell ("" without a prediction)."""
    return list(map((cols.label_names + ("",)).__getitem__, cols.label.tolist()))


def status_cells(cols: Columns) -> list:
    return list(map(STATUS_TEXT.__getitem__, cols.status.tolist()))


def top_label_cells(cols: Columns, k: int) -> list:
    """The k-th (0-based) most probable label of each row ("" without a prediction)."""
    return list(map((cols.labels + ("",)).__getitem__, cols.top_index[:, k].tolist()))


def json_numbers(values: np.ndarray) -> list:
    """JSON numbers: ``float.__repr__`` (what json writes) of each value; "null" for NaN."""
    out = list(map(float.__repr__, values.tolist()))
    missing = np.isnan(values)
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            out[i] = "null"
    return out


def rounded(values: np.ndarray, decimals: int = DECIMALS) -> np.ndarray:
    """Python's ``round(v, decimals)`` of each value (NumPy's ``round`` differs in the last bit)."""
    flat = values.ravel().tolist()
    out = np.fromiter(map(round, flat, itertools.repeat(decimals)), np.float64, len(flat))
    return out.reshape(values.shape)


def json_objects(cols: Columns, *, decimals: int | None = None) -> list:
    """For each row, the JSON object ``json.dumps(prediction.to_dict(), ensure_ascii=False)`` writes.

    ``decimals``: round every number to this many places first (None: as computed).
    """
    n = len(cols)
    if n == 0:
        return []
    conf, probs = cols.confidence, cols.probabilities
    top_p = cols.top_probability
    if decimals is not None:
        conf, probs = rounded(conf, decimals), rounded(probs, decimals)
        top_p = rounded(top_p, decimals) if top_p is not None else None
    names = list(map(_quote_or_null, cols.names))
    labels = list(map((tuple(map(_quote, cols.label_names)) + ("null",)).__getitem__, cols.label.tolist()))
    statuses = list(map(tuple(map(_quote, STATUS_TEXT)).__getitem__, cols.status.tolist()))
    unknown = list(map(_quote, cols.unknown_chars.tolist()))
    texts = list(map(_quote, cols.text.tolist()))
    keys = [_quote(label) for label in cols.labels]
    per_label = [json_numbers(probs[:, j]) for j in range(len(keys))]
    template = "{" + ", ".join(f"{key}: %s" for key in keys) + "}"
    prob_objects = list(map(template.__mod__, zip(*per_label)))
    none = np.flatnonzero(cols.label == NO_LABEL).tolist()
    for i in none:
        prob_objects[i] = "{}"
    columns = [names, labels, json_numbers(conf), statuses, prob_objects, unknown, texts]
    template = ('{"name": %s, "label": %s, "confidence": %s, "status": %s, "probabilities": %s, '
                '"unknown_chars": %s, "text": %s%s}')
    if top_p is not None:
        quoted = tuple(map(_quote, cols.labels)) + ("",)
        pairs = []
        for k in range(top_p.shape[1]):
            pairs.append(list(map(("[%s, %s]").__mod__, zip(
                map(quoted.__getitem__, cols.top_index[:, k].tolist()), json_numbers(top_p[:, k])))))
        tops = list(map((', "top": [' + ", ".join(["%s"] * len(pairs)) + "]").__mod__, zip(*pairs)))
        for i in none:
            tops[i] = ""  # no prediction: no top pairs, and to_dict leaves the key out
        columns.append(tops)
    else:
        columns.append(itertools.repeat("", n))
    return list(map(template.__mod__, zip(*columns)))


def json_array(cols: Columns) -> str:
    """``json.dumps([p.to_dict() for p in predictions], ensure_ascii=False)``: the rows as one JSON array."""
    return "[" + ", ".join(json_objects(cols)) + "]"


def _quote_or_null(value) -> str:
    return "null" if value is None else _quote(value)


__all__ = [
    "probability_cells", "json_numbers", "json_quote", "label_cells", "status_cells", "top_label_cells",
    "json_objects", "json_array", "rounded",
]
