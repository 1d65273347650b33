"""Classify the names in one column of a CSV file: streaming, every row kept, in order.

``classify_csv`` reads the input in chunks of rows and writes each row back
with its fields unchanged, followed by result columns whose names all start
with ``nameort_``:

* ``nameort_label``, ``nameort_confidence``, ``nameort_status``, ``nameort_unknown_chars``;
* with ``top_k``: ``nameort_top1_label``, ``nameort_top1_probability``, ... ;
* with ``probabilities``: ``nameort_p_<label>`` for every label, in model order.

JSONL output has one object per row: the original fields keyed by header name
(``column_1``, ``column_2``, ... without a header; a repeated name gets
``.1``, ``.2``, ...), then ``nameort_label``, ``nameort_confidence``,
``nameort_status``, ``nameort_unknown_chars`` and, when asked, ``nameort_top``
(``[[label, probability], ...]``) and ``nameort_probabilities``.

The name column is a header name, or a 1-based position (as in ``cut -f``):
a header name wins; a number that is not a header name is a position. Rows
with an empty or unusable name keep their place, with empty label and
confidence and a status saying why. A row with the wrong number of fields is
an error (with its line number), or is left out (``on_bad_rows="skip"``,
counted in the summary), or is kept with the status ``bad_row``
(``"mark"``): a short row is padded with empty fields, and the fields of a
long row beyond the header's width follow the result columns, so the result
columns are always in the same place.

Speed: each distinct name in a chunk is classified once, and a bounded memo
(two generations of recent names) carries results across chunks, so the model
runs only for names it has not seen lately. Model jobs run on a pool of
``workers`` threads (ONNX Runtime releases the GIL) while this thread parses
and writes; results are written strictly in input order. Memory is bounded by
the chunk size, the chunks in flight (``workers + 1``) and the memo, never by
the file. Output goes through ``csvio.AtomicFile``: no partial file, ever.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import csvio
from .errors import InputError, OutputError
from .output import probability_cell

log = logging.getLogger(__name__)

PREFIX = "nameort_"  # every result column starts with this; input columns may not
BAD_ROW = "bad_row"  # status of a row kept by on_bad_rows="mark"
FORMATS = ("csv", "jsonl")
ON_BAD_ROWS = ("error", "skip", "mark")
DEFAULT_BATCH_SIZE = 8192  # rows per chunk: read, classified and written together
CHUNK_BYTES = 8 << 20  # a chunk also ends after this many input bytes, so long rows cannot blow up memory
MEMO_NAME_CHARS = 256  # longer names are not remembered across chunks (a memo of huge keys is not bounded)
MEMO_SIZE = 1 << 16  # distinct names remembered across chunks (about 20 MB at most)
JOB_NAMES = 512  # distinct names per model job, run in one pool thread
# Names per ONNX Runtime run. Working memory grows with it (about 30 MB per
# concurrent run at 256 for a 2x256 RNN with the flatten head), and smaller
# batches measured no slower: 256 ran faster than 1024 on the 2-core test machine.
MODEL_BATCH = 256
FIELD_LIMIT = 16 << 20  # longest field accepted (characters); beyond it is a runaway quote
COLUMNS_SHOWN = 40  # columns listed in a "no such column" error


@dataclass(frozen=True)
class Progress:
    """Where a running job is; handed to the ``progress`` callback after each chunk."""

    rows: int  # input rows done (written or skipped)
    bytes_read: int  # input bytes read so far (a little read-ahead included)
    total_bytes: int | None  # input size, when it is a regular file
    seconds: float  # since the job started


@dataclass(frozen=True)
class Summary:
    """What a finished job did."""

    rows: int  # input rows, header excluded
    written: int  # rows written (rows - skipped)
    skipped: int  # bad rows left out (on_bad_rows="skip")
    statuses: dict = field(default_factory=dict)  # status -> rows, most frequent first
    seconds: float = 0.0  # wall time of the whole job, model loading included
    output: str = ""  # where the result went ("-" for stdout)
    model_names: int = 0  # distinct names the model was run on (the rest came from the memo)

    def text(self) -> str:
        """One line: rows, time, rate, counts per status, skipped rows."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        line = f"{self.rows:,} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)"
        if self.statuses:
            line += ": " + ", ".join(f"{status} {count:,}" for status, count in self.statuses.items())
        if self.skipped:
            line += f"; {self.skipped:,} bad rows skipped"
        return line


