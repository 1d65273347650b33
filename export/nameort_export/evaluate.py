"""``nameort evaluate``: score an exported model on its own test split, through the runtime.

The split is re-derived from what the sidecar recorded (labels, shared-name
policy, seed, split fractions), so the figures are comparable with the ones
training wrote. That only holds for the same data: when a label file's sha256
differs from the recorded one, evaluation refuses unless told otherwise.
Scoring goes through ``nameort.Classifier`` -- the path users run -- so no
torch is needed here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nameort.classifier import Classifier
from nameort.errors import ModelError
from nameort_train.data import DataError, load_dataset, split_indices
from nameort_train.metrics import classification_metrics

log = logging.getLogger(__name__)

REQUIRED = ("labels", "shared", "seed", "split", "files_sha256")


def evaluate_model(
    model: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    allow_changed_data: bool = False,
    device: str = "auto",
    threads: int | None = None,
) -> dict:
    """Metrics (as in ``metrics.json``) of ``model`` on ``split``, plus what was compared."""
    classifier = Classifier.load(model, device=device, threads=threads)
    card = classifier.card
    record = card.training.get("data") or {}
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise ModelError(
            f"{card.sidecar_path} does not record the training data ({', '.join(missing)} missing); "
            "cannot re-derive its test split"
        )
    labels = tuple(record["labels"])
    if labels != tuple(card.labels):
        raise ModelError(f"{card.sidecar_path}: recorded data labels {list(labels)} differ from the model's")

    dataset = load_dataset(data_dir, labels, record["shared"])
    changed = sorted(
        label for label in labels if dataset.files_sha256[label] != record["files_sha256"].get(label)
    )
    if changed:
        files = ", ".join(f"{label}.txt" for label in changed)
        if not allow_changed_data:
            raise DataError(
                f"{files} in {data_dir} differ from the files the model was trained on (sha256); "
                "its test split cannot be re-derived (--allow-changed-data scores anyway)"
            )
        log.warning("%s differ from the training files; the split is not the one training used", files)

    rows = split_indices(dataset, int(record["seed"]), tuple(record["split"]))[split]
    names = [dataset.names[i] for i in rows]
    targets = [dataset.targets[i] for i in rows]
    with classifier:  # closes its thread pool, if predicting opened one
        predictions = classifier.predict_many(names)
    index = {label: i for i, label in enumerate(labels)}
    scored = [(t, index[p.label]) for t, p in zip(targets, predictions) if p.label in index]
    if len(scored) != len(names):
        # Only possible with changed data: a name the encoder cannot use gets no label.
        log.warning("%d of %d names could not be scored", len(names) - len(scored), len(names))
    metrics = classification_metrics([t for t, _ in scored], [p for _, p in scored], labels)
    metrics.update(
        split=split,
        unscored=len(names) - len(scored),
        model=str(card.model_path),
        provider=classifier.provider,
        recorded_accuracy=card.metrics.get("test_accuracy") if split == "test" else None,
        data_changed=changed,
    )
    return metrics
