"""Parquet in `nameort batch`: columns and types kept, rows in order, streamed by row group, atomic output."""

import csv
import datetime
import json
import random
import signal
import string
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from blocker import run_without
from click.testing import CliRunner
from nameort import csvio
from nameort.batch import classify_csv, result_columns
from nameort.classifier import Classifier
from nameort.cli import main

NAMES = ["Rossi", None, "Schmidt", "", "Garc\u00eda", "Rossi", "\U0001f600", "Weber"]


@pytest.fixture(scope="module")
def clf():
    return Classifier.load()


def batch(*args):
    return CliRunner().invoke(main, ["batch", *map(str, args)])


def people(path, rows=len(NAMES), row_group_size=None):
    """A Parquet file of typed columns: int32 id, string surname (with nulls), date, nullable double, bool."""
    names = [NAMES[i % len(NAMES)] for i in range(rows)]
    table = pa.table({
        "id": pa.array(range(rows), pa.int32()),
        "surname": pa.array(names, pa.string()),
        "joined": pa.array([datetime.date(2020, 1, 1) + datetime.timedelta(days=i % 300) for i in range(rows)]),
        "score": pa.array([None if i % 3 == 0 else i / 4 for i in range(rows)], pa.float64()),
        "active": pa.array([i % 2 == 0 for i in range(rows)]),
    })
    pq.write_table(table, path, row_group_size=row_group_size)
    return table


def expected(clf, names, **options):
    return clf.predict_many(["" if n is None else n for n in names], **options)


def test_parquet_to_parquet_keeps_every_column_and_type(tmp_path, clf):
    src = tmp_path / "people.parquet"
    table = people(src)
    result = batch(src, "-o", tmp_path / "out.parquet", "--column", "surname", "--top-k", "2", "--probabilities")
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.names == table.schema.names + result_columns(clf.labels, top_k=2, probabilities=True)
    assert out.select(table.schema.names).equals(table)  # every value and type as it was, rows in order
    types = {field.name: field.type for field in out.schema}
    assert types["nameort_label"] == types["nameort_status"] == types["nameort_top1_label"] == pa.string()
    assert types["nameort_confidence"] == types["nameort_p_German"] == types["nameort_top2_probability"] == pa.float64()
    want = expected(clf, NAMES, top_k=2)
    assert out.column("nameort_label").to_pylist() == [p.label for p in want]  # null without a prediction
    assert out.column("nameort_confidence").to_pylist() == [p.confidence for p in want]
    assert out.column("nameort_status").to_pylist() == [p.status for p in want]
    assert out.column("nameort_status").to_pylist()[1] == "empty"  # a null name
    assert out.column("nameort_unknown_chars").to_pylist()[4] == "\u00ed"
    assert out.column("nameort_top1_label").to_pylist()[0] == want[0].top[0][0]


def test_a_file_of_many_row_groups_streams_in_order(tmp_path, clf):
    src = tmp_path / "big.parquet"
    table = people(src, rows=20_000, row_group_size=3_000)
    assert pq.ParquetFile(src).num_row_groups == 7
    seen = []
    summary = classify_csv(src, tmp_path / "out.parquet", "surname", model=clf, batch_size=1_000, progress=seen.append)
    assert summary.rows == summary.written == 20_000
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("id").to_pylist() == list(range(20_000))
    assert out.select(table.schema.names).equals(table)
    assert out.column("nameort_status").to_pylist()[:8] == [p.status for p in expected(clf, NAMES)]
    assert [p.rows for p in seen] == list(range(1_000, 20_001, 1_000))
    assert seen[-1].bytes_read == seen[-1].total_bytes == src.stat().st_size
    assert summary.model_names == 4  # Rossi, Schmidt, García, Weber: the memo answered the rest


