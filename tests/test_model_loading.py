"""Loading models: resolution of the model argument, and one clear ModelError for every broken file."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from nameort import Classifier, ModelError
from nameort.sidecar import BUNDLED_MODEL_DIR, file_sha256


@pytest.fixture
def model_dir(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, target)
    return target


def edit_sidecar(model_dir, change):
    path = model_dir / "model.onnx.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_folder_onnx_path_and_sidecar_path_all_load(model_dir):
    for arg in (model_dir, model_dir / "model.onnx", model_dir / "model.onnx.json", str(model_dir)):
        assert Classifier.load(arg).labels == ("German", "Italian", "other")


def test_model_renamed_with_its_sidecar_loads(model_dir):
    os.rename(model_dir / "model.onnx", model_dir / "names.onnx")
    os.rename(model_dir / "model.onnx.json", model_dir / "names.onnx.json")
    assert Classifier.load(model_dir / "names.onnx").predict("Tribbiani").label == "Italian"


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match="model not found"):
        Classifier.load(tmp_path / "nope")


def test_folder_without_model(tmp_path):
    with pytest.raises(ModelError, match="no model.onnx in model folder"):
        Classifier.load(tmp_path)


def test_missing_sidecar(model_dir):
    (model_dir / "model.onnx.json").unlink()
    with pytest.raises(ModelError, match="sidecar model.onnx.json not found"):
        Classifier.load(model_dir)


def test_sidecar_of_another_model(model_dir):
    edit_sidecar(model_dir, lambda d: d.update(model_sha256="0" * 64))
    with pytest.raises(ModelError, match="does not match its sidecar"):
        Classifier.load(model_dir)


def test_truncated_model(model_dir):
    data = (model_dir / "model.onnx").read_bytes()
    (model_dir / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="does not match its sidecar"):
        Classifier.load(model_dir)
    # Even with a sidecar that vouches for the truncated bytes, it is refused as a model.
    edit_sidecar(model_dir, lambda d: d.update(model_sha256=file_sha256(model_dir / "model.onnx")))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Classifier.load(model_dir)


def test_random_bytes_named_onnx(model_dir):
    (model_dir / "model.onnx").write_bytes(os.urandom(4096))
    edit_sidecar(model_dir, lambda d: d.update(model_sha256=file_sha256(model_dir / "model.onnx")))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Classifier.load(model_dir)


def test_sidecar_that_is_not_json(model_dir):
    (model_dir / "model.onnx.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="not valid JSON"):
        Classifier.load(model_dir)


@pytest.mark.parametrize("key", ["labels", "encoding", "model_sha256", "format_version"])
def test_sidecar_missing_a_key(model_dir, key):
    edit_sidecar(model_dir, lambda d: d.pop(key))
    with pytest.raises(ModelError, match=f"lacks {key}"):
        Classifier.load(model_dir)


def test_newer_format_version(model_dir):
    edit_sidecar(model_dir, lambda d: d.update(format_version=99))
    with pytest.raises(ModelError, match="format version 99"):
        Classifier.load(model_dir)


def test_sidecar_vocabulary_disagrees_with_model_input(model_dir):
    edit_sidecar(model_dir, lambda d: d["encoding"].update(characters=d["encoding"]["characters"][:-1]))
    with pytest.raises(ModelError, match="input shape .* does not match the sidecar"):
        Classifier.load(model_dir)


def test_sidecar_sequence_length_disagrees_with_model_input(model_dir):
    edit_sidecar(model_dir, lambda d: d["encoding"].update(sequence_length=20))
    with pytest.raises(ModelError, match="sequence length 20"):
        Classifier.load(model_dir)


@pytest.mark.parametrize("extra", [1, -1])
def test_sidecar_labels_disagree_with_model_output(model_dir, extra):
    # One label more, or one fewer, than the network has outputs; the background label stays among them.
    labels = list(Classifier.load(model_dir).labels)
    labels = labels + ["French"] if extra > 0 else [label for label in labels if label != "Italian"]
    edit_sidecar(model_dir, lambda d: d.update(labels=labels))
    with pytest.raises(ModelError, match=f"does not match the sidecar's {len(labels)} labels"):
        Classifier.load(model_dir)


def test_onnx_model_with_another_input_shape(model_dir):
    import onnx  # from the [train] extra, which the full test environment installs
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["logits"], keepdims=0, axes=[1])],
        "wrong",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=8)
    onnx.save(model, model_dir / "model.onnx")
    edit_sidecar(model_dir, lambda d: d.update(model_sha256=file_sha256(model_dir / "model.onnx")))
    with pytest.raises(ModelError, match="input shape"):
        Classifier.load(model_dir)


BROKEN = {
    "missing sidecar": lambda d: (d / "model.onnx.json").unlink(),
    "sidecar of another model": lambda d: edit_sidecar(d, lambda j: j.update(model_sha256="0" * 64)),
    "truncated model": lambda d: (d / "model.onnx").write_bytes((d / "model.onnx").read_bytes()[:1000]),
    "random bytes": lambda d: (d / "model.onnx").write_bytes(os.urandom(1000)),
    "missing keys": lambda d: edit_sidecar(d, lambda j: j.pop("labels")),
    "newer format": lambda d: edit_sidecar(d, lambda j: j.update(format_version=99)),
    "other vocabulary": lambda d: edit_sidecar(d, lambda j: j["encoding"].update(characters=["a", "b"])),
}


@pytest.mark.parametrize("breakage", BROKEN, ids=list(BROKEN))
def test_cli_reports_each_broken_model_in_one_line(model_dir, breakage):
    BROKEN[breakage](model_dir)
    for command in (["classify", "Rossi"], ["info"]):
        proc = subprocess.run(
            [sys.executable, "-m", "nameort", *command, "--model", str(model_dir)], capture_output=True, text=True
        )
        assert proc.returncode == 2, (breakage, proc.stderr)
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nameort: error:"), lines
