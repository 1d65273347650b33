"""``nameort export``: run folder -> ``MODEL_DIR/model.onnx`` + ``model.onnx.json``.

Three separate steps: convert (``convert.to_onnx``), validate
(``validate.validate_onnx``, on by default), then describe (the sidecar,
written through ``nameort.sidecar``). The ONNX file is built in a scratch
folder and moved into place only once it passed, so a failed export never
leaves an unverified model under the real name.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import shutil
import tempfile
from pathlib import Path

from nameort.decision import DecisionRules
from nameort.sidecar import MODEL_FILENAME, ModelCard, file_sha256, sidecar_path_for, write_card
from nameort_train.checkpoint import Checkpoint, load_checkpoint

from .convert import check_interface, to_onnx
from .validate import validate_onnx

log = logging.getLogger(__name__)

TOOLS = ("torch", "onnx", "onnxscript", "onnxruntime", "onnxruntime-gpu", "numpy", "nameort")


def export_run(run_dir: Path, out_dir: Path, verify: bool = True) -> ModelCard:
    """Export the checkpoint in ``run_dir`` to ``out_dir``; return the written model card."""
    checkpoint = load_checkpoint(run_dir)
    model = checkpoint.build()
    rules = checkpoint.rules
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        candidate = to_onnx(model, rules.sequence_length, len(rules.characters), scratch / MODEL_FILENAME)
        check_interface(candidate, rules.sequence_length, len(rules.characters), len(checkpoint.labels))
        parity = validate_onnx(model, candidate, rules).to_json() if verify else None
        model_path = out_dir / MODEL_FILENAME
        os.replace(candidate, model_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    card = ModelCard(
        model_path=model_path,
        sidecar_path=sidecar_path_for(model_path),
        model_sha256=file_sha256(model_path),
        labels=tuple(checkpoint.labels),
        rules=rules,
        # Temperature and operating point as training fitted them on validation (train.fit_decision).
        decision=DecisionRules.from_json(checkpoint.metrics.get("decision"), checkpoint.labels),
        metrics=dict(checkpoint.metrics) | {"onnx_parity": parity, "verified": parity is not None},
        training=training_record(checkpoint),
        tool_versions=tool_versions(),
    )
    write_card(card)
    log.info("exported %s (%s)", model_path, "verified" if verify else "NOT verified")
    return card


def training_record(checkpoint: Checkpoint) -> dict:
    """What the sidecar says about training: enough to re-derive the test split."""
    return {
        "preset": checkpoint.train_config.preset,
        "config": checkpoint.train_config.to_json(),
        "model": checkpoint.model_config.to_json(),
        "data": checkpoint.data,
        "best_epoch": checkpoint.metrics.get("best_epoch"),
        "epochs_run": checkpoint.metrics.get("epochs_run"),
    }


def tool_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
