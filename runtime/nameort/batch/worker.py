"""One worker process of a split batch job, started by ``processes`` (``run`` is its entry point).

It is started before the parent knows its work, so that starting Python,
importing nameort and loading the model happen while the parent is still
getting ready. Its stdin brings JSON lines: ``{"model": path}``, a model to
load now; then its ranges, one at a time (a range's task names the model
again). For each it classifies bytes [start, end) of the input through
``ranges.classify_range``, appending the output to the file descriptor the
parent handed it (an unlinked temporary file), and reports on stdout, one
JSON object per line: ``{"rows": ..., "bytes": ...}`` as it goes, then one of
``{"done": {...}, "part": [start, end]}`` (where the range's output is in the
file), ``{"error": [kind, message]}`` (a ``NameortError``) or
``{"oserror": [errno, strerror]}`` (writing its output failed).

When the parent goes away, or has no more work for it, its end of stdin
closes; the worker then exits at once, so a killed job leaves no process
behind (and its part file was never linked into any folder).
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import warnings
from dataclasses import asdict

from ..errors import InputError, NameortError

WRITE_BUFFER = 1 << 16


def main() -> None:
    """Load the models named, run the ranges given, one at a time, until stdin ends (see ``_read_tasks``)."""
    warnings.simplefilter("ignore")  # the parent loads the same model and shows its warnings
    from ..classifier import Classifier
    from . import allow_long_fields
    from .memo import Memo

    def load(model: str):
        """The model on the CPU with one thread, or the ``NameortError`` loading it raised (reported with a range)."""
        try:
            return Classifier.load(model, device="cpu", threads=1)
        except NameortError as exc:
            return exc

    allow_long_fields()
    tasks = queue.Queue()
    busy = threading.Event()  # set while a range runs
    threading.Thread(target=_read_tasks, args=(tasks, busy), daemon=True).start()
    loaded = {}  # model path -> what ``load`` gave
    memo = None  # carried from range to range, as through one file
    while True:
        task = tasks.get()
        if task.keys() == {"model"}:
            loaded[task["model"]] = load(task["model"])
            continue
        busy.set()
        if task["model"] not in loaded:
            loaded[task["model"]] = load(task["model"])
        if memo is None:
            memo = Memo(task["memo_size"])
        report = _run_range(task, loaded[task["model"]], memo)
        busy.clear()  # before the report: once the parent has it, it may close stdin at any time
        _report(report)


def _run_range(task: dict, classifier, memo) -> dict:
    """Classify the task's byte range, appending its output to the task's file descriptor; the report."""
    from .ranges import ByteRange, RangeSpec, classify_range

    spec = task["spec"]
    spec = RangeSpec(**{**spec, "header": tuple(spec["header"]) if spec["header"] is not None else None})
    fd = task["out_fd"]
    try:
        if isinstance(classifier, NameortError):
            raise classifier
        try:
            binary = open(task["path"], "rb", buffering=0)  # noqa: SIM115  closed by the with below
        except OSError as exc:  # the input went away since the parent read its head
            raise InputError(f"cannot read {spec.name}: {exc.strerror or exc}") from None
        start = os.lseek(fd, 0, os.SEEK_CUR)
        with binary, open(fd, "w", encoding="utf-8", newline="", buffering=WRITE_BUFFER, closefd=False) as out:
            done = classify_range(
                spec, classifier, ByteRange(binary, task["start"], task["end"]), out,
                first=task["start"] == 0, final=task["final"], line_offset=task["line_offset"],
                with_header=task["start"] == 0, memo=memo, workers=task["threads"],
                progress=lambda p: _report({"rows": p.rows, "bytes": p.bytes_read}),
            )
        return {"done": asdict(done), "part": [start, os.lseek(fd, 0, os.SEEK_CUR)]}
    except NameortError as exc:
        return {"error": [type(exc).__name__, str(exc)]}
    except OSError as exc:  # the part file could not be written (a full disk): the parent names its output
        return {"oserror": [exc.errno, exc.strerror or str(exc)]}


def _read_tasks(tasks: queue.Queue, busy: threading.Event) -> None:
    """In a thread: stdin's lines to ``tasks``; at its end, exit: 3 in the middle of a range, else 0."""
    try:
        for line in sys.stdin:
            tasks.put(json.loads(line))
    finally:
        os._exit(3 if busy.is_set() else 0)


def _report(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run() -> None:
    """The process's entry point: ``main``, which ends only by ``os._exit`` (stdin's end) or Ctrl-C."""
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent reports it
        # Straight out, without the interpreter's shutdown: the thread reading stdin is still
        # blocked there, and finalizing under it aborts the process.
        os._exit(130)


if __name__ == "__main__":
    run()
