"""The job loop: read a chunk, classify the names not seen lately on a pool of threads, write in order.

``Job.run(fmt)`` takes chunks from a reader (``RowReader`` for CSV,
``parquet.ParquetRows``), looks each distinct name up in the memo and in the
jobs already in flight, and submits the rest, ``JOB_NAMES`` at a time, to a
pool of ``workers`` threads. A pool thread runs ``columnar.classify`` (ONNX
Runtime releases the GIL) and renders the results with ``fmt.render``;
this thread keeps parsing, and writes each chunk, strictly in input order, as
soon as its names are known. At most ``workers + 1`` chunks are in flight, so
memory is bounded by the chunk size and the memo, never by the input. With
``workers=0`` the model runs in this thread, chunk after chunk: a worker
process of a split job has a core of its own and no second thread to feed.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter

from ..columnar import classify
from .memo import Memo
from .options import BAD_ROW, DEFAULT_BATCH_SIZE, JOB_NAMES, MEMO_SIZE


# Python's cyclic garbage collector walks its young generation each time 700 more container
# objects exist than at its last walk. A job keeps tens of thousands alive (the csv module's row
# lists of the chunks in flight, the memo's tuples), and every walk went over them again: about
# 10% of an all-distinct job's time. A job makes no reference cycles per row, and its chunks are
# freed as they are written, so while any job runs that threshold is GC_YOUNG instead: the
# collector then runs only when that many more containers really pile up.
GC_YOUNG = 100_000
_gc_lock = threading.Lock()
_gc_state = {"jobs": 0, "before": None}  # jobs running now, the thresholds before the first of them


@contextlib.contextmanager
def _fewer_collections():
    """Raise the young generation's threshold while any job runs; the last job to end restores it."""
    with _gc_lock:
        if _gc_state["jobs"] == 0:
            before = _gc_state["before"] = gc.get_threshold()
            gc.set_threshold(max(before[0], GC_YOUNG), *before[1:])
        _gc_state["jobs"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["jobs"] -= 1
            if _gc_state["jobs"] == 0:
                gc.set_threshold(*_gc_state["before"])


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
    model_names: int = 0  # distinct texts the model was run on (the rest came from the memo or were empty)

    def text(self) -> str:
        """One line: rows, time, rate, counts per status, skipped rows."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        line = f"{self.rows:,} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)"
        if self.statuses:
            line += ": " + ", ".join(f"{status} {count:,}" for status, count in self.statuses.items())
        if self.skipped:
            line += f"; {self.skipped:,} bad rows skipped"
        return line


class _Chunk:
    """Rows in flight: read, waiting for the model, then written."""

    def __init__(self, rows, names, bad, upto, position):
        self.rows, self.names, self.bad = rows, names, bad
        self.upto = upto  # input rows done once this chunk is written (skipped ones included)
        self.position = position  # input bytes consumed when it was read
        self.known = {}  # name -> what the format rendered, found in the memo
        self.waits = []  # futures whose results cover the other names
        self.jobs = []  # (future, names) submitted for this chunk
        self.memoized = True  # looked up in the memo, its names pending until written (False: the memo rested)


class _Inline:
    """The pool of a job with ``workers=0``: each model job runs at once, in the calling thread."""

    def submit(self, fn, *args) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # raised again where the result is taken, as from a pool thread
            future.set_exception(exc)
        return future

    def shutdown(self, wait=True, cancel_futures=False) -> None:
        pass


class Job:
    """One run over a reader: ``run(fmt)`` writes every row through ``fmt`` and returns the counts per status.

    ``rows``: a reader with ``chunk(size) -> (rows, bad)``, ``names_of(rows, bad, col)``,
    ``count``, ``ended``, ``header`` and a ``source`` (``consumed()``, ``size``).
    ``memo``: a ``Memo`` to use (one is made of ``memo_size`` otherwise), so a
    caller running several jobs of the same kind can carry one across them.
    """

    def __init__(
        self, classifier, rows, col, *, top_k=None, threshold=None, other_threshold=None,
        batch_size: int = DEFAULT_BATCH_SIZE, workers: int = 1, memo: Memo | None = None,
        memo_size: int = MEMO_SIZE, progress=None, started: float | None = None,
    ):
        self.classifier = classifier
        self.rows, self.col = rows, col
        self.top_k, self.threshold, self.other_threshold = top_k, threshold, other_threshold
        self.batch_size, self.workers = batch_size, workers
        # Threads share a chunk's names out in small jobs; inline, a chunk's names are one job, so
        # classify's fixed cost per call (numpy passes, the cells' columns) is paid once per chunk.
        self.job_names = JOB_NAMES if workers else max(JOB_NAMES, batch_size)
        self.memo = memo if memo is not None else Memo(memo_size)
        self.pending = {}  # name -> future of an earlier chunk's job that will classify it
        self.progress = progress
        self.started = time.monotonic() if started is None else started
        self.model_names = 0  # distinct texts the model ran
        self.counts = Counter()
        self.format = None

    def run(self, fmt) -> Counter:
        """Every row through ``fmt`` (``begin`` first), in input order."""
        self.format = fmt
        rows = self.rows
        fmt.begin(rows.header)
        if self.col is None:  # an empty input
            return self.counts
        inflight = deque()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nameort-batch") if self.workers else _Inline()
        with _fewer_collections():
            try:
                while not rows.ended:
                    chunk_rows, bad = rows.chunk(self.batch_size)
                    inflight.append(self._submit(pool, chunk_rows, bad))
                    while len(inflight) > self.workers:
                        self._finish(inflight.popleft())
                while inflight:
                    self._finish(inflight.popleft())
            finally:
                pool.shutdown(wait=not inflight, cancel_futures=True)
        return self.counts

    def _submit(self, pool, chunk_rows, bad) -> _Chunk:
        names = self.rows.names_of(chunk_rows, bad, self.col)
        chunk = _Chunk(chunk_rows, names, bad, self.rows.count, self.rows.source.consumed())
        memo, pending = self.memo, self.pending
        distinct = dict.fromkeys(names)
        distinct.pop(None, None)  # marked bad rows
        chunk.memoized = memo.in_use
        waits = set()
        if chunk.memoized:
            # One C-speed pass finds the names never seen lately; only the others need a closer look.
            new, old = memo.new, memo.old
            misses = [name for name in distinct if name not in new and name not in old and name not in pending]
            memo.judge(len(distinct), len(distinct) - len(misses))
            if len(misses) < len(distinct):
                known, fresh = chunk.known, set(misses)
                for name in distinct:
                    if name in fresh:
                        continue
                    found = memo.get(name)
                    if found is not None:
                        known[name] = found
                    else:
                        waits.add(pending[name])
        else:  # the memo rests: every distinct name of the chunk goes to the model
            misses = list(distinct)
            memo.let_by(len(misses))
        for i in range(0, len(misses), self.job_names):
            part = misses[i : i + self.job_names]
            future = pool.submit(self._classify, part)
            if chunk.memoized:
                pending.update(dict.fromkeys(part, future))
            chunk.jobs.append((future, part))
            waits.add(future)
        chunk.waits = list(waits)
        return chunk

    def _classify(self, names) -> tuple:
        """In a pool thread: ({name: rendered}, texts the model ran) for distinct names."""
        cols = classify(
            self.classifier, names, top_k=self.top_k, threshold=self.threshold,
            other_threshold=self.other_threshold,
        )
        return dict(zip(names, self.format.render(cols))), cols.model_texts

    def _finish(self, chunk: _Chunk) -> None:
        results = chunk.known
        for future in chunk.waits:
            results.update(future.result()[0])
        pending = self.pending
        for future, part in chunk.jobs:
            found, ran = future.result()
            self.model_names += ran
            if chunk.memoized:
                self.memo.add(found)
                # Only this chunk submitted these names, and no later chunk resubmits a pending name.
                deque(map(pending.pop, part), maxlen=0)
        names, status = chunk.names, itemgetter(self.format.status_at)
        if chunk.bad:
            results[None] = self.format.placeholder  # marked bad rows; the format rearranges them
            self.counts[BAD_ROW] += len(chunk.bad)
            self.counts.update(map(status, map(results.__getitem__, [n for n in names if n is not None])))
        else:
            self.counts.update(map(status, map(results.__getitem__, names)))
        self.format.write(chunk.rows, names, results, chunk.bad)
        if self.progress is not None:
            elapsed = time.monotonic() - self.started
            self.progress(Progress(chunk.upto, chunk.position, self.rows.source.size, elapsed))