def test_csv_in_parquet_out_and_parquet_in_csv_out(tmp_path, clf):
    src = tmp_path / "in.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["id", "surname", "id"], ["1", "Rossi", "x"], ["2", "", "y"], ["3", "NA", "z"]])
    assert batch(src, "-o", tmp_path / "out.parquet", "-c", "surname").exit_code == 0
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.names[:3] == ["id", "surname", "id.1"]  # a repeated header name made unique
    assert out.column("id").to_pylist() == ["1", "2", "3"] and out.schema.field("id").type == pa.string()
    assert out.column("nameort_status").to_pylist() == ["ok", "empty", "ok"]  # "NA" is a name, not a null

    parquet_src = tmp_path / "people.parquet"
    people(parquet_src)
    assert batch(parquet_src, "-o", tmp_path / "back.csv", "-c", "surname").exit_code == 0
    with open(tmp_path / "back.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "surname", "joined", "score", "active"] + result_columns(clf.labels)
    assert rows[1][:5] == ["0", "Rossi", "2020-01-01", "", "true"]  # null is an empty field
    assert rows[2][:5] == ["1", "", "2020-01-02", "0.25", "false"]
    assert [row[7] for row in rows[1:]] == [p.status for p in expected(clf, NAMES)]

    assert batch(parquet_src, "-o", tmp_path / "back.jsonl", "-c", "surname").exit_code == 0
    first = json.loads((tmp_path / "back.jsonl").read_text(encoding="utf-8").splitlines()[1])
    assert first["id"] == 1 and first["surname"] is None and first["score"] == 0.25 and first["active"] is False
    assert first["joined"] == "2020-01-02" and first["nameort_status"] == "empty"


def test_format_override_and_errors(tmp_path, clf):
    src = tmp_path / "people.parquet"
    people(src)
    odd = tmp_path / "people.data"
    odd.write_bytes(src.read_bytes())
    result = batch(odd, "-o", tmp_path / "out.bin", "-c", "surname", "--input-format", "parquet", "--format", "parquet")
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out.bin").num_rows == len(NAMES)

    missing = batch(src, "-o", tmp_path / "x.parquet", "-c", "lastname")
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        f"nameort: error: no column 'lastname' in {src}; the columns are: "
        "1:'id', 2:'surname', 3:'joined', 4:'score', 5:'active'"
    )
    assert not (tmp_path / "x.parquet").exists()
    not_parquet = tmp_path / "fake.parquet"
    not_parquet.write_text("id,name\n1,Rossi\n")
    broken = batch(not_parquet, "-o", tmp_path / "y.csv", "-c", "name")
    assert broken.exit_code != 0 and "is not a readable Parquet file" in broken.stderr
    marked = batch(tmp_path / "people.parquet", "-o", tmp_path / "z.parquet", "-c", "surname", "--on-bad-rows", "mark")
    assert marked.exit_code == 2 and "cannot go to Parquet" in marked.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(csvio.TEMP_SUFFIX)) == []


def test_without_pyarrow_the_error_names_the_extra(tmp_path):
    src = tmp_path / "people.parquet"
    people(src)
    proc = run_without({"pyarrow"}, f"""
        import sys
        from nameort.cli import main
        sys.argv = ["nameort", "batch", {str(src)!r}, "-o", {str(tmp_path / "out.csv")!r}, "-c", "surname"]
        main()
    """)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "nameort: error: Parquet needs pyarrow, which is not installed: pip install 'nameort[parquet]'"
    ]


def test_a_killed_run_leaves_no_partial_output(tmp_path):
    src = tmp_path / "big.parquet"
    rng = random.Random(0)
    rows = 400_000
    pq.write_table(pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "name": [rng.choice(string.ascii_uppercase) + "".join(rng.choices(string.ascii_lowercase, k=9))
                 for _ in range(rows)],
    }), src, row_group_size=50_000)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"yesterday")
    proc = subprocess.Popen([sys.executable, "-m", "nameort", "batch", str(src), "-o", str(out), "-c", "name"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(f".{out.name}.*{csvio.TEMP_SUFFIX}")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -9
    assert out.read_bytes() == b"yesterday"  # the old output stands; the new one never appeared in part
