"""`nameort train / export / evaluate` on bad input: one line on stderr, exit code 2, no traceback."""

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from nameort.cli import main
from nameort.cli_pipeline import evaluate, export, train


def run(command, *args):
    return CliRunner().invoke(main, [command.name, *(str(a) for a in args)])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nameort: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped error


@pytest.fixture
def bad_data(tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "Empty.txt").write_text("\n  \n", encoding="utf-8")
    (folder / "Single.txt").write_text("Rossi\n", encoding="utf-8")
    (folder / "Pair.txt").write_text("Dupont\nMartin\n", encoding="utf-8")
    return folder


def test_missing_data_folder(tmp_path):
    assert_one_line_error(run(train, "--data", tmp_path / "nope", "--out", tmp_path / "run"), "data folder not found")


def test_label_without_a_file(tmp_path, data_dir):
    result = run(train, "--data", data_dir, "--labels", "German,Klingon", "--out", tmp_path / "run")
    assert_one_line_error(result, "no file for label 'Klingon'", "Italian")


def test_empty_file(tmp_path, bad_data):
    result = run(train, "--data", bad_data, "--labels", "Empty,Pair", "--out", tmp_path / "run")
    assert_one_line_error(result, "Empty.txt has no names")


def test_fewer_than_two_names(tmp_path, bad_data):
    result = run(train, "--data", bad_data, "--labels", "Single,Pair", "--out", tmp_path / "run")
    assert_one_line_error(result, "label 'Single' has 1 name(s)", "at least 2")


def test_all_labels_without_shared_keep(tmp_path, data_dir):
    result = run(train, "--data", data_dir, "--labels", "all", "--out", tmp_path / "run")
    assert_one_line_error(result, "'Scottish'", "--shared keep")


def test_unknown_preset(tmp_path, data_dir):
    result = run(train, "--data", data_dir, "--preset", "huge", "--out", tmp_path / "run")
    assert_one_line_error(result, "unknown preset 'huge'", "seed", "small")


def test_bad_option_values(tmp_path, data_dir):
    assert_one_line_error(run(train, "--data", data_dir, "--epochs", "abc", "--out", tmp_path), "--epochs")
    assert_one_line_error(run(train, "--data", data_dir, "--lr", "-1", "--out", tmp_path), "lr must be positive")
    assert_one_line_error(run(train, "--data", data_dir, "--shared", "maybe", "--out", tmp_path), "--shared")
    assert_one_line_error(run(train, "--data", data_dir), "--out")


def test_cuda_without_cuda(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = run(train, "--data", data_dir, "--device", "cuda", "--out", tmp_path / "run")
    assert_one_line_error(result, "--device cuda", "no CUDA device")


def test_missing_torch_says_what_to_install(tmp_path, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    result = run(train, "--data", data_dir, "--out", tmp_path / "run")
    assert_one_line_error(
        result, "needs torch", "pip install torch==2.13.0 first, then pip install 'nameort[train,cpu]'"
    )
    assert_one_line_error(run(export, tmp_path, "--out", tmp_path / "m"), "pip install 'nameort[train,cpu]'")


def test_train_refuses_a_used_run_folder_unless_forced(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoint.pt").write_bytes(b"an earlier run")
    (run_dir / "metrics.json").write_text("{}")
    result = run(train, "--data", data_dir, "--out", run_dir, "--epochs", "1", "--quiet")
    assert_one_line_error(
        result, f"--out {run_dir} is not empty (it holds checkpoint.pt, metrics.json)", "add --force to overwrite"
    )
    assert (run_dir / "checkpoint.pt").read_bytes() == b"an earlier run"
    forced = run(train, "--data", data_dir, "--out", run_dir, "--epochs", "1", "--quiet", "--force")
    assert forced.exit_code == 0, forced.output
    assert (run_dir / "checkpoint.pt").read_bytes() != b"an earlier run"
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 1


def test_train_into_a_file_is_refused(tmp_path, data_dir):
    (tmp_path / "run").write_text("")
    assert_one_line_error(run(train, "--data", data_dir, "--out", tmp_path / "run"), "is a file")


def test_missing_run_folder(tmp_path):
    assert_one_line_error(run(export, tmp_path / "nope", "--out", tmp_path / "model"), "run folder not found")
    assert_one_line_error(run(export, tmp_path, "--out", tmp_path / "model"), "no checkpoint.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04" + bytes(100)])
def test_corrupt_checkpoint(tmp_path, content):
    (tmp_path / "checkpoint.pt").write_bytes(content)
    result = run(export, tmp_path, "--out", tmp_path / "model")
    assert_one_line_error(result, "checkpoint", "corrupt")


def test_foreign_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "checkpoint.pt")
    assert_one_line_error(run(export, tmp_path, "--out", tmp_path / "model"), "is not a nameort checkpoint")


def test_missing_model_for_evaluate(tmp_path, data_dir):
    assert_one_line_error(run(evaluate, tmp_path / "nope", "--data", data_dir), "model not found")


def test_importing_the_commands_does_not_import_torch():
    code = "import sys, nameort.cli_pipeline; print(sorted(m for m in ('torch', 'onnx', 'nameort_train', 'nameort_export') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
