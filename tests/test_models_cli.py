"""`nameort models` (the bundled models listed), `info` naming a bundled model, and --model values that name nothing."""

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nameort import sidecar
from nameort.cli import main
from nameort.sidecar import BUNDLED_MODEL_DIR, DEFAULT_MODEL, MODEL_FILENAME, bundled_models, read_card


def nameort(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "nameort", *args], capture_output=True, text=True, encoding="utf-8", cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nameort: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_models_lists_every_bundled_model_as_its_sidecar_describes_it():
    proc = nameort("models", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert [m["name"] for m in listed] == [DEFAULT_MODEL] + sorted(set(bundled_models()) - {DEFAULT_MODEL})
    for m in listed:
        path = sidecar.BUNDLED_MODELS_DIR / m["name"] / MODEL_FILENAME
        card = read_card(path)
        assert m["default"] is (m["name"] == DEFAULT_MODEL)
        assert m["labels"] == list(card.labels)
        assert m["other_label"] == card.decision.other_label
        assert m["model_bytes"] == path.stat().st_size
        assert m["sidecar_bytes"] == card.sidecar_path.stat().st_size
        assert m["description"] and "\n" not in m["description"]
        assert m["path"] == str(path)

    text = nameort("models")
    assert text.returncode == 0 and text.stderr == ""
    blocks = text.stdout.strip().split("\n\n")
    assert len(blocks) == len(listed)
    for block, m in zip(blocks, listed):
        lines = block.splitlines()
        assert lines[0] == m["name"] + ("  (default)" if m["default"] else "")
        assert lines[1].startswith("  labels:  " + ", ".join(m["labels"]))
        assert lines[2] == f"  size:    {m['model_bytes']:,} bytes (model.onnx) + {m['sidecar_bytes']:,} bytes (sidecar)"
        assert lines[3] == f"  about:   {m['description']}"


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """A bundled-models folder of our own: the default model, and a stand-in with a description.

    The stand-in is the default network with "Italian" posing as the background label, so the listing
    is seen to take the background label from the sidecar, not to assume "other".
    """
    root = tmp_path / "models"
    shutil.copytree(BUNDLED_MODEL_DIR, root / DEFAULT_MODEL)
    shutil.copytree(BUNDLED_MODEL_DIR, root / "aaa-open")
    path = root / "aaa-open" / "model.onnx.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["description"] = "German or\n  not German (a test model)"
    data["decision"] = {"other_label": "Italian", "other_threshold": 0.9}
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(sidecar, "BUNDLED_MODELS_DIR", root)
    return root


def invoke(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_default_comes_first_and_a_description_is_one_line(bundle):
    code, out, err = invoke("models")
    assert code == 0, err
    blocks = out.strip().split("\n\n")
    assert blocks[0].splitlines()[:2] == [
        f"{DEFAULT_MODEL}  (default)",
        "  labels:  German, Italian, other; 'other' means none of the others",
    ]
    assert blocks[1].splitlines() == [
        "aaa-open",
        "  labels:  German, Italian, other; 'Italian' means none of the others",
        f"  size:    {(bundle / 'aaa-open' / MODEL_FILENAME).stat().st_size:,} bytes (model.onnx) + "
        f"{(bundle / 'aaa-open' / 'model.onnx.json').stat().st_size:,} bytes (sidecar)",
        "  about:   German or not German (a test model)",
    ]
    # Without a description, the line is made from what the sidecar records.
    card = read_card(bundle / DEFAULT_MODEL / MODEL_FILENAME)
    figures = card.metrics["test_figures"]
    made = blocks[0].splitlines()[3]
    # The real labels, then the background label (none of them), then the recipe's facts.
    assert made == (f"  about:   German / Italian, or other (none of them) (preset {card.training['preset']}, "
                    f"test split: balanced accuracy {figures['in_scope_balanced_accuracy']:.3f} on the real labels, "
                    f"{figures['rejection']:.3f} of other names answered other)")


def test_a_broken_bundled_model_is_a_one_line_error(bundle):
    path = bundle / "aaa-open" / "model.onnx.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model_sha256"] = "0" * 64
    path.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = invoke("models")
    assert code == 2 and out == ""
    assert err.startswith("nameort: error: the bundled model 'aaa-open' is broken: ") and err.count("\n") == 1
    assert "reinstall nameort" in err


def test_no_bundled_models_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sidecar, "BUNDLED_MODELS_DIR", tmp_path)
    code, _, err = invoke("models", "--json")
    assert code == 2 and err == f"nameort: error: no bundled models in {tmp_path}; reinstall nameort\n"


def test_info_names_a_bundled_model_and_not_a_copy(tmp_path):
    proc = nameort("info")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"name:             {DEFAULT_MODEL} (bundled)"
    by_name = json.loads(nameort("info", "--json", "--model", DEFAULT_MODEL).stdout)
    assert by_name["name"] == DEFAULT_MODEL
    assert by_name["model"] == str(BUNDLED_MODEL_DIR / MODEL_FILENAME)
    copy = tmp_path / "copy"
    shutil.copytree(BUNDLED_MODEL_DIR, copy)
    facts = json.loads(nameort("info", "--json", "--model", str(copy)).stdout)
    assert facts["name"] is None and facts["sha256"] == by_name["sha256"]
    assert not nameort("info", "--model", str(copy)).stdout.startswith("name:")


@pytest.mark.parametrize(
    "args",
    [
        ["classify", "Rossi", "--model", "nosuchmodel"],
        ["info", "--model", "nosuchmodel"],
        ["batch", "-", "-o", "out.csv", "-c", "name", "--model", "nosuchmodel"],
        ["web", "build", "site", "--model", "nosuchmodel"],
    ],
)
def test_a_model_that_is_neither_a_bundled_name_nor_a_path_is_a_one_line_error(args, tmp_path):
    line = one_line_error(nameort(*args, cwd=tmp_path))
    known = ", ".join(bundled_models())
    assert line == (
        f"nameort: error: model not found: nosuchmodel (bundled models: {known}; "
        "or give a model folder or .onnx file)"
    )
    assert list(tmp_path.iterdir()) == []  # nothing written