def classify_csv(
    src,
    dst,
    column,
    *,
    model=None,
    device: str = "auto",
    top_k: int | None = None,
    threshold: float | None = None,
    probabilities: bool = False,
    fmt: str = "csv",
    encoding: str = "utf-8",
    delimiter: str | None = None,
    header: bool = True,
    on_bad_rows: str = "error",
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    progress=None,
    memo_size: int = MEMO_SIZE,
) -> Summary:
    """Classify column ``column`` of CSV ``src`` into ``dst``; returns a ``Summary``.

    ``src`` / ``dst``: paths, or ``"-"`` for stdin / stdout. ``dst`` is
    replaced only when the whole job succeeded. ``column``: a header name, or
    a 1-based position (int or digits). ``model``: a ``Classifier``, a model
    path, or None for the bundled model. ``delimiter``: default tab for
    ``.tsv`` / ``.tab`` inputs, else comma; the output uses the same, and the
    line ending of the input's first line. The output is UTF-8.
    ``batch_size``: rows per chunk. ``workers``: model threads (default: all
    cores). ``progress``: called with a ``Progress`` after each chunk.
    ``memo_size``: distinct names remembered across chunks (0: none).
    Errors the user can fix raise ``InputError`` / ``OutputError`` (both
    ``NameortError``) or ``ValueError``, with one-line messages.
    """
    started = time.monotonic()
    _check_options(fmt, on_bad_rows, top_k, batch_size, workers, threshold, memo_size)
    delimiter = _delimiter(delimiter, src)
    csvio.check_destination(src, dst)
    _allow_long_fields()

    from .classifier import Classifier, default_threads

    source = csvio.Source(src, encoding)
    try:
        source.sniff_line_ending()
        reader = csv.reader(source.lines, delimiter=delimiter)
        rows = _RowReader(reader, source, header, on_bad_rows)
        col = rows.start(column)
        if isinstance(model, Classifier):
            classifier, owned = model, False
        else:
            # One session is enough: the pool threads share it (ONNX Runtime's run is thread-safe).
            classifier, owned = Classifier.load(model, device=device, threads=1), True
        try:
            n_labels = len(classifier.labels)
            if top_k is not None and top_k > n_labels:
                raise ValueError(f"--top-k must be between 1 and {n_labels} (the number of labels), not {top_k}")
            job = _Job(
                classifier, rows, col, fmt, top_k, threshold, probabilities, delimiter, source.line_ending,
                batch_size, workers or default_threads(), memo_size, progress, started,
            )
            counts = job.run(dst)
        finally:
            if owned:
                classifier.close()
    finally:
        source.close()
    return Summary(
        rows=rows.count,
        written=rows.count - rows.skipped,
        skipped=rows.skipped,
        statuses=dict(counts.most_common()),
        seconds=time.monotonic() - started,
        output=str(dst),
        model_names=job.model_names,
    )


def result_columns(labels, top_k: int | None = None, probabilities: bool = False) -> list:
    """The names of the columns appended to each CSV row, in order."""
    columns = [PREFIX + "label", PREFIX + "confidence", PREFIX + "status", PREFIX + "unknown_chars"]
    for i in range(1, (top_k or 0) + 1):
        columns += [f"{PREFIX}top{i}_label", f"{PREFIX}top{i}_probability"]
    if probabilities:
        columns += [f"{PREFIX}p_{label}" for label in labels]
    return columns


def result_cells(classifier, names, *, top_k: int | None = None, threshold: float | None = None,
                 probabilities: bool = False) -> list:
    """For each name, the cells ``result_columns`` names, exactly as a CSV output row gets them.

    For engines that hold the rows themselves (the Dask engine, Spark's
    ``mapInPandas``). Each distinct name is classified once.
    """
    form = _CsvFormat(io.StringIO(), classifier.labels, top_k, probabilities, ",", "\n", 0)
    distinct = list(dict.fromkeys(names))
    rendered = {}
    for i in range(0, len(distinct), JOB_NAMES):
        part = distinct[i : i + JOB_NAMES]
        for p in classifier.predict_many(part, top_k=top_k, threshold=threshold, batch_size=MODEL_BATCH):
            rendered[p.name] = form.render(p)
    return [rendered[name] for name in names]


def _check_options(fmt, on_bad_rows, top_k, batch_size, workers, threshold, memo_size):
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValueError(f"on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}, not {on_bad_rows!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"--top-k must be at least 1, not {top_k}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
    if memo_size < 0:
        raise ValueError("memo_size must be 0 or more")


def _allow_long_fields() -> None:
    """Let the csv module read fields up to ``FIELD_LIMIT`` in this process (its default is 128 KiB)."""
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)


