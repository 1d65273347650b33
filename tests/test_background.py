"""The background label's data rules, on small files written in tmp_path."""

import pytest

from nameort_train.background import OTHER_LABEL, add_background, build_dataset, quotas, resolve_other
from nameort_train.data import DataError, load_dataset


def write(folder, label, *names):
    (folder / f"{label}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")


@pytest.fixture
def folder(tmp_path):
    write(tmp_path, "German", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker")
    write(tmp_path, "Italian", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano")
    # Rossí folds to a real Italian spelling (í -> i); 李 has no character the model knows;
    # Nowak appears in two background files; the 30-letter name is longer than any real one.
    write(tmp_path, "Spanish", "García", "Rossí", "Nowak", "Fernández", "López", "Martín", "Sánchez")
    write(tmp_path, "Chinese", "李", "Wang", "Zhang", "Liu")
    write(tmp_path, "Polish", "Nowak", "Kowalski", "Wiśniewski", "Abcdefghijabcdefghijabcdefghij")
    return tmp_path


def test_resolve_other(folder):
    labels = ("German", "Italian")
    assert resolve_other("rest", folder, labels) == ("Chinese", "Polish", "Spanish")
    assert resolve_other(" Polish , Spanish", folder, labels) == ("Polish", "Spanish")
    assert resolve_other(None, folder, labels) == () == resolve_other("", folder, labels)
    with pytest.raises(DataError, match="German is already a label"):
        resolve_other("German,Polish", folder, labels)
    with pytest.raises(DataError, match="no file for Klingon"):
        resolve_other("Klingon", folder, labels)
    with pytest.raises(DataError, match="empty or repeated"):
        resolve_other("Polish,Polish", folder, labels)


def test_background_rules(folder):
    real = load_dataset(folder, ("German", "Italian"))
    data = add_background(real, folder, ("Spanish", "Chinese", "Polish"), ratio=10.0, seed=0)
    assert data.labels == ("German", "Italian", OTHER_LABEL)
    other = [n for n, t in zip(data.names, data.targets) if t == 2]
    # Rossí reads "Rossi" (an Italian name): not other. 李: unsupported. Nowak: once, under Spanish (first given).
    assert sorted(other) == sorted([
        "García", "Nowak", "Fernández", "López", "Martín", "Sánchez",
        "Wang", "Zhang", "Liu", "Kowalski", "Wiśniewski", "Abcdefghijabcdefghijabcdefghij",
    ])
    assert data.background["dropped"] == {"unsupported": 1, "shared_with_labels": 1, "repeated": 1}
    # The input contract stays the real labels': vocabulary and sequence length.
    assert data.characters == real.characters and data.sequence_length == real.sequence_length == 9
    assert data.origins[: len(real.names)] == tuple(real.labels[t] for t in real.targets)
    assert data.origins[data.names.index("Kowalski")] == "Polish"
    assert set(data.files_sha256) == {"German", "Italian", "Spanish", "Chinese", "Polish"}


def test_balance_is_ratio_times_the_mean_label_and_even(folder):
    real = load_dataset(folder, ("German", "Italian"))  # 6 and 6 names: mean 6
    data = add_background(real, folder, ("Spanish", "Chinese", "Polish"), ratio=1.0, seed=0)
    assert data.counts()[OTHER_LABEL] == 6
    assert data.background["per_language"] == {"Spanish": 2, "Chinese": 2, "Polish": 2}
    again = add_background(real, folder, ("Spanish", "Chinese", "Polish"), ratio=1.0, seed=0)
    assert again.names == data.names
    picks = {add_background(real, folder, ("Spanish",), ratio=0.5, seed=s).names[-3:] for s in range(8)}
    assert len(picks) > 1  # the seed draws which names a file gives


def test_quotas_fill_small_files_first():
    assert quotas({"a": 100, "b": 100, "c": 100}, 30) == {"a": 10, "b": 10, "c": 10}
    assert quotas({"a": 2, "b": 100, "c": 100}, 30) == {"a": 2, "b": 14, "c": 14}
    assert quotas({"a": 2, "b": 3}, 30) == {"a": 2, "b": 3}  # asks more than there is: everything
    assert quotas({"a": 10, "b": 10, "c": 10}, 11) == {"a": 4, "b": 4, "c": 3}


def test_closed_set_is_unchanged(folder):
    assert build_dataset(folder, ("German", "Italian"), "drop") == load_dataset(folder, ("German", "Italian"))


def test_real_dataset_background(data_dir):
    labels = ("German", "Italian")
    data = build_dataset(data_dir, labels, "drop", resolve_other("rest", data_dir, labels), 1.0, 0)
    counts = data.counts()
    assert (counts["German"], counts["Italian"]) == (722, 707)
    assert counts[OTHER_LABEL] == 714  # round(1.0 * 714.5): Python rounds half to even
    assert len(data.characters) == 65 and data.sequence_length == 18
    per_language = data.background["per_language"]
    assert len(per_language) == 16 and per_language["Scottish"] == 1  # 99 of its 100 names are English.txt's too
    assert max(per_language.values()) - min(v for k, v in per_language.items() if k != "Scottish") <= 1
