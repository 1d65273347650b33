"""Pass two, in a task on a worker: one partition's byte range through ``nameort.batch``'s own pipeline.

A task reads bytes [start, end) of the input and runs them through
``nameort.batch.ranges.classify_range`` (the csv module, ``batch.Job`` and
the job's format, as every engine that splits a file does), and returns
the output bytes, or writes them to a part file and returns its path. A range
whose last record is still open at its end comes back ``overran`` instead:
its start may be right, its end is not, so the job runs it again merged with
the next. Errors meant for the user are returned in the result, not raised,
so the worker does not log them; the job decides whether they count.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field

import fsspec

from .. import batch
from ..batch import ranges
from ..batch.ranges import RangeSpec
from ..errors import NameortError
from .messages import unreadable
from .models import ModelRef, cached_classifier


@dataclass(frozen=True)
class Plan:
    """Everything a partition task needs besides its byte range; small, sent with every task."""

    url: str
    spec: RangeSpec  # how to read the file and what to write, as every range of the job shares it
    memo_size: int
    model: ModelRef


@dataclass
class PartResult:
    """What a partition task returns: its output (or part file), its counts, or why it could not be used."""

    data: bytes | None  # the partition's output (single_file=True)
    path: str | None  # or where the task wrote it (single_file=False)
    rows: int = 0
    skipped: int = 0
    counts: dict = field(default_factory=dict)
    model_names: int = 0
    overran: bool = False  # its last record did not end at its byte range's end: merge and rerun
    timings: dict = field(default_factory=dict)
    error: Exception | None = None  # a NameortError for the user (returned, not raised: no worker log noise)


_memos: dict = {}  # (thread, model, format options) -> batch.Memo, in this process
_memos_lock = threading.Lock()


def _memo_for(plan: Plan):
    """A ``batch.Memo`` kept across this thread's partitions: names repeat across partitions as within them.

    Its entries are rendered results, so it is keyed by everything that shapes
    them; one per thread, so concurrent tasks never share one.
    """
    spec = plan.spec
    key = (threading.get_ident(), plan.model.key, spec.fmt, spec.top_k, spec.threshold, spec.other_threshold,
           spec.probabilities, plan.memo_size)
    memo = _memos.get(key)
    if memo is None:
        with _memos_lock:
            for old in [k for k in _memos if k[0] == key[0]]:  # one memo per thread: the latest job's
                del _memos[old]
            memo = _memos[key] = batch.Memo(plan.memo_size)
    return memo


class _TimedModel:
    """The classifier as ``batch.Job`` uses it, adding up the seconds spent running the model."""

    def __init__(self, clf):
        self.clf, self.seconds = clf, 0.0

    def __getattr__(self, name):  # everything else is the classifier's own
        return getattr(self.clf, name)

    def probabilities(self, texts, **kwargs):
        t = time.perf_counter()
        try:
            return self.clf.probabilities(texts, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t


def classify_range(plan: Plan, start: int, end: int, final: bool, line_offset: int, part_path):
    """Pass two, in a task: bytes [start, end) of the input through ``nameort.batch``'s own pipeline.

    Errors meant for the user come back in the result rather than raised, so
    the worker does not log them as failures; the client decides whether they
    count (only for a partition whose start is confirmed).
    """
    try:
        return _classify_range(plan, start, end, final, line_offset, part_path)
    except NameortError as exc:
        return PartResult(None, None, error=exc)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        return PartResult(None, None, error=unreadable(plan.spec.name, exc))


def _classify_range(plan: Plan, start: int, end: int, final: bool, line_offset: int, part_path):
    batch.allow_long_fields()  # the limit is per process: a worker must accept what `nameort batch` accepts
    t0 = time.perf_counter()
    clf = cached_classifier(plan.model)
    t1 = time.perf_counter()
    fs, path = fsspec.core.url_to_fs(plan.url)
    raw = fs.cat_file(path, start=start, end=end)
    t2 = time.perf_counter()
    model = _TimedModel(clf)
    out = io.StringIO(newline="")
    done = ranges.classify_range(
        plan.spec, model, io.BytesIO(raw), out, first=start == 0, final=final, line_offset=line_offset,
        with_header=start == 0 or part_path is not None,  # part files each get the header; one file, once
        memo=_memo_for(plan),  # carried over from this thread's earlier partitions of the same job kind
    )
    if done.overran:
        return PartResult(None, None, overran=True)
    t3 = time.perf_counter()
    data = out.getvalue().encode("utf-8")
    del out
    t4 = time.perf_counter()
    written = None
    if part_path is not None:
        pfs, ppath = fsspec.core.url_to_fs(part_path)
        with pfs.open(ppath, "wb") as f:
            f.write(data)
        data, written = None, part_path
    t5 = time.perf_counter()
    timings = {
        "load_model": t1 - t0, "read": t2 - t1, "parse_classify_format": t3 - t2 - model.seconds,
        "model": model.seconds, "encode": t4 - t3, "write_part": t5 - t4,
    }
    return PartResult(
        data, written, rows=done.rows, skipped=done.skipped, counts=done.counts,
        model_names=done.model_names, timings=timings,
    )
