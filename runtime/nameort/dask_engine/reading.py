"""The input's head, read on the client the way ``nameort batch`` reads it, before any worker starts.

The ranges themselves are read on the workers by ``nameort.batch.ranges``,
the code every engine that splits a file shares: every byte goes through
``csvio.Source``'s decoding and ``batch.RowReader``'s row handling, so
partitions see exactly the rows (and raise exactly the errors, with the
file's own line numbers) that ``nameort batch`` would.
"""

from __future__ import annotations

import csv

from .. import batch
from ..batch.ranges import FileSource, codecs_for


def read_head(fs, path, name, encoding, delimiter, header, column) -> dict:
    """Check the header (or first row) and the column here, before any worker starts."""
    first_codec, codec, splittable = codecs_for(encoding)
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
