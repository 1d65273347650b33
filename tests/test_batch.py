"""`nameort batch` and `classify_csv`: every row kept in order, fields unchanged, errors clear, output atomic."""

import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import random
import signal
import string
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from nameort import csvio
from nameort.batch import BAD_ROW, Progress, Summary, classify_csv, result_columns
from nameort.classifier import Classifier
from nameort.cli import main
from nameort.cli_batch import _ProgressBar
from nameort.errors import InputError, OutputError

RESULT = ["nameort_label", "nameort_confidence", "nameort_status", "nameort_unknown_chars"]


@pytest.fixture(scope="module")
def clf():
    return Classifier.load()


def batch(*args, input=None):
    return CliRunner().invoke(main, ["batch", *map(str, args)], input=input)


def nameort(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "nameort", *map(str, args)], **kwargs)


def write_rows(path, rows, **kwargs):
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, **kwargs).writerows(rows)
    return path


def read_rows(path, encoding="utf-8", **kwargs):
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.reader(f, **kwargs))


def assert_result(cells, clf, name):
    """``cells`` (label, confidence, status, unknown chars) say what ``Classifier.predict(name)`` says."""
    p = clf.predict(name)
    assert [cells[0], cells[2], cells[3]] == [p.label or "", p.status, p.unknown_chars], name
    if p.confidence is None:
        assert cells[1] == ""
    else:  # printed with 6 decimals; a batch of one and a batch of many may differ in the last float bits
        assert float(cells[1]) == pytest.approx(p.confidence, abs=2e-6)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(csvio.TEMP_SUFFIX))


PEOPLE = [
    ["id", "surname", "note", "city"],
    ["1", "Rossi", "first", "Roma"],
    ["2", "Schmidt", 'said "hi", left', "Berlin"],
    ["3", "Rossi", "two\nlines", "New York, NY"],
    ["4", "", "empty name", ""],
    ["5", "NA", "a name, not missing", "Napoli"],
    ["6", "NULL", "", ""],
    ["7", "None", "", ""],
    ["8", "nan", "", ""],
    ["9", "O'Brien, Jr", "quoted comma in the name", "Dublin"],
    ["10", "   ", "whitespace only", ""],
    ["11", "Müller", "crlf\r\ninside", "München"],
    ["12", "Rossi", "", "Roma"],
    ["13", "Schmidt", "", ""],
]


def test_every_row_comes_out_in_order_with_its_fields_unchanged(tmp_path, clf):
    src = write_rows(tmp_path / "people.csv", PEOPLE)
    before = sha256(src)
    out = tmp_path / "out.csv"
    result = batch(src, "-o", out, "--column", "surname")
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert rows[0] == PEOPLE[0] + RESULT
    assert len(rows) == len(PEOPLE)
    for got, given in zip(rows[1:], PEOPLE[1:]):
        assert got[:4] == given  # quoted commas, quotes, newlines, "NA"/"NULL"/"None"/"nan" all intact
        assert len(got) == 8
        assert_result(got[4:], clf, given[1])
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["1"][4:] == by_id["3"][4:] == by_id["12"][4:]  # duplicates: same answer, every row kept
    assert by_id["4"][4:] == ["", "", "empty", ""]
    assert by_id["10"][4:] == ["", "", "empty", ""]
    assert by_id["5"][6] == "ok" and by_id["5"][4] in clf.labels
    assert by_id["9"][6] == "unknown_chars" and by_id["9"][7] == ","
    assert sha256(src) == before
    assert leftovers(tmp_path) == []


