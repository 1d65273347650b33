"""The run folder's checkpoint: weights plus everything export needs to rebuild them.

``RUN_DIR/checkpoint.pt`` is a plain dict of JSON-like values and tensors, read
with ``torch.load(weights_only=True)`` so loading one never runs pickled code.
It carries the model config, the training config, the encoding rules, the
labels, the data record (files' sha256, shared-name policy, seed and split)
and the test metrics: ``nameort export`` needs nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from nameort.encoding import EncodingRules
from nameort.errors import NameortError

from .config import TrainConfig
from .model import ModelConfig, build_model, inference_model

CHECKPOINT_FILENAME = "checkpoint.pt"
METRICS_FILENAME = "metrics.json"
CHECKPOINT_FORMAT = "nameort-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(NameortError):
    """A run folder or checkpoint that is missing, corrupt or of another format."""


@dataclass(frozen=True)
class Checkpoint:
    """A trained model and its record."""

    model_config: ModelConfig  # rebuilds the network
    train_config: TrainConfig  # how it was trained
    rules: EncodingRules  # how names became input
    labels: tuple  # output order
    data: dict  # data folder record: files_sha256, counts, split sizes, removed spellings
    metrics: dict  # test metrics of the best epoch (metrics.json)
    history: list  # per-epoch loss and accuracies
    state_dict: dict  # the weights of the best validation epoch

    def build(self) -> torch.nn.Module:
        """The network with its weights, in eval mode (dropout off), outputs as the labels (``inference_model``)."""
        model = build_model(self.model_config)
        model.load_state_dict(self.state_dict)
        return inference_model(model)


def save_checkpoint(checkpoint: Checkpoint, run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CHECKPOINT_FILENAME
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "model_config": checkpoint.model_config.to_json(),
            "train_config": checkpoint.train_config.to_json(),
            "encoding": checkpoint.rules.to_json(),
            "labels": list(checkpoint.labels),
            "data": checkpoint.data,
            "metrics": checkpoint.metrics,
            "history": checkpoint.history,
            "state_dict": {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()},
        },
        path,
    )
    (run_dir / METRICS_FILENAME).write_text(json.dumps(checkpoint.metrics, indent=2) + "\n", encoding="utf-8")
    return path


def load_checkpoint(run_dir: Path) -> Checkpoint:
    """Read ``RUN_DIR/checkpoint.pt``; every problem becomes a one-line CheckpointError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder not found: {run_dir}")
    path = run_dir / CHECKPOINT_FILENAME
    if not path.is_file():
        raise CheckpointError(f"no {CHECKPOINT_FILENAME} in run folder {run_dir} (did training finish?)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        # Not torch's text: for a damaged file it suggests weights_only=False, which is never the fix here.
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a torch checkpoint ({type(exc).__name__})"
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a nameort checkpoint")
    if raw.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {raw.get('format_version')!r}; this nameort reads {CHECKPOINT_VERSION}"
        )
    try:
        checkpoint = Checkpoint(
            model_config=ModelConfig.from_json(raw["model_config"]),
            train_config=TrainConfig.from_json(raw["train_config"]),
            rules=EncodingRules.from_json(raw["encoding"]),
            labels=tuple(raw["labels"]),
            data=dict(raw["data"]),
            metrics=dict(raw["metrics"]),
            history=list(raw["history"]),
            state_dict=dict(raw["state_dict"]),
        )
        checkpoint.build()  # the weights must fit the recorded architecture
    except (KeyError, TypeError, ValueError, RuntimeError, NameortError) as exc:
        raise CheckpointError(f"checkpoint {path} is inconsistent ({_first_line(exc)})") from None
    return checkpoint


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
