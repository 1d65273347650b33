"""``nameort batch`` over local processes: a large CSV file cut into byte ranges, shared out to worker processes.

Why processes: on all-distinct names most of a job's time is Python work
(parsing, bookkeeping, formatting, writing) that holds the GIL, so model
threads cannot spread it over the cores; processes can. Each range runs in
a ``worker`` process through ``ranges.classify_range``, the code the Dask
engine's partitions run. A worker takes one range at a time, as many as it
gets through, and writes their outputs one after another into an unlinked
temporary file the parent handed it; the parent copies each range's bytes
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

import errno
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import asdict
from pathlib import Path
from queue import Empty, Queue

from .. import csvio, errors
from ..sessions import CPU
from .job import Progress
from .ranges import RangeDone, RangeSpec, codecs_for

THREADS = 0  # model threads per worker: 0 runs the model in its one thread (0.88x the time of 1, benchmarks/README.md)
RANGES_PER_WORKER = 8  # ranges a file is cut into, per worker: the last to end waits for at most one small one
COPY_BLOCK = 1 << 20
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
    if parts < 2:
        return []
    started, messages = [], Queue()
    try:
        for _ in range(parts):
            started.append(_Worker(where, model_path, messages))
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
    """One worker process: started early, then given byte ranges one at a time.

    It starts (Python, nameort's imports, the model) while the parent is still
    reading the input's head and loading the model itself: that start, about
    0.4 s, then overlaps the parent's instead of following it (on two cores
    only in part: 0.98x the time of a whole run, benchmarks/README.md). Its
    ranges' outputs go one after another into one unlinked temporary file
    (``part``); each range's report says where its bytes are in it.
    """

    def __init__(self, where, model_path: str | None, messages: Queue):
        self.part = tempfile.TemporaryFile(dir=where)  # noqa: SIM115  unlinked: nothing to clean up after a kill
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  its stderr, read only if it fails
        self.task = None  # (first, past) range indices of the range it runs now; None: idle
        self.rows = self.bytes = 0  # its progress in that range
        self.stopped = False
        self.messages = messages
        self.proc = subprocess.Popen(
            worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            pass_fds=(self.part.fileno(),),
        )
        if model_path is not None:
            self._send({"model": model_path})  # load it now, before the first range comes
        threading.Thread(target=self._listen, args=(messages,), daemon=True).start()

    def give(self, task: tuple, message: dict) -> None:
        """Run the range ``task`` (its first and past range indices), described by ``message``."""
        self.task, self.rows, self.bytes = task, 0, 0
        self._send({**message, "out_fd": self.part.fileno()})  # stdin stays open: its end tells the worker to stop

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:  # it died already: ``_listen`` reports how, from its exit status and stderr
            pass

    def _listen(self, messages: Queue) -> None:
        """In a thread: ``(worker, None)`` for progress, ``(worker, message)`` for each range's end, then its exit."""
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
                    messages.put((self, message))
        finally:  # whatever happened, the parent hears of this worker's end, and why from its stderr
            self.proc.wait()
            messages.put((self, {"crash": self.proc.returncode, "why": self._last_words()}))

    def _last_words(self) -> str:
        try:
            with open(self.log.fileno(), "rb", closefd=False) as log:
                log.seek(0)
                tail = log.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):  # stopped here: nobody asks
            return ""
        return tail[-1] if tail else f"exit status {self.proc.returncode}"

    def outcome(self, message: dict):
        """A range's ``RangeDone`` (``overran`` included), or the exception the parent raises for it."""
        if "done" in message:
            return RangeDone(**message["done"])
        if "error" in message:
            kind, text = message["error"]
            return getattr(errors, kind, errors.NameortError)(text)
        if "oserror" in message:
            return OSError(*message["oserror"])
        return RuntimeError(f"a nameort batch worker process failed: {message['why']}")

    def copy_to(self, binary, start: int, end: int) -> None:
        """Bytes [start, end) of its part file into ``binary``.

        Read with ``pread``: the worker's descriptor shares the file offset with
        this one, and it may be appending its next range right now.
        """
        fd = self.part.fileno()
        while start < end:
            block = os.pread(fd, min(COPY_BLOCK, end - start), start)
            if not block:
                raise OSError(errno.EIO, "a worker's part file is shorter than it said")
            binary.write(block)
            start += len(block)

    def stop(self) -> None:
        """End the process if it still runs, and close its files (the part file goes away)."""
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.part, self.log):
            try:
                f.close()
            except OSError:
                pass


class _Ranges:
    """The byte ranges of one file: which are still to give out, and how far each reaches after merges."""

    def __init__(self, starts: list, size: int):
        self.bounds = [offset for offset, _ in starts]
        self.lines_before = [lines for _, lines in starts]
        self.ends = self.bounds[1:] + [size]
        self.past = {i: i + 1 for i in range(len(starts))}  # a range's first index -> the index past its last
        self.todo = deque(range(len(starts)))  # ranges not given out yet, by first index, in order

    def __len__(self) -> int:
        return len(self.bounds)

    def take(self) -> tuple:
        """The next range to give out: (first, past) indices."""
        i = self.todo.popleft()
        return i, self.past[i]

    def wanted(self, task: tuple) -> bool:
        """Is ``task``'s range still one to write (not merged into another since it was given out)?"""
        return self.past.get(task[0]) == task[1]

    def merge_next(self, i: int) -> None:
        """Range ``i`` ran past its end: it takes in the next one and goes first in line again."""
        j = self.past[i]
        self.past[i] = self.past.pop(j)
        if j in self.todo:
            self.todo.remove(j)
        self.todo.appendleft(i)

    def size_of(self, i: int) -> int:
        return self.ends[self.past[i] - 1] - self.bounds[i]


