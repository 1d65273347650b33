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

import numpy as np

from nameort.classifier import Classifier
from nameort.decision import restrict_to_letters
from nameort.errors import ModelError
from nameort_train.background import build_dataset
from nameort_train.data import DataError, split_indices
from nameort_train.figures import score_probabilities
from nameort_train.metrics import classification_metrics

from .reaccent import reaccent_figures

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
    plot_dir: str | Path | None = None,
) -> dict:
    """Metrics (as in ``metrics.json``) of ``model`` on ``split``, plus what was compared.

    ``figures`` holds ``nameort_train.figures.score``'s figures of the same
    answers (balanced accuracy, ECE, and for a model with a background label
    the open-set figures); ``plot_dir`` also writes the reliability diagram
    and the confusion matrix there as PNGs.
    """
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

    # An open-set model's "other" rows are re-drawn from the recorded background files, ratio and seed.
    other = tuple(record.get("other") or ())
    # A model with merged labels read more files than it has labels: "files" records them.
    files = tuple(record["files"]) if record.get("files") else (labels[:-1] if other else labels)
    dataset = build_dataset(
        data_dir, files, record["shared"], other,
        float(record.get("other_ratio", 1.0)), int(record["seed"]),
        dedupe=bool(record.get("dedupe", False)), merge=tuple(tuple(p) for p in record.get("merge") or ()),
    )
    if dataset.labels != labels:
        raise ModelError(f"{card.sidecar_path}: the recorded data gives labels {list(dataset.labels)}, not {list(labels)}")
    changed = sorted(
        label for label in dataset.files_sha256 if dataset.files_sha256[label] != record["files_sha256"].get(label)
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
        prepared = [classifier.encoder.prepare(n) for n in names]
        probabilities = classifier.probabilities([p.text for p in prepared if p.usable])
        # As predict_many answers: a name's letters beyond ASCII may narrow its labels (decision rule 4).
        restrict_to_letters(probabilities, [p.name for p in prepared if p.usable], classifier.card.decision, labels)
        reaccented = None
        if classifier.card.decision.other_label is not None and dataset.origins:
            real = len(labels) - 1
            held = [(dataset.names[i], dataset.origins[i]) for i in rows if dataset.targets[i] == real]
            reaccented = reaccent_figures(
                classifier, [n for n, _ in held], [o for _, o in held],
                [n for n, t in zip(dataset.names, dataset.targets) if t < real],
            )
    index = {label: i for i, label in enumerate(labels)}
    scored = [(t, index[p.label]) for t, p in zip(targets, predictions) if p.label in index]
    if len(scored) != len(names):
        # Only possible with changed data: a name the encoder cannot use gets no label.
        log.warning("%d of %d names could not be scored", len(names) - len(scored), len(names))
    metrics = classification_metrics([t for t, _ in scored], [p for _, p in scored], labels)
    usable = [p.usable for p in prepared]
    rules = card.decision
    foreign = classifier.foreign([p for p in prepared if p.usable])
    figures = score_probabilities(np.asarray(targets)[usable], probabilities, labels, rules, foreign=foreign)
    if plot_dir is not None:
        from nameort_train.plots import write_plots

        title = f"{Path(str(card.model_path)).parent.name}: {split} split"
        figures["plots"] = [
            str(p) for p in write_plots(plot_dir, probabilities, np.asarray(targets)[usable],
                                        figures["confusion_matrix"], labels, title)
        ]
    metrics.update(
        split=split,
        unscored=len(names) - len(scored),
        model=str(card.model_path),
        provider=classifier.provider,
        recorded_accuracy=card.metrics.get("test_accuracy") if split == "test" else None,
        data_changed=changed,
        decision=rules.to_json() or None,
        figures={k: v for k, v in figures.items() if k not in ("confusion_matrix", "labels")},
        reaccented=reaccented,
    )
    return metrics
