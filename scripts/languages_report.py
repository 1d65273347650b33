"""Turn `nameort crossval --json` outputs into the 18-language report (markdown on stdout).

Usage: python scripts/languages_report.py CROSSVAL.json [MORE.json ...]

Several files (e.g. one per --cv-seed) are pooled: every figure is the mean
and sample standard deviation over all their folds, and the confusion matrix
is the sum over all of them (each name counted once per run).
"""

from __future__ import annotations

import json
import sys

import numpy as np

HEADLINE = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "macro recall"),
    ("top_3_accuracy", "top-3"),
    ("balanced_top_3_accuracy", "macro top-3"),
    ("nll", "NLL"),
    ("ece", "ECE"),
)


def mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.4f} ± {std:.4f}"


def main(paths) -> None:
    runs = [json.loads(open(p, encoding="utf-8").read()) for p in paths]
    labels = runs[0]["labels"]
    if any(r["labels"] != labels for r in runs):
        raise SystemExit("the crossval files have different labels")
    folds = [f for r in runs for f in r["folds"]]
    settings = [r["settings"] for r in runs]
    print(f"Cross-validation: {len(runs)} run(s) (cv seeds {', '.join(str(s['seed']) for s in settings)}), "
          f"{settings[0]['folds']} folds x {settings[0]['repeats']} repeat(s) each, {len(folds)} folds in all, "
          f"{settings[0]['rows']} names; figures are mean ± std over the folds.\n")
    print("| figure | value |\n|---|---|")
    for key, name in HEADLINE:
        if key in folds[0]:
            print(f"| {name} | {mean_std([f[key] for f in folds])} |")
    print("\n| language | recall | names (per run) |\n|---|---|---|")
    confusion = sum(np.asarray(r["confusion_matrix"]) for r in runs)
    support = confusion.sum(axis=1) // len(runs)
    for i, label in enumerate(labels):
        print(f"| {label} | {mean_std([f[f'recall/{label}'] for f in folds])} | {support[i]} |")
    worst = min(labels, key=lambda label: np.mean([f[f"recall/{label}"] for f in folds]))
    print(f"\nLowest recall: {worst} ({np.mean([f[f'recall/{worst}'] for f in folds]):.4f}).\n")
    short = [label[:4] for label in labels]
    width = max(len(label) for label in labels)
    cell = max(5, len(str(confusion.max())))
    print("Confusion matrix, summed over all runs (rows: true language, columns: answer):\n")
    print("```")
    print(" " * width + "".join(f" {s:>{cell}}" for s in short))
    for label, row in zip(labels, confusion):
        print(f"{label:<{width}}" + "".join(f" {v:>{cell}d}" for v in row))
    print("```")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