def _delimiter(delimiter, src) -> str:
    if delimiter is None:
        suffix = Path(str(src)).suffix.lower() if src != csvio.STDIO else ""
        return "\t" if suffix in (".tsv", ".tab") else ","
    if delimiter in ("\\t", "tab", "TAB"):
        return "\t"
    if len(delimiter) != 1 or delimiter in ('"', "\r", "\n"):
        raise ValueError(f"the delimiter must be one character other than a quote or a line break, not {delimiter!r}")
    return delimiter


class _RowReader:
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
            _refuse_prefixed(self.header, self.source.name)
        else:
            self.first = row or [""]
            self.width = len(self.first)
        return _column_index(column, self.header, self.first, self.source.name)

    def chunk(self, size: int):
        """Up to ``size`` rows as (rows, bad): ``bad`` lists the indices of marked bad rows."""
        rows, bad = [], []
        if self.first is not None:
            rows.append(self.first)
            self.first = None
        reader, width, counter = self.reader, self.width, self.source
        line = reader.line_num  # where the previous record ended
        budget = counter.consumed() + CHUNK_BYTES
        try:
            for row in reader:
                if len(row) != width and not self._usable_blank(row):
                    if self.on_bad_rows == "error":
                        raise InputError(self._bad_row_message(row, line + 1))
                    if self.on_bad_rows == "skip":
                        self.skipped += 1
                        self.count += 1
                        line = reader.line_num
                        continue
                    bad.append(len(rows))
                elif not row:
                    row.append("")  # a blank line in a one-column file is an empty name
                rows.append(row)
                if len(rows) >= size or counter.consumed() > budget:
                    break
                line = reader.line_num
            else:
                self.ended = True
        except UnicodeDecodeError as exc:
            raise self.source.decode_error(exc, reader.line_num) from None
        except csv.Error as exc:
            raise InputError(self._csv_message(exc, line + 1)) from None
        except OSError as exc:
            raise InputError(f"cannot read {self.source.name}: {exc.strerror or exc}") from None
        self.count += len(rows)
        return rows, bad

    def _next(self):
        try:
            return next(self.reader, None)
        except UnicodeDecodeError as exc:
            raise self.source.decode_error(exc, self.reader.line_num) from None
        except csv.Error as exc:
            raise InputError(self._csv_message(exc, 1)) from None
        except OSError as exc:
            raise InputError(f"cannot read {self.source.name}: {exc.strerror or exc}") from None

    def _usable_blank(self, row) -> bool:
        return not row and self.width == 1

    def _bad_row_message(self, row, line: int) -> str:
        found = "a blank line" if not row else f"{len(row)} field{'s' if len(row) != 1 else ''}"
        of = "the header has" if self.header is not None else "the first row has"
        return (
            f"{self.source.name}, line {line}: {found} where {of} {self.width}; "
            f"use --on-bad-rows skip or mark to keep going"
        )

    def _csv_message(self, exc: csv.Error, line: int) -> str:
        message = f"{self.source.name}, line {line}: {exc}"
        if "field limit" in str(exc):
            message += " (an unclosed quote reads the rest of the file as one field; check the quotes)"
        return message


def _refuse_prefixed(header, source_name: str) -> None:
    taken = [name for name in header if name.casefold().startswith(PREFIX)]
    if taken:
        raise InputError(
            f"{source_name} already has columns named {PREFIX}* ({', '.join(taken[:5])}), the prefix of "
            f"nameort's result columns: was it classified already? Drop or rename those columns first"
        )


def _column_index(column, header, first, source_name: str) -> int:
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
        raise InputError(f"no column {column!r} in {source_name}; the columns are: {_listing(header)}")
    if not 1 <= position <= width:
        what = "the columns are" if header is not None else "the first row is"
        raise InputError(
            f"column position {position} is out of range: {source_name} has {width} "
            f"column{'s' if width != 1 else ''} (positions start at 1); {what}: {_listing(header or first)}"
        )
    return position - 1


def _listing(names) -> str:
    shown = ", ".join(f"{i}:{name!r}" for i, name in enumerate(names[:COLUMNS_SHOWN], 1))
    return shown + (f", ... ({len(names)} in all)" if len(names) > COLUMNS_SHOWN else "")


def _round(value):
    return None if value is None else round(value, 6)


