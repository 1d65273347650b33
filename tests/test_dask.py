"""The Dask engine on a real LocalCluster (2 worker processes, 1 thread each): no mocks.

Every output is compared byte for byte with what ``nameort batch`` writes for
the same file, with the input split into many partitions by a small blocksize.
"""

import csv
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# The [dask] extra (distributed brings psutil) is part of the test environment: without it these tests
# fail at collection with conftest's install hint; they never skip.
import distributed  # noqa: F401
import psutil
import pytest

from blocker import run_without

BLOCK = 2048  # bytes per partition: the test files split into 10 to 40 partitions

NAMES = [
    "Schmidt", "Rossi", "Tribbiani", "Müller", "Mu\u0308ller", "", "  ", " Rossi ", "NA", "NULL", "None", "nan",
    "N/A", "0042", "O'Connor", "O\u2019Brien", "Van Der Berg", "Smith-Jones", "a\nb", "x,y", 'q"uote', "李",
    "\u00a0", "Zero\u200bWidth", "García" * 6, "!!!", "😀", "Esposito", "Bianchi", "Weber",
]
NOTES = ["", "line1\nline2", "x\r\ny", 'say "hi"', "a,b", "NA", "  padded  ", "00123"]


def write_people(path: Path, rows: int = 1500, *, newline="\n", bom=False, encoding="utf-8", delimiter=",",
                 header=True, names=NAMES, bad=None):
    """A CSV of awkward names and notes (quoted commas, quotes and line breaks), ids with leading zeros.

    ``bad``: {row index: fields} rows to write instead, with the wrong number of fields.
    """
    with open(path, "w", encoding=encoding, newline="") as f:
        if bom:
            f.write("\ufeff")
        w = csv.writer(f, lineterminator=newline, delimiter=delimiter)
        if header:
            w.writerow(["id", "surname", "note"])
        for i in range(rows):
            if bad and i in bad:
                w.writerow(bad[i])
            else:
                w.writerow([f"{i:06d}", names[(i * 7) % len(names)], NOTES[(i * 5) % len(NOTES)]])
    return path


