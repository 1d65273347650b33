"""``nameort batch`` over worker processes (``split``): the same bytes, errors and counts as one process."""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from nameort import csvio
from nameort.batch import classify_csv, processes
from nameort.batch.processes import MIN_BYTES, processes_for, record_starts
from nameort.errors import InputError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="worker processes are POSIX-only (elsewhere: one process)")


def write_rows(path, rows, encoding="utf-8", **kwargs):
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f, **kwargs).writerows(rows)
    return path


def people(n, seed=0):
    """``n`` rows with every awkward field the csv module can write: quotes, commas, line breaks, empties."""
    rng = random.Random(seed)
    names = ["Rossi", "Schmidt", "Müller", "O'Brien, Jr", "", "NA", "  ", "Nguyễn", "ROSSI", "de Luca", "李"]
    notes = ["", 'said "hi", left', "two\nlines", "crlf\r\ninside", "plain", '"', "a,b,c"]
    rows = [["id", "surname", "note", "city"]]
    for i in range(n):
        name = rng.choice(names) + ("" if i % 3 else rng.choice("abcdefgh") * rng.randrange(1, 4))
        rows.append([str(i), name, rng.choice(notes), rng.choice(["Roma", "New York, NY", ""])])
    return rows


def both(src, tmp_path, suffix=".csv", column="surname", **options):
    """(one-process output bytes, summary), (split output bytes, summary) for the same job."""
    results = []
    for split in (False, True):
        dst = tmp_path / f"out-{split}{suffix}"
        summary = classify_csv(src, dst, column, split=split, **options)
        results.append((dst.read_bytes(), summary))
    return results


def errors_both_ways(src, tmp_path, workers):
    """The InputError messages of the one-process job and of the split one, for an input that has one."""
    messages = []
    for split in (False, True):
        with pytest.raises(InputError) as err:
            classify_csv(src, tmp_path / "out.csv", "surname", workers=workers, split=split)
        messages.append(str(err.value))
    return messages


@pytest.mark.parametrize("workers", [2, 3, 7])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_split_output_is_byte_for_byte_one_process(tmp_path, workers, suffix):
    src = write_rows(tmp_path / "people.csv", people(3000))
    (one, s1), (many, s2) = both(src, tmp_path, suffix, workers=workers, top_k=2, probabilities=True)
    assert many == one
    assert (s2.rows, s2.written, s2.skipped, s2.statuses) == (s1.rows, s1.written, s1.skipped, s1.statuses)
    assert s2.rows == 3000


