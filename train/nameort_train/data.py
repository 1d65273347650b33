"""The names dataset: reading, the notebook's cleaning, vocabulary and split.

Layout (the classic char-RNN tutorial): a folder of ``<Label>.txt`` files,
UTF-8, one name per line. Cleaning follows the seed notebook exactly:

* blank lines are not names (the notebook's ``''`` "common name");
* a spelling that appears under two or more of the selected labels is removed
  from all of them (German/Italian: ``Paternoster`` and ``Salomon``), so the
  model never sees the same input with two answers. With many labels this can
  empty a label (99 of Scottish.txt's 100 names are also English), so
  ``shared="keep"`` keeps such spellings under every label they appear in;
* duplicate spellings *within* a label stay (they are real rows of the file)
  but are kept together in one split, so none straddles train and test;
  ``dedupe=True`` keeps one row per (spelling, label) instead (the 18-language
  recipe: 20,074 lines hold 18,015 such pairs);
* ``merge`` reads one label's file as another label (Scottish=English);
* vocabulary = sorted(characters of the selected files | ASCII letters);
* sequence length = the longest name.

This module needs no torch: ``nameort evaluate`` uses it on the runtime path.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nameort.encoding import EncodingRules
from nameort.errors import NameortError

DEFAULT_LABELS = ("German", "Italian")
DEFAULT_SPLIT = (0.8, 0.1, 0.1)  # train, validation, test fractions
SPLITS = ("train", "validation", "test")


class DataError(NameortError):
    """The data folder or a label file cannot be used."""


@dataclass(frozen=True)
class NamesDataset:
    """Cleaned names of the selected labels, in file order (labels in the order asked)."""

    labels: tuple  # label names; a sample's label is an index into this
    names: tuple  # every cleaned name
    targets: tuple  # label index of each name
    characters: str  # the vocabulary, sorted
    sequence_length: int  # the longest name
    removed: tuple  # spellings under several labels (dropped unless shared="keep")
    files_sha256: dict  # label -> sha256 of its file, for the record
    # Open-set training (background.py) fills these: each row's source file, and what the background holds.
    origins: tuple = ()  # per name: the file it came from; () when every row is its own label's
    background: dict | None = None  # languages, ratio, per-language counts, dropped names; None: closed set

    def counts(self) -> dict:
        c = Counter(self.targets)
        return {label: c[i] for i, label in enumerate(self.labels)}

    def rules(self) -> EncodingRules:
        return EncodingRules(characters=self.characters, sequence_length=self.sequence_length)


def parse_labels(text: str | None) -> tuple:
    """``"German,Italian"`` -> ("German", "Italian"); checks for repeats and blanks."""
    if text is None:
        return DEFAULT_LABELS
    labels = tuple(part.strip() for part in text.split(","))
    if any(not label for label in labels):
        raise DataError(f"--labels {text!r} has an empty label")
    if len(set(labels)) != len(labels):
        raise DataError(f"--labels {text!r} names a label twice")
    if len(labels) < 2:
        raise DataError(f"--labels {text!r}: a classifier needs at least 2 labels")
    return labels


def available_labels(data_dir: Path) -> list:
    return sorted(p.stem for p in Path(data_dir).glob("*.txt"))


def resolve_labels(text: str | None, data_dir) -> tuple:
    """Like ``parse_labels``, and ``"all"`` means every ``<Label>.txt`` in ``data_dir``, sorted."""
    if text is not None and text.strip().lower() == "all":
        if not Path(data_dir).is_dir():
            raise DataError(f"data folder not found: {data_dir}")
        labels = available_labels(data_dir)
        if len(labels) < 2:
            raise DataError(f"--labels all: {data_dir} holds {len(labels)} label file(s); at least 2 are needed")
        return tuple(labels)
    return parse_labels(text)


SHARED_POLICIES = ("drop", "keep")


def parse_merge(text) -> tuple:
    """``"Scottish=English"`` (comma-separated pairs) -> (("Scottish", "English"),); () for None or ""."""
    if not text:
        return ()
    pairs = []
    for part in text.split(","):
        source, sep, target = (p.strip() for p in part.partition("="))
        if not sep or not source or not target or source == target:
            raise DataError(f"--merge {text!r}: each item must be SOURCE=TARGET with two different labels")
        pairs.append((source, target))
    if len({s for s, _ in pairs}) != len(pairs):
        raise DataError(f"--merge {text!r} merges a label twice")
    return tuple(pairs)


def load_dataset(data_dir, labels=DEFAULT_LABELS, shared: str = "drop", dedupe: bool = False,
                 merge=()) -> NamesDataset:
    """Read and clean the label files; see the module docstring for the rules.

    ``dedupe``: each spelling counts once per label (Arabic.txt: 2,000 lines, 108 names),
    so repeated lines neither weigh on training nor inflate test figures.
    ``merge``: (source, target) pairs; the source file's names are read as the target
    label and the source label disappears (Scottish=English: 99 of Scottish's 100 names
    are English ones, so no model can tell them apart). ``labels`` names the files
    read; the dataset's labels are those minus the merged sources.
    """
    if shared not in SHARED_POLICIES:
        raise DataError(f"shared-name policy must be one of {', '.join(SHARED_POLICIES)}, not {shared!r}")
    labels = tuple(labels)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data folder not found: {data_dir}")
    raw = {}
    files_sha256 = {}
    for label in labels:
        path = data_dir / f"{label}.txt"
        if not path.is_file():
            known = ", ".join(available_labels(data_dir)) or "none"
            raise DataError(f"no file for label {label!r}: {path} does not exist (labels here: {known})")
        content = path.read_bytes()
        files_sha256[label] = hashlib.sha256(content).hexdigest()
        try:
            raw[label] = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not UTF-8 ({exc.reason} at byte {exc.start})") from None

    # The notebook's vocabulary: every character of the files, newlines aside.
    characters = set("".join(raw.values()).replace("\n", "").replace("\r", "")) | set(string.ascii_letters)

    per_label = {label: [line.strip() for line in text.splitlines() if line.strip()] for label, text in raw.items()}
    for label, names in per_label.items():
        if not names:
            raise DataError(f"{data_dir / (label + '.txt')} has no names")
    merge = dict(merge)
    for source, target in merge.items():
        if source not in per_label or target not in per_label or target in merge:
            raise DataError(f"cannot merge {source} into {target}: both must be selected labels, "
                            f"and {target} must not be merged itself")
    labels = tuple(label for label in labels if label not in merge)
    for source, target in merge.items():
        per_label[target] = per_label[target] + per_label.pop(source)
    if dedupe:
        per_label = {label: list(dict.fromkeys(names)) for label, names in per_label.items()}
    seen_under = Counter(name for names in per_label.values() for name in set(names))
    ambiguous = {name for name, n in seen_under.items() if n > 1}
    dropped = ambiguous if shared == "drop" else set()
    names, targets = [], []
    for index, label in enumerate(labels):
        kept = [n for n in per_label[label] if n not in dropped]
        if len(kept) < 2:
            hint = " (try --shared keep)" if len(per_label[label]) >= 2 else ""
            raise DataError(f"label {label!r} has {len(kept)} name(s) after cleaning; at least 2 are needed{hint}")
        names += kept
        targets += [index] * len(kept)
    return NamesDataset(
        labels=tuple(labels),
        names=tuple(names),
        targets=tuple(targets),
        characters="".join(sorted(characters)),
        sequence_length=max(map(len, names)),
        removed=tuple(sorted(ambiguous)),
        files_sha256=files_sha256,
    )


def split_indices(dataset: NamesDataset, seed: int, fractions=DEFAULT_SPLIT) -> dict:
    """Deterministic, stratified split -> {"train": [...], "validation": [...], "test": [...]}.

    Rows are grouped by spelling, so duplicates never straddle two splits. The
    groups are stratified by their first label: within each label the groups
    are shuffled with ``seed`` and dealt out whole until each split holds its
    fraction of that label's rows.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions must be 3 non-negative numbers summing to 1, not {fractions}")
    groups = {}  # spelling -> row indices, in first-seen order
    for i, name in enumerate(dataset.names):
        groups.setdefault(name, []).append(i)
    rng = random.Random(seed)
    out = {name: [] for name in SPLITS}
    for label_index in range(len(dataset.labels)):
        spellings = sorted(n for n, rows in groups.items() if dataset.targets[rows[0]] == label_index)
        rng.shuffle(spellings)
        total = sum(len(groups[n]) for n in spellings)
        # Cumulative row counts at which train, then validation, are full.
        bounds = (round(total * fractions[0]), round(total * (fractions[0] + fractions[1])))
        dealt = 0
        for spelling in spellings:
            split = "train" if dealt < bounds[0] else "validation" if dealt < bounds[1] else "test"
            out[split] += groups[spelling]
            dealt += len(groups[spelling])
    return {name: sorted(rows) for name, rows in out.items()}
