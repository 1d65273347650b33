"""The runtime never needs torch, onnx, or the training/export packages."""

import json

from blocker import run_without

HEAVY = ("torch", "onnx", "onnxscript", "nameort_train", "nameort_export")


def test_api_works_where_torch_cannot_be_imported():
    proc = run_without(
        HEAVY,
        """
        import sys
        from nameort import Classifier
        clf = Classifier.load()
        labels = [p.label for p in clf.predict_many(["Tribbiani", "Schmidt"])]
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "onnx", "nameort_train", "nameort_export"})
        print(labels, heavy)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['Italian', 'German'] []"


def test_cli_classify_and_info_work_where_torch_cannot_be_imported():
    proc = run_without(
        HEAVY,
        """
        import sys
        from nameort.cli import main
        sys.argv = ["nameort", "classify", "Tribbiani", "--format", "jsonl"]
        try:
            main()
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["label"] == "Italian"


def test_training_commands_say_what_to_install_when_torch_is_missing():
    proc = run_without(
        ("torch",),
        """
        import sys
        from nameort.cli import main
        sys.argv = ["nameort", "train", "--data", ".", "--out", "run"]
        main()
        """,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install" in lines[0] and "[train" in lines[0]
