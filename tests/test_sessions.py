"""Execution providers: auto stays quiet on CPU, cuda never falls back silently, missing ORT is one line."""

import subprocess
import sys
import warnings

import pytest

from blocker import run_without
from nameort import sessions
from nameort.errors import DeviceError


def has_cuda_build():
    return sessions.CUDA in sessions.available_providers()


def test_auto_runs_on_cpu_here_and_prints_nothing():
    # This machine has no GPU. With onnxruntime-gpu installed, ONNX Runtime would
    # log a CUDA load failure to stderr; auto mode must keep it quiet.
    proc = subprocess.run(
        [sys.executable, "-c", "from nameort import Classifier; print(Classifier.load(device='auto').provider)"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == "CPUExecutionProvider"
    assert proc.stderr == ""


def test_cuda_without_a_usable_gpu_is_a_clear_error():
    from nameort import Classifier

    expected = "CUDA cannot be used here" if has_cuda_build() else "has no CUDA support"
    with pytest.raises(DeviceError, match=expected):
        Classifier.load(device="cuda")


def test_cli_cuda_failure_is_one_line_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", "Rossi", "--device", "cuda"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nameort: error: --device cuda:")


def test_missing_onnxruntime_names_the_extra():
    proc = run_without(
        ("onnxruntime",),
        """
        import sys
        from nameort.cli import main
        sys.argv = ["nameort", "classify", "Rossi"]
        main()
        """,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "nameort: error: ONNX Runtime is not installed: pip install 'nameort[cpu]' (or 'nameort[gpu]' for CUDA)"
    )


def test_both_onnxruntime_wheels_installed_warns(monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda dist: "1.0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sessions._warn_if_both_wheels()
    assert len(caught) == 1 and "both onnxruntime and onnxruntime-gpu are installed" in str(caught[0].message)


def test_unknown_device_is_refused():
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        sessions.open_session("unused.onnx", device="tpu")
