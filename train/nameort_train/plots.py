"""PNG figures for ``--plot DIR``: the reliability diagram and the confusion matrix.

matplotlib is part of the ``train`` extra and imported only when a plot is
drawn (with the Agg backend: no display needed), so scoring without plots
never needs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import reliability

RELIABILITY_PNG = "reliability.png"
CONFUSION_PNG = "confusion.png"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        from nameort.errors import MissingDependencyError

        raise MissingDependencyError("--plot needs matplotlib: pip install 'nameort[train]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reliability_png(probabilities: np.ndarray, targets, path: Path, title: str) -> Path:
    """Accuracy against confidence per bin (bars), the diagonal of perfect calibration, the ECE in the title."""
    plt = _pyplot()
    curve = reliability(np.asarray(probabilities), targets)
    bins = curve["bins"]
    centres = (np.arange(bins) + 0.5) / bins
    accuracy = [a if a is not None else 0.0 for a in curve["accuracy"]]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=(3, 1), sharex=True)
    top.bar(centres, accuracy, width=1 / bins, edgecolor="black", label="accuracy")
    top.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    top.set_ylabel("accuracy of the most probable label")
    top.set_title(f"{title}\nECE {curve['ece']:.4f} ({bins} bins, {len(targets)} names)")
    top.legend(loc="upper left")
    bottom.bar(centres, curve["count"], width=1 / bins, edgecolor="black")
    bottom.set_xlabel("probability of the most probable label")
    bottom.set_ylabel("names")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def confusion_png(confusion, labels, path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows: true label) with the counts written in each cell."""
    plt = _pyplot()
    counts = np.asarray(confusion)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
    size = max(5.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("answered")
    ax.set_ylabel("true label")
    ax.set_title(title, fontsize=9)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def write_plots(out_dir, probabilities, targets, confusion, labels, title: str) -> list:
    """Both PNGs into ``out_dir`` (created); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        reliability_png(probabilities, targets, out_dir / RELIABILITY_PNG, title),
        confusion_png(confusion, labels, out_dir / CONFUSION_PNG, title),
    ]
