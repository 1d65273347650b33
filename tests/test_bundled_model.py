"""The bundled default model: it is what its sidecar says, on the data it names."""

import json
import subprocess
import sys

from nameort.sidecar import BUNDLED_MODEL_DIR, read_card


def test_evaluate_reproduces_the_accuracy_recorded_in_the_sidecar(data_dir):
    card = read_card(BUNDLED_MODEL_DIR / "model.onnx")
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "evaluate", str(BUNDLED_MODEL_DIR), "--data", str(data_dir), "--json"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    scored = json.loads(proc.stdout)
    assert scored["accuracy"] == card.metrics["test_accuracy"]
    assert scored["count"] == 143
    assert card.metrics["test_accuracy"] >= 0.95


def test_the_famous_examples_from_a_fresh_install():
    proc = subprocess.run([sys.executable, "-m", "nameort", "classify", "Tribbiani", "Schmidt"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    labels = [line.split()[1] for line in proc.stdout.splitlines()[1:]]
    assert labels == ["Italian", "German"]
