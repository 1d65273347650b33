"""``classify_csv``: a CSV file in, the file ``nameort batch`` would write out, computed on a Dask cluster.

The job runs on the client: it checks the options and the input's head
(``reading``), picks a client (``cluster``), ships the model (``models``),
finds candidate partition starts (pass one, ``partitions``), then keeps a
window of partition tasks in flight (pass two, ``task``) and hands their
results to the ``Writer`` in input order. A partition's output is used only
once its start is confirmed: the first starts at byte 0, and each later one
where the previous partition's last record really ended. A partition that
ran past its range's end is run again merged with the next, so an unlucky
cut costs time, never correctness.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import fsspec

from .. import batch, csvio
from ..batch.ranges import RangeSpec
from ..errors import InputError
from .cluster import client_for
from .models import check_top_k, model_card, model_ref
from .partitions import DEFAULT_BLOCKSIZE, blocksize_for, boundaries
from .reading import read_head
from .task import Plan, classify_range
from .writer import Writer


@dataclass(frozen=True)
class DaskSummary(batch.Summary):
    """A ``batch.Summary`` plus how the work was split and where its time went."""

    partitions: int = 0  # partitions written
    remerged: int = 0  # partitions run again merged with the next (a boundary inside a record)
    workers: int = 0  # worker threads in the cluster
    timings: dict = field(default_factory=dict)  # seconds: startup, scan, tasks (summed), write, ...


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
    encoding: str = "utf-8",
    delimiter: str | None = None,
    header: bool = True,
    on_bad_rows: str = "error",
    batch_size: int = batch.DEFAULT_BATCH_SIZE,
    memo_size: int = batch.MEMO_SIZE,
    blocksize: int | None = DEFAULT_BLOCKSIZE,
    client=None,
    workers: int | None = None,
    single_file: bool = True,
    progress=None,
) -> DaskSummary:
    """Classify column ``column`` of CSV ``src`` on a Dask cluster; same output as ``nameort.batch.classify_csv``.

    ``src``: a path the workers can read under the same name, or an fsspec
    URL. ``dst``: with ``single_file`` (default) one file written by this
    process in input order, replaced only when the job succeeded (``"-"``:
    stdout); otherwise a folder that gets ``part-00000.csv``, ... (each with
    the header), written by the workers. ``client``: a
    ``distributed.Client``, a scheduler address, or None (the current
    default client, else a LocalCluster of ``workers`` single-threaded
    processes, closed at the end). ``blocksize``: input bytes per partition
    (None: one partition); smaller files are split finer so every worker has
    work. Other options as in ``nameort.batch.classify_csv``.
    """
    started = time.monotonic()
    fmt = batch.format_of(dst, fmt, "csv", ("csv", "jsonl"))
    batch.check_options(fmt, on_bad_rows, top_k, batch_size, workers, threshold, memo_size, other_threshold)
    if blocksize is not None and blocksize < 1:
        raise ValueError("blocksize must be at least 1 byte, or None for one partition")
    if src == csvio.STDIO:
        raise ValueError("the dask engine reads a file its workers can open, not standard input")
    if dst == csvio.STDIO and not single_file:
        raise ValueError("part files need an output folder, not standard output")
    delimiter = batch.delimiter_for(delimiter, src)
    url, fs, path = _locate(src)
    if single_file and not _is_url(dst):
        csvio.check_destination(src if not _is_url(src) else csvio.STDIO, dst)
    batch.allow_long_fields()
    head = read_head(fs, path, str(src), encoding, delimiter, header, column)
    card = model_card(model)
    check_top_k(card, top_k, other_threshold)

    timings = Counter()
    with client_for(client, workers) as cl:
        timings["startup"] = time.monotonic() - started
        ref = model_ref(card, device, cl)
        spec = RangeSpec(
            name=str(src), encoding=encoding, first_codec=head["first_codec"], codec=head["codec"],
            delimiter=delimiter, line_ending=head["line_ending"], header=head["header"], width=head["width"],
            column=column, col=head["col"], fmt=fmt, top_k=top_k, threshold=threshold, other_threshold=other_threshold,
            probabilities=probabilities, on_bad_rows=on_bad_rows, batch_size=batch_size,
        )
        plan = Plan(url=url, spec=spec, memo_size=memo_size, model=ref)
        threads = max(1, sum(cl.nthreads().values()))
        size = head["size"]
        t = time.monotonic()
        bounds, lines = boundaries(cl, url, size, blocksize_for(blocksize, size, threads), head["splittable"])
        timings["scan"] = time.monotonic() - t
        writer = Writer(dst, fmt, single_file, fs_url=_is_url(dst))
        try:
            result = _run_parts(cl, plan, bounds, lines, size, writer, threads, progress, started, timings)
            writer.commit()
        finally:
            writer.discard()
    rows, skipped, counts, model_names, parts, remerged = result
    return DaskSummary(
        rows=rows, written=rows - skipped, skipped=skipped, statuses=dict(counts.most_common()),
        seconds=time.monotonic() - started, output=str(dst), model_names=model_names,
        partitions=parts, remerged=remerged, workers=threads, timings=dict(timings),
    )


def _is_url(path) -> bool:
    return isinstance(path, str) and "://" in path


def _locate(src):
    """(url the workers open, filesystem, path on it) for a local path or an fsspec URL."""
    if _is_url(src):
        fs, path = fsspec.core.url_to_fs(src)
        if not fs.exists(path):
            raise InputError(f"input not found: {src}")
        if fs.isdir(path):
            raise InputError(f"input {src} is a directory, not a file")
        return src, fs, path
    local = Path(src)
    if not local.exists():
        raise InputError(f"input not found: {src}")
    if local.is_dir():
        raise InputError(f"input {src} is a directory, not a file")
    fs, path = fsspec.core.url_to_fs(str(local.resolve()))
    return str(local.resolve()), fs, path


def _run_parts(cl, plan, bounds, lines, size, writer, threads, progress, started, timings):
    """Pass two: classify partitions on the workers, write them in input order, merge any that overran."""
    window = 2 * threads + 1  # partitions in flight: enough to keep every worker busy while this one writes
    ends = bounds[1:] + [size]
    final_index = len(bounds) - 1
    inflight = {}  # start index -> (end index, future)
    next_index = 0
    rows = skipped = model_names = parts = remerged = 0
    counts = Counter()
    abandoned = []  # futures whose results will not be used

    def abandon(future):
        if writer.single_file:
            future.cancel()
        else:
            abandoned.append(future)  # let it finish, then remove the part file it wrote

    def submit(i, j):
        future = cl.submit(
            classify_range, plan, bounds[i], ends[j - 1], j - 1 == final_index, lines[i],
            writer.temp_path(), pure=False, priority=-i,
        )
        inflight[i] = (j, future)

    pos = 0  # index into bounds of the next partition to write; its start is a confirmed record boundary
    try:
        while pos <= final_index:
            while next_index <= final_index and len(inflight) < window:
                if next_index not in inflight:
                    submit(next_index, next_index + 1)
                next_index += 1
            j, future = inflight[pos]
            t = time.monotonic()
            result = future.result()
            if result.error is not None:
                raise result.error
            timings["wait"] += time.monotonic() - t
            if result.overran:
                # The range ended inside a record: run it again up to the next candidate boundary.
                writer.drop(result)
                remerged += 1
                del inflight[pos]
                if j in inflight:
                    abandon(inflight.pop(j)[1])  # it started inside a record
                next_index = max(next_index, j + 1)
                submit(pos, j + 1)
                continue
            t = time.monotonic()
            writer.write(result)
            timings["write"] += time.monotonic() - t
            for key, value in result.timings.items():
                timings["task_" + key] += value
            del inflight[pos]
            rows += result.rows
            skipped += result.skipped
            counts.update(result.counts)
            model_names += result.model_names
            parts += 1
            pos = j
            if progress is not None:
                done = ends[j - 1]
                progress(batch.Progress(rows, done, size, time.monotonic() - started))
    finally:
        for _, future in inflight.values():
            abandon(future)
        for future in abandoned:  # part files only: wait for each to finish, then remove what it wrote
            with contextlib.suppress(Exception):
                writer.drop(future.result(timeout=600))
            future.release()
    return rows, skipped, counts, model_names, parts, remerged