def test_crlf_bom_tabs_and_no_header(tmp_path):
    rows = people(1500, seed=1)[1:]
    src = tmp_path / "people.tsv"
    with open(src, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\r\n").writerows(rows)
    (one, s1), (many, s2) = both(src, tmp_path, column=2, header=False, workers=3)
    assert many == one and s2.rows == 1500
    assert one.count(b"\r\n") >= 1500 and b"\xef\xbb\xbf" not in one


def test_a_single_byte_encoding_splits_too(tmp_path):
    src = write_rows(tmp_path / "latin1.csv", [["id", "surname"]] + [[str(i), "Müller" if i % 2 else "Rossi"]
                                                                       for i in range(2000)], encoding="latin-1")
    (one, _), (many, s2) = both(src, tmp_path, encoding="latin-1", workers=2)
    assert many == one and s2.rows == 2000


def test_a_cut_inside_a_quoted_record_is_run_again_merged(tmp_path, monkeypatch):
    # A stray quote in an unquoted field (5'11") flips the quote count the cuts are guessed from,
    # so the guessed cuts fall inside the long multi-line notes that follow.
    lines = ["id,surname,height,note\n", "0,Rossi,5'11\",\n"]
    lines += [f'{i},Schmidt,,"{"line" + chr(10)}' + "line\n" * 39 + '"\n' for i in range(1, 400)]
    src = tmp_path / "tricky.csv"
    src.write_text("".join(lines), encoding="utf-8", newline="")
    data = src.read_bytes()
    starts = record_starts(src, len(data), 4)
    assert len(starts) == 4
    assert not any(data[:offset].endswith(b'"\n') for offset, _ in starts[1:])  # no guess is a record start
    jobs, run = [], processes.SplitJob.run
    monkeypatch.setattr(processes.SplitJob, "run", lambda self, out: jobs.append(self) or run(self, out))
    monkeypatch.setattr(processes, "RANGES_PER_WORKER", 1)  # the 4 ranges above
    (one, s1), (many, s2) = both(src, tmp_path, workers=4)
    assert many == one and s2.rows == s1.rows == 400
    assert jobs[0].remerged == 3 and jobs[0].ranges == 1  # every range ran into the next: one range in the end


def test_cuts_inside_records_with_many_ranges_per_worker(tmp_path, monkeypatch):
    # The same trap with 8 ranges per worker: ranges other workers are running or have done get
    # merged away while the job goes on; what they did is dropped, and the bytes are still one process's.
    lines = ["id,surname,height,note\n", "0,Rossi,5'11\",\n"]
    lines += [f'{i},Schmidt{i},,"' + "line\n" * (i % 7 * 9) + '"\n' for i in range(1, 3000)]
    src = tmp_path / "tricky.csv"
    src.write_text("".join(lines), encoding="utf-8", newline="")
    jobs, run = [], processes.SplitJob.run
    monkeypatch.setattr(processes.SplitJob, "run", lambda self, out: jobs.append(self) or run(self, out))
    (one, s1), (many, s2) = both(src, tmp_path, workers=3)
    assert many == one and s2.rows == s1.rows == 3000
    assert jobs[0].remerged > 0 and jobs[0].ranges + jobs[0].remerged == 3 * processes.RANGES_PER_WORKER


def test_record_starts_follow_line_breaks_outside_quotes(tmp_path):
    src = write_rows(tmp_path / "in.csv", [["a", "b"]] + [[str(i), "x\ny" if i % 2 else "z"] for i in range(100)])
    data = src.read_bytes()
    starts = record_starts(src, len(data), 5)
    assert starts[0] == (0, 0) and len(starts) == 5
    for offset, newlines in starts[1:]:
        assert data[offset - 1: offset] == b"\n" and data[:offset].count(b'"') % 2 == 0
        assert data[:offset].count(b"\n") == newlines
    assert [o for o, _ in starts] == sorted({o for o, _ in starts})
    assert record_starts(src, len(data), 1000)[-1][0] < len(data)  # never a range that starts at the end


@pytest.mark.parametrize("on_bad_rows", ["skip", "mark"])
def test_bad_rows_in_every_range_are_counted_alike(tmp_path, on_bad_rows):
    rows = people(2000, seed=2)
    for i in (5, 700, 1400, 1999):
        rows[i] = rows[i] + ["extra"]
    src = write_rows(tmp_path / "bad.csv", rows)
    (one, s1), (many, s2) = both(src, tmp_path, workers=3, on_bad_rows=on_bad_rows)
    assert many == one
    assert (s2.rows, s2.skipped, s2.statuses) == (s1.rows, s1.skipped, s1.statuses)
    assert s2.skipped == (4 if on_bad_rows == "skip" else 0)


def test_an_error_late_in_the_file_has_the_one_process_message(tmp_path):
    rows = people(3000, seed=3)
    rows[2500] = rows[2500][:2]
    src = write_rows(tmp_path / "bad.csv", rows)
    messages = errors_both_ways(src, tmp_path, workers=3)
    assert messages[0] == messages[1] and "2 fields where the header has 4" in messages[0]
    assert not (tmp_path / "out.csv").exists()
    assert [p for p in tmp_path.iterdir() if p.name.endswith(csvio.TEMP_SUFFIX)] == []


def test_a_decode_error_late_in_the_file_names_its_line(tmp_path):
    src = write_rows(tmp_path / "in.csv", [["id", "surname"]] + [[str(i), "Rossi"] for i in range(3000)])
    with open(src, "ab") as f:
        f.write(b"3000,M\xfcller\n")
    messages = errors_both_ways(src, tmp_path, workers=2)
    assert messages[0] == messages[1] and "line 3002" in messages[0]


def test_progress_reaches_every_row(tmp_path):
    src = write_rows(tmp_path / "in.csv", people(20000, seed=4))
    seen = []
    summary = classify_csv(src, tmp_path / "out.csv", "surname", workers=2, split=True, batch_size=500,
                           progress=seen.append)
    assert summary.rows == 20000
    assert seen and all(0 < p.rows <= 20000 and p.total_bytes == src.stat().st_size for p in seen)
    assert [p.rows for p in seen] == sorted(p.rows for p in seen)


def test_when_a_job_is_split(tmp_path):
    src = write_rows(tmp_path / "in.csv", [["a"], ["b"]])
    cpu = "CPUExecutionProvider"
    assert processes_for(None, 2, src, "csv", "csv", MIN_BYTES, "utf-8", cpu) == 2
    assert processes_for(None, 4, src, "csv", "jsonl", MIN_BYTES, "cp1252", cpu) == 4
    assert processes_for(None, 2, src, "csv", "csv", MIN_BYTES - 1, "utf-8", cpu) == 1  # small: one process
    assert processes_for(True, 2, src, "csv", "csv", 10, "utf-8", cpu) == 2
    assert processes_for(False, 2, src, "csv", "csv", MIN_BYTES, "utf-8", cpu) == 1
    assert processes_for(None, 1, src, "csv", "csv", MIN_BYTES, "utf-8", cpu) == 1  # --workers 1
    assert processes_for(True, 2, csvio.STDIO, "csv", "csv", None, "utf-8", cpu) == 1  # stdin cannot be cut
    assert processes_for(True, 2, src, "parquet", "csv", MIN_BYTES, "utf-8", cpu) == 1
    assert processes_for(True, 2, src, "csv", "parquet", MIN_BYTES, "utf-8", cpu) == 1
    assert processes_for(True, 2, src, "csv", "csv", MIN_BYTES, "utf-16", cpu) == 1  # not cut at b"\n"
    assert processes_for(True, 2, src, "csv", "csv", MIN_BYTES, "utf-8", "CUDAExecutionProvider") == 1


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    """400,000 rows of distinct made-up names: a split job runs for a few seconds."""
    rng = random.Random(5)
    path = tmp_path_factory.mktemp("big") / "big.csv"
    letters = "abcdefghijklmnopqrstuvwxyz"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,name,city\n")
        f.writelines(f"{i},{rng.choice('BCDFGKLMRS')}{''.join(rng.choices(letters, k=9))},Roma\n" for i in range(400_000))
    return path


def workers_of(pid):
    """PIDs of the worker processes ``pid`` started (its children running nameort.batch.worker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if ppid == pid and b"nameort.batch.worker" in cmdline:  # in its boot code
            found.append(int(entry))
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers through /proc")
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGKILL, -9)], ids=["INT", "KILL"])
def test_a_killed_split_job_leaves_no_output_no_parts_and_no_workers(tmp_path, big_csv, signum, code):
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-m", "nameort", "batch", big_csv, "-o", out, "-c", "name", "--split",
                             "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(workers_of(proc.pid)) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.01)
    workers = workers_of(proc.pid)
    time.sleep(0.5)  # the workers are reading and writing their parts
    proc.send_signal(signum)
    proc.wait(timeout=60)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == code, stderr
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, workers))  # SIGKILL too: a worker stops when its parent's pipe closes
    assert not out.exists()
    left = [p.name for p in tmp_path.iterdir()]
    if signum == signal.SIGINT:
        assert left == [] and stderr.strip() == "nameort: error: interrupted"
    else:  # only the one-process job's own temporary output, which the next run removes (see test_batch)
        assert all(name.endswith(csvio.TEMP_SUFFIX) for name in left)


def test_a_worker_that_dies_is_a_one_line_error(tmp_path, monkeypatch):
    src = write_rows(tmp_path / "in.csv", people(2000, seed=6))
    monkeypatch.setattr(processes, "worker_command",
                        lambda: [sys.executable, "-c", "import sys; sys.stdin.readline(); raise SystemExit('boom')"])
    with pytest.raises(RuntimeError, match="^a nameort batch worker process failed: boom$"):
        classify_csv(src, tmp_path / "out.csv", "surname", workers=2, split=True)
    assert list(tmp_path.iterdir()) == [src]


def test_a_worker_reports_its_range_and_ends_quietly_when_its_stdin_closes(tmp_path):
    # The parent keeps a worker's stdin open while it may have work for it; once it closes, an idle
    # worker ends with status 0, without the interpreter's shutdown tripping over the thread reading it.
    import json
    import tempfile
    from dataclasses import asdict

    from nameort.batch.ranges import RangeSpec
    from nameort.sidecar import resolve_model_path

    src = write_rows(tmp_path / "in.csv", people(500, seed=7))
    spec = RangeSpec(name=str(src), encoding="utf-8", first_codec="utf-8-sig", codec="utf-8", delimiter=",",
                     line_ending="\r\n", header=("id", "surname", "note", "city"), width=4, column="surname", col=1,
                     fmt="csv", top_k=None, threshold=None, other_threshold=None, probabilities=False,
                     on_bad_rows="error", batch_size=100)
    with tempfile.TemporaryFile() as part:
        task = {"spec": asdict(spec), "model": str(resolve_model_path(None)), "path": str(src), "memo_size": 100,
                "start": 0, "end": src.stat().st_size, "final": True, "line_offset": 0, "threads": 0,
                "out_fd": part.fileno()}
        proc = subprocess.Popen(processes.worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(part.fileno(),))
        proc.stdin.write((json.dumps(task) + "\n").encode())
        proc.stdin.flush()
        lines = []
        while not lines or "done" not in lines[-1]:  # progress lines, then the range's report
            lines.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()  # no more ranges: it ends by itself, quietly
        assert proc.wait(timeout=60) == 0 and proc.stderr.read() == b"" and proc.stdout.read() == b""
        proc.stdout.close()
        proc.stderr.close()
        done = lines[-1]["done"]
        assert done["rows"] == 500 and not done["overran"] and sum(done["counts"].values()) == 500
        assert lines[-1]["part"] == [0, os.fstat(part.fileno()).st_size]
        part.seek(0)
        classify_csv(src, tmp_path / "one.csv", "surname", split=False)
        assert part.read() == (tmp_path / "one.csv").read_bytes()


def test_a_split_job_that_cannot_write_is_a_one_line_error(tmp_path):
    # A file size limit stands in for a full disk: the workers' parts and the output hit it alike.
    src = write_rows(tmp_path / "in.csv", people(20000, seed=8))
    out = tmp_path / "out.csv"
    limit = src.stat().st_size // 3

    def small_files():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "nameort", "batch", src, "-o", out, "-c", "surname", "--split"],
                          capture_output=True, text=True, preexec_fn=small_files, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"nameort: error: cannot write {out}: File too large; the output was not written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_split_job_can_write_to_standard_output(tmp_path):
    src = write_rows(tmp_path / "in.csv", people(3000, seed=9))
    outputs = [subprocess.run([sys.executable, "-m", "nameort", "batch", src, "-o", "-", "-c", "surname", flag],
                              capture_output=True, timeout=120) for flag in ("--split", "--no-split")]
    assert [p.returncode for p in outputs] == [0, 0], outputs[0].stderr
    assert outputs[0].stdout == outputs[1].stdout and outputs[0].stdout.count(b"\r\n") >= 3001


def test_anything_else_a_worker_prints_is_not_taken_for_its_report(tmp_path, monkeypatch):
    src = write_rows(tmp_path / "in.csv", people(2000, seed=10))
    real = processes.worker_command()
    noisy = real[:2] + ["print('a library talking on stdout'); print('{not json'); " + real[2]] + real[3:]
    monkeypatch.setattr(processes, "worker_command", lambda: noisy)
    (one, _), (many, summary) = both(src, tmp_path, workers=2)
    assert many == one and summary.rows == 2000


def test_an_input_gone_before_a_worker_opens_it_is_an_input_error(tmp_path, monkeypatch):
    src = write_rows(tmp_path / "in.csv", people(2000, seed=11))
    real = processes._Worker.give

    def remove_then_give(self, task, message):
        if os.path.exists(src):
            os.rename(src, tmp_path / "moved.csv")  # after the parent read the head, before any worker opens it
        real(self, task, message)

    monkeypatch.setattr(processes._Worker, "give", remove_then_give)
    with pytest.raises(InputError, match=r"^cannot read .*in\.csv: No such file or directory$"):
        classify_csv(src, tmp_path / "out.csv", "surname", workers=2, split=True)
    assert not (tmp_path / "out.csv").exists()


def test_the_workers_start_before_the_parent_loads_the_model_and_load_it_themselves(tmp_path, monkeypatch):
    from nameort.classifier import Classifier
    from nameort.sidecar import resolve_model_path

    src = write_rows(tmp_path / "in.csv", people(3000, seed=12))
    events, start_early, load = [], processes.start_early, Classifier.load.__func__

    def spy_start(parts, model_path, where):
        events.append(("start_early", parts, model_path))
        return start_early(parts, model_path, where)

    def spy_load(cls, *args, **kwargs):
        events.append(("parent loads",))
        return load(cls, *args, **kwargs)

    monkeypatch.setattr(processes, "start_early", spy_start)
    monkeypatch.setattr(Classifier, "load", classmethod(spy_load))
    (one, _), (many, summary) = both(src, tmp_path, workers=2)
    assert many == one and summary.rows == 3000
    # The one-process run loads once; the split run starts its two workers first, then loads.
    assert events == [("parent loads",), ("start_early", 2, str(resolve_model_path(None))), ("parent loads",)]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers through /proc")
def test_workers_started_for_a_job_that_then_fails_are_stopped(tmp_path, monkeypatch):
    src = write_rows(tmp_path / "in.csv", people(3000, seed=13))
    started = []
    real = processes.start_early

    def keep(parts, model_path, where):
        started.extend(real(parts, model_path, where))
        return started

    monkeypatch.setattr(processes, "start_early", keep)
    with pytest.raises(InputError, match="^no column 'nope' in "):
        classify_csv(src, tmp_path / "out.csv", "nope", workers=2, split=True)
    assert len(started) == 2 and not any(alive(w.proc.pid) for w in started)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_worker_whose_parent_sends_no_task_exits_quietly():
    from nameort.sidecar import resolve_model_path

    proc = subprocess.run(processes.worker_command(), input=f'{{"model": "{resolve_model_path(None)}"}}\n'.encode(),
                          capture_output=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")


def test_a_file_is_cut_into_ranges_that_idle_workers_take_in_turn(tmp_path, monkeypatch):
    # The first worker starts 2 s late (as on a core a neighbour keeps busy); the other takes every range
    # given out meanwhile, so the job waits for one small range on the slow worker, not for half the file.
    src = write_rows(tmp_path / "in.csv", people(20000, seed=14))
    real = processes.worker_command()
    slow = real[:2] + ["import time; time.sleep(2); " + real[2]] + real[3:]
    commands = iter([slow])
    monkeypatch.setattr(processes, "worker_command", lambda: next(commands, real))
    given, give = [], processes._Worker.give
    monkeypatch.setattr(processes._Worker, "give", lambda self, task, message: given.append((self, task)) or
                        give(self, task, message))
    jobs, run = [], processes.SplitJob.run
    monkeypatch.setattr(processes.SplitJob, "run", lambda self, out: jobs.append(self) or run(self, out))
    (one, _), (many, summary) = both(src, tmp_path, workers=2)
    assert many == one and summary.rows == 20000
    assert jobs[0].ranges == 2 * processes.RANGES_PER_WORKER == len(given)
    by_worker = Counter(worker for worker, _ in given)
    slow_worker = given[0][0]  # started first, given the first range
    assert by_worker[slow_worker] == 1 and sorted(by_worker.values()) == [1, 2 * processes.RANGES_PER_WORKER - 1]


def test_workers_started_for_a_job_that_runs_in_one_process_after_all_stop_before_it(tmp_path, monkeypatch):
    # A model that ends up on a GPU runs the job in one process: the workers started while it loaded
    # are stopped before the first chunk, not left idle (each holding a model) until the job ends.
    from nameort.classifier import Classifier

    src = write_rows(tmp_path / "in.csv", people(3000, seed=15))
    started, real, load = [], processes.start_early, Classifier.load.__func__

    def keep(parts, model_path, where):
        started.extend(real(parts, model_path, where))
        return started

    def on_a_gpu(cls, *args, **kwargs):
        clf = load(cls, *args, **kwargs)
        clf.provider = "CUDAExecutionProvider"  # as Classifier.load reports a CUDA session
        return clf

    monkeypatch.setattr(processes, "start_early", keep)
    monkeypatch.setattr(Classifier, "load", classmethod(on_a_gpu))
    alive_at_first_chunk = []
    summary = classify_csv(src, tmp_path / "out.csv", "surname", workers=2, split=True,
                           progress=lambda p: alive_at_first_chunk or alive_at_first_chunk.append(
                               [w.proc.poll() is None for w in started]))
    assert summary.rows == 3000 and len(started) == 2 and alive_at_first_chunk == [[False, False]]
