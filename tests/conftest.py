"""Shared fixtures: the dataset folder, and one small trained + exported model per test session.

Training and export take seconds, so the pipeline tests share one German/Italian
run instead of each training their own. Everything is written under pytest's
tmp folders: the dataset (``../shared/data/names``) is read-only in CI.

The suite needs the full test environment; a test module that cannot be
collected because a package of it is missing stops the run with the one
command that installs everything, instead of a ModuleNotFoundError per module
(nothing is skipped: a missing extra is a broken environment, not a pass).
"""

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The packages beyond the runtime that test modules import (directly or through the code they test).
SUITE_PACKAGES = (
    "torch", "onnx", "onnxscript", "onnxruntime", "hypothesis", "psutil", "dask", "distributed", "pandas",
    "pyarrow", "polars", "starlette", "uvicorn", "orjson",
)
INSTALL = "pip install torch==2.13.0 && pip install -e '.[train,gpu,test,dask,serve,parquet]'"


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if report.failed and isinstance(collector, pytest.Module):
        missing = [name for name in SUITE_PACKAGES if not _importable(name)]
        if missing:
            raise pytest.UsageError(
                f"{collector.path.name} cannot be collected: the test environment lacks {', '.join(missing)}. "
                f"Install it with: {INSTALL} (scripts/test does that, and the web page's Node/Chromium set-up, "
                "in a fresh venv)"
            )
    return report


CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
# Asks ONNX Runtime itself, in a fresh process (a CUDA load failure is logged to fd 2), which provider a
# session of the bundled model really runs on when CUDA is offered: the oracle the device tests compare with.
_PROVIDER_PROBE = """
import sys, onnxruntime as ort
from nameort.sidecar import resolve_model_path
if "CUDAExecutionProvider" not in ort.get_available_providers():
    print("CPUExecutionProvider", "this ONNX Runtime has no CUDA provider"); sys.exit()
options = ort.SessionOptions(); options.log_severity_level = 3
session = ort.InferenceSession(str(resolve_model_path(None)), options,
                               providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
print(session.get_providers()[0], "the CUDA provider did not load")
"""


@functools.cache
def onnxruntime_provider() -> tuple:
    """(provider a CUDA-first session really uses here, why not CUDA when it is CPU)."""
    proc = subprocess.run([sys.executable, "-c", _PROVIDER_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    provider, why = proc.stdout.strip().split(" ", 1)
    return provider, why


def nvidia_gpu_present() -> bool:
    return Path("/dev/nvidia0").exists() or any(Path("/proc/driver/nvidia/gpus").glob("*"))


@pytest.fixture(scope="session")
def active_provider() -> str:
    """What ``--device auto`` must report: CUDA where ONNX Runtime really runs on it, else CPU."""
    return onnxruntime_provider()[0]


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run where CUDA runs; they are skipped only where no NVIDIA GPU exists at all.

    A GPU that ONNX Runtime cannot use (missing CUDA/cuDNN libraries) is a broken set-up, not missing
    hardware: those tests then run and fail with ONNX Runtime's reason.
    """
    marked = [item for item in items if item.get_closest_marker("cuda")]
    if not marked:
        return
    provider, why = onnxruntime_provider()
    if provider == CUDA or nvidia_gpu_present():
        return
    skip = pytest.mark.skip(reason=f"no NVIDIA GPU on this machine ({why}; ran on {provider})")
    for item in marked:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The names folder: $NAMEORT_DATA, else ../shared/data/names beside the repository."""
    path = Path(os.environ.get("NAMEORT_DATA") or REPO.parent / "shared" / "data" / "names")
    if not (path / "German.txt").is_file():
        pytest.fail(f"dataset not found at {path}; set NAMEORT_DATA (see data/README.md)")
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, data_dir):
    """RUN_DIR of a default-preset German/Italian run, trained through the CLI (seed 0)."""
    from click.testing import CliRunner

    from nameort.cli import main

    run_dir = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(main, ["train", "--data", str(data_dir), "--out", str(run_dir), "--seed", "0"])
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory, trained_run):
    """MODEL_DIR exported (and verified) from ``trained_run`` through the CLI."""
    from click.testing import CliRunner

    from nameort.cli import main

    model_dir = tmp_path_factory.mktemp("model")
    result = CliRunner().invoke(main, ["export", str(trained_run), "--out", str(model_dir)])
    assert result.exit_code == 0, result.output
    return model_dir


@pytest.fixture(scope="session")
def open_set_run(tmp_path_factory, data_dir):
    """RUN_DIR of an open-set German/Italian/other run (--other rest, the default recipe otherwise), seed 0."""
    from click.testing import CliRunner

    from nameort.cli import main

    run_dir = tmp_path_factory.mktemp("open-run")
    args = ["train", "--data", str(data_dir), "--other", "rest", "--out", str(run_dir), "--seed", "0",
            "--quiet", "--force"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture(scope="session")
def open_set_model(tmp_path_factory, open_set_run):
    """MODEL_DIR exported (and verified) from ``open_set_run`` through the CLI."""
    from click.testing import CliRunner

    from nameort.cli import main

    model_dir = tmp_path_factory.mktemp("open-model")
    result = CliRunner().invoke(main, ["export", str(open_set_run), "--out", str(model_dir)])
    assert result.exit_code == 0, result.output
    return model_dir
