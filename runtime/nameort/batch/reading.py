"""Reading a CSV input in chunks of rows, and finding the name column (shared by every engine).

``RowReader`` hands out chunks of parsed rows with bad rows handled
(``on_bad_rows``) and every error given its line number; ``column_index``
turns a header name or 1-based position into an index, listing the columns
when it cannot; ``refuse_prefixed`` refuses an input that already holds
result columns. The Dask engine subclasses ``RowReader`` for its byte ranges.
"""

from __future__ import annotations

import csv
import itertools
import operator
import re

from .. import csvio
from ..errors import InputError
from .options import CHUNK_BYTES, COLUMNS_SHOWN, PREFIX

STEP = 256  # rows parsed per step of a chunk: the byte budget is checked between steps


class RowReader:
    """csv rows in chunks, with bad rows handled and errors given line numbers."""

    def __init__(self, reader, source: csvio.Source, header: bool, on_bad_rows: str):
        self.reader = reader
        self.source = source
        self.has_header = header
        self.on_bad_rows = on_bad_rows
        self.header = None  # the header row, when the input has one
        self.width = None  # fields per row: the header's, or the first row's
        self.first = None  # the first data row when there is no header (read ahead to learn the width)
        self.count = 0  # data rows read
        self.skipped = 0  # bad rows skipped
        self.ended = False
        self.last_field = None  # the last field of the last row read (a split job checks where it ended)

    def start(self, column) -> int | None:
        """Read the header (or the first row) and return the 0-based index of ``column``.

        None means an empty input: there is nothing to classify and no column to check.
        """
        row = self._next()
        if row is None:
            self.ended = True
            return None
        if self.has_header:
            self.header = row or [""]
            self.width = len(self.header)
            refuse_prefixed(self.header, self.source.name)
        else:
            self.first = row or [""]
            self.width = len(self.first)
        return column_index(column, self.header, self.first, self.source.name)

    def names_of(self, rows, bad, col) -> list:
        """The name field of each row of a chunk; None for a row marked bad."""
        if not bad:
            return list(map(operator.itemgetter(col), rows))
        names = [row[col] if len(row) > col else None for row in rows]
        for i in bad:
            names[i] = None
        return names

    def chunk(self, size: int):
        """Up to ``size`` rows as (rows, bad): ``bad`` lists the indices of marked bad rows."""
        rows, bad = [], []
        if self.first is not None:
            rows.append(self.first)
            self.first = None
        reader, width, counter = self.reader, self.width, self.source
        budget = counter.consumed() + CHUNK_BYTES
        try:
            while len(rows) < size:
                # Rows come STEP at a time at C speed; each step is checked as a whole, and only a step
                # holding a row of the wrong width is walked row by row.
                want, start, line = min(STEP, size - len(rows)), len(rows), reader.line_num
                rows.extend(itertools.islice(reader, want))
                got = len(rows) - start
                if got:
                    self.last_field = rows[-1][-1] if rows[-1] else ""
                    if list(map(len, itertools.islice(rows, start, None))).count(width) != got:
                        rows[start:] = self._sort_out(rows[start:], bad, start, line)
                if got < want:
                    self.ended = True
                    break
                if counter.consumed() > budget:
                    break
        except UnicodeDecodeError as exc:
            raise self.source.decode_error(exc, reader.line_num) from None
        except csv.Error as exc:  # the rows of this step read before the error are in `rows`
            raise InputError(self.csv_message(exc, line + sum(map(_lines_of, rows[start:])) + 1)) from None
        except OSError as exc:
            raise InputError(f"cannot read {self.source.name}: {exc.strerror or exc}") from None
        self.count += len(rows)
        return rows, bad

    def _sort_out(self, step: list, bad: list, offset: int, line: int) -> list:
        """The rows of a step with a row of the wrong width: stop, skip or mark each (``on_bad_rows``).

        ``line``: the input's lines before the step; each row's own line is
        counted from the line breaks inside its fields, as the csv module read them.
        """
        kept = []
        for row in step:
            if len(row) != self.width and not self._usable_blank(row):
                if self.on_bad_rows == "error":
                    raise InputError(self.bad_row_message(row, line + 1))
                if self.on_bad_rows == "skip":
                    self.skipped += 1
                    self.count += 1
                    line += _lines_of(row)
                    continue
                bad.append(offset + len(kept))
            elif not row:
                row.append("")  # a blank line in a one-column file is an empty name
            line += _lines_of(row)
            kept.append(row)
        return kept

    def _next(self):
        try:
            row = next(self.reader, None)
            if row is not None:
                self.last_field = row[-1] if row else ""
            return row
        except UnicodeDecodeError as exc:
            raise self.source.decode_error(exc, self.reader.line_num) from None
        except csv.Error as exc:
            raise InputError(self.csv_message(exc, 1)) from None
        except OSError as exc:
            raise InputError(f"cannot read {self.source.name}: {exc.strerror or exc}") from None

    def _usable_blank(self, row) -> bool:
        return not row and self.width == 1

    def bad_row_message(self, row, line: int) -> str:
        found = "a blank line" if not row else f"{len(row)} field{'s' if len(row) != 1 else ''}"
        of = "the header has" if self.header is not None else "the first row has"
        return (
            f"{self.source.name}, line {line}: {found} where {of} {self.width}; "
            f"use --on-bad-rows skip or mark to keep going"
        )

    def csv_message(self, exc: csv.Error, line: int) -> str:
        message = f"{self.source.name}, line {line}: {exc}"
        if "field limit" in str(exc):
            message += " (an unclosed quote reads the rest of the file as one field; check the quotes)"
        return message