def nameort_batch(src, dst, *args, model=None):
    """``nameort batch`` in a child process, as a user runs it."""
    argv = [sys.executable, "-m", "nameort", "batch", str(src), "-o", str(dst), *args]
    if model:
        argv += ["--model", str(model)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def model():
    """The bundled model (None), the one the tests are meant for."""
    from nameort.sidecar import BUNDLED_MODEL_DIR

    if not (BUNDLED_MODEL_DIR / "model.onnx").is_file():
        pytest.fail(f"the bundled model is missing from {BUNDLED_MODEL_DIR}")
    return None


@pytest.fixture(scope="module")
def client():
    from nameort.dask_engine import local_cluster

    cluster, client = local_cluster(2)
    assert sorted(client.nthreads().values()) == [1, 1]
    yield client
    client.close()
    cluster.close()


def dask_csv(client, src, dst, column, model, **kwargs):
    from nameort.dask_engine import classify_csv

    return classify_csv(src, dst, column, model=model, client=client, blocksize=BLOCK, **kwargs)


CASES = {
    "plain": ({}, [], {}),
    "crlf-bom-topk-probabilities-threshold": (
        {"newline": "\r\n", "bom": True},
        ["--top-k", "2", "--probabilities", "--threshold", "0.7"],
        {"top_k": 2, "probabilities": True, "threshold": 0.7},
    ),
    "jsonl": ({}, ["--format", "jsonl", "--top-k", "1"], {"fmt": "jsonl", "top_k": 1}),
    "tsv-no-header": ({"delimiter": "\t", "header": False}, ["--no-header"], {"header": False}),
    "latin-1": (
        {"encoding": "latin-1", "names": [n for n in NAMES if n.encode("latin-1", "ignore").decode("latin-1") == n]},
        ["--encoding", "latin-1"],
        {"encoding": "latin-1"},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_output_equals_nameort_batch_byte_for_byte(client, model, tmp_path, case):
    write_kwargs, cli_args, api_kwargs = CASES[case]
    suffix = ".tsv" if write_kwargs.get("delimiter") == "\t" else ".csv"
    src = write_people(tmp_path / f"in{suffix}", **write_kwargs)
    column = "2" if write_kwargs.get("header") is False else "surname"
    proc = nameort_batch(src, tmp_path / "batch.out", "--column", column, *cli_args, model=model)
    assert proc.returncode == 0, proc.stderr
    summary = dask_csv(client, src, tmp_path / "dask.out", column, model, **api_kwargs)
    assert summary.partitions >= 8 and summary.rows == 1500
    assert (tmp_path / "dask.out").read_bytes() == (tmp_path / "batch.out").read_bytes()


def test_an_open_set_model_and_other_threshold_equal_nameort_batch(client, tmp_path):
    import json
    import shutil

    from nameort.sidecar import BUNDLED_MODEL_DIR, MODEL_FILENAME

    open_set = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, open_set)
    sidecar = open_set / (MODEL_FILENAME + ".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["decision"] = {"temperature": 1.3, "other_label": "Italian", "other_threshold": 0.9, "foreign_letters": True}
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    src = write_people(tmp_path / "in.csv")
    proc = nameort_batch(src, tmp_path / "batch.out", "-c", "surname", "--other-threshold", "0.3", model=open_set)
    assert proc.returncode == 0, proc.stderr
    dask_csv(client, src, tmp_path / "dask.out", "surname", str(open_set), other_threshold=0.3)
    assert (tmp_path / "dask.out").read_bytes() == (tmp_path / "batch.out").read_bytes()
    plain = nameort_batch(src, tmp_path / "plain.out", "-c", "surname", model=open_set)
    assert plain.returncode == 0 and (tmp_path / "plain.out").read_bytes() != (tmp_path / "batch.out").read_bytes()


def test_a_field_over_the_csv_modules_default_limit_works_on_workers(client, model, tmp_path):
    src = tmp_path / "wide.csv"
    src.write_text("id,surname,note\n1,Rossi,\"" + "x" * 200_000 + "\"\n2,Weber,short\n", encoding="utf-8")
    proc = nameort_batch(src, tmp_path / "batch.out", "--column", "surname", model=model)
    assert proc.returncode == 0, proc.stderr
    dask_csv(client, src, tmp_path / "dask.out", "surname", model)
    assert (tmp_path / "dask.out").read_bytes() == (tmp_path / "batch.out").read_bytes()


def test_rows_keep_their_order_and_fields_byte_for_byte(client, model, tmp_path):
    src = write_people(tmp_path / "in.csv", rows=3000)
    dask_csv(client, src, tmp_path / "out.csv", "surname", model)
    with open(src, encoding="utf-8", newline="") as f:
        original = list(csv.reader(f))
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        written = list(csv.reader(f))
    assert len(written) == len(original) == 3001
    assert [row[:3] for row in written] == original  # "NA", "", "0042", spaces, quoted line breaks: all as written
    assert [row[0] for row in written[1:]] == [f"{i:06d}" for i in range(3000)]
    by_name = {row[1]: row[5] for row in written[1:]}
    assert by_name[""] == by_name["  "] == "empty" and by_name["NA"] != "empty"


def test_one_session_per_worker_process(client, model, tmp_path):
    from nameort.dask_engine import model_cache_info, model_key
    from nameort.sidecar import read_card, resolve_model_path

    sha = model_key(read_card(resolve_model_path(model)))
    src = write_people(tmp_path / "in.csv", rows=3000)
    for _ in range(2):  # a second job reuses the cached sessions
        dask_csv(client, src, tmp_path / "out.csv", "surname", model)
    caches = client.run(model_cache_info)
    assert len(caches) == 2
    assert [cache["sessions"].get(sha) for cache in caches.values()] == [1, 1]


def write_stray_quotes(path: Path) -> Path:
    """Quoted line breaks in most rows, after a quote inside an unquoted field in the first row.

    That quote is legal for the csv module (and ``nameort batch``) but flips the
    quote-count rule that places partition boundaries, so some of them land
    inside quoted fields.
    """
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write('id,surname,note\n000000,O"Brien,plain\n')
        for i in range(1, 1500):
            note = '"first\nsecond\nthird"' if i % 3 else "x"
            f.write(f"{i:06d},{['Rossi', 'Schmidt', 'NA', '', '0042', ' Weber '][i % 6]},{note}\n")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1501 and all(len(r) == 3 for r in rows)  # what the csv module sees
    return path


def test_quoted_line_breaks_at_every_boundary_and_stray_quotes_are_merged_not_broken(client, model, tmp_path):
    src = write_stray_quotes(tmp_path / "stray.csv")
    proc = nameort_batch(src, tmp_path / "batch.csv", "--column", "surname", model=model)
    assert proc.returncode == 0, proc.stderr
    summary = dask_csv(client, src, tmp_path / "dask.csv", "surname", model)
    assert summary.remerged >= 1  # partitions whose range ended inside a record were run again, merged
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "batch.csv").read_bytes()


@pytest.mark.parametrize("mode", ["mark", "skip"])
def test_bad_rows_are_handled_as_nameort_batch_does(client, model, tmp_path, mode):
    bad = {399: ["000399", "Rossi"], 1199: ["001199", "Rossi", "note", "extra", "fields"]}  # short, long
    src = write_people(tmp_path / "in.csv", bad=bad)
    proc = nameort_batch(src, tmp_path / "batch.csv", "--column", "surname", "--on-bad-rows", mode, model=model)
    assert proc.returncode == 0, proc.stderr
    summary = dask_csv(client, src, tmp_path / "dask.csv", "surname", model, on_bad_rows=mode)
    assert summary.skipped == (2 if mode == "skip" else 0)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "batch.csv").read_bytes()


def test_a_bad_row_far_into_the_file_gives_the_same_one_line_error(client, model, tmp_path):
    from nameort.errors import InputError

    src = write_people(tmp_path / "in.csv", bad={1299: ["001299", "Rossi"]})
    proc = nameort_batch(src, tmp_path / "batch.csv", "--column", "surname", model=model)
    assert proc.returncode == 2
    with pytest.raises(InputError) as err:
        dask_csv(client, src, tmp_path / "dask.csv", "surname", model)
    assert proc.stderr.strip() == f"nameort: error: {err.value}"
    assert not (tmp_path / "dask.csv").exists() and not list(tmp_path.glob(".dask.csv*"))


@pytest.mark.parametrize("kind", ["people", "stray-quotes"])
def test_part_files_concatenate_to_the_single_file(client, model, tmp_path, kind):
    src = write_people(tmp_path / "in.csv") if kind == "people" else write_stray_quotes(tmp_path / "in.csv")
    proc = nameort_batch(src, tmp_path / "batch.csv", "--column", "surname", model=model)
    assert proc.returncode == 0, proc.stderr
    summary = dask_csv(client, src, tmp_path / "parts", "surname", model, single_file=False)
    assert summary.remerged >= (kind == "stray-quotes")
    parts = sorted((tmp_path / "parts").iterdir())  # hidden temporary parts of reruns included, if any were left
    assert [p.name for p in parts] == [f"part-{i:05d}.csv" for i in range(summary.partitions)]
    header = (tmp_path / "batch.csv").read_bytes().split(b"\n", 1)[0] + b"\n"
    joined = b"".join(p.read_bytes()[len(header) if i else 0 :] for i, p in enumerate(parts))
    assert all(p.read_bytes().startswith(header) for p in parts)
    assert joined == (tmp_path / "batch.csv").read_bytes()


def test_classify_frame_adds_exactly_the_batch_columns(client, model, tmp_path):
    import dask.dataframe as dd
    import pandas as pd

    from nameort.dask_engine import classify_frame

    names = NAMES * 20
    pdf = pd.DataFrame({"id": [f"{i:04d}" for i in range(len(names))], "surname": names})
    frame = classify_frame(dd.from_pandas(pdf, npartitions=5), "surname", model=model, top_k=2, probabilities=True,
                           client=client)
    got = client.compute(frame).result()
    src = tmp_path / "names.csv"
    pdf.to_csv(src, index=False)
    proc = nameort_batch(src, tmp_path / "batch.csv", "--column", "surname", "--top-k", "2", "--probabilities",
                         model=model)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "batch.csv", encoding="utf-8", newline="") as f:
        expected = list(csv.reader(f))
    assert list(got.columns) == expected[0]
    assert got.astype(object).values.tolist() == expected[1:]


