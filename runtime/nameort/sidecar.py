"""The sidecar JSON beside every model: the contract between export and runtime.

``model.onnx`` is accompanied by ``model.onnx.json`` holding the format version,
the encoding rules (vocabulary in index order, sequence length, normalisation
and unknown-character rules), the labels in output order, the model file's
sha256, and what training recorded (metrics, data split, tool versions).
This module reads and checks it; it knows nothing about ONNX Runtime.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .decision import DecisionRules
from .encoding import EncodingRules
from .errors import ModelError

FORMAT = "nameort-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.onnx"
SIDECAR_SUFFIX = ".json"  # model.onnx -> model.onnx.json
REQUIRED_KEYS = ("format", "format_version", "model_sha256", "labels", "encoding")
BUNDLED_MODELS_DIR = Path(__file__).parent / "models"  # one folder per bundled model, named as users call it
DEFAULT_MODEL = "german-italian"  # what Classifier.load() and the CLI use without --model
BUNDLED_MODEL_DIR = BUNDLED_MODELS_DIR / DEFAULT_MODEL


@dataclass(frozen=True)
class ModelCard:
    """A model's sidecar, parsed."""

    model_path: Path  # the .onnx file
    sidecar_path: Path  # its JSON sidecar
    model_sha256: str  # recorded checksum of the .onnx file
    labels: tuple  # class names, in the order of the model's outputs
    rules: EncodingRules  # how names become input
    metrics: dict  # what evaluation recorded at export (may be empty)
    training: dict  # preset, hyper-parameters, data and split (may be empty)
    tool_versions: dict  # versions of torch, onnx, ... at export (may be empty)
    decision: DecisionRules = DecisionRules()  # how probabilities become an answer (temperature, background label)

    @property
    def verified(self) -> bool | None:
        """Whether export checked ONNX Runtime against torch: False after ``export --no-verify``, None if unrecorded."""
        value = self.metrics.get("verified")
        return value if isinstance(value, bool) else None

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_file": self.model_path.name,
            "model_sha256": self.model_sha256,
            "labels": list(self.labels),
            "encoding": self.rules.to_json(),
            **({"decision": self.decision.to_json()} if self.decision.to_json() else {}),
            "metrics": self.metrics,
            "training": self.training,
            "tool_versions": self.tool_versions,
        }


def sidecar_path_for(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def bundled_models() -> list:
    """Names of the models shipped inside the package, sorted."""
    if not BUNDLED_MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_MODELS_DIR.iterdir() if (p / MODEL_FILENAME).is_file())


def resolve_model_path(model: str | Path | None) -> Path:
    """The .onnx file meant by a model argument.

    None is the default bundled model; a bundled model's name (``languages``)
    wins over a relative folder of that name (write ``./languages`` for the
    folder); anything else is a folder holding model.onnx, a .onnx file, or
    its .onnx.json sidecar.
    """
    if model is None or (isinstance(model, str) and model in _bundled_names()):
        name = DEFAULT_MODEL if model is None else model
        path = BUNDLED_MODELS_DIR / name / MODEL_FILENAME
        if not path.is_file():
            raise ModelError(f"the bundled model {name!r} is missing from {BUNDLED_MODELS_DIR}; reinstall nameort")
        return path
    path = Path(model)
    if path.is_dir():
        path = path / MODEL_FILENAME
        if not path.is_file():
            raise ModelError(f"no {MODEL_FILENAME} in model folder {model}")
        return path
    if not path.exists():
        known = ", ".join(bundled_models()) or "none"
        raise ModelError(f"model not found: {model} (bundled models: {known}; or give a model folder or .onnx file)")
    if path.suffix == SIDECAR_SUFFIX and path.name.endswith(".onnx.json"):
        return path.with_name(path.name[: -len(SIDECAR_SUFFIX)])
    return path


def _bundled_names() -> set:
    # The default's name always counts, so a missing bundled file is reported as such.
    return set(bundled_models()) | {DEFAULT_MODEL}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(model_path: Path, *, verify_checksum: bool = True, model_bytes: bytes | None = None) -> ModelCard:
    """Parse and check the sidecar of ``model_path``; every problem is a ModelError.

    ``model_bytes``: the model file's content when the caller has read it
    already, so the checksum is taken over exactly the bytes it will load.
    """
    sidecar = sidecar_path_for(model_path)
    if not sidecar.is_file():
        raise ModelError(f"sidecar {sidecar.name} not found beside {model_path}")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"sidecar {sidecar} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"sidecar {sidecar} is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ModelError(f"sidecar {sidecar} lacks {', '.join(missing)}")
    if data["format"] != FORMAT:
        raise ModelError(f"sidecar {sidecar} is not a nameort sidecar (format {data['format']!r})")
    if data["format_version"] != FORMAT_VERSION:
        raise ModelError(
            f"sidecar {sidecar} has format version {data['format_version']!r}; "
            f"this nameort reads version {FORMAT_VERSION} (upgrade nameort or re-export the model)"
        )
    try:
        rules = EncodingRules.from_json(data["encoding"])
        labels = tuple(str(label) for label in data["labels"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"sidecar {sidecar} has a bad encoding or labels entry: {exc}") from None
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ModelError(f"sidecar {sidecar} must list at least 2 distinct labels")
    try:
        decision = DecisionRules.from_json(data.get("decision"), labels)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"sidecar {sidecar} has a bad decision entry: {exc}") from None
    if verify_checksum:
        actual = file_sha256(model_path) if model_bytes is None else hashlib.sha256(model_bytes).hexdigest()
        if actual != data["model_sha256"]:
            raise ModelError(
                f"{model_path.name} does not match its sidecar (sha256 {actual[:12]}... "
                f"recorded {str(data['model_sha256'])[:12]}...): the sidecar belongs to another model"
            )
    return ModelCard(
        model_path=model_path,
        sidecar_path=sidecar,
        model_sha256=data["model_sha256"],
        labels=labels,
        rules=rules,
        decision=decision,
        metrics=dict(data.get("metrics") or {}),
        training=dict(data.get("training") or {}),
        tool_versions=dict(data.get("tool_versions") or {}),
    )


def write_card(card: ModelCard) -> None:
    card.sidecar_path.write_text(json.dumps(card.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
