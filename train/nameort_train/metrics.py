"""Classification figures shared by training (torch) and evaluation (ONNX Runtime).

Torch-free on purpose: ``nameort evaluate`` scores through the runtime and must
report exactly the figures training wrote to ``metrics.json``.
"""

from __future__ import annotations

import numpy as np


def classification_metrics(targets, predictions, labels) -> dict:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix.

    ``confusion_matrix[i][j]`` counts names of label ``i`` predicted as ``j``.
    A class never predicted has precision 0 (not NaN), so the JSON stays valid.
    """
    targets = np.asarray(targets, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if targets.shape != predictions.shape:
        raise ValueError("targets and predictions differ in length")
    n = len(labels)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (targets, predictions), 1)
    per_class = {}
    for i, label in enumerate(labels):
        true_pos = int(confusion[i, i])
        predicted = int(confusion[:, i].sum())
        support = int(confusion[i, :].sum())
        precision = true_pos / predicted if predicted else 0.0
        recall = true_pos / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    total = int(confusion.sum())
    return {
        "accuracy": float(np.trace(confusion) / total) if total else 0.0,
        "count": total,
        "labels": list(labels),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def format_metrics(metrics: dict) -> str:
    """A plain-text report: accuracy, a per-class table, the confusion matrix."""
    labels = metrics["labels"]
    width = max(8, *(len(label) for label in labels))
    lines = [f"accuracy  {metrics['accuracy']:.4f}  ({metrics['count']} names)", ""]
    lines.append(f"{'label':<{width}}  precision  recall     f1  support")
    for label in labels:
        c = metrics["per_class"][label]
        lines.append(
            f"{label:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:5.3f}  {c['support']:7d}"
        )
    lines += ["", "confusion matrix (rows: true label, columns: predicted)"]
    # Columns are headed by the label cut to at most 7 characters, so 18 labels still fit a terminal.
    short = [label[:7] for label in labels]
    cell = max(*(len(s) for s in short), *(len(str(v)) for row in metrics["confusion_matrix"] for v in row))
    lines.append(" " * width + "".join(f" {s:>{cell}}" for s in short))
    for label, row in zip(labels, metrics["confusion_matrix"]):
        lines.append(f"{label:<{width}}" + "".join(f" {v:>{cell}d}" for v in row))
    return "\n".join(lines)
