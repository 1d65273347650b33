"""The models shipped inside the package, described for people: ``nameort models`` and ``nameort info``.

``sidecar`` knows where bundled models live and resolves their names; this
module says what each one is: its name, labels, size, whether it is the
default, and one line about it. The line is the sidecar's optional
``"description"`` string; a sidecar without one gets a line made from what it
records (labels, background label, preset, test-split figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import sidecar as _sidecar
from .errors import ModelError
from .output import accuracy_summary
from .sidecar import DEFAULT_MODEL, MODEL_FILENAME, read_card, sidecar_path_for


@dataclass(frozen=True)
class BundledModel:
    name: str  # what --model and Classifier.load() take
    default: bool  # used when no model is given
    labels: tuple  # in the model's output order
    other_label: str | None  # the background label of an open-set model
    model_bytes: int  # size of model.onnx
    sidecar_bytes: int  # size of model.onnx.json
    description: str  # one line
    path: Path  # the model.onnx file

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "default": self.default,
            "labels": list(self.labels),
            "other_label": self.other_label,
            "model_bytes": self.model_bytes,
            "sidecar_bytes": self.sidecar_bytes,
            "description": self.description,
            "path": str(self.path),
        }


def bundled_name(model_path: Path) -> str | None:
    """The name of the bundled model whose .onnx file ``model_path`` is; None for any other model."""
    path = Path(model_path).resolve()
    # sidecar's globals are read at call time, so a test can point them at a folder of its own.
    if path.name != MODEL_FILENAME or path.parent.parent != _sidecar.BUNDLED_MODELS_DIR.resolve():
        return None
    return path.parent.name if path.parent.name in _sidecar.bundled_models() else None


def describe(name: str) -> BundledModel:
    """One bundled model, read and checked as the runtime reads it (checksum included); ModelError if broken."""
    path = _sidecar.BUNDLED_MODELS_DIR / name / MODEL_FILENAME
    card = read_card(path)
    sidecar = sidecar_path_for(path)
    try:
        description = json.loads(sidecar.read_text(encoding="utf-8")).get("description")
    except (OSError, ValueError) as exc:  # read_card has just read it; only a race gets here
        raise ModelError(f"cannot read {sidecar}: {exc}") from None
    if not isinstance(description, str) or not description.strip():
        description = _made_up_description(card)
    return BundledModel(
        name=name,
        default=name == DEFAULT_MODEL,
        labels=card.labels,
        other_label=card.decision.other_label,
        model_bytes=path.stat().st_size,
        sidecar_bytes=sidecar.stat().st_size,
        description=" ".join(description.split()),
        path=path,
    )


def list_bundled() -> list:
    """Every bundled model, the default first, then by name; ModelError names the first broken one."""
    names = sorted(_sidecar.bundled_models(), key=lambda n: (n != DEFAULT_MODEL, n))
    models = []
    for name in names:
        try:
            models.append(describe(name))
        except ModelError as exc:
            raise ModelError(f"the bundled model {name!r} is broken: {exc}; reinstall nameort") from None
    return models


def _made_up_description(card) -> str:
    """A line from what the sidecar records, for sidecars without a description."""
    other = card.decision.other_label
    real = [label for label in card.labels if label != other]
    if len(real) <= 4:
        what = " / ".join(real)
    else:
        what = f"{len(real)} languages"
    line = f"{what}" + (f", or {other} (none of them)" if other else "")
    facts = []
    preset = card.training.get("preset")
    if preset:
        facts.append(f"preset {preset}")
    summary = accuracy_summary(card.metrics)
    if summary:
        facts.append(f"test split: {summary}")
    return line + (f" ({', '.join(facts)})" if facts else "")
