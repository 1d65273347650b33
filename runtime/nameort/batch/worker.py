"""One worker process of a split batch job, started by ``processes`` (``run`` is its entry point).

It is started before the parent knows its task, so that starting Python,
importing nameort and loading the model happen while the parent is still
getting ready. On stdin it may first get ``{"model": path}``, a model to load
now; then its task (one JSON line, with the model again). It classifies bytes [start, end)
of the input through ``ranges.classify_range`` into the file descriptor the
parent handed it (an unlinked temporary file), and reports on stdout, one
JSON object per line: ``{"rows": ..., "bytes": ...}`` as it goes, then one of
``{"done": {...}}``, ``{"error": [kind, message]}`` (a ``NameortError``) or
``{"oserror": [errno, strerror]}`` (writing its part failed).

When the parent goes away its end of stdin closes; the worker then exits at
once, so a killed job leaves no process behind (and its part files were
never linked into any folder).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import warnings
from dataclasses import asdict

WRITE_BUFFER = 1 << 16


def main() -> int:
    warnings.simplefilter("ignore")  # the parent loads the same model and shows its warnings
    from ..classifier import Classifier
    from ..errors import InputError, NameortError
    from . import allow_long_fields
    from .memo import Memo
    from .ranges import ByteRange, RangeSpec, classify_range

    def load(model: str):
        """The model on the CPU with one thread, or the ``NameortError`` loading it raised (reported with the task)."""
        try:
            return Classifier.load(model, device="cpu", threads=1)
        except NameortError as exc:
            return exc

    loaded = {}  # model path -> what ``load`` gave
    while True:
        line = sys.stdin.readline()
        if not line:  # the parent went away, or did not need this worker after all
            return 0
        task = json.loads(line)
        if task.keys() == {"model"}:
            loaded[task["model"]] = load(task["model"])
        else:
            break
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    spec = task["spec"]
    spec = RangeSpec(**{**spec, "header": tuple(spec["header"]) if spec["header"] is not None else None})
    allow_long_fields()
    try:
        classifier = loaded[task["model"]] if task["model"] in loaded else load(task["model"])
        if isinstance(classifier, NameortError):
            raise classifier
        try:
            binary = open(task["path"], "rb", buffering=0)  # noqa: SIM115  closed by the with below
        except OSError as exc:  # the input went away since the parent read its head
            raise InputError(f"cannot read {spec.name}: {exc.strerror or exc}") from None
        with binary, open(task["out_fd"], "w", encoding="utf-8", newline="", buffering=WRITE_BUFFER) as out:
            done = classify_range(
                spec, classifier, ByteRange(binary, task["start"], task["end"]), out,
                first=task["start"] == 0, final=task["final"], line_offset=task["line_offset"],
                with_header=task["start"] == 0, memo=Memo(task["memo_size"]), workers=task["threads"],
                progress=lambda p: _report({"rows": p.rows, "bytes": p.bytes_read}),
            )
    except NameortError as exc:
        _report({"error": [type(exc).__name__, str(exc)]})
        return 0
    except OSError as exc:  # the part file could not be written (a full disk): the parent names its output
        _report({"oserror": [exc.errno, exc.strerror or str(exc)]})
        return 0
    _report({"done": asdict(done)})
    return 0


def _report(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _exit_with_parent() -> None:
    """Block on stdin; its end means the parent is gone (or gave up on this worker): stop now."""
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(3)


def run() -> None:
    """The process's entry point: ``main``, then straight out."""
    try:
        status = main()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent reports it
        status = 130
    # Straight out, without the interpreter's shutdown: the thread watching stdin is still blocked
    # reading it, and finalizing under it aborts the process. Everything was written and flushed.
    os._exit(status)


if __name__ == "__main__":
    run()