class SplitJob:
    """A CSV file's byte ranges on worker processes; ``run(out)`` writes the whole output and returns the counts.

    The file is cut into ``RANGES_PER_WORKER`` ranges per worker, and a worker
    that is done takes the next range not yet given out: a worker on a slower
    core (a busy neighbour on a shared host) does fewer ranges instead of
    holding up the end.
    """

    def __init__(self, spec: RangeSpec, src, model_path, size: int, parts: int, *, memo_size: int,
                 progress=None, started=None, where=None, ready=()):
        self.spec, self.src, self.model_path, self.size = spec, str(Path(src).resolve()), str(model_path), size
        self.parts, self.memo_size = parts, memo_size  # parts: worker processes
        self.progress, self.started = progress, time.monotonic() if started is None else started
        self.where = where  # folder for the temporary parts (the output's); None: the system's
        self.workers = list(ready)  # started early (``start_early``), all reporting to one queue
        self.messages = self.workers[0].messages if self.workers else Queue()
        self.spawned = 0  # workers started here
        self.results = {}  # a range's first index -> (worker, final message), for ranges done but not written
        self.count = self.skipped = self.model_names = 0  # rows, bad rows skipped, texts the model ran
        self.counts = Counter()  # rows per status
        self.ranges = 0  # ranges written
        self.remerged = 0  # ranges run again merged with the next (a cut inside a record)

    def run(self, out) -> Counter:
        """Every range's output into ``out`` (the text stream the one-process job would write), in order."""
        ranges = _Ranges(record_starts(self.src, self.size, self.parts * RANGES_PER_WORKER), self.size)
        out.flush()
        binary = out.buffer
        try:
            self._give_out(ranges)
            pos = 0  # the next range to write: its start is a confirmed record boundary
            while pos < len(ranges):
                if pos not in self.results:
                    self._take(ranges)
                    self._report(ranges, pos)
                    continue
                worker, message = self.results.pop(pos)
                outcome = worker.outcome(message)
                if isinstance(outcome, Exception):
                    raise outcome
                if outcome.overran:  # its last record runs on into the next range: run both as one
                    self.remerged += 1
                    self.results.pop(ranges.past[pos], None)  # what the next range did no longer counts
                    ranges.merge_next(pos)
                    self._give_out(ranges)
                    continue
                worker.copy_to(binary, *message["part"])
                self.count += outcome.rows
                self.skipped += outcome.skipped
                self.counts.update(outcome.counts)
                self.model_names += outcome.model_names
                self.ranges += 1
                pos = ranges.past[pos]
            binary.flush()
        finally:
            stop_all(self.workers)
        return self.counts

    def _give_out(self, ranges: _Ranges) -> None:
        """The next ranges to the idle workers, starting workers in place of any that died."""
        alive = [w for w in self.workers if not w.stopped and w.proc.poll() is None]
        while ranges.todo and len(alive) < self.parts and self.spawned < len(ranges) + self.parts:
            alive.append(_Worker(self.where, self.model_path, self.messages))
            self.workers.append(alive[-1])
            self.spawned += 1
        if ranges.todo and not alive:
            raise RuntimeError("the nameort batch worker processes keep failing")
        for worker in alive:
            if not ranges.todo:
                break
            if worker.task is None:
                i, j = task = ranges.take()
                worker.give(task, {
                    "spec": asdict(self.spec), "model": self.model_path, "path": self.src, "memo_size": self.memo_size,
                    "start": ranges.bounds[i], "end": ranges.ends[j - 1], "final": j == len(ranges),
                    "line_offset": ranges.lines_before[i], "threads": THREADS,
                })

    def _take(self, ranges: _Ranges) -> None:
        """Take the workers' messages for a moment: keep the ranges' ends, and give out more ranges."""
        try:
            worker, message = self.messages.get(timeout=0.5)
        except Empty:
            return
        if message is None or worker.stopped:  # progress, or the end of a worker stopped here
            return
        task, worker.task = worker.task, None
        if task is not None and ranges.wanted(task):
            self.results[task[0]] = (worker, message)
        self._give_out(ranges)  # to this worker, or (it crashed) to one started in its place

    def _report(self, ranges: _Ranges, pos: int) -> None:
        """Progress: rows and bytes written, done but not written yet, and read by the busy workers."""
        if self.progress is None:
            return
        busy = [w for w in self.workers if w.task is not None]
        rows = self.count + sum(w.rows for w in busy)
        rows += sum(m["done"]["rows"] for _, m in self.results.values() if "done" in m)
        done = ranges.bounds[pos] + sum(w.bytes for w in busy) + sum(map(ranges.size_of, self.results))
        self.progress(Progress(rows, done, self.size, time.monotonic() - self.started))