def distinct_copy(model, folder: Path) -> Path:
    """The model with one unknown protobuf field appended: same predictions, another sha256."""
    from nameort.sidecar import file_sha256, resolve_model_path

    source = resolve_model_path(model)
    folder.mkdir()
    (folder / "model.onnx").write_bytes(source.read_bytes() + bytes([0xC0, 0x3E, 0x01]))  # field 1000 = 1
    card = json.loads(source.with_name(source.name + ".json").read_text(encoding="utf-8"))
    card["model_sha256"] = file_sha256(folder / "model.onnx")
    (folder / "model.onnx.json").write_text(json.dumps(card), encoding="utf-8")
    return folder


def test_model_reaches_workers_that_cannot_read_the_clients_file(client, model, tmp_path):
    import dask.dataframe as dd
    import pandas as pd

    from nameort import Classifier
    from nameort.batch import result_cells
    from nameort.dask_engine import classify_frame, model_cache_info, model_key

    copy = distinct_copy(model, tmp_path / "copy")
    sha = model_key(Classifier.load(copy).card)
    pdf = pd.DataFrame({"surname": NAMES * 10})
    frame = classify_frame(dd.from_pandas(pdf, npartitions=4), "surname", model=copy, client=client)
    shutil.rmtree(copy)  # from here on only the bytes shipped in the worker plugin exist
    got = client.compute(frame).result()
    expected = result_cells(Classifier.load(model), NAMES * 10)
    assert got.iloc[:, 1:].astype(object).values.tolist() == [list(cells) for cells in expected]
    caches = [c for c in client.run(model_cache_info).values() if sha in c["sessions"]]
    assert caches and all(c["sessions"][sha] == 1 for c in caches)
    assert all(c["loaded_from"][sha].startswith(c["shipped"][sha]) for c in caches)
    assert all(not c["loaded_from"][sha].startswith(str(tmp_path)) for c in caches)


