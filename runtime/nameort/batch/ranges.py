"""One byte range of a CSV file through the batch pipeline, exactly as the whole-file job would treat it.

Engines that split a file (``nameort batch`` over local processes, see
``processes``; the Dask engine) run each range through ``classify_range``: the
bytes are decoded by ``csvio.Source``'s own decoder, parsed by ``RowReader``
with the file's own line numbers, classified by ``Job`` and written by the
job's format, so the ranges' outputs, put end to end, are the bytes the
one-process job writes. What a range adds is noticing that it may have ended
inside a record (``RangeDone.overran``): its start may be right, its end is
not, and the engine runs it again merged with the next range.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from dataclasses import dataclass, field

from .. import csvio
from ..errors import NameortError
from .formats import CsvFormat, JsonlFormat
from .job import Job
from .reading import RowReader


@dataclass(frozen=True)
class RangeSpec:
    """What every range of one job shares: how to read the file and what to write. Small, picklable."""

    name: str  # the input as the user named it, for messages
    encoding: str
    first_codec: str  # decodes the start of the file (a UTF-8 BOM is dropped)
    codec: str  # decodes every later range
    delimiter: str
    line_ending: str  # of the output: the input's first line's
    header: tuple | None
    width: int
    column: object
    col: int
    fmt: str  # csv or jsonl
    top_k: int | None
    threshold: float | None
    other_threshold: float | None
    probabilities: bool
    on_bad_rows: str
    batch_size: int


@dataclass
class RangeDone:
    """What one range did, or ``overran=True`` when its last record ran past its end (nothing else is valid)."""

    rows: int = 0
    skipped: int = 0
    counts: dict = field(default_factory=dict)
    model_names: int = 0
    overran: bool = False


def codecs_for(encoding: str):
    """(codec for the start of the file, codec for the rest, can the file be cut at b"\\n" bytes?)."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if codec.name == "utf-8":
        return "utf-8-sig", "utf-8", True
    # A single-byte code page decodes each byte on its own: cutting at b"\n" is safe. Others
    # (UTF-16, Shift-JIS, ...) are read in one piece.
    single = len(bytes(range(256)).decode(codec.name, errors="replace")) == 256 and "\n".encode(codec.name) == b"\n"
    return codec.name, codec.name, single


def classify_range(spec: RangeSpec, classifier, binary, out, *, first: bool, final: bool, line_offset: int,
                   with_header: bool, memo=None, progress=None, workers: int = 1) -> RangeDone:
    """Classify the rows in ``binary`` (one byte range of the input) and write them to ``out`` (text).

    ``first``: the range starts the file (its header is read and checked
    here); ``final``: it ends the file; ``line_offset``: the file's lines
    before it, for error messages; ``with_header``: write the output header
    (CSV) too. ``workers``: the job's model threads (0: the model runs in
    this thread, for a process that has a core to itself). Errors the user
    can fix are raised as ``NameortError`` unless they come from a record
    cut short by the range's end, which is ``overran``.
    """
    source = FileSource(binary, spec.name, spec.encoding, spec.first_codec if first else spec.codec, line_offset)
    source.line_ending = spec.line_ending
    lines = Lines(source.text)
    rows = PartRows(csv.reader(iter(lines), delimiter=spec.delimiter), source, spec, first, line_offset)
    try:
        col = rows.start(spec.column) if first else spec.col
        job = Job(
            classifier, rows, col, top_k=spec.top_k, threshold=spec.threshold, other_threshold=spec.other_threshold,
            batch_size=spec.batch_size, workers=workers, memo=memo, progress=progress,
        )
        job.run(range_format(spec, classifier.labels, out, with_header))
    except NameortError:
        if lines.exhausted and not final:  # an error in a record cut short by the range's end
            return RangeDone(overran=True)
        raise
    if not final and rows.last_field is not None and rows.last_field.endswith(("\n", "\r")):
        # Every range but the last ends just after a line break. A record still open there was read
        # as far as the range goes, its open quoted field ending with that break. A complete record
        # whose last field is quoted and ends with a line break looks the same: it only costs a rerun.
        return RangeDone(overran=True)
    return RangeDone(rows.count, rows.skipped, dict(job.counts), job.model_names)


def range_format(spec: RangeSpec, labels, out, with_header: bool):
    """The output format the one-process job uses for this job, writing to ``out``."""
    if spec.fmt == "csv":
        return CsvFormat(out, labels, spec.top_k, spec.probabilities, spec.delimiter, spec.line_ending, spec.width,
                         with_header=with_header)
    return JsonlFormat(out, labels, spec.top_k, spec.probabilities, spec.width)


class FileSource(csvio.Source):
    """``csvio.Source`` over an already open binary stream (a byte range of the input)."""

    def __init__(self, binary, name: str, encoding: str, decode_as: str, line_offset: int = 0):
        self.encoding = encoding
        self.decode_as = decode_as
        self.name = name
        self.size = None  # progress is reported by the engine, from range ends
        self.line_offset = line_offset  # lines of the file before this byte range
        self._decode(binary, owned=False)  # whoever opened ``binary`` closes it

    def decode_error(self, exc, lines_before):
        return super().decode_error(exc, lines_before + self.line_offset)


class ByteRange(io.RawIOBase):
    """Bytes [start, end) of an open binary file, read as a stream of their own (memory stays flat)."""

    def __init__(self, binary, start: int, end: int):
        self._binary, self._left = binary, end - start
        binary.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._binary.readinto(view)
        self._left -= n or 0
        return n


class Lines:
    """The decoded lines of a byte range (an iterator); ``exhausted`` is set once they ran out."""

    def __init__(self, text):
        self.exhausted = False
        # chain() hands the lines over at C speed; the marker runs only at the end.
        self._lines = itertools.chain(text, self._mark_end())

    def _mark_end(self):
        self.exhausted = True
        yield from ()

    def __iter__(self):
        return self._lines


class PartRows(RowReader):
    """``RowReader`` for one byte range, with line numbers counted from the start of the file."""

    def __init__(self, reader, source, spec: RangeSpec, first: bool, line_offset: int):
        super().__init__(reader, source, spec.header is not None, spec.on_bad_rows)
        self.line_offset = line_offset
        if not first:  # a later range: the header (or first row) was read by the first
            self.header = list(spec.header) if spec.header is not None else None
            self.width = spec.width

    def bad_row_message(self, row, line):
        return super().bad_row_message(row, line + self.line_offset)

    def csv_message(self, exc, line):
        return super().csv_message(exc, line + self.line_offset)
