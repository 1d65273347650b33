"""Data cleaning and the split: the notebook's numbers, exactly, and a split that cannot leak."""

import hashlib
from collections import Counter

import pytest

from nameort_train.data import (
    DataError,
    available_labels,
    load_dataset,
    parse_labels,
    resolve_labels,
    split_indices,
)

NOTEBOOK_CHARACTERS = " 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzßàäèéìòóöùü"


@pytest.fixture(scope="module")
def german_italian(data_dir):
    return load_dataset(data_dir)


@pytest.fixture(scope="module")
def all_kept(data_dir):
    return load_dataset(data_dir, available_labels(data_dir), shared="keep")


def test_notebook_cleaning_numbers(german_italian):
    d = german_italian
    assert d.labels == ("German", "Italian")
    assert d.counts() == {"German": 722, "Italian": 707}
    assert len(d.names) == len(d.targets) == 1429
    assert d.characters == NOTEBOOK_CHARACTERS
    assert len(d.characters) == 65
    assert d.sequence_length == 18 == max(map(len, d.names))
    assert d.removed == ("Paternoster", "Salomon")
    assert "" not in d.names and "Paternoster" not in d.names and "Salomon" not in d.names


def test_rules_come_from_the_dataset(german_italian):
    rules = german_italian.rules()
    assert rules.characters == NOTEBOOK_CHARACTERS and rules.sequence_length == 18


def test_files_are_fingerprinted(german_italian, data_dir):
    for label in german_italian.labels:
        expected = hashlib.sha256((data_dir / f"{label}.txt").read_bytes()).hexdigest()
        assert german_italian.files_sha256[label] == expected


def test_all_labels_need_shared_keep(data_dir):
    labels = resolve_labels("all", data_dir)
    assert len(labels) == 18 and labels == tuple(sorted(labels)) and "Scottish" in labels
    with pytest.raises(DataError, match="Scottish.*--shared keep"):
        load_dataset(data_dir, labels, shared="drop")


def test_shared_keep_keeps_every_row(all_kept):
    counts = all_kept.counts()
    assert len(counts) == 18 and counts["Scottish"] == 100 and counts["German"] == 724
    assert len(all_kept.names) == 20074


def test_parse_labels():
    assert parse_labels(None) == ("German", "Italian")
    assert parse_labels(" German , Italian,French") == ("German", "Italian", "French")
    for bad in ("German", "German,German", "German,,Italian"):
        with pytest.raises(DataError):
            parse_labels(bad)


@pytest.mark.parametrize("dataset", ["german_italian", "all_kept"])
def test_split_is_a_deterministic_partition(request, dataset):
    d = request.getfixturevalue(dataset)
    first, again = split_indices(d, seed=3), split_indices(d, seed=3)
    assert first == again
    assert first != split_indices(d, seed=4)
    rows = first["train"] + first["validation"] + first["test"]
    assert sorted(rows) == list(range(len(d.names)))  # every row exactly once


@pytest.mark.parametrize("dataset", ["german_italian", "all_kept"])
def test_duplicates_never_straddle_splits(request, dataset):
    d = request.getfixturevalue(dataset)
    duplicated = {n for n, k in Counter(d.names).items() if k > 1}
    assert duplicated  # German.txt repeats 23 spellings; several labels share some when kept
    for seed in range(5):
        where = {}
        for split, rows in split_indices(d, seed).items():
            for i in rows:
                where.setdefault(d.names[i], set()).add(split)
        assert all(len(splits) == 1 for splits in where.values())


def test_split_is_stratified(german_italian):
    d = german_italian
    splits = split_indices(d, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1144, "validation": 142, "test": 143}
    for split, fraction in (("train", 0.8), ("validation", 0.1), ("test", 0.1)):
        per_label = Counter(d.targets[i] for i in splits[split])
        for index, label in enumerate(d.labels):
            assert abs(per_label[index] - fraction * d.counts()[label]) <= 2, (split, label)


def test_bad_data_folders(tmp_path, data_dir):
    with pytest.raises(DataError, match="data folder not found"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match="no file for label 'Klingon'"):
        load_dataset(data_dir, ("German", "Klingon"))
    (tmp_path / "German.txt").write_text("\n\n", encoding="utf-8")
    (tmp_path / "Italian.txt").write_text("Rossi\n", encoding="utf-8")
    (tmp_path / "French.txt").write_text("Dupont\nMartin\n", encoding="utf-8")
    with pytest.raises(DataError, match="German.txt has no names"):
        load_dataset(tmp_path, ("German", "French"))
    with pytest.raises(DataError, match="'Italian' has 1 name"):
        load_dataset(tmp_path, ("Italian", "French"))