def test_chunks_workers_and_memo_do_not_change_the_output(tmp_path, data_dir, clf):
    rng = random.Random(7)
    names = (data_dir / "Italian.txt").read_text(encoding="utf-8").split()[:60] + ["", "NA", "Smith-Jones"]
    rows = [["id", "name"]] + [[str(i), rng.choice(names)] for i in range(2000)]
    src = write_rows(tmp_path / "in.csv", rows)
    outputs = []
    for i, options in enumerate([
        {"batch_size": 8192, "workers": 1, "memo_size": 0},
        {"batch_size": 7, "workers": 2, "memo_size": 4},  # many chunks in flight, a memo that keeps rotating
        {"batch_size": 100, "workers": 3},
    ]):
        dst = tmp_path / f"out{i}.csv"
        summary = classify_csv(src, dst, "name", model=clf, **options)
        assert summary.rows == summary.written == 2000
        outputs.append(dst.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert [row[:2] for row in read_rows(tmp_path / "out0.csv")] == rows


def test_a_bom_is_dropped_and_crlf_is_kept(tmp_path):
    src = tmp_path / "bom.csv"
    src.write_bytes(b'\xef\xbb\xbfid,name,note\r\n1,Rossi,a\r\n2,Weber,"two\r\nlines"\r\n3,Bianchi,c\r\n')
    out = tmp_path / "out.csv"
    assert batch(src, "-o", out, "-c", "name").exit_code == 0
    data = out.read_bytes()
    assert data.startswith(b"id,name,note,nameort_label,")
    assert data.count(b"\r\n") == 5 and data.replace(b"\r\n", b"").count(b"\n") == 0
    rows = read_rows(out)
    assert [row[:3] for row in rows[1:]] == [["1", "Rossi", "a"], ["2", "Weber", "two\r\nlines"], ["3", "Bianchi", "c"]]


def test_latin1_needs_encoding_and_the_error_says_so(tmp_path, clf):
    src = tmp_path / "latin1.csv"
    src.write_bytes("id,name\n1,Rossi\n2,Müller\n".encode("latin-1"))
    out = tmp_path / "out.csv"
    result = batch(src, "-o", out, "-c", "name")
    assert result.exit_code == 2
    assert "line 3" in result.stderr and "--encoding" in result.stderr and "utf-8" in result.stderr
    assert not out.exists() and leftovers(tmp_path) == []

    result = batch(src, "-o", out, "-c", "name", "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    rows = read_rows(out)  # the output is UTF-8
    assert rows[2][:2] == ["2", "Müller"]
    assert_result(rows[2][2:], clf, "Müller")


def test_a_decode_error_far_into_the_file_has_its_line_number(tmp_path, clf):
    body = "".join(f'{i},"Name\n{i}"\n' for i in range(20_000))  # two lines per record; 300 kB, past read chunks
    src = tmp_path / "late.csv"
    src.write_bytes(("id,name\n" + body).encode() + b"9,M\xfcller\n")
    with pytest.raises(InputError, match=r"line 40002: byte 0xfc is not valid utf-8.*--encoding"):
        classify_csv(src, tmp_path / "out.csv", "name", model=clf, batch_size=500)
    assert not (tmp_path / "out.csv").exists() and leftovers(tmp_path) == []


def test_a_wrong_column_lists_the_columns(tmp_path):
    src = write_rows(tmp_path / "in.csv", [["id", "name", "city"], ["1", "Rossi", "Roma"]])
    result = batch(src, "-o", tmp_path / "out.csv", "-c", "surname")
    assert result.exit_code == 2
    assert "no column 'surname'" in result.stderr and "1:'id', 2:'name', 3:'city'" in result.stderr
    result = batch(src, "-o", tmp_path / "out.csv", "-c", "0")
    assert result.exit_code == 2 and "out of range" in result.stderr and "positions start at 1" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_columns_by_name_or_1_based_position(tmp_path):
    src = write_rows(tmp_path / "in.csv", [["id", "name"], ["1", "Rossi"]])
    assert batch(src, "-o", tmp_path / "a.csv", "-c", "name").exit_code == 0
    assert batch(src, "-o", tmp_path / "b.csv", "-c", "2").exit_code == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()

    tricky = write_rows(tmp_path / "tricky.csv", [["2", "name"], ["Weber", "Rossi"]])
    for column, out in (("2", "c.csv"), ("1", "d.csv"), ("name", "e.csv")):
        assert batch(tricky, "-o", tmp_path / out, "-c", column).exit_code == 0
    # A header name wins: "2" is the column named "2" (position 1), not position 2.
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "d.csv").read_bytes()
    assert (tmp_path / "c.csv").read_bytes() != (tmp_path / "e.csv").read_bytes()

    plain = write_rows(tmp_path / "plain.csv", [["1", "Rossi"], ["2", "Weber"]])
    assert batch(plain, "-o", tmp_path / "f.csv", "-c", "2", "--no-header").exit_code == 0
    rows = read_rows(tmp_path / "f.csv")  # no header in, none out
    assert [row[:2] for row in rows] == [["1", "Rossi"], ["2", "Weber"]] and len(rows[0]) == 6
    result = batch(plain, "-o", tmp_path / "g.csv", "-c", "name", "--no-header")
    assert result.exit_code == 2 and "1-based position" in result.stderr


BAD = b"id,name\n1,Rossi\n2\n3,Weber,extra\n\n4,Bianchi\n"


def test_bad_rows_stop_the_job_by_default(tmp_path, clf):
    src = tmp_path / "bad.csv"
    src.write_bytes(BAD)
    result = batch(src, "-o", tmp_path / "out.csv", "-c", "name")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"nameort: error: {src}, line 3: 1 field where the header has 2; use --on-bad-rows skip or mark to keep going"
    )
    assert not (tmp_path / "out.csv").exists() and leftovers(tmp_path) == []
    src.write_bytes(b'id,name\n1,"Ros\nsi"\n2,a,b\n')  # a record over two lines comes first
    with pytest.raises(InputError, match="line 4: 3 fields"):
        classify_csv(src, tmp_path / "out.csv", "name", model=clf)


