"""Output formats of a batch job: the input's rows followed by the result, as CSV or JSON Lines.

Every format has the same four parts, which the job calls in this order:

* ``begin(header)``: the header line (CSV), or the JSON keys to use;
* ``render(columns)``: for each name of a ``columnar.Columns``, a tuple of
  what its rows get appended, its status string at position ``status_at``
  (computed a column at a time by ``nameort.rendering``, in a pool thread,
  and kept in the memo);
* ``write(rows, names, rendered, bad)``: a chunk of rows with their results,
  ``rendered`` mapping each name to what ``render`` made (``None``: a bad
  row, mapped to ``placeholder``);
* ``bad``: what a row marked ``bad_row`` gets.

The Parquet format, which needs pyarrow, lives in ``parquet``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import deque

from .. import rendering
from ..columnar import NO_LABEL
from .options import BAD_ROW, JOB_NAMES, PREFIX


def result_columns(labels, top_k: int | None = None, probabilities: bool = False) -> list:
    """The names of the columns appended to each row, in order."""
    columns = [PREFIX + "label", PREFIX + "confidence", PREFIX + "status", PREFIX + "unknown_chars"]
    for i in range(1, (top_k or 0) + 1):
        columns += [f"{PREFIX}top{i}_label", f"{PREFIX}top{i}_probability"]
    if probabilities:
        columns += [f"{PREFIX}p_{label}" for label in labels]
    return columns


def csv_cells(cols, top_k: int | None, probabilities: bool) -> list:
    """For each row of ``cols``, the cells ``result_columns`` names, as strings (a tuple per row)."""
    columns = [
        rendering.label_cells(cols), rendering.probability_cells(cols.confidence),
        rendering.status_cells(cols), cols.unknown_chars.tolist(),
    ]
    for k in range(top_k or 0):
        columns += [rendering.top_label_cells(cols, k), rendering.probability_cells(cols.top_probability[:, k])]
    if probabilities:
        columns += [rendering.probability_cells(cols.probabilities[:, j]) for j in range(len(cols.labels))]
    # Tuples of strings: the garbage collector stops tracking them, which matters for thousands in the memo.
    return list(zip(*columns))


def result_cells(classifier, names, *, top_k: int | None = None, threshold: float | None = None,
                 probabilities: bool = False, other_threshold: float | None = None) -> list:
    """For each name, the cells ``result_columns`` names, exactly as a CSV output row gets them.

    For engines that hold the rows themselves (the Dask engine, Spark's
    ``mapInPandas``). Each distinct name is classified once, in the model
    jobs ``nameort batch`` runs, so the cells are the very ones it writes.
    """
    from ..columnar import classify

    distinct = list(dict.fromkeys(names))
    rendered = {}
    for i in range(0, len(distinct), JOB_NAMES):
        part = distinct[i : i + JOB_NAMES]
        cols = classify(classifier, part, top_k=top_k, threshold=threshold, other_threshold=other_threshold)
        rendered.update(zip(part, csv_cells(cols, top_k, probabilities)))
    return list(map(rendered.__getitem__, names))


class CsvFormat:
    """Rows as CSV: the original fields, then the result cells."""

    status_at = 2  # nameort_status among the result cells

    def __init__(self, out, labels, top_k, probabilities, delimiter, line_ending, width, with_header: bool = True):
        self.out, self.delimiter, self.line_ending = out, delimiter, line_ending
        self.writer = csv.writer(out, delimiter=delimiter, lineterminator=line_ending)
        self.labels, self.top_k, self.probabilities, self.width = labels, top_k, probabilities, width
        self.with_header = with_header  # False for the later parts of a file split in byte ranges
        self.bad = ("", "", BAD_ROW, "") + ("", "") * (top_k or 0) + (("",) * len(labels) if probabilities else ())
        self.placeholder = ()  # what a bad row gets in the fast pass, before it is rearranged

    def begin(self, header):
        if header is not None and self.with_header:
            self._write_rows([list(header) + result_columns(self.labels, self.top_k, self.probabilities)])

    def render(self, cols) -> list:
        return csv_cells(cols, self.top_k, self.probabilities)

    def write(self, rows, names, rendered, bad):
        # Extending the rows csv.reader made, in C, is about 8x faster than building new lists.
        deque(map(list.extend, rows, map(rendered.__getitem__, names)), maxlen=0)
        width = self.width
        for i in bad:
            row = rows[i]
            rows[i] = row[:width] + [""] * (width - len(row)) + list(self.bad) + row[width:]
        self._write_rows(rows)

    def _write_rows(self, rows):
        if self.line_ending != "\n":
            self.writer.writerows(rows)
            return
        # The csv module quotes a field holding a lone "\r" only when "\r" is part of the line
        # ending, so with "\n" it would write one unquoted and the row would split when read back.
        # Rows are written to text first; the rare text holding a "\r" is written again row by row,
        # the rows with one through a "\r\n" writer (which quotes them) and their ending put back.
        text = io.StringIO(newline="")
        csv.writer(text, delimiter=self.delimiter, lineterminator="\n").writerows(rows)
        text = text.getvalue()
        if "\r" in text:
            text = "".join(map(self._row_text, rows))
        self.out.write(text)

    def _row_text(self, row) -> str:
        text = io.StringIO(newline="")
        crlf = any("\r" in field for field in row)
        csv.writer(text, delimiter=self.delimiter, lineterminator="\r\n" if crlf else "\n").writerow(row)
        return text.getvalue()[:-2] + "\n" if crlf else text.getvalue()


class JsonlFormat:
    """One JSON object per row: the original fields by header name, then the results."""

    status_at = 0  # render gives (status, text appended to the row's object)

    def __init__(self, out, labels, top_k, probabilities, width):
        self.out = out
        self.top_k, self.probabilities, self.width = top_k, probabilities, width
        self.encode = json.JSONEncoder(ensure_ascii=False).encode
        self.keys = [f"column_{i}" for i in range(1, width + 1)]
        results = {PREFIX + "label": None, PREFIX + "confidence": None, PREFIX + "status": BAD_ROW,
                   PREFIX + "unknown_chars": ""}
        if top_k:
            results[PREFIX + "top"] = []
        if probabilities:
            results[PREFIX + "probabilities"] = {}
        self.bad = ", " + self.encode(results)[1:] + "\n"
        self.placeholder = (BAD_ROW, self.bad)

    def begin(self, header):
        if header is not None:
            self.keys = unique_keys(header)

    def render(self, cols) -> list:
        """(status, ``, "nameort_label": ..., ...}\\n``) per row: appended to an object with its closing brace cut off."""
        n = len(cols)
        if n == 0:
            return []
        q = rendering.json_quote
        label = list(map((tuple(map(q, cols.label_names)) + ("null",)).__getitem__, cols.label.tolist()))
        status = rendering.status_cells(cols)
        columns = [label, rendering.json_numbers(rendering.rounded(cols.confidence)), list(map(q, status)),
                   list(map(q, cols.unknown_chars.tolist()))]
        template = (f', "{PREFIX}label": %s, "{PREFIX}confidence": %s, "{PREFIX}status": %s, '
                    f'"{PREFIX}unknown_chars": %s')
        none = (cols.label == NO_LABEL).nonzero()[0].tolist()
        if self.top_k:
            quoted = tuple(map(q, cols.labels)) + ("",)
            top_p = rendering.rounded(cols.top_probability)
            pairs = [list(map("[%s, %s]".__mod__, zip(map(quoted.__getitem__, cols.top_index[:, k].tolist()),
                                                       rendering.json_numbers(top_p[:, k]))))
                     for k in range(self.top_k)]
            tops = list(map(("[" + ", ".join(["%s"] * self.top_k) + "]").__mod__, zip(*pairs)))
            for i in none:
                tops[i] = "[]"
            columns.append(tops)
            template += f', "{PREFIX}top": %s'
        if self.probabilities:
            probs = rendering.rounded(cols.probabilities)
            inner = "{" + ", ".join(f"{q(label)}: %s" for label in cols.labels) + "}"
            objects = list(map(inner.__mod__, zip(*(rendering.json_numbers(probs[:, j])
                                                    for j in range(len(cols.labels))))))
            for i in none:
                objects[i] = "{}"
            columns.append(objects)
            template += f', "{PREFIX}probabilities": %s'
        return list(zip(status, map((template + "}\n").__mod__, zip(*columns))))

    def write(self, rows, names, rendered, bad):
        encode, keys = self.encode, self.keys
        lines = [encode(dict(zip(keys, row)))[:-1] + rendered[name][1] for row, name in zip(rows, names)]
        width = self.width
        for i in bad:
            row = rows[i]
            fields = {key: row[j] if j < len(row) else None for j, key in enumerate(keys)}
            if len(row) > width:
                fields[PREFIX + "extra_fields"] = row[width:]
            lines[i] = encode(fields)[:-1] + self.bad
        self.out.write("".join(lines))


def unique_keys(header) -> list:
    """Header names as JSON keys; a repeated name gets .1, .2, ... (as pandas does)."""
    taken = set(header)
    keys, used, suffixes = [], set(), {}
    for name in header:
        key = name
        if key in used:
            n = suffixes.get(name, 0)
            while key in used or key in taken:
                n += 1
                key = f"{name}.{n}"
            suffixes[name] = n
        used.add(key)
        keys.append(key)
    return keys
