"""ONNX Runtime: importing it, choosing a device, and opening sessions.

Facts this module is built on (see FIELD-NOTES):
* ``onnxruntime`` and ``onnxruntime-gpu`` both provide the ``onnxruntime``
  module; installed together they break each other. We warn when both are.
* ``get_available_providers()`` lists what the wheel was built with, not what
  can load: onnxruntime-gpu on a machine without CUDA logs an error to stderr
  and silently runs on CPU. Only ``session.get_providers()`` tells the truth.
* Single-threaded sessions without spinning, one per core, beat one session
  with intra-op threads for this small model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings

from .errors import DeviceError, MissingDependencyError, ModelError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
INSTALL_HINT = "pip install 'nameort[cpu]' (or 'nameort[gpu]' for CUDA)"

_ort = None


def onnxruntime():
    """The onnxruntime module, imported once, with a one-line error when missing."""
    global _ort
    if _ort is None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependencyError(f"ONNX Runtime is not installed: {INSTALL_HINT}") from None
        _warn_if_both_wheels()
        _ort = ort
    return _ort


def _warn_if_both_wheels():
    from importlib import metadata

    installed = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            metadata.version(dist)
            installed.append(dist)
        except metadata.PackageNotFoundError:
            pass
    if len(installed) == 2:
        warnings.warn(
            "both onnxruntime and onnxruntime-gpu are installed; they conflict "
            "(CUDA may silently disappear). Uninstall both, then install one: "
            "pip install 'nameort[cpu]' or 'nameort[gpu]'",
            RuntimeWarning,
            stacklevel=3,
        )


def available_providers() -> list:
    return list(onnxruntime().get_available_providers())


def session_options(threads: int = 1):
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle spinning burns a core between calls for no gain on a model this small.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def open_session(model_path, device: str = "auto", threads: int = 1, model_bytes: bytes | None = None):
    """An InferenceSession on ``device``; returns (session, provider actually used).

    ``model_bytes``: the model's content, when already read (and verified);
    ``model_path`` then only names it in messages.

    ``auto`` tries CUDA only when the wheel has it, keeps it only when the
    session really runs on it, and keeps ONNX Runtime's failure messages off
    the user's terminal. ``cuda`` never falls back: it raises DeviceError.
    """
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    ort = onnxruntime()
    want_cuda = device == "cuda" or (device == "auto" and CUDA in ort.get_available_providers())
    if device == "cuda" and CUDA not in ort.get_available_providers():
        raise DeviceError(
            "--device cuda: this ONNX Runtime has no CUDA support; "
            "pip uninstall onnxruntime && pip install 'nameort[gpu]'"
        )
    if not want_cuda:
        session = _create(ort, model_path, model_bytes, [CPU], threads)
        return session, CPU

    with _captured_stderr() as captured:
        session = _create(ort, model_path, model_bytes, [CUDA, CPU], threads)
    if CUDA in session.get_providers():
        return session, CUDA
    if device == "cuda":
        reason = _first_error_line(captured.text) or "the CUDA provider did not load"
        raise DeviceError(f"--device cuda: CUDA cannot be used here ({reason}); use --device cpu or auto")
    log.info("CUDA provider unavailable, running on CPU: %s", _first_error_line(captured.text))
    return session, CPU


def _create(ort, model_path, model_bytes, providers, threads):
    source = str(model_path) if model_bytes is None else model_bytes
    try:
        return ort.InferenceSession(source, sess_options=session_options(threads), providers=providers)
    except Exception as exc:  # ORT raises its own untyped errors for bad files.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{model_path} is not a loadable ONNX model: {detail}") from None


def _first_error_line(text: str) -> str:
    """The gist of ONNX Runtime's first error log line, without its timestamp and source path."""
    for line in text.splitlines():
        if "error" in line.lower() or "fail" in line.lower():
            gist = line.rsplit("FAIL : ", 1)[-1].rsplit("] ", 1)[-1].strip()
            return gist[:240]
    return ""


class _Captured:
    text = ""


@contextlib.contextmanager
def _captured_stderr():
    """Collect what native code writes to file descriptor 2 while inside.

    ONNX Runtime logs provider failures from C++ straight to fd 2, so Python's
    sys.stderr cannot intercept them; we swap the descriptor itself. It is
    process-wide for the few milliseconds of session creation, and only used
    when a CUDA-enabled wheel must be tried (device auto or cuda).
    """
    captured = _Captured()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (daemonised): nothing to protect
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
