"""``columnar.Columns`` as text: CSV cells and JSON objects, byte for byte what the per-name path writes.

The per-name path formats one ``Prediction`` at a time (``output.probability_cell``
for CSV cells, ``json.dumps(p.to_dict(), ensure_ascii=False)`` for JSON).
Here each field is formatted for a whole column in one C-level ``map`` with
the very same formatting function (``"{:.6f}".format``, ``float.__repr__``
or orjson's identical digits, ``json``'s own string escaper, Python's
``round``), then the fields are put together with a ``%`` template per row.
No dict or ``Prediction`` is made per name; the output is identical
(tests/test_columnar.py compares them).
"""

from __future__ import annotations

import itertools
import json.encoder

import numpy as np

try:
    import orjson as _orjson  # optional: only makes json_numbers faster
except ImportError:
    _orjson = None

from .columnar import NO_LABEL, STATUS_TEXT, Columns

# json.dumps(..., ensure_ascii=False) escapes strings with this very function.
json_quote = _quote = json.encoder.encode_basestring
_cell = "{:.6f}".format  # output.probability_cell's format
DECIMALS = 6  # JSONL probabilities are rounded to this many places (Python's round)
_BULK_CELLS = 16  # fewer values than this are formatted one by one (the bulk path's fixed cost)
_DIGIT_BASE = np.uint8(ord("0"))


def probability_cells(values: np.ndarray) -> list:
    """``output.probability_cell`` of each value: 6 decimals, or "" for NaN (no value).

    ``"{:.6f}"`` rounds the exact binary value correctly; so does
    ``floor(v * 1e6 + 0.5)`` for a value in [0, 1] (not -0.0) unless ``v * 1e6``
    lies within 1e-6 of a half (its own error is below 1e-9). Such values are
    turned into digits in bulk (bytes "d.dddddd" joined by newlines, split
    once); the rare others, NaN and anything outside [0, 1] go through the
    format itself.
    """
    values = np.asarray(values, np.float64)
    n = len(values)
    if n < _BULK_CELLS:
        return _format_cells(values, range(n), [""] * n)
    scaled = values * 1e6
    with np.errstate(invalid="ignore"):  # NaN and infinities: left to the format
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) <= 1e-6
    bulk = (values <= 1.0) & (values >= 0.0) & ~np.signbit(values) & ~near_half  # False for NaN and -0.0
    units = np.floor(scaled + 0.5, where=bulk, out=np.zeros(n)).astype(np.int64)
    text = np.empty((n, 9), np.uint8)
    whole, fraction = np.divmod(units, 1_000_000)
    text[:, 0] = whole
    for j in range(7, 1, -1):
        fraction, text[:, j] = np.divmod(fraction, 10)
    text += _DIGIT_BASE  # digits to ASCII; "." and the newline set below
    text[:, 1] = ord(".")
    text[:, 8] = ord("\n")
    cells = text.tobytes().decode("ascii").split("\n")
    cells.pop()  # after the last newline
    return _format_cells(values, np.flatnonzero(~bulk).tolist(), cells)


def _format_cells(values: np.ndarray, where, cells: list) -> list:
    """``cells`` with the cells at ``where`` made by the format itself ("" for NaN)."""
    for i in where:
        value = float(values[i])
        cells[i] = "" if value != value else _cell(value)
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
    """JSON numbers: ``float.__repr__`` (what json writes) of each value; "null" for NaN.

    ``float.__repr__`` costs about 1.3 µs for a full-precision double, the
    largest part of a JSON answer's time. orjson, when installed (the
    ``[serve]`` extra brings it), writes the same shortest round-trip digits
    about 6x faster, with the same text except for magnitudes below 1e-4
    (``0.00007`` where repr writes ``7e-05``) and infinities (``null``):
    those few go through repr.
    """
    values = np.asarray(values, np.float64)
    if _orjson is None or len(values) < _BULK_CELLS:
        out = list(map(float.__repr__, values.tolist()))
    else:
        out = _orjson.dumps(values.tolist()).decode("ascii")[1:-1].split(",")
        magnitude = np.abs(values)
        with np.errstate(invalid="ignore"):
            differs = np.isinf(magnitude) | ((magnitude < 1e-4) & (magnitude > 0.0))
        for i in np.flatnonzero(differs).tolist():
            out[i] = float.__repr__(float(values[i]))
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
    try:
        names = list(map(_quote, cols.names))  # all str: at C speed
    except TypeError:  # a None (a missing value) among them
        names = list(map(_quote_or_null, cols.names))
    labels = list(map((tuple(map(_quote, cols.label_names)) + ("null",)).__getitem__, cols.label.tolist()))
    statuses = list(map(tuple(map(_quote, STATUS_TEXT)).__getitem__, cols.status.tolist()))
    unknown = list(map(_quote, cols.unknown_chars.tolist()))
    texts = list(map(_quote, cols.text.tolist()))
    keys = [_quote(label).replace("%", "%%") for label in cols.labels]  # a label may hold a "%"
    width = len(keys)
    numbers = json_numbers(probs.ravel())  # row by row: each row's probabilities in turn
    columns = [names, labels, json_numbers(conf), statuses, *(numbers[j::width] for j in range(width)), unknown, texts]
    if top_p is not None:
        quoted = tuple(map(_quote, cols.labels)) + ("",)
        pairs = []
        for k in range(top_p.shape[1]):
            pairs.append(list(map(("[%s, %s]").__mod__, zip(
                map(quoted.__getitem__, cols.top_index[:, k].tolist()), json_numbers(top_p[:, k])))))
        columns.append(list(map((', "top": [' + ", ".join(["%s"] * len(pairs)) + "]").__mod__, zip(*pairs))))
    else:
        columns.append(itertools.repeat("", n))
    # One % per row: the probabilities object is part of the row's template.
    template = ('{"name": %s, "label": %s, "confidence": %s, "status": %s, "probabilities": {'
                + ", ".join(f"{key}: %s" for key in keys) + '}, "unknown_chars": %s, "text": %s%s}')
    objects = list(map(template.__mod__, zip(*columns)))
    none = np.flatnonzero(cols.label == NO_LABEL).tolist()
    if none:
        # No prediction: null label and confidence, no probabilities, and to_dict leaves "top" out.
        template = ('{"name": %s, "label": null, "confidence": null, "status": %s, "probabilities": {}, '
                    '"unknown_chars": %s, "text": %s}')
        for i in none:
            objects[i] = template % (names[i], statuses[i], unknown[i], texts[i])
    return objects


def json_array(cols: Columns) -> str:
    """``json.dumps([p.to_dict() for p in predictions], ensure_ascii=False)``: the rows as one JSON array."""
    return "[" + ", ".join(json_objects(cols)) + "]"


def _quote_or_null(value) -> str:
    return "null" if value is None else _quote(value)


__all__ = [
    "probability_cells", "json_numbers", "json_quote", "label_cells", "status_cells", "top_label_cells",
    "json_objects", "json_array", "rounded",
]
