"""Classify the names in one column of a file: streaming, every row kept, in order.

``classify_csv`` reads a CSV (or Parquet) input in chunks of rows and writes
each row back with its fields unchanged, followed by result columns whose
names all start with ``nameort_``:

* ``nameort_label``, ``nameort_confidence``, ``nameort_status``, ``nameort_unknown_chars``;
* with ``top_k``: ``nameort_top1_label``, ``nameort_top1_probability``, ... ;
* with ``probabilities``: ``nameort_p_<label>`` for every label, in model order.

JSONL output has one object per row: the original fields keyed by header name
(``column_1``, ``column_2``, ... without a header; a repeated name gets
``.1``, ``.2``, ...), then ``nameort_label``, ``nameort_confidence``,
``nameort_status``, ``nameort_unknown_chars`` and, when asked, ``nameort_top``
(``[[label, probability], ...]``) and ``nameort_probabilities``. Parquet
output keeps every input column with its type and appends the result columns
typed (labels and statuses as strings, probabilities as float64, null where
there is no prediction); see ``parquet``.

The name column is a header name, or a 1-based position (as in ``cut -f``):
a header name wins; a number that is not a header name is a position. Rows
with an empty or unusable name keep their place, with empty label and
confidence and a status saying why. A CSV row with the wrong number of fields
is an error (with its line number), or is left out (``on_bad_rows="skip"``,
counted in the summary), or is kept with the status ``bad_row``
(``"mark"``): a short row is padded with empty fields, and the fields of a
long row beyond the header's width follow the result columns, so the result
columns are always in the same place.

The modules: ``options`` (checks and constants), ``reading`` (CSV rows and
the name column), ``formats`` (CSV and JSONL output), ``parquet`` (Parquet in
and out, with pyarrow), ``memo`` (recent results by name), ``job`` (the
loop around a pool of model threads), ``ranges`` (one byte range of a CSV file
through that loop) and ``processes`` (a large CSV file's ranges on worker
processes, each running ``worker``). Every engine (``nameort batch``, the
Dask engine, ``classify_frame``) classifies through ``nameort.columnar``.
Output goes through ``csvio.AtomicFile``: no partial file, ever.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import sys
import time
from pathlib import Path

from .. import csvio
from ..errors import OutputError
from .formats import CsvFormat, JsonlFormat, csv_cells, result_cells, result_columns, unique_keys
from .job import Job, Progress, Summary
from .memo import Memo
from .options import (
    BAD_ROW, CHUNK_BYTES, DEFAULT_BATCH_SIZE, FIELD_LIMIT, FORMATS, INPUT_FORMATS, JOB_NAMES, MEMO_NAME_CHARS,
    MEMO_SIZE, ON_BAD_ROWS, PREFIX, allow_long_fields, check_model_options, check_options,
    delimiter_for, format_of,
)
from .reading import RowReader, column_index, listing, refuse_prefixed


def classify_csv(
    src,
    dst,
    column,
    *,
    model=None,
    device: str = "auto",
    top_k: int | None = None,
    threshold: float | None = None,
    other_threshold: float | None = None,
    probabilities: bool = False,
    fmt: str | None = None,
    input_format: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    header: bool = True,
    on_bad_rows: str = "error",
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    progress=None,
    memo_size: int = MEMO_SIZE,
    split: bool | None = None,
) -> Summary:
    """Classify column ``column`` of ``src`` into ``dst``; returns a ``Summary``.

    ``src`` / ``dst``: paths, or ``"-"`` for stdin / stdout. ``dst`` is
    replaced only when the whole job succeeded. ``fmt`` (output) and
    ``input_format``: ``csv``, ``jsonl`` (output only) or ``parquet``; by
    default from the file extension (``.parquet``, ``.jsonl``; anything else
    and stdin/stdout: CSV). ``column``: a header name, or a 1-based position
    (int or digits). ``model``: a ``Classifier``, a model name or path, or
    None for the bundled model. ``other_threshold``: the background label's
    operating point (models with one). ``delimiter``: default tab for
    ``.tsv`` / ``.tab`` inputs, else comma; the output uses the same, and the
    line ending of the input's first line. The output is UTF-8.
    ``batch_size``: rows per chunk. ``workers``: model threads (default: all
    cores). ``progress``: called with a ``Progress`` after each chunk.
    ``memo_size``: distinct names remembered across chunks (0: none).
    ``split``: cut a CSV file into byte ranges classified by ``workers``
    worker processes (see ``processes``): None (default) for a file of 8 MiB
    or more read on the CPU, True for any CSV file, False never. The output
    is the same bytes either way.
    Errors the user can fix raise ``InputError`` / ``OutputError`` (both
    ``NameortError``), ``MissingDependencyError`` (Parquet without pyarrow)
    or ``ValueError``, with one-line messages.
    """
    started = time.monotonic()
    fmt = format_of(dst, fmt, "csv")
    input_format = format_of(src, input_format, "csv", INPUT_FORMATS)
    check_options(fmt, on_bad_rows, top_k, batch_size, workers, threshold, memo_size, other_threshold)
    if fmt == "parquet" and on_bad_rows == "mark":
        raise ValueError("--on-bad-rows mark cannot go to Parquet (its columns are fixed); use skip, or CSV output")
    if "parquet" in (fmt, input_format):
        from . import parquet  # one line naming the extra when pyarrow is missing
    delimiter = delimiter_for(delimiter, src)
    csvio.check_destination(src, dst)
    allow_long_fields()

    from ..classifier import Classifier, default_threads
    from . import processes  # here, not at import: `nameort classify` never needs subprocess and friends

    where = None if dst == csvio.STDIO else Path(dst).resolve().parent  # a split job's parts go beside the output
    with contextlib.ExitStack() as stack:
        early = _start_early(processes, src, model, where, split, workers or default_threads(), input_format, fmt,
                             encoding, device)
        stack.callback(processes.stop_all, early)
        if input_format == "parquet":
            rows = parquet.ParquetRows(src)
            stack.callback(rows.source.close)
        else:
            source = csvio.Source(src, encoding)
            stack.callback(source.close)
            source.sniff_line_ending()
            rows = RowReader(csv.reader(source.lines, delimiter=delimiter), source, header, on_bad_rows)
        col = rows.start(column)
        if isinstance(model, Classifier):
            classifier = model
        else:
            # One session is enough: the pool threads share it (ONNX Runtime's run is thread-safe).
            classifier = stack.enter_context(Classifier.load(model, device=device, threads=1))
        check_model_options(classifier, top_k, other_threshold)
        options = (classifier.labels, top_k, probabilities)
        line_ending = getattr(rows.source, "line_ending", "\n")
        parts = 1 if col is None else processes.processes_for(
            split, workers or default_threads(), src, input_format, fmt, rows.source.size, encoding,
            classifier.provider,
        )
        if parts < 2:
            processes.stop_all(early)  # started for a job that turned out not to split (the model is on a GPU)
        if parts > 1:
            from .ranges import RangeSpec, codecs_for

            first_codec, codec, _ = codecs_for(encoding)
            spec = RangeSpec(
                name=str(src), encoding=encoding, first_codec=first_codec, codec=codec, delimiter=delimiter,
                line_ending=line_ending, header=tuple(rows.header) if rows.header is not None else None,
                width=rows.width, column=column, col=col, fmt=fmt, top_k=top_k, threshold=threshold,
                other_threshold=other_threshold, probabilities=probabilities, on_bad_rows=on_bad_rows,
                batch_size=batch_size,
            )
            rows.source.close()  # the workers read the file themselves
            job = processes.SplitJob(
                spec, src, classifier.card.model_path, rows.source.size, parts, memo_size=memo_size,
                progress=progress, started=started, where=where, ready=early,
            )
            counts = _write(dst, fmt, job.run)
            count, skipped, model_names = job.count, job.skipped, job.model_names
        else:
            job = Job(
                classifier, rows, col, top_k=top_k, threshold=threshold, other_threshold=other_threshold,
                batch_size=batch_size, workers=workers or default_threads(), memo_size=memo_size,
                progress=progress, started=started,
            )
            counts = _write(
                dst, fmt, lambda out: _run(job, _format(fmt, out, rows, options, delimiter, line_ending)))
            count, skipped, model_names = rows.count, rows.skipped, job.model_names
    return Summary(
        rows=count,
        written=count - skipped,
        skipped=skipped,
        statuses=dict(counts.most_common()),
        seconds=time.monotonic() - started,
        output=str(dst),
        model_names=model_names,
    )


def _start_early(processes, src, model, where, split, workers, input_format, fmt, encoding, device) -> list:
    """A split job's worker processes, started now if the job looks like one (see ``processes._Worker``).

    Before the model is loaded its device is not known: with ``device="auto"``
    on a machine where CUDA then works, the workers started here go unused.
    """
    from ..classifier import Classifier
    from ..errors import ModelError
    from ..sidecar import resolve_model_path

    if device == "cuda" or src == csvio.STDIO or (isinstance(model, Classifier) and model.provider != processes.CPU):
        return []
    try:
        info = os.stat(src)
    except OSError:
        return []  # opening it says what is wrong
    size = info.st_size if stat.S_ISREG(info.st_mode) else None
    parts = processes.processes_for(split, workers, src, input_format, fmt, size, encoding)
    if parts < 2:
        return []
    try:
        model_path = model.card.model_path if isinstance(model, Classifier) else resolve_model_path(model)
    except ModelError:
        return []  # loading it says what is wrong
    return processes.start_early(parts, str(model_path), where)


def _format(fmt, out, rows, options, delimiter, line_ending):
    """The output format object for ``fmt``, writing to ``out`` (text, or binary for Parquet)."""
    labels, top_k, probabilities = options
    width = rows.width or 0
    if fmt == "parquet":
        from .parquet import ParquetFormat

        return ParquetFormat(out, rows, labels, top_k, probabilities)
    if getattr(rows, "typed", False):  # Parquet rows: their cells are made text (CSV) or JSON values here
        from .parquet import TypedCsvFormat, TypedJsonlFormat

        cls = TypedCsvFormat if fmt == "csv" else TypedJsonlFormat
        return cls(out, rows, labels, top_k, probabilities, delimiter, line_ending)
    if fmt == "csv":
        return CsvFormat(out, labels, top_k, probabilities, delimiter, line_ending, width)
    return JsonlFormat(out, labels, top_k, probabilities, width)


def _write(dst, fmt, work):
    """``work(out)`` into ``dst``: an ``AtomicFile`` moved into place on success, or stdout; its counts.

    ``out`` is a text stream, or a binary one for Parquet; ``work`` writes
    everything and returns the counts per status.
    """
    binary = fmt == "parquet"
    if dst == csvio.STDIO:
        out = sys.stdout.buffer if binary else io.TextIOWrapper(
            sys.stdout.buffer, encoding="utf-8", newline="", write_through=False)
        try:
            counts = work(out)
            out.flush()
        except BrokenPipeError:
            raise  # the reader went away (| head): the caller decides
        except OSError as exc:
            raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None
        finally:
            if not binary:
                with contextlib.suppress(ValueError, OSError):
                    out.detach()  # sys.stdout stays open for its owner
        return counts
    atomic = csvio.AtomicFile(dst)
    try:
        try:
            counts = work(atomic.file.buffer if binary else atomic.file)
        except OSError as exc:  # reading errors are InputErrors by now: this is the output
            raise atomic.write_error(exc) from None
        atomic.commit()
    finally:
        atomic.discard()
    return counts


def _run(job, fmt_obj):
    """``job`` through the format ``fmt_obj``, closed at the end (Parquet writes its footer); the counts."""
    counts = job.run(fmt_obj)
    close = getattr(fmt_obj, "close", None)
    if close is not None:
        close()
    return counts


__all__ = [
    "classify_csv", "result_columns", "result_cells", "csv_cells", "Summary", "Progress", "Job", "Memo",
    "RowReader", "CsvFormat", "JsonlFormat", "column_index", "refuse_prefixed", "listing", "unique_keys",
    "check_options", "check_model_options", "delimiter_for", "allow_long_fields", "format_of",
    "PREFIX", "BAD_ROW", "FORMATS", "INPUT_FORMATS", "ON_BAD_ROWS", "DEFAULT_BATCH_SIZE", "CHUNK_BYTES",
    "MEMO_NAME_CHARS", "MEMO_SIZE", "JOB_NAMES", "FIELD_LIMIT",
]
