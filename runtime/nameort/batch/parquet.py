"""Parquet in and out of a batch job (pyarrow, the ``parquet`` extra), streamed row group by row group.

* ``ParquetRows`` reads the input one record batch at a time
  (``ParquetFile.iter_batches``), so memory follows the row group and chunk
  sizes, never the file. A null name is an empty name (status ``empty``);
  a name column of another type (integers, say) is read as ``str`` of each value.
* ``ParquetFormat`` writes every input column with its own type (a CSV
  input's columns as strings, named by its header), then the result columns,
  typed: labels, statuses and unknown characters as strings, confidences and
  probabilities as float64; null where a row has no prediction. Record
  batches are gathered into row groups of ``ROW_GROUP_ROWS`` rows.
* ``TypedCsvFormat`` / ``TypedJsonlFormat`` write Parquet rows as CSV (each
  value as Arrow casts it to a string; null is an empty field) or JSON Lines
  (values as JSON numbers, booleans, strings; anything else as its ``str``).

Importing this module without pyarrow raises ``MissingDependencyError``
naming the extra.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .. import csvio
from ..errors import InputError, MissingDependencyError
from .formats import CsvFormat, JsonlFormat, result_columns, unique_keys
from .reading import column_index, refuse_prefixed

try:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
except ImportError:
    raise MissingDependencyError(
        "Parquet needs pyarrow, which is not installed: pip install 'nameort[parquet]'"
    ) from None

ROW_GROUP_ROWS = 1 << 16  # output rows per row group (memory: this many rows of every column)


class _ParquetSource:
    """What the job asks of an input besides its rows: progress figures and closing."""

    def __init__(self, path, name: str):
        self.name = name
        try:
            with csvio.opening_input(name):
                self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{name} is not a readable Parquet file ({exc})") from None
        self.size = os.path.getsize(path)
        self.total_rows = self.file.metadata.num_rows
        self.rows_read = 0

    def consumed(self) -> int:
        """Bytes read so far, estimated from the rows read (row groups are read whole)."""
        return self.size if not self.total_rows else self.size * self.rows_read // self.total_rows

    def close(self) -> None:
        self.file.close()


class ParquetRows:
    """A Parquet input in chunks: ``chunk`` gives a ``pyarrow.RecordBatch`` at a time."""

    typed = True  # its rows are typed columns, not lists of strings

    def __init__(self, src):
        if src == "-":
            raise InputError("Parquet input must be a file, not standard input")
        self.source = _ParquetSource(src, str(src))
        self.schema = self.source.file.schema_arrow
        self.header = list(self.schema.names)
        self.width = len(self.header)
        self.count = 0
        self.skipped = 0
        self.ended = False
        self._batches = None

    def start(self, column) -> int | None:
        refuse_prefixed(self.header, self.source.name)
        col = column_index(column, self.header, None, self.source.name)
        if self.source.total_rows == 0:
            self.ended = True
        return col

    def chunk(self, size: int):
        if self._batches is None:
            self._batches = self.source.file.iter_batches(batch_size=size)
        try:
            batch = next(self._batches)
        except StopIteration:
            self.ended = True
            return pa.RecordBatch.from_pylist([], schema=self.schema), []
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read {self.source.name}: {exc}") from None
        self.count += batch.num_rows
        self.source.rows_read = self.count
        if self.count >= self.source.total_rows:
            self.ended = True
        return batch, []

    def names_of(self, batch, bad, col) -> list:
        """The names of a record batch: null is "" (an empty name), other types their ``str``."""
        column = batch.column(col)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        values = column.to_pylist()
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if column.null_count:
                values = ["" if v is None else v for v in values]
            return values
        return ["" if v is None else v if isinstance(v, str) else str(v) for v in values]


def _result_fields(labels, top_k, probabilities) -> list:
    names = result_columns(labels, top_k, probabilities)
    types = [pa.string(), pa.float64(), pa.string(), pa.string()]
    types += [pa.string(), pa.float64()] * (top_k or 0)
    types += [pa.float64()] * (len(labels) if probabilities else 0)
    return [pa.field(name, kind) for name, kind in zip(names, types)]


class ParquetFormat:
    """Rows as Parquet: the input's columns with their types, then the typed result columns."""

    placeholder = None  # marked bad rows are refused before a Parquet job starts
    status_at = 2  # nameort_status among the typed result values

    def __init__(self, out, rows, labels, top_k, probabilities):
        self.out, self.labels, self.top_k, self.probabilities = out, labels, top_k, probabilities
        self.typed = getattr(rows, "typed", False)
        if self.typed:
            inputs = list(rows.schema)
        else:
            width = rows.width or 0
            keys = unique_keys(rows.header) if rows.header is not None else [f"column_{i}" for i in range(1, width + 1)]
            inputs = [pa.field(key, pa.string()) for key in keys]
        results = _result_fields(labels, top_k, probabilities)
        self.result_kinds = [f.type for f in results]
        self.schema = pa.schema(inputs + results)
        self.writer = None
        self.pending, self.pending_rows = [], 0

    def begin(self, header):
        self.writer = pq.ParquetWriter(self.out, self.schema)

    def render(self, cols) -> list:
        """Typed values per row: (label, confidence, status, unknown_chars, top..., probabilities...)."""
        from .. import rendering

        columns = [cols.label_strings(), _floats(cols.confidence), rendering.status_cells(cols),
                   cols.unknown_chars.tolist()]
        for k in range(self.top_k or 0):
            labels = list(map((cols.labels + (None,)).__getitem__, cols.top_index[:, k].tolist()))
            columns += [labels, _floats(cols.top_probability[:, k])]
        if self.probabilities:
            columns += [_floats(cols.probabilities[:, j]) for j in range(len(cols.labels))]
        return list(zip(*columns))

    def write(self, rows, names, rendered, bad):
        kinds = self.schema.types
        n_inputs = len(kinds) - len(self.result_kinds)
        if self.typed:
            arrays = list(rows.columns)
        else:
            columns = list(zip(*rows)) if rows else [()] * n_inputs
            arrays = [pa.array(list(col), pa.string()) for col in columns]
        results = list(zip(*map(rendered.__getitem__, names))) if names else [()] * len(self.result_kinds)
        arrays += [pa.array(list(values), kind) for values, kind in zip(results, self.result_kinds)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self):
        if self.pending_rows:
            self.writer.write_table(pa.Table.from_batches(self.pending, schema=self.schema),
                                    row_group_size=self.pending_rows)
        self.pending, self.pending_rows = [], 0

    def close(self):
        """Write what is left and the file footer (the job calls this once every row is through)."""
        if self.writer is not None:
            self._flush()
            self.writer.close()
            self.writer = None


