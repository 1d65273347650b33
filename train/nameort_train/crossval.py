"""Honest evaluation: repeated stratified k-fold cross-validation, and leave-one-language-out.

One 143-name test split cannot tell two recipes apart (its standard error is
about 1.6 points). Here every selected name is tested exactly once per repeat:

* Folds are stratified by label and grouped by spelling: all rows of one
  spelling land in the same fold, so an identical name is never on both sides.
* Inside each fold's training rows, a grouped, stratified ninth is held out as
  validation: early stopping, the temperature and the operating point are
  fitted there (``train.fit_rows`` / ``train.fit_decision``), never on the test fold.
* Every figure of ``figures.score`` is computed per fold; the summary gives
  the mean and the sample standard deviation over all folds of all repeats.
* Deterministic: fold assignment comes from ``seed`` and the repeat number,
  each fold's network from ``seed``, repeat and fold; the same call gives the
  same figures.

Leave-one-language-out measures origins never seen in training: for each
background language X, train with ``other`` built without X (and without any
spelling X shares), then count how many of X's names come back ``other``.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from typing import Callable

import numpy as np
import torch

from nameort.decision import DecisionRules, decide, restrict_to_letters, softmax
from nameort.encoding import Encoder

from .background import OTHER_LABEL, build_dataset, read_background
from .config import TrainConfig
from .data import NamesDataset, load_dataset, split_indices
from .figures import auroc, choose_threshold, foreign_mask, score, score_probabilities
from .train import fit_decision, fit_rows, logits_of, resolve_device, scored_rows, torch_threads

log = logging.getLogger(__name__)

DEFAULT_FOLDS = 5
DEFAULT_REPEATS = 3
INNER_PARTS = 9  # the validation share of a fold's training rows: one ninth (~10% of all rows, as the split)


def grouped_folds(dataset: NamesDataset, rows, parts: int, rng: random.Random) -> list:
    """Split ``rows`` into ``parts`` lists, stratified by label, all rows of a spelling together.

    Within each label the spellings are shuffled with ``rng``, then each is
    dealt (with all its rows) to the part holding the fewest of that label's rows.
    """
    groups = {}
    for i in rows:
        groups.setdefault(dataset.names[i], []).append(i)
    out = [[] for _ in range(parts)]
    for label in range(len(dataset.labels)):
        spellings = sorted(n for n, g in groups.items() if dataset.targets[g[0]] == label)
        rng.shuffle(spellings)
        filled = [0] * parts
        for spelling in spellings:
            k = min(range(parts), key=lambda p: (filled[p], p))
            out[k] += groups[spelling]
            filled[k] += len(groups[spelling])
    return [sorted(p) for p in out]


def cross_validate(
    dataset: NamesDataset,
    config: TrainConfig,
    *,
    folds: int = DEFAULT_FOLDS,
    repeats: int = DEFAULT_REPEATS,
    seed: int = 0,
    top_k: int = 3,
    on_fold: Callable[[dict], None] | None = None,
) -> dict:
    """Train ``folds x repeats`` models on ``dataset`` with ``config``; score each on its held-out fold.

    Returns ``{"folds": [per-fold figures], "summary": {figure: {"mean", "std"}},
    "confusion_matrix": summed over folds and repeats, "out_of_fold": {...}}``
    where ``out_of_fold`` holds, for repeat 0, every row's calibrated
    probabilities and answer (for the reliability diagram and confusion plot).
    A figure is any number ``figures.score`` returns: accuracy,
    balanced_accuracy, top_3_accuracy, ece, nll, per-label recall as
    ``recall/<label>``, and with a background label in_scope_accuracy,
    in_scope_balanced_accuracy, rejection, auroc, objective.
    """
    if folds < 2 or repeats < 1:
        raise ValueError("cross-validation needs at least 2 folds and 1 repeat")
    device = resolve_device(config.device)
    everything = range(len(dataset.names))
    results = []
    n_labels = len(dataset.labels)
    confusion = np.zeros((n_labels, n_labels), dtype=np.int64)
    oof_probabilities = np.zeros((len(dataset.names), n_labels))
    oof_answers = np.zeros(len(dataset.names), dtype=np.int64)
    oof_foreign = np.zeros(len(dataset.names), dtype=bool)
    with torch_threads(config.threads):
        for repeat in range(repeats):
            parts = grouped_folds(dataset, everything, folds, random.Random(f"{seed}:folds:{repeat}"))
            for fold, test_rows in enumerate(parts):
                rest = sorted(set(everything) - set(test_rows))
                inner = grouped_folds(dataset, rest, INNER_PARTS, random.Random(f"{seed}:inner:{repeat}:{fold}"))
                rows = {"train": sorted(set(rest) - set(inner[0])), "validation": inner[0], "test": test_rows}
                fold_config = dataclasses.replace(config, seed=seed * 1000 + repeat * folds + fold)
                fitted = fit_rows(dataset, rows, fold_config, device)
                decision, calibration = fit_decision(fitted, dataset, rows["validation"], fold_config)
                targets, logits, foreign = scored_rows(fitted, dataset, test_rows, "test")
                probabilities = softmax(logits, decision.temperature)
                if decision.letter_labels:  # rule 4, as the runtime answers: scored from the narrowed probabilities
                    restrict_to_letters(probabilities, [dataset.names[i] for i in test_rows], decision, dataset.labels)
                    figures = score_probabilities(targets, probabilities, dataset.labels, decision, foreign=foreign,
                                                  top_k=top_k)
                else:
                    figures = score(targets, logits, dataset.labels, decision, foreign=foreign, top_k=top_k)
                if dataset.background is not None:
                    figures |= per_language(dataset, test_rows, probabilities, decision, foreign)
                confusion += np.asarray(figures.pop("confusion_matrix"))
                if repeat == 0:
                    oof_probabilities[test_rows] = probabilities
                    oof_answers[test_rows] = decide(probabilities, decision, dataset.labels, foreign=foreign)[0]
                    oof_foreign[test_rows] = foreign if foreign is not None else False
                entry = {
                    "repeat": repeat,
                    "fold": fold,
                    "best_epoch": fitted.best_epoch,
                    "temperature": decision.temperature,
                    "other_threshold": decision.other_threshold if decision.other_label else None,
                    **{k: v for k, v in figures.items() if k not in ("recall", "labels", "count")},
                    **{f"recall/{label}": r for label, r in figures["recall"].items()},
                    "count": figures["count"],
                }
                results.append(entry)
                log.info("repeat %d fold %d: %s", repeat, fold, _short(entry))
                if on_fold is not None:
                    on_fold(entry)
    out = {
        "folds": results,
        "summary": summarise(results),
        "labels": list(dataset.labels),
        "confusion_matrix": confusion.tolist(),
        "out_of_fold": {
            "targets": list(dataset.targets),
            "probabilities": oof_probabilities.tolist(),
            "answers": oof_answers.tolist(),
        },
        "settings": {"folds": folds, "repeats": repeats, "seed": seed, "rows": len(dataset.names)},
    }
    if dataset.background is not None:
        out["operating_point"] = pooled_operating_point(dataset, config, oof_probabilities, oof_foreign)
    return out


def pooled_operating_point(dataset: NamesDataset, config: TrainConfig, probabilities, foreign) -> dict:
    """The operating point chosen on every out-of-fold prediction of repeat 0 at once, and its figures.

    Ten times the names a single validation split holds: a steadier choice
    for ``nameort train --other-threshold`` than one run's validation.
    """
    use = foreign if config.foreign_letters else None
    threshold, _ = choose_threshold(dataset.targets, probabilities, dataset.labels, OTHER_LABEL, use,
                                    config.other_budget)
    rules = DecisionRules(other_label=OTHER_LABEL, other_threshold=threshold, foreign_letters=use is not None)
    figures = score_probabilities(dataset.targets, probabilities, dataset.labels, rules, foreign=use)
    keys = ("in_scope_accuracy", "in_scope_balanced_accuracy", "rejection", "auroc", "accuracy", "ece")
    return {"other_threshold": threshold, "budget": config.other_budget, **{k: figures[k] for k in keys}}


def per_language(dataset: NamesDataset, rows, probabilities, decision, foreign) -> dict:
    """Per background language: share answered other and AUROC against the real-label rows; their means.

    The background mix depends on ``other_ratio`` (small files run out, the big
    ones fill the rest), so pooled rejection and AUROC partly measure the mix;
    the means over languages (``macro_rejection``, ``macro_auroc``) do not.
    """
    origins = np.asarray([dataset.origins[i] for i in rows])
    targets = np.asarray([dataset.targets[i] for i in rows])
    other = dataset.labels.index(OTHER_LABEL)
    answers, _ = decide(probabilities, decision, dataset.labels, foreign=foreign)
    in_scope = targets != other
    out = {}
    for language in dataset.background["languages"]:
        mine = origins == language
        if mine.any() and not (targets[mine] != other).any():
            out[f"rejection/{language}"] = float((answers[mine] == other).mean())
            keep = in_scope | mine
            out[f"auroc/{language}"] = auroc(1.0 - probabilities[keep, other], in_scope[keep])
    rejections = [v for k, v in out.items() if k.startswith("rejection/")]
    aurocs = [v for k, v in out.items() if k.startswith("auroc/")]
    return out | {"macro_rejection": float(np.mean(rejections)), "macro_auroc": float(np.mean(aurocs))}


def summarise(entries) -> dict:
    """{figure: {"mean", "std"}} over the entries' numbers (sample std; 0 for one entry)."""
    out = {}
    for key in dict.fromkeys(k for e in entries for k in e):  # every key, in first-seen order
        if key in ("repeat", "fold", "language"):
            continue
        values = [e[key] for e in entries if isinstance(e.get(key), (int, float)) and e.get(key) is not None]
        values = [v for v in values if np.isfinite(v)]
        if values:
            out[key] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            }
    return out


