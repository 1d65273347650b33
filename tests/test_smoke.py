"""Runtime smoke: what CI also runs in an environment with only `nameort[cpu]` (no torch at all)."""

import json
import subprocess
import sys


def test_classify_famous_examples_from_the_command_line():
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", "Tribbiani", "Schmidt", "--format", "jsonl"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["label"] for line in proc.stdout.splitlines()] == ["Italian", "German"]


def test_runtime_use_loads_no_training_stack():
    code = (
        "import sys; from nameort import Classifier; "
        "p = Classifier.load().predict('Esposito'); "
        "print(p.label, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'nameort_train', 'nameort_export')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "Italian"
    assert proc.stdout.strip().endswith("[]")