def _floats(values: np.ndarray) -> list:
    """Python floats, None for NaN (no value)."""
    out = values.tolist()
    missing = np.isnan(values)
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            out[i] = None
    return out


def text_column(column) -> list:
    """A column's values as CSV fields: Arrow's own string cast, "" for null, else ``str``."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        try:
            column = pc.cast(column, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return ["" if v is None else str(v) for v in column.to_pylist()]
    return ["" if v is None else v for v in column.to_pylist()]


class TypedCsvFormat(CsvFormat):
    """Parquet rows as CSV: each value as text, then the result cells."""

    def __init__(self, out, rows, labels, top_k, probabilities, delimiter, line_ending):
        super().__init__(out, labels, top_k, probabilities, delimiter, line_ending, rows.width)

    def write(self, batch, names, rendered, bad):
        rows = list(map(list, zip(*(text_column(c) for c in batch.columns))))
        super().write(rows, names, rendered, bad)


class TypedJsonlFormat(JsonlFormat):
    """Parquet rows as JSON Lines: JSON values where they exist, ``str`` of anything else."""

    def __init__(self, out, rows, labels, top_k, probabilities, delimiter=None, line_ending=None):
        super().__init__(out, labels, top_k, probabilities, rows.width)
        self.encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def write(self, batch, names, rendered, bad):
        rows = list(zip(*(c.to_pylist() for c in batch.columns)))
        super().write(rows, names, rendered, bad)
