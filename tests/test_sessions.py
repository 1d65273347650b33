"""Execution providers: auto runs where ONNX Runtime really runs and stays quiet, cuda never falls back
silently, missing ORT is one line.

The expected provider comes from ONNX Runtime itself (conftest's probe of a session's get_providers()),
so these tests hold on a machine with a working GPU as on one without. Hiding the GPU from a process
(CUDA_VISIBLE_DEVICES="") exercises the onnxruntime-gpu fallback on any machine.
"""

import json
import os
import subprocess
import sys
import warnings

import pytest

from blocker import run_without
from conftest import CPU, CUDA
from nameort import sessions
from nameort.errors import DeviceError

NO_GPU = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # CUDA sees no device in this process


def has_cuda_build():
    return sessions.CUDA in sessions.available_providers()


def python(code, env=None):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


AUTO = """
from nameort import Classifier
clf = Classifier.load(device="auto")
print(clf.provider, clf._sessions[0].get_providers()[0])
"""


def test_auto_reports_the_provider_the_session_really_runs_on_and_prints_nothing(active_provider):
    # With onnxruntime-gpu and no usable GPU, ONNX Runtime logs a CUDA load failure to stderr;
    # auto mode must keep it quiet and say CPU, because the session really runs on CPU.
    proc = python(AUTO)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.split() == [active_provider, active_provider]


def test_auto_falls_back_to_cpu_quietly_when_cuda_cannot_run():
    proc = python(AUTO, env=NO_GPU)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.split() == [CPU, CPU]


def test_cuda_without_a_usable_gpu_is_a_clear_error():
    expected = "CUDA cannot be used here" if has_cuda_build() else "has no CUDA support"
    proc = python(
        "from nameort import Classifier\n"
        "from nameort.errors import DeviceError\n"
        "try:\n    Classifier.load(device='cuda')\n"
        "except DeviceError as exc:\n    print(exc)\n",
        env=NO_GPU,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("--device cuda: ") and expected in proc.stdout, proc


def test_cli_cuda_failure_is_one_line_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", "Rossi", "--device", "cuda"],
        capture_output=True, text=True, env=NO_GPU,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nameort: error: --device cuda:")


@pytest.mark.cuda
def test_device_cuda_end_to_end_matches_cpu():
    names = ["Tribbiani", "Schmidt", "García", "", "李明", "x" * 30, "Esposito", "Zimmermann"]
    runs = {}
    for device in ("cpu", "cuda"):
        proc = subprocess.run(
            [sys.executable, "-m", "nameort", "classify", *names, "--device", device, "--format", "json"],
            capture_output=True, text=True,
        )
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        runs[device] = json.loads(proc.stdout)
    for gpu, cpu in zip(runs["cuda"], runs["cpu"]):
        assert (gpu["name"], gpu["label"], gpu["status"]) == (cpu["name"], cpu["label"], cpu["status"])
        # CUDA may run float32 matmuls as TF32: close to the CPU's numbers, not equal to them.
        assert gpu["probabilities"] == pytest.approx(cpu["probabilities"], abs=2e-3)
    info = subprocess.run([sys.executable, "-m", "nameort", "info", "--json", "--device", "cuda"],
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["provider_active"] == CUDA


@pytest.mark.cuda
def test_device_cuda_sessions_really_run_on_cuda():
    from nameort import Classifier

    clf = Classifier.load(device="cuda", threads=2)
    names = [f"Ross{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(3000)]  # past PARALLEL_MIN_ROWS
    assert len(clf.predict_many(names)) == 3000
    # A large batch stays on the one CUDA session: no CPU helper sessions join it.
    assert clf.provider == CUDA and [s.get_providers()[0] for s in clf._sessions] == [CUDA]


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