class _CsvFormat:
    """Rows as CSV: the original fields, then the result cells."""

    def __init__(self, out, labels, top_k, probabilities, delimiter, line_ending, width):
        self.writer = csv.writer(out, delimiter=delimiter, lineterminator=line_ending)
        self.labels, self.top_k, self.probabilities, self.width = labels, top_k, probabilities, width
        self.bad = self._cells(None, "", BAD_ROW, "", (), {})
        self.placeholder = ()  # what a bad row gets in the fast pass, before it is rearranged

    def begin(self, header):
        if header is not None:
            self.writer.writerow(header + result_columns(self.labels, self.top_k, self.probabilities))

    def render(self, p) -> tuple:
        return self._cells(p.label, probability_cell(p.confidence), p.status, p.unknown_chars, p.top, p.probabilities)

    def _cells(self, label, confidence, status, unknown, top, probabilities) -> tuple:
        # A tuple of strings: the garbage collector stops tracking it, which matters for thousands in the memo.
        cells = [label or "", confidence, status, unknown]
        for i in range(self.top_k or 0):
            cells += [top[i][0], probability_cell(top[i][1])] if i < len(top) else ["", ""]
        if self.probabilities:
            cells += [probability_cell(probabilities.get(label)) for label in self.labels]
        return tuple(cells)

    def write(self, rows, names, rendered, bad):
        # Extending the rows csv.reader made, in C, is about 8x faster than building new lists.
        deque(map(list.extend, rows, map(rendered.__getitem__, names)), maxlen=0)
        width = self.width
        for i in bad:
            row = rows[i]
            rows[i] = row[:width] + [""] * (width - len(row)) + list(self.bad) + row[width:]
        self.writer.writerows(rows)


class _JsonlFormat:
    """One JSON object per row: the original fields by header name, then the results."""

    def __init__(self, out, labels, top_k, probabilities, width):
        self.out = out
        self.top_k, self.probabilities, self.width = top_k, probabilities, width
        self.encode = json.JSONEncoder(ensure_ascii=False).encode
        self.keys = [f"column_{i}" for i in range(1, width + 1)]
        self.bad = self._suffix(None, None, BAD_ROW, "", (), {})
        self.placeholder = self.bad

    def begin(self, header):
        if header is not None:
            self.keys = _unique_keys(header)

    def render(self, p) -> str:
        return self._suffix(p.label, p.confidence, p.status, p.unknown_chars, p.top, p.probabilities)

    def _suffix(self, label, confidence, status, unknown, top, probabilities) -> str:
        results = {
            PREFIX + "label": label,
            PREFIX + "confidence": _round(confidence),
            PREFIX + "status": status,
            PREFIX + "unknown_chars": unknown,
        }
        if self.top_k:
            results[PREFIX + "top"] = [[name, _round(p)] for name, p in top]
        if self.probabilities:
            results[PREFIX + "probabilities"] = {name: _round(p) for name, p in probabilities.items()}
        # Appended to an object with its closing brace cut off; every row has at least one field.
        return ", " + self.encode(results)[1:] + "\n"

    def write(self, rows, names, rendered, bad):
        encode, keys = self.encode, self.keys
        lines = [encode(dict(zip(keys, row)))[:-1] + rendered[name] for row, name in zip(rows, names)]
        width = self.width
        for i in bad:
            row = rows[i]
            fields = {key: row[j] if j < len(row) else None for j, key in enumerate(keys)}
            if len(row) > width:
                fields[PREFIX + "extra_fields"] = row[width:]
            lines[i] = encode(fields)[:-1] + self.bad
        self.out.write("".join(lines))


def _unique_keys(header) -> list:
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


class _Memo:
    """Recent results by name, bounded: two generations, the older dropped as a whole."""

    def __init__(self, size: int):
        self.half = size // 2
        self.new, self.old = {}, {}

    def get(self, name):
        found = self.new.get(name)
        if found is None:
            found = self.old.get(name)
            if found is not None:
                self.new[name] = found
        return found

    def add(self, results: dict) -> None:
        if self.half <= 0:
            return
        self.new.update(item for item in results.items() if len(item[0]) <= MEMO_NAME_CHARS)
        if len(self.new) >= self.half:
            self.old, self.new = self.new, {}


class _Chunk:
    """Rows in flight: read, waiting for the model, then written."""

    def __init__(self, rows, names, bad, upto, position):
        self.rows, self.names, self.bad = rows, names, bad
        self.upto = upto  # input rows done once this chunk is written (skipped ones included)
        self.position = position  # input bytes consumed when it was read
        self.known = {}  # name -> (status, rendered) found in the memo
        self.waits = []  # futures whose results cover the other names
        self.jobs = []  # (future, names) submitted for this chunk