def test_cli_engine_dask_on_a_scheduler_equals_local(client, model, tmp_path):
    src = write_people(tmp_path / "in.csv")
    local = nameort_batch(src, tmp_path / "local.csv", "--column", "surname", "--top-k", "2", model=model)
    assert local.returncode == 0, local.stderr
    address = client.scheduler.address
    proc = nameort_batch(src, tmp_path / "dask.csv", "--column", "surname", "--top-k", "2", "--engine", "dask",
                         "--scheduler", address, "--blocksize", str(BLOCK), "--progress", model=model)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert proc.stderr.count("\n") == 1 and "1,500 rows" in proc.stderr  # the summary line, nothing else


def test_cli_engine_dask_starts_its_own_local_cluster(model, tmp_path):
    src = write_people(tmp_path / "in.csv", rows=500)
    local = nameort_batch(src, tmp_path / "local.csv", "--column", "surname", model=model)
    proc = nameort_batch(src, tmp_path / "dask.csv", "--column", "surname", "--engine", "dask", "--workers", "2",
                         model=model)
    assert local.returncode == 0 and proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    # A bad row: the same single line as the local engine, no worker logs around it.
    bad = write_people(tmp_path / "bad.csv", rows=500, bad={450: ["000450", "Rossi"]})
    local = nameort_batch(bad, tmp_path / "local.csv", "--column", "surname", model=model)
    proc = nameort_batch(bad, tmp_path / "bad.out", "--column", "surname", "--engine", "dask", "--workers", "2",
                         "--blocksize", str(BLOCK), model=model)
    assert local.returncode == proc.returncode == 2
    assert proc.stderr == local.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "bad.out").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_server():
    """An HTTP server: what answers when the dashboard's port is given instead of the scheduler's."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("address, says", [
    ("nothing-listens", "connection refused"),
    ("no-port", "bad Dask scheduler address"),
    ("unknown-host", "unknown host"),
])
def test_a_wrong_scheduler_address_is_a_quick_one_line_error(tmp_path, address, says):
    src = write_people(tmp_path / "in.csv", rows=10)
    target = {
        "nothing-listens": f"tcp://127.0.0.1:{free_port()}",
        "no-port": "tcp://127.0.0.1",
        "unknown-host": "tcp://no-such-host.invalid:8786",
    }[address]
    started = time.monotonic()
    proc = nameort_batch(src, tmp_path / "out.csv", "--column", "surname", "--engine", "dask", "--scheduler", target)
    assert time.monotonic() - started < 15
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nameort: error: ") and says in lines[0], proc.stderr
    assert not (tmp_path / "out.csv").exists()


def test_a_web_server_instead_of_the_scheduler_is_a_bounded_one_line_error(web_server):
    from nameort.dask_engine import connect
    from nameort.errors import NameortError

    started = time.monotonic()
    with pytest.raises(NameortError, match="did not answer as a Dask scheduler") as err:
        connect(web_server, timeout=2)  # the CLI waits 10 s
    assert time.monotonic() - started < 8
    assert "\n" not in str(err.value) and "8786" in str(err.value)


def test_without_the_extra_the_dask_engine_says_what_to_install(tmp_path):
    src = write_people(tmp_path / "in.csv", rows=10)
    proc = run_without(
        ("dask", "distributed"),
        f"""
        import sys
        from nameort.cli import main
        sys.argv = ["nameort", "batch", {str(src)!r}, "-o", {str(tmp_path / "out.csv")!r}, "--column", "surname",
                    "--engine", "dask"]
        main()
        """,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'nameort[dask]'" in lines[0], proc.stderr


def test_the_local_engine_never_imports_dask(tmp_path):
    src = write_people(tmp_path / "in.csv", rows=10)
    proc = subprocess.run(
        [sys.executable, "-c", f"""