def leave_one_language_out(
    data_dir,
    config: TrainConfig,
    *,
    languages=None,
    on_language: Callable[[dict], None] | None = None,
) -> dict:
    """Per background language X: the share of X's names answered ``other`` by a model trained without X.

    Each model is trained on ``config`` (its 80/10/10 split, decision fitted on
    validation) with ``other`` built from ``config.other`` minus X, and
    without every spelling X holds. X's names are those the background rules
    would use (usable, not a real label's spelling), deduplicated by model text.
    Also reports each model's in-scope balanced accuracy on its test split.
    """
    if not config.other:
        raise ValueError("leave-one-language-out needs a background (config.other)")
    languages = tuple(languages or config.other)
    device = resolve_device(config.device)
    real = load_dataset(data_dir, config.labels, config.shared)
    encoder = Encoder(real.rules())
    results = []
    with torch_threads(config.threads):
        for language in languages:
            held, _ = read_background(data_dir, (language,), real)
            held = held[language]
            rest = tuple(lang for lang in config.other if lang != language)
            dataset = build_dataset(
                data_dir, config.labels, config.shared, rest, config.other_ratio, config.seed,
                exclude_texts=frozenset(text for _, text in held),
            )
            rows = split_indices(dataset, config.seed, config.split)
            fitted = fit_rows(dataset, rows, dataclasses.replace(config, other=rest), device)
            decision, _ = fit_decision(fitted, dataset, rows["validation"], config)
            targets, logits, foreign = scored_rows(fitted, dataset, rows["test"], "test")
            in_scope = score(targets, logits, dataset.labels, decision, foreign=foreign)
            names = [name for name, _ in held]
            inputs = torch.from_numpy(encoder.one_hot([text for _, text in held])).to(device)
            probabilities = softmax(logits_of(fitted.model, inputs), decision.temperature)
            mask = foreign_mask(names, real.rules())
            answers, _ = decide(probabilities, decision, dataset.labels, foreign=mask)
            plain, _ = decide(probabilities, dataclasses.replace(decision, foreign_letters=False), dataset.labels)
            other = dataset.labels.index(OTHER_LABEL)
            entry = {
                "language": language,
                "names": len(names),
                "rejection": float((answers == other).mean()) if names else float("nan"),
                "rejection_without_foreign_letters": float((plain == other).mean()) if names else float("nan"),
                "in_scope_balanced_accuracy": in_scope["in_scope_balanced_accuracy"],
                "other_threshold": decision.other_threshold,
            }
            results.append(entry)
            log.info("without %s: %s", language, _short(entry))
            if on_language is not None:
                on_language(entry)
    rejections = [e["rejection"] for e in results if np.isfinite(e["rejection"])]
    return {
        "languages": results,
        "summary": summarise(results),
        # Every language counts once, however many names it has: the origins a user meets are not Russian-heavy.
        "macro_rejection": float(np.mean(rejections)) if rejections else float("nan"),
    }


def _short(entry: dict) -> str:
    keys = ("in_scope_balanced_accuracy", "rejection", "auroc", "balanced_accuracy", "accuracy")
    return ", ".join(f"{k} {entry[k]:.4f}" for k in keys if isinstance(entry.get(k), float))
