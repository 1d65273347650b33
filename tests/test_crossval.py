"""Cross-validation: folds that cannot leak, deterministic figures, the summary's arithmetic."""

import random
from collections import Counter

import pytest

from nameort_train.background import build_dataset, resolve_other
from nameort_train.config import preset_config
from nameort_train.crossval import cross_validate, grouped_folds, leave_one_language_out, summarise
from nameort_train.data import load_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def german_italian(data_dir):
    return load_dataset(data_dir)


def test_folds_are_a_grouped_stratified_partition(german_italian):
    d = german_italian
    folds = grouped_folds(d, range(len(d.names)), 5, random.Random(0))
    assert sorted(i for fold in folds for i in fold) == list(range(len(d.names)))
    where = {}
    for k, fold in enumerate(folds):
        for i in fold:
            where.setdefault(d.names[i], set()).add(k)
    assert all(len(ks) == 1 for ks in where.values())  # German.txt's repeated spellings stay in one fold
    for fold in folds:
        per_label = Counter(d.targets[i] for i in fold)
        assert abs(per_label[0] - 722 / 5) <= 3 and abs(per_label[1] - 707 / 5) <= 3
    assert folds == grouped_folds(d, range(len(d.names)), 5, random.Random(0))
    assert folds != grouped_folds(d, range(len(d.names)), 5, random.Random(1))


def test_same_seed_same_figures(german_italian):
    config = preset_config("small", epochs=2)
    first = cross_validate(german_italian, config, folds=2, repeats=2, seed=3)
    again = cross_validate(german_italian, config, folds=2, repeats=2, seed=3)
    other = cross_validate(german_italian, config, folds=2, repeats=1, seed=4)
    assert first["folds"] == again["folds"] and first["summary"] == again["summary"]
    assert first["confusion_matrix"] == again["confusion_matrix"]
    assert first["folds"][:2] != other["folds"]
    assert len(first["folds"]) == 4 and sum(map(sum, first["confusion_matrix"])) == 2 * 1429
    assert sum(e["count"] for e in first["folds"][:2]) == 1429  # each repeat tests every name once
    assert {"accuracy", "balanced_accuracy", "top_2_accuracy", "ece", "nll", "recall/German"} <= set(first["summary"])


def test_summary_is_mean_and_sample_std():
    summary = summarise([{"fold": 0, "accuracy": 0.9, "x": None}, {"fold": 1, "accuracy": 0.8, "x": None}])
    assert summary == {"accuracy": {"mean": pytest.approx(0.85), "std": pytest.approx(0.0707107, abs=1e-6)}}


def test_open_set_cross_validation_and_leave_one_out(data_dir):
    labels = ("German", "Italian")
    other = resolve_other("Japanese,Vietnamese,Korean", data_dir, labels)
    config = preset_config("small", other=other, epochs=4)
    dataset = build_dataset(data_dir, labels, "drop", other, 1.0, 0)
    result = cross_validate(dataset, config, folds=2, repeats=1, seed=0)
    summary = result["summary"]
    assert {"in_scope_balanced_accuracy", "rejection", "auroc", "objective", "other_threshold"} <= set(summary)
    assert summary["auroc"]["mean"] > 0.9  # East Asian names are far from German and Italian ones
    loo = leave_one_language_out(data_dir, config, languages=("Vietnamese",))
    (entry,) = loo["languages"]
    assert entry["language"] == "Vietnamese" and entry["names"] == 70  # 73 lines, 70 distinct
    assert 0.0 <= entry["rejection_without_foreign_letters"] <= entry["rejection"] <= 1.0