import sys
from nameort.batch import classify_csv
classify_csv({str(src)!r}, {str(tmp_path / "out.csv")!r}, "surname")
import nameort.cli
print(sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed", "pandas")))
"""],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_dask_engine_refuses_stdin(client, model):
    from nameort.dask_engine import classify_csv

    with pytest.raises(ValueError, match="not standard input"):
        classify_csv("-", "out.csv", "surname", model=model, client=client)


def test_an_input_the_workers_cannot_read_is_a_one_line_error(client, model, tmp_path):
    import fsspec

    from nameort.errors import InputError

    # fsspec's memory file system lives in this process only: the workers cannot see the file.
    with fsspec.open("memory://nameort-test/people.csv", "wb") as f:
        f.write(write_people(tmp_path / "in.csv").read_bytes())
    with pytest.raises(InputError, match="a worker cannot read memory://nameort-test/people.csv") as err:
        dask_csv(client, "memory://nameort-test/people.csv", tmp_path / "out.csv", "surname", model)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out.csv").exists()


def test_ctrl_c_stops_the_dask_engine_cleanly(model, tmp_path):
    """Ctrl-C reaches the whole process group: one line, exit 130, no OUTPUT, no worker left behind."""
    import os
    import signal

    src = write_people(tmp_path / "in.csv", rows=200_000)
    argv = [sys.executable, "-m", "nameort", "batch", str(src), "-o", str(tmp_path / "out.csv"), "--column",
            "surname", "--engine", "dask", "--workers", "2", "--blocksize", "16384"]

    def new_group():
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as in a terminal, whatever the test runner's own setting

    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, preexec_fn=new_group)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.csv.*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the temporary output appears once the cluster is up and the job runs
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) >= 2 and proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and stderr == "nameort: error: interrupted\n"
    assert not (tmp_path / "out.csv").exists() and not list(tmp_path.glob(".out.csv.*"))
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
