"""``nameort batch`` over local processes: a large CSV file cut into byte ranges, one worker process each.

Why processes: on all-distinct names most of a job's time is Python work
(parsing, bookkeeping, formatting, writing) that holds the GIL, so model
threads cannot spread it over the cores; processes can. Each range runs in
a ``worker`` process through ``ranges.classify_range``, the
code the Dask engine's partitions run, and writes its output into an
unlinked temporary file the parent handed it; the parent copies the parts
into the output in input order, so the output is byte for byte the
one-process job's, and a killed job leaves no part behind.

Where to cut: at a line break with an even number of quote characters
before it in the file (``record_starts``). That is a guess (a quote inside an
unquoted field fools it), so a range counts only once its start is
confirmed: the first starts at byte 0, each later one where the previous
range's last record really ended. A range whose last record ran past its end
is run again merged with the next one; an error in a range is the user's
only once every range before it ended where the next began.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from queue import Empty, Queue

from .. import csvio, errors
from .job import Progress
from .ranges import RangeDone, RangeSpec, codecs_for

THREADS = 0  # model threads per worker: 0 runs the model in its one thread (0.88x the time of 1, benchmarks/README.md)
MIN_BYTES = 8 << 20  # smaller inputs run in one process: a worker's start (~0.4 s) would cost more than it saves
SCAN_BLOCK = 1 << 24  # bytes read at a time while counting quotes
QUOTE, NEWLINE = b'"', b"\n"
# The worker imports this very copy of nameort (the parent's, wherever it came from) by its file,
# leaving the child's sys.path alone: a path put first there could shadow the standard library.
BOOT = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('nameort', sys.argv[1], submodule_search_locations=[sys.argv[2]]); "
    "package = sys.modules['nameort'] = importlib.util.module_from_spec(spec); spec.loader.exec_module(package); "
    "from nameort.batch.worker import run; run()"
)
PACKAGE = Path(__file__).resolve().parents[1]  # the nameort package folder
CPU = "CPUExecutionProvider"


def worker_command() -> list:
    """The command line that starts a worker process."""
    return [sys.executable, "-c", BOOT, str(PACKAGE / "__init__.py"), str(PACKAGE)]


def processes_for(split, workers: int, src, input_format: str, fmt: str, size, encoding: str,
                  provider: str = CPU) -> int:
    """How many worker processes a job gets; 1 means the one-process job.

    ``split``: None (automatic: ``workers`` processes for a CSV file of
    ``MIN_BYTES`` or more), True (whatever the size) or False (never). Only
    a regular CSV file read on the CPU is split: standard input cannot be
    cut, a GPU is one device, and Parquet output is one writer. ``provider``:
    the model's; before it is loaded, the CPU is assumed.
    """
    if split is False or workers < 2 or os.name != "posix" or src == csvio.STDIO or size is None:
        return 1
    if input_format != "csv" or fmt not in ("csv", "jsonl") or provider != CPU:
        return 1
    if not codecs_for(encoding)[2] or (split is None and size < MIN_BYTES):
        return 1
    return workers


def start_early(parts: int, model_path, where) -> list:
    """``parts`` worker processes, started before their tasks (see ``_Worker``); none for one part.

    ``model_path``: the model they load while they wait (None: each loads the
    one its task names). Whoever starts them stops them (``stop_all``); a
    ``SplitJob`` given them takes them for its first ranges. When one cannot
    be started (no room for its part file), none is: the job says why later,
    where it opens its output.
    """
    started = []
    try:
        while len(started) < parts > 1:
            started.append(_Worker(where, model_path))
    except OSError:
        stop_all(started)
        return []
    return started


def stop_all(workers: list) -> None:
    for worker in workers:
        worker.stop()


def record_starts(path, size: int, parts: int) -> list:
    """(byte offset, line breaks before it) of each range's start, the first (0, 0); at most ``parts``.

    Each later start is just after the first line break at or past
    ``size * k / parts`` with an even number of quotes before it in the file.
    """
    starts = [(0, 0)]
    quotes = newlines = pos = 0
    with open(path, "rb") as f:
        for k in range(1, parts):
            target = size * k // parts
            while pos < target:  # count up to the target a block at a time
                block = f.read(min(SCAN_BLOCK, target - pos))
                if not block:
                    return starts
                quotes, newlines, pos = quotes + block.count(QUOTE), newlines + block.count(NEWLINE), pos + len(block)
            while True:  # then line by line to the first break with an even count before it
                line = f.readline()
                if not line:
                    return starts
                quotes, newlines, pos = quotes + line.count(QUOTE), newlines + line.count(NEWLINE), pos + len(line)
                if line.endswith(NEWLINE) and quotes % 2 == 0:
                    break
            if pos >= size:
                return starts
            starts.append((pos, newlines))
    return starts


class _Worker:
    """One worker process: started early, then given one byte range to classify into an unlinked temporary file.

    It starts (Python, nameort's imports, the model) while the parent is still
    reading the input's head and loading the model itself: that start, about
    0.4 s, then mostly overlaps the parent's instead of following it.
    """

    def __init__(self, where, model_path: str | None):
        self.part = tempfile.TemporaryFile(dir=where)  # noqa: SIM115  unlinked: nothing to clean up after a kill
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  its stderr, read only if it fails
        self.rows = self.bytes = 0  # its progress so far
        self.result = None  # its last message, or {"crash": exit status}
        self.proc = subprocess.Popen(
            worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            pass_fds=(self.part.fileno(),),
        )
        if model_path is not None:
            self._send({"model": model_path})  # load it now, before the task comes

    def start(self, task: dict, messages: Queue) -> None:
        """Give it its range; its messages go to ``messages`` as ``(worker, None)`` for progress, then the final one."""
        self._send({**task, "out_fd": self.part.fileno()})  # stdin stays open: its end tells the worker to stop
        threading.Thread(target=self._listen, args=(messages,), daemon=True).start()

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:  # it died already: ``_listen`` reports how, from its exit status and stderr
            pass

    def _listen(self, messages: Queue) -> None:
        """In a thread: progress as it comes, then the final message (a crash, when there is none)."""
        last = None
        try:
            for line in self.proc.stdout:
                try:
                    message = json.loads(line)
                except ValueError:  # something else printed to stdout in the worker: not ours
                    continue
                if "rows" in message:
                    self.rows, self.bytes = message["rows"], message["bytes"]
                    messages.put((self, None))
                else:
                    last = message
        finally:  # whatever happened, the parent hears of this worker's end
            self.proc.wait()
            messages.put((self, last if last is not None else {"crash": self.proc.returncode}))

    def outcome(self):
        """A ``RangeDone`` (``overran`` included), or the exception the parent raises for it."""
        result = self.result
        if "done" in result:
            return RangeDone(**result["done"])
        if "error" in result:
            kind, message = result["error"]
            return getattr(errors, kind, errors.NameortError)(message)
        if "oserror" in result:
            return OSError(*result["oserror"])
        self.log.seek(0)
        tail = self.log.read().decode("utf-8", "replace").strip().splitlines()
        why = tail[-1] if tail else f"exit status {result['crash']}"
        return RuntimeError(f"a nameort batch worker process failed: {why}")

    def copy_to(self, binary) -> None:
        self.part.seek(0)
        shutil.copyfileobj(self.part, binary, 1 << 20)

    def stop(self) -> None:
        """End the process if it still runs, and close its files (the part file goes away)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.part, self.log):
            try:
                f.close()
            except OSError:
                pass