def test_bad_rows_can_be_skipped_and_counted(tmp_path, clf):
    src = tmp_path / "bad.csv"
    src.write_bytes(BAD)
    summary = classify_csv(src, tmp_path / "out.csv", "name", model=clf, on_bad_rows="skip")
    assert (summary.rows, summary.written, summary.skipped) == (5, 2, 3)
    assert [row[:2] for row in read_rows(tmp_path / "out.csv")] == [["id", "name"], ["1", "Rossi"], ["4", "Bianchi"]]
    result = batch(src, "-o", tmp_path / "cli.csv", "-c", "name", "--on-bad-rows", "skip", "--progress")
    assert result.exit_code == 0 and "3 bad rows skipped" in result.stderr


def test_bad_rows_can_be_marked_in_place(tmp_path, clf):
    src = tmp_path / "bad.csv"
    src.write_bytes(BAD)
    summary = classify_csv(src, tmp_path / "out.csv", "name", model=clf, on_bad_rows="mark")
    assert summary.statuses[BAD_ROW] == 3 and summary.written == 5
    rows = read_rows(tmp_path / "out.csv")
    empty = ["", "", BAD_ROW, ""]
    assert rows[1][:2] == ["1", "Rossi"] and len(rows[1]) == 6
    assert_result(rows[1][2:], clf, "Rossi")
    assert rows[2] == ["2", ""] + empty  # short: padded, results in their usual place
    assert rows[3] == ["3", "Weber"] + empty + ["extra"]  # long: the extra field follows the results
    assert rows[4] == ["", ""] + empty  # a blank line
    assert rows[5][:2] == ["4", "Bianchi"]


def test_jsonl_has_one_object_per_row(tmp_path, clf):
    src = write_rows(tmp_path / "in.csv", [["id", "name", "name"], ["1", "Rossi", "x"], ["2", "", "y"]])
    out = tmp_path / "out.jsonl"
    result = batch(src, "-o", out, "-c", "2", "--format", "jsonl", "--top-k", "2")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2
    rossi = clf.predict("Rossi", top_k=2)
    assert lines[0]["id"] == "1" and lines[0]["name"] == "Rossi" and lines[0]["name.1"] == "x"
    assert lines[0]["nameort_label"] == rossi.label and lines[0]["nameort_status"] == "ok"
    assert lines[0]["nameort_confidence"] == pytest.approx(rossi.confidence, abs=1e-6)
    assert [pair[0] for pair in lines[0]["nameort_top"]] == [label for label, _ in rossi.top]
    assert lines[1]["name"] == "" and lines[1]["nameort_label"] is None and lines[1]["nameort_confidence"] is None
    assert lines[1]["nameort_status"] == "empty" and lines[1]["nameort_top"] == []