def _lines_of(row) -> int:
    """Lines of input a row was read from: one, plus the line breaks inside its quoted fields."""
    breaks = 0
    for field in row:
        if "\n" in field or "\r" in field:
            breaks += field.count("\n") + field.count("\r") - field.count("\r\n")
    return 1 + breaks


def refuse_prefixed(header, source_name: str) -> None:
    taken = [name for name in header if name.casefold().startswith(PREFIX)]
    if taken:
        raise InputError(
            f"{source_name} already has columns named {PREFIX}* ({', '.join(taken[:5])}), the prefix of "
            f"nameort's result columns: was it classified already? Drop or rename those columns first"
        )


def column_index(column, header, first, source_name: str) -> int:
    """A header name, else a 1-based position; every failure lists the columns."""
    if isinstance(column, bool) or not isinstance(column, (str, int)):
        raise TypeError(f"column must be a header name or a 1-based position, not {column!r}")
    if header is not None and isinstance(column, str) and column in header:
        where = [i for i, name in enumerate(header) if name == column]
        if len(where) > 1:
            raise InputError(
                f"column name {column!r} appears {len(where)} times in the header of {source_name} "
                f"(positions {', '.join(str(i + 1) for i in where)}); give its position instead"
            )
        return where[0]
    position = column if isinstance(column, int) else None
    if isinstance(column, str) and re.fullmatch(r"\s*[0-9]+\s*", column):
        position = int(column)
    width = len(header if header is not None else first)
    if position is None:
        if header is None:
            raise InputError(f"without a header, give the column as a 1-based position (1 to {width}), not {column!r}")
        raise InputError(f"no column {column!r} in {source_name}; the columns are: {listing(header)}")
    if not 1 <= position <= width:
        what = "the columns are" if header is not None else "the first row is"
        raise InputError(
            f"column position {position} is out of range: {source_name} has {width} "
            f"column{'s' if width != 1 else ''} (positions start at 1); {what}: {listing(header or first)}"
        )
    return position - 1


def listing(names) -> str:
    shown = ", ".join(f"{i}:{name!r}" for i, name in enumerate(names[:COLUMNS_SHOWN], 1))
    return shown + (f", ... ({len(names)} in all)" if len(names) > COLUMNS_SHOWN else "")
