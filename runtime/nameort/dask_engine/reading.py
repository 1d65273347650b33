"""Reading the CSV input the way ``nameort batch`` does: its head on the client, a byte range on a worker.

Every byte goes through ``csvio.Source``'s decoding and ``batch.RowReader``'s
row handling, so partitions see exactly the rows (and raise exactly the
errors, with the file's own line numbers) that ``nameort batch`` would. What is
added here is what a byte range needs: a known line offset, the header
learnt by the first partition, and noticing a range that ends inside a
record (``Records.overran``), which pass two answers by merging it with the next.
"""

from __future__ import annotations

import codecs
import csv
from typing import TYPE_CHECKING

from .. import batch, csvio

if TYPE_CHECKING:
    from .task import Plan


class FileSource(csvio.Source):
    """``csvio.Source`` over an already open binary file (a local or fsspec file, or a byte range)."""

    def __init__(self, binary, name: str, encoding: str, decode_as: str, line_offset: int = 0):
        self.encoding = encoding
        self.decode_as = decode_as
        self.name = name
        self.size = None  # progress is reported by the job, from partition ends
        self.line_offset = line_offset  # lines of the file before this byte range
        self._decode(binary, owned=False)  # whoever opened ``binary`` closes it

    def decode_error(self, exc, lines_before):
        return super().decode_error(exc, lines_before + self.line_offset)


def _codecs(encoding: str):
    """(codec for the start of the file, codec for the rest, can it be cut at newline bytes?)."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if codec.name == "utf-8":
        return "utf-8-sig", "utf-8", True
    # A single-byte code page decodes each byte on its own: cutting at b"\n" is safe. Others
    # (UTF-16, Shift-JIS, ...) are read as one partition.
    single = len(bytes(range(256)).decode(codec.name, errors="replace")) == 256 and "\n".encode(codec.name) == b"\n"
    return codec.name, codec.name, single


def read_head(fs, path, name, encoding, delimiter, header, column) -> dict:
    """Check the header (or first row) and the column here, before any worker starts."""
    first_codec, codec, splittable = _codecs(encoding)
    with fs.open(path, "rb") as binary:
        source = FileSource(binary, name, encoding, first_codec)
        source.sniff_line_ending()
        rows = batch.RowReader(csv.reader(source.lines, delimiter=delimiter), source, header, "error")
        col = rows.start(column)
        size = fs.size(path)
        return {
            "first_codec": first_codec, "codec": codec, "splittable": splittable, "size": size,
            "line_ending": source.line_ending, "header": tuple(rows.header) if rows.header is not None else None,
            "width": rows.width or 0, "col": col,
        }


class Lines:
    """The decoded lines of a byte range; remembers running out."""

    def __init__(self, text):
        self.iterator = iter(text)
        self.exhausted = False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self.iterator)
        except StopIteration:
            self.exhausted = True
            raise


class Records:
    """csv records of a byte range that must end on a record boundary; stops at a record cut short."""

    def __init__(self, reader, lines: Lines, final: bool):
        self.reader, self.lines, self.final = reader, lines, final
        self.overran = False

    @property
    def line_num(self) -> int:  # batch.RowReader numbers its errors by it
        return self.reader.line_num

    def __iter__(self):
        return self

    def __next__(self):
        row = next(self.reader)
        if self.lines.exhausted and not self.final:
            # The csv module asked for another line inside a record: this range ends mid-record.
            self.overran = True
            raise StopIteration
        return row


class PartRows(batch.RowReader):
    """``batch.RowReader`` for one partition, with line numbers counted from the start of the file."""

    def __init__(self, records, source, plan: Plan, first: bool, line_offset: int):
        super().__init__(records, source, plan.header is not None, plan.on_bad_rows)
        self.line_offset = line_offset
        if not first:  # a later partition: the header (or first row) was read by the first
            self.header = list(plan.header) if plan.header is not None else None
            self.width = plan.width

    def bad_row_message(self, row, line):
        return super().bad_row_message(row, line + self.line_offset)

    def csv_message(self, exc, line):
        return super().csv_message(exc, line + self.line_offset)