def test_stdin_to_stdout(tmp_path, clf):
    data = "id,name\n1,Rossi\n2,NA\n"
    result = batch("-", "-o", "-", "-c", "name", input=data)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["id", "name"] + RESULT and rows[2][:2] == ["2", "NA"]
    assert_result(rows[2][2:], clf, "NA")

    proc = nameort("batch", "-", "-o", "-", "-c", "name", "--format", "jsonl",
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(data.encode(), timeout=60)
    assert proc.returncode == 0, stderr
    assert stderr == b""  # quiet when not on a terminal
    assert [json.loads(line)["name"] for line in stdout.decode().splitlines()] == ["Rossi", "NA"]


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    """300,000 rows of distinct made-up names: the model is busy for a while."""
    rng = random.Random(3)
    path = tmp_path_factory.mktemp("big") / "big.csv"
    letters = string.ascii_lowercase
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,name,city\n")
        f.writelines(
            f"{i},{rng.choice(string.ascii_uppercase)}{''.join(rng.choices(letters, k=9))},Roma\n"
            for i in range(300_000)
        )
    return path


def start_and_signal(big_csv, out, signum):
    """Start a batch run on ``big_csv``, wait until it is writing, send ``signum``; return the process."""
    proc = nameort("batch", big_csv, "-o", out, "-c", "name", "--batch-size", "2000",
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 0 for p in out.parent.glob(f".{out.name}.*{csvio.TEMP_SUFFIX}")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.005)
    proc.send_signal(signum)
    proc.wait(timeout=60)
    return proc


@pytest.mark.parametrize(
    "signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)], ids=["INT", "TERM", "KILL"]
)
def test_an_interrupted_run_leaves_no_output(tmp_path, big_csv, signum, code):
    before = sha256(big_csv)
    out = tmp_path / "out.csv"
    proc = start_and_signal(big_csv, out, signum)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == code, stderr
    assert not out.exists()
    assert sha256(big_csv) == before
    if signum != signal.SIGKILL:  # Python cleans up; after SIGKILL only the temporary file may remain
        assert leftovers(tmp_path) == []
    if signum == signal.SIGINT:
        assert stderr.strip() == "nameort: error: interrupted"


def test_an_interrupted_run_keeps_the_previous_output(tmp_path, big_csv):
    out = tmp_path / "out.csv"
    out.write_bytes(b"yesterday's result\n")
    proc = start_and_signal(big_csv, out, signal.SIGINT)
    proc.stderr.close()
    assert proc.returncode == 130
    assert out.read_bytes() == b"yesterday's result\n" and leftovers(tmp_path) == []


def test_the_next_run_removes_what_a_killed_run_left_and_nothing_alive(tmp_path, big_csv):
    out = tmp_path / "out.csv"
    killed = start_and_signal(big_csv, out, signal.SIGKILL)
    killed.stderr.close()
    (left,) = leftovers(tmp_path)  # SIGKILL: Python never ran its cleanup
    assert killed.returncode == -9 and left.startswith(f".out.csv.{killed.pid}-")
    assert (tmp_path / left).stat().st_size > 0
    # Beside it: a temp file of a running process, and one of a dead PID still locked by a live writer
    # (as a writer on another host would hold it). Neither is provably abandoned, so both must stay.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    running = tmp_path / f".out.csv.{sleeper.pid}-0123abcd{csvio.TEMP_SUFFIX}"
    running.write_bytes(b"in progress")
    locked = tmp_path / f".out.csv.{killed.pid}-89abcdef{csvio.TEMP_SUFFIX}"
    locked.write_bytes(b"in progress elsewhere")
    with open(locked, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            again = nameort("batch", write_rows(tmp_path / "in.csv", PEOPLE), "-o", out, "-c", "surname",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            stdout, stderr = again.communicate(timeout=60)
        finally:
            sleeper.kill()
            sleeper.wait()
    assert again.returncode == 0, stderr
    assert out.read_text().startswith("id,surname,note,city,nameort_label")
    assert leftovers(tmp_path) == sorted([running.name, locked.name])
    assert running.read_bytes() == b"in progress" and locked.read_bytes() == b"in progress elsewhere"
    # Once its writer is gone, the next run removes the second one too (the first one's PID died as well).
    assert sorted(csvio.remove_abandoned_temps(out)) == sorted([running.name, locked.name])
    assert leftovers(tmp_path) == []


def test_the_output_may_not_be_the_input(tmp_path):
    src = write_rows(tmp_path / "in.csv", PEOPLE)
    before = sha256(src)
    (tmp_path / "link.csv").symlink_to(src)
    os.link(src, tmp_path / "hard.csv")
    for dst in (src, tmp_path / "link.csv", tmp_path / "hard.csv", tmp_path / "." / "in.csv"):
        result = batch(src, "-o", dst, "-c", "surname")
        assert result.exit_code == 2 and "over the input" in result.stderr, dst
    assert sha256(src) == before and leftovers(tmp_path) == []


def test_a_folder_that_refuses_files_is_a_clear_error(tmp_path, monkeypatch, clf):
    src = write_rows(tmp_path / "in.csv", PEOPLE)
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(csvio.TEMP_SUFFIX):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(csvio.os, "open", refuse)
    with pytest.raises(OutputError, match="cannot write .*out.csv: no permission to create files in"):
        classify_csv(src, tmp_path / "out.csv", "surname", model=clf)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch, clf):
    src = write_rows(tmp_path / "in.csv", [["id", "name"]] + [[str(i), "Rossi"] for i in range(50_000)])
    real_init = csvio.AtomicFile.__init__

    class FullDisk(io.TextIOWrapper):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    def init(self, path, encoding="utf-8"):
        real_init(self, path, encoding)
        self.file = FullDisk(self.file.detach(), encoding=encoding, newline="")

    monkeypatch.setattr(csvio.AtomicFile, "__init__", init)
    (tmp_path / "out.csv").write_text("old\n")
    with pytest.raises(OutputError, match="cannot write .*out.csv: no space left"):
        classify_csv(src, tmp_path / "out.csv", "name", model=clf)
    assert (tmp_path / "out.csv").read_text() == "old\n" and leftovers(tmp_path) == []


def test_the_python_entry_point(tmp_path, clf):
    src = write_rows(tmp_path / "in.csv", PEOPLE)
    seen = []
    summary = classify_csv(src, tmp_path / "out.csv", "surname", model=clf, top_k=2, probabilities=True,
                           batch_size=4, progress=seen.append)
    assert isinstance(summary, Summary)
    assert summary.rows == summary.written == len(PEOPLE) - 1 and summary.skipped == 0
    assert sum(summary.statuses.values()) == summary.rows and summary.statuses["empty"] == 2
    assert [p.rows for p in seen] == [4, 8, 12, 13]
    assert seen[-1].total_bytes == src.stat().st_size
    rows = read_rows(tmp_path / "out.csv")
    assert rows[0] == PEOPLE[0] + result_columns(clf.labels, top_k=2, probabilities=True)
    rossi = clf.predict("Rossi", top_k=2)
    cells = dict(zip(rows[0], rows[1]))
    assert cells["nameort_top1_label"] == rossi.top[0][0]
    assert float(cells["nameort_top2_probability"]) == pytest.approx(rossi.top[1][1], abs=1e-6)
    assert sum(float(cells[f"nameort_p_{label}"]) for label in clf.labels) == pytest.approx(1, abs=1e-5)


def test_threshold_gives_unknown(tmp_path, clf):
    src = write_rows(tmp_path / "in.csv", [["name"], ["Rossi"], [""]])
    classify_csv(src, tmp_path / "out.csv", 1, model=clf, threshold=1.0)
    rows = read_rows(tmp_path / "out.csv")
    assert rows[1][1] == "unknown" and rows[1][3] == "low_confidence"
    assert rows[2][1:] == ["", "", "empty", ""]  # a blank line of a one-column file is an empty name


def test_awkward_bytes_do_not_crash(tmp_path, clf):
    big = "x" * (1 << 20)
    src = tmp_path / "awkward.csv"
    src.write_bytes(
        b"id,name,note\n"
        b"1,Ros\x00si,nul\n"  # a NUL byte
        b"2,\xef\xbb\xbfWeber,bom in the middle\r\n"  # a BOM that is not at the start; CRLF
        b"3,Bianchi,old mac\r"  # a lone CR ends a line too
        b'4,Rossi,"' + big.encode() + b'"\n'  # a 1 MB field
    )
    summary = classify_csv(src, tmp_path / "out.csv", "name", model=clf)
    assert summary.rows == 4
    rows = read_rows(tmp_path / "out.csv")
    assert [row[:2] for row in rows[1:]] == [["1", "Ros\x00si"], ["2", "\ufeffWeber"], ["3", "Bianchi"], ["4", "Rossi"]]
    assert rows[4][2] == big
    assert rows[1][5] == "unknown_chars" and rows[1][6] == "\x00"


def test_empty_and_header_only_files(tmp_path, clf):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert classify_csv(empty, tmp_path / "a.csv", "name", model=clf).rows == 0
    assert (tmp_path / "a.csv").read_bytes() == b""
    header = tmp_path / "header.csv"
    header.write_bytes(b"id,name\n")
    assert classify_csv(header, tmp_path / "b.csv", "name", model=clf).rows == 0
    assert read_rows(tmp_path / "b.csv") == [["id", "name"] + RESULT]


def test_result_columns_may_not_collide(tmp_path):
    src = write_rows(tmp_path / "done.csv", [["id", "name", "nameort_label"], ["1", "Rossi", "Italian"]])
    result = batch(src, "-o", tmp_path / "out.csv", "-c", "name")
    assert result.exit_code == 2 and "nameort_label" in result.stderr and "classified already" in result.stderr


def test_tsv_uses_tabs(tmp_path, clf):
    src = write_rows(tmp_path / "in.tsv", [["id", "name"], ["1", "Rossi, Mario"]], delimiter="\t")
    assert batch(src, "-o", tmp_path / "out.tsv", "-c", "name").exit_code == 0
    rows = read_rows(tmp_path / "out.tsv", delimiter="\t")
    assert rows[1][:2] == ["1", "Rossi, Mario"] and len(rows[1]) == 6
    assert_result(rows[1][2:], clf, "Rossi, Mario")


def test_summary_only_when_asked_off_a_terminal(tmp_path):
    src = write_rows(tmp_path / "in.csv", PEOPLE)
    quiet = batch(src, "-o", tmp_path / "a.csv", "-c", "surname")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    loud = batch(src, "-o", tmp_path / "b.csv", "-c", "surname", "--progress")
    assert loud.exit_code == 0
    line = loud.stderr.strip()
    assert line.startswith(f"nameort: {tmp_path / 'b.csv'}: 13 rows in ") and "empty 2" in line


def test_the_progress_line_shows_rows_rate_and_eta():
    line = _ProgressBar.render(Progress(rows=50_000, bytes_read=250, total_bytes=1000, seconds=10.0))
    assert "25%" in line and "50,000 rows" in line and "5,000 rows/s" in line and "ETA 0:30" in line
    piped = _ProgressBar.render(Progress(rows=50_000, bytes_read=250, total_bytes=None, seconds=10.0))
    assert piped == "50,000 rows  5,000 rows/s"  # stdin: no size, so no bar and no ETA


def test_the_memo_saves_model_work(tmp_path, data_dir, clf, monkeypatch):
    # 3,000 rows of 40 names in chunks of 50: the model must run each name once, however the
    # chunks fall; without the memo every chunk runs its names again.
    names = (data_dir / "German.txt").read_text(encoding="utf-8").split()[:40]
    rng = random.Random(3)
    src = write_rows(tmp_path / "in.csv", [["name"]] + [[rng.choice(names)] for _ in range(3000)])
    ran = []
    real = clf.probabilities
    monkeypatch.setattr(clf, "probabilities", lambda texts, **kw: ran.extend(texts) or real(texts, **kw))
    summary = classify_csv(src, tmp_path / "memo.csv", "name", model=clf, batch_size=50, workers=1)
    assert sorted(ran) == sorted(set(names)) and summary.model_names == len(set(names))
    ran.clear()
    summary = classify_csv(src, tmp_path / "nomemo.csv", "name", model=clf, batch_size=50, workers=1, memo_size=0)
    assert len(ran) == summary.model_names > 20 * len(set(names))  # 60 chunks, each running its own names
    assert (tmp_path / "memo.csv").read_bytes() == (tmp_path / "nomemo.csv").read_bytes()


def test_a_memo_that_finds_nothing_rests_and_looks_again(tmp_path, clf, monkeypatch):
    from nameort.batch import memo

    monkeypatch.setattr(memo, "PROBE_NAMES", 100)
    monkeypatch.setattr(memo, "REST_NAMES", 1000)
    m = memo.Memo(1000)
    m.judge(99, 0)
    assert m.in_use  # not judged yet
    m.judge(1, 4)
    assert not m.in_use  # 4 found in 100: under 5%, it rests
    m.let_by(999)
    assert not m.in_use
    m.let_by(1)
    assert m.in_use  # and looks again
    m.judge(100, 5)
    assert m.in_use and not memo.Memo(0).in_use
    # 1,100 different names in chunks of 100, then the first 100 five times over. The memo finds
    # nothing in the first chunk and rests through the next 1,000 names (the model runs each
    # chunk's names, none remembered); then it looks again and answers the repeats from memory.
    consonants = "bcdfghjklmnpqrstvwxz"
    names = [f"Ro{a}{b}{c}i" for a in consonants for b in "aeiou" for c in consonants][:1100]
    src = write_rows(tmp_path / "in.csv", [["name"]] + [[n] for n in names + names[:100] * 5])
    summary = classify_csv(src, tmp_path / "out.csv", "name", model=clf, batch_size=100, workers=1)
    assert summary.model_names == 1100
    again = classify_csv(src, tmp_path / "nomemo.csv", "name", model=clf, batch_size=100, workers=1, memo_size=0)
    assert again.model_names == 1600 and (tmp_path / "out.csv").read_bytes() == (tmp_path / "nomemo.csv").read_bytes()


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_field_holding_a_lone_carriage_return_reads_back_the_same(tmp_path, clf, ending):
    # Python's csv writer quotes such a field only when "\r" is in its line ending: with "\n" the
    # row would come back split in two.
    rows = [["id", "name", "note"], ["1", "Rossi", "old\rmac"], ["2", "Bianchi", "crlf\r\ninside"], ["3", "Li", "x"]]
    src = tmp_path / "in.csv"  # by hand: the csv module would write the input just as wrongly
    src.write_text(ending.join(["id,name,note", '1,Rossi,"old\rmac"', '2,Bianchi,"crlf\r\ninside"', "3,Li,x", ""]),
                   encoding="utf-8", newline="")
    classify_csv(src, tmp_path / "out.csv", "name", model=clf)
    out = read_rows(tmp_path / "out.csv")
    assert [row[:3] for row in out] == rows
    assert (tmp_path / "out.csv").read_bytes().count(ending.encode()) == 5  # 4 rows, 1 line break in a field


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_a_bad_rows_line_counts_every_line_break_before_it(tmp_path, clf, on_bad_rows):
    # Quoted fields holding \n, \r\n and a lone \r: each is a line of the file, as an editor counts them.
    lines = [b"id,name,note\n"]
    for i in range(1, 700):
        note = [b"", b'"a\nb"', b'"c\r\nd"', b'"e\rf"', b'"g\n\nh"'][i % 5]
        lines.append(b"%d,Rossi,%s\n" % (i, note))
    for bad in (5, 256, 257, 513, 699):
        rows = list(lines)
        rows[bad] = b"%d,Rossi\n" % bad
        src = tmp_path / "in.csv"
        src.write_bytes(b"".join(rows))
        first_line = b"".join(rows[:bad]).replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
        if on_bad_rows == "error":
            with pytest.raises(InputError, match=f"line {first_line}: 2 fields where the header has 3"):
                classify_csv(src, tmp_path / "out.csv", "name", model=clf, batch_size=300)
        else:
            summary = classify_csv(src, tmp_path / "out.csv", "name", model=clf, batch_size=300, on_bad_rows="skip")
            assert (summary.rows, summary.skipped) == (699, 1)
            assert [row[0] for row in read_rows(tmp_path / "out.csv")[1:]] == [str(i) for i in range(1, 700) if i != bad]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_output_is_byte_for_byte_the_per_name_path(tmp_path, clf, fmt):
    # One model job (under 512 distinct names) formatted one Prediction at a time, as batch did before
    # the columnar path: probability_cell for CSV cells, round(v, 6) and json for JSONL.
    from nameort.output import probability_cell
    from test_columnar import HOSTILE, random_names, reference

    names = [n for n in HOSTILE if "\udcff" not in n and len(n) < 1000] + random_names(clf, 300, seed=5)
    names = [n.replace("\x00", "") for n in names]
    rows = [["id", "name"]] + [[str(i), n] for i, n in enumerate(names)]
    src = write_rows(tmp_path / "in.csv", rows)
    dst = tmp_path / f"out.{fmt}"
    classify_csv(src, dst, "name", model=clf, top_k=2, threshold=0.6, probabilities=True)
    distinct = list(dict.fromkeys(n for n in names))
    made = dict(zip(distinct, reference(clf, distinct, top_k=2, threshold=0.6, batch_size=clf.batch_size)))
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(rows[0] + result_columns(clf.labels, top_k=2, probabilities=True))
        for row in rows[1:]:
            p = made[row[1]]
            top = [c for i in range(2) for c in ((p.top[i][0], probability_cell(p.top[i][1])) if p.top else ("", ""))]
            writer.writerow(row + [p.label or "", probability_cell(p.confidence), p.status, p.unknown_chars] + top
                            + [probability_cell(p.probabilities.get(label)) for label in clf.labels])
        assert dst.read_text(encoding="utf-8") == out.getvalue()
    else:
        def r(v):
            return None if v is None else round(v, 6)

        lines = []
        for row in rows[1:]:
            p = made[row[1]]
            lines.append(json.dumps({
                "id": row[0], "name": row[1], "nameort_label": p.label, "nameort_confidence": r(p.confidence),
                "nameort_status": p.status, "nameort_unknown_chars": p.unknown_chars,
                "nameort_top": [[label, r(v)] for label, v in p.top],
                "nameort_probabilities": {label: r(v) for label, v in p.probabilities.items()},
            }, ensure_ascii=False) + "\n")
        assert dst.read_text(encoding="utf-8") == "".join(lines)


def test_the_output_format_follows_the_extension(tmp_path, clf):
    src = write_rows(tmp_path / "in.csv", PEOPLE)
    assert batch(src, "-o", tmp_path / "out.jsonl", "-c", "surname").exit_code == 0
    first = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["surname"] == "Rossi" and first["nameort_status"] == "ok"
    assert batch(src, "-o", tmp_path / "forced.jsonl", "-c", "surname", "--format", "csv").exit_code == 0
    assert read_rows(tmp_path / "forced.jsonl")[0] == PEOPLE[0] + RESULT


def test_other_threshold_reaches_batch(tmp_path, clf):
    from test_columnar import bundled_copy

    model = bundled_copy(tmp_path / "open", {"other_label": "Italian", "other_threshold": 0.9})
    closed = bundled_copy(tmp_path / "closed", None)  # no background label
    src = write_rows(tmp_path / "in.csv", PEOPLE)
    options = ["-c", "surname", "--model", model, "--other-threshold"]
    assert batch(src, "-o", tmp_path / "a.csv", *options, "0").exit_code == 0
    labels = {row[4] for row in read_rows(tmp_path / "a.csv")[1:] if row[6] != "empty"}
    assert labels == {"Italian"}  # every usable name reaches an operating point of 0
    assert batch(src, "-o", tmp_path / "b.csv", *options, "1").exit_code == 0
    assert "Italian" not in {row[4] for row in read_rows(tmp_path / "b.csv")[1:]}
    refused = batch(src, "-o", tmp_path / "c.csv", "-c", "surname", "--model", closed, "--other-threshold", "0.5")
    assert refused.exit_code != 0 and "background label" in refused.stderr
    assert not (tmp_path / "c.csv").exists()