class SplitJob:
    """A CSV file's byte ranges on worker processes; ``run(out)`` writes the whole output and returns the counts."""

    def __init__(self, spec: RangeSpec, src, model_path, size: int, parts: int, *, memo_size: int,
                 progress=None, started=None, where=None, ready=()):
        self.spec, self.src, self.model_path, self.size = spec, str(Path(src).resolve()), str(model_path), size
        self.parts, self.memo_size = parts, memo_size
        self.progress, self.started = progress, time.monotonic() if started is None else started
        self.where = where  # folder for the temporary parts (the output's); None: the system's
        self.ready = list(ready)  # workers started early (``start_early``), waiting for a range
        self.count = self.skipped = self.model_names = 0  # rows, bad rows skipped, texts the model ran
        self.counts = Counter()  # rows per status
        self.ranges = 0  # ranges written
        self.remerged = 0  # ranges run again merged with the next (a cut inside a record)

    def run(self, out) -> Counter:
        """Every range's output into ``out`` (the text stream the one-process job would write), in order."""
        starts = record_starts(self.src, self.size, self.parts)
        bounds = [offset for offset, _ in starts]
        ends = bounds[1:] + [self.size]
        messages = Queue()
        running = {}  # index of a range's start -> (index of the start past its end, _Worker)

        def launch(i, j):
            task = {"spec": asdict(self.spec), "model": self.model_path, "path": self.src, "memo_size": self.memo_size,
                    "start": bounds[i], "end": ends[j - 1], "final": j == len(bounds), "line_offset": starts[i][1],
                    "threads": THREADS}
            worker = self.ready.pop(0) if self.ready else _Worker(self.where, None)
            worker.start(task, messages)
            running[i] = (j, worker)

        out.flush()
        binary = out.buffer
        try:
            for i in range(len(bounds)):
                launch(i, i + 1)
            pos = 0  # the next range to write: its start is a confirmed record boundary
            while pos < len(bounds):
                j, worker = running[pos]
                if worker.result is None:
                    self._wait(messages, running, bounds[pos])
                    continue
                outcome = worker.outcome()
                if isinstance(outcome, Exception):
                    raise outcome
                del running[pos]
                if outcome.overran:  # its last record runs on into the next range: run both as one
                    worker.stop()
                    self.remerged += 1
                    if j in running:
                        running.pop(j)[1].stop()
                    launch(pos, j + 1)
                    continue
                worker.copy_to(binary)
                worker.stop()
                self.count += outcome.rows
                self.skipped += outcome.skipped
                self.counts.update(outcome.counts)
                self.model_names += outcome.model_names
                self.ranges += 1
                pos = j
            binary.flush()
        finally:
            stop_all([worker for _, worker in running.values()] + self.ready)
        return self.counts

    def _wait(self, messages: Queue, running: dict, written_bytes: int) -> None:
        """Take the workers' messages for a moment: keep final ones, report progress."""
        try:
            worker, final = messages.get(timeout=0.5)
        except Empty:
            return
        if final is not None:
            worker.result = final
        if self.progress is not None:
            workers = [w for _, w in running.values()]
            rows = self.count + sum(w.rows for w in workers)
            done = written_bytes + sum(w.bytes for w in workers)
            self.progress(Progress(rows, done, self.size, time.monotonic() - self.started))
