"""`nameort classify` and `nameort info`, run as real processes."""

import csv
import io
import json
import subprocess
import sys

import pytest

from nameort.sidecar import read_card, resolve_model_path


def nameort(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "nameort", *args], input=stdin, capture_output=True, text=True, encoding="utf-8"
    )


def test_classify_prints_a_table():
    proc = nameort("classify", "Tribbiani", "Schmidt")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "LABEL", "CONFIDENCE", "STATUS"]
    assert lines[1].split()[:2] == ["Tribbiani", "Italian"]
    assert lines[2].split()[:2] == ["Schmidt", "German"]
    assert proc.stderr == ""


def test_classify_json_matches_the_api():
    from nameort import Classifier

    proc = nameort("classify", "Tribbiani", "", "García", "--format", "json", "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["status"] for r in rows] == ["ok", "empty", "unknown_chars"]
    expected = Classifier.load().predict("Tribbiani", top_k=2)
    assert rows[0]["probabilities"] == pytest.approx(expected.probabilities, abs=1e-12)
    assert rows[0]["top"][0][0] == "Italian"
    assert rows[1]["label"] is None and rows[2]["unknown_chars"] == "í"


def test_classify_reads_stdin_and_keeps_every_line():
    proc = nameort("classify", "-", "--format", "jsonl", stdin="Rossi\n\n  Weber \r\nNA\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["Rossi", "", "  Weber ", "NA"]
    assert [r["status"] for r in rows] == ["ok", "empty", "ok", "ok"]


def test_classify_csv_has_one_row_per_name_and_per_class_columns():
    proc = nameort("classify", "Rossi", "Smith, John", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["name"] for r in rows] == ["Rossi", "Smith, John"]
    assert rows[1]["status"] == "unknown_chars" and rows[1]["unknown_chars"] == ","
    # One p_ column per label of the model (the background label "other" included), summing to 1.
    labels = read_card(resolve_model_path(None)).labels
    assert list(rows[0])[5:] == [f"p_{label}" for label in labels]
    assert rows[0]["label"] == "Italian"
    for row in rows:
        assert abs(sum(float(row[f"p_{label}"]) for label in labels) - 1) < 1e-5


def test_threshold_abstains():
    proc = nameort("classify", "Rossi", "--threshold", "1", "--format", "jsonl")
    row = json.loads(proc.stdout)
    assert row["label"] == "unknown" and row["status"] == "low_confidence"


N_LABELS = len(read_card(resolve_model_path(None)).labels)  # the bundled default's labels, "other" included


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify"], "Missing argument"),
        (["classify", "x", "--top-k", str(N_LABELS + 1)], f"the model has {N_LABELS} labels"),
        (["classify", "x", "--threshold", "2"], "--threshold"),
        (["classify", "x", "--format", "xml"], "--format"),
        (["classify", "x", "--model", "/nonexistent/model"], "model not found: /nonexistent/model"),
        (["classify", "x", "--threads", "0"], "--threads"),
    ],
)
def test_usage_and_model_errors_exit_2_without_traceback(args, message):
    proc = nameort(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_info_shows_model_and_providers(active_provider):
    proc = nameort("info", "--json")
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["labels"] == ["German", "Italian", "other"]
    assert facts["vocabulary_size"] == 65 and facts["sequence_length"] == 18
    assert facts["title_single_case"] is True  # ROSSI and rossi are read as Rossi
    decision = facts["decision"]  # open set: "other" from its operating point or a foreign letter
    assert decision["other_label"] == "other" and decision["foreign_letters"] is True
    assert 0 < decision["other_threshold"] <= 1 and decision["temperature"] > 0
    assert facts["provider_active"] == active_provider  # what ONNX Runtime really runs on here (conftest)
    assert {"CPUExecutionProvider", active_provider} <= set(facts["providers_available"])
    assert len(facts["sha256"]) == 64
    # The sidecar's test figures, as recorded (test_bundled_model.py holds the model to its floors): accuracy
    # over all three labels is the confusion matrix's diagonal.
    metrics = facts["metrics"]
    assert metrics == read_card(resolve_model_path(None)).metrics
    matrix = metrics["confusion_matrix"]
    assert len(matrix) == len(facts["labels"]) and sum(map(sum, matrix)) == metrics["count"]
    assert metrics["test_accuracy"] == pytest.approx(sum(matrix[i][i] for i in range(len(matrix))) / metrics["count"])
    assert facts["verified"] is True and proc.stderr == ""
    text = nameort("info")
    assert "verified:         yes\n" in text.stdout
    assert "sequence length:  18 (normalization NFC; names in one case read in title case)\n" in text.stdout
    assert f"active provider:  {active_provider}\n" in text.stdout
    assert "network:          RNN (tanh), 1 x 64 units, last-step head\n" in text.stdout


@pytest.mark.parametrize("args, usage", [((), "Usage: nameort [OPTIONS] COMMAND"), (("web",), "Usage: nameort web [OPTIONS]")])
def test_a_group_without_a_command_prints_its_whole_help(args, usage):
    # As click does for any group: the multi-line help on stderr, exit 2 (no command is a usage error).
    proc = nameort(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == usage + (" COMMAND [ARGS]..." if args else " [ARGS]...")
    assert "Commands:" in lines and "error" not in proc.stderr
    from nameort.cli import main

    commands = [line.split()[0] for line in lines[lines.index("Commands:") + 1 :]]
    assert commands == (["build"] if args else sorted(main.commands))
    assert args or {"batch", "classify", "info", "train", "export"} <= set(commands)


@pytest.mark.parametrize("names", [("-", "Schmidt"), ("Schmidt", "-"), ("-", "-")])
def test_stdin_dash_must_be_the_only_name(names):
    proc = nameort("classify", *names, stdin="Rossi\n")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "nameort: error: '-' (read names from stdin) must be the only NAMES argument (see 'nameort classify --help')\n"
    )


def test_stdin_is_decoded_strictly_like_batch_input():
    raw = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", "-"], input=b"Rossi\nWeber\nM\xfcller\n", capture_output=True
    )
    assert raw.returncode == 2 and raw.stdout == b""
    assert raw.stderr.decode() == (
        "nameort: error: <stdin>, line 3: byte 0xfc is not valid utf-8; name the file's encoding with --encoding "
        "(for example --encoding latin-1 or cp1252)\n"
    )
    latin = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", "-", "--encoding", "latin-1", "--format", "jsonl"],
        input=b"Rossi\r\nM\xfcller\n", capture_output=True,
    )
    assert latin.returncode == 0, latin.stderr
    rows = [json.loads(line) for line in latin.stdout.splitlines()]
    assert [(r["name"], r["label"], r["status"]) for r in rows] == [("Rossi", "Italian", "ok"), ("Müller", "German", "ok")]


def test_stdin_utf8_bom_is_not_part_of_the_first_name():
    proc = nameort("classify", "-", "--format", "jsonl", stdin="\ufeffRossi\n")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] == "Rossi"


def test_unknown_stdin_encoding_is_a_usage_error():
    proc = nameort("classify", "-", "--encoding", "klingon", stdin="Rossi\n")
    assert proc.returncode == 2 and proc.stderr == "nameort: error: unknown encoding 'klingon' (--encoding)\n"