class _Job:
    """One classify_csv run: a reading and writing loop around a pool of model threads."""

    def __init__(
        self, classifier, rows, col, fmt, top_k, threshold, probabilities, delimiter, line_ending,
        batch_size, workers, memo_size, progress, started,
    ):
        self.classifier = classifier
        self.rows, self.col = rows, col
        self.fmt, self.top_k, self.threshold, self.probabilities = fmt, top_k, threshold, probabilities
        self.delimiter, self.line_ending = delimiter, line_ending
        self.batch_size, self.workers = batch_size, workers
        self.memo = _Memo(memo_size)
        self.pending = {}  # name -> future of an earlier chunk's job that will classify it
        self.progress, self.started = progress, started
        self.model_names = 0
        self.counts = Counter()

    def run(self, dst) -> Counter:
        if dst == csvio.STDIO:
            return self._run_stdout()
        atomic = csvio.AtomicFile(dst)
        try:
            try:
                self._pipeline(atomic.file)
            except OSError as exc:  # reading errors are InputErrors by now: this is the output
                raise atomic.write_error(exc) from None
            atomic.commit()
        finally:
            atomic.discard()
        return self.counts

    def _run_stdout(self) -> Counter:
        import io
        import sys

        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=False)
        try:
            self._pipeline(out)
            out.flush()
        except BrokenPipeError:
            raise  # the reader went away (| head): the caller decides
        except OSError as exc:
            raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None
        finally:
            try:
                out.detach()  # sys.stdout stays open for its owner
            except (ValueError, OSError):
                pass
        return self.counts

    def _pipeline(self, out) -> None:
        rows, width = self.rows, self.rows.width
        labels = self.classifier.labels
        if self.fmt == "csv":
            self.format = _CsvFormat(
                out, labels, self.top_k, self.probabilities, self.delimiter, self.line_ending, width
            )
        else:
            self.format = _JsonlFormat(out, labels, self.top_k, self.probabilities, width or 0)
        self.format.begin(rows.header)
        if self.col is None:  # an empty input
            return
        inflight = deque()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nameort-batch")
        try:
            while not rows.ended:
                chunk_rows, bad = rows.chunk(self.batch_size)
                chunk = self._submit(pool, chunk_rows, bad)
                inflight.append(chunk)
                while len(inflight) > self.workers:
                    self._finish(inflight.popleft())
            while inflight:
                self._finish(inflight.popleft())
        finally:
            pool.shutdown(wait=not inflight, cancel_futures=True)

    def _submit(self, pool, chunk_rows, bad) -> _Chunk:
        col = self.col
        if bad:
            names = [row[col] if len(row) > col else None for row in chunk_rows]
            for i in bad:
                names[i] = None
        else:
            names = [row[col] for row in chunk_rows]
        chunk = _Chunk(chunk_rows, names, bad, self.rows.count, self.rows.source.consumed())
        misses, waits = [], set()
        for name in dict.fromkeys(names):
            if name is None:
                continue
            found = self.memo.get(name)
            if found is not None:
                chunk.known[name] = found
            elif name in self.pending:
                waits.add(self.pending[name])
            else:
                misses.append(name)
        for i in range(0, len(misses), JOB_NAMES):
            part = misses[i : i + JOB_NAMES]
            future = pool.submit(self._classify, part)
            for name in part:
                self.pending[name] = future
            chunk.jobs.append((future, part))
            waits.add(future)
        chunk.waits = list(waits)
        return chunk

    def _classify(self, names) -> dict:
        """In a pool thread: name -> (status, rendered cells) for distinct names."""
        render = self.format.render
        predictions = self.classifier.predict_many(
            names, top_k=self.top_k, threshold=self.threshold, batch_size=MODEL_BATCH
        )
        return {p.name: (p.status, render(p)) for p in predictions}

    def _finish(self, chunk: _Chunk) -> None:
        results = chunk.known
        for future in chunk.waits:
            results.update(future.result())
        for future, part in chunk.jobs:
            self.memo.add(future.result())
            self.model_names += len(part)
            for name in part:
                if self.pending.get(name) is future:
                    del self.pending[name]
        rendered = {name: entry[1] for name, entry in results.items()}
        rendered[None] = self.format.placeholder  # marked bad rows; the format rearranges them
        self.format.write(chunk.rows, chunk.names, rendered, chunk.bad)
        counts = self.counts
        for name, n in Counter(chunk.names).items():
            counts[BAD_ROW if name is None else results[name][0]] += n
        if self.progress is not None:
            elapsed = time.monotonic() - self.started
            self.progress(Progress(chunk.upto, chunk.position, self.rows.source.size, elapsed))
