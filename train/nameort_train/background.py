"""The background label: names of other files, so a model can answer "none of these".

``nameort train --other rest`` adds a label ``other`` after the real labels,
built from the dataset's other ``<Language>.txt`` files. The rules, each one a
reason for a line below:

* The input contract stays the real labels': their vocabulary and sequence
  length. Background names go through the runtime's ``Encoder.prepare``
  (normalisation, look-alikes, accent folding, truncation) and are compared by
  the text the model would read, so training sees exactly what inference sees.
* A background name with no character left after encoding (``unsupported``) is
  dropped: the runtime never gives such a name to the model.
* A background spelling whose model text is also a real label's (``Adler`` is
  in German.txt and Czech.txt) is not used as ``other``: the same input cannot
  have two answers.
* Each model text is used once, under the first background file (in the order
  given) that holds it, so a spelling never straddles the split.
* Balance: ``other`` gets ``ratio`` times the mean real-label count, dealt
  evenly across the background files (a file with fewer names gives all it
  has and the rest is shared among the others), so neither the real labels
  nor one big file (Russian: 9,408 lines) swamp the rest. Which names a file
  gives is drawn with the training seed.

Torch-free: ``nameort evaluate`` re-derives the same dataset on the runtime path.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from pathlib import Path

from nameort.encoding import Encoder

from .data import DataError, NamesDataset, available_labels, load_dataset

OTHER_LABEL = "other"
REST = "rest"
# other = ratio x the mean real-label count. German/Italian, 5-fold CV, mean over the 16 languages
# of the share answered other at real-label balanced accuracy >= 93%: ratio 4 0.49, 8 0.48, 16 0.41
# (more Russian and English, not better separation: the per-language AUROC stays 0.873-0.876).
DEFAULT_OTHER_RATIO = 4.0


def resolve_other(text: str | None, data_dir, labels) -> tuple:
    """``--other``: None/"" -> () (closed set); ``rest`` -> every other label file, sorted; else a comma list."""
    if text is None or not text.strip():
        return ()
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data folder not found: {data_dir}")
    here = available_labels(data_dir)
    if text.strip().lower() == REST:
        languages = tuple(label for label in here if label not in labels)
        if not languages:
            raise DataError(f"--other rest: {data_dir} holds no label file besides {', '.join(labels)}")
        return languages
    languages = tuple(part.strip() for part in text.split(","))
    if any(not lang for lang in languages) or len(set(languages)) != len(languages):
        raise DataError(f"--other {text!r} has an empty or repeated language")
    clash = [lang for lang in languages if lang in labels]
    if clash:
        raise DataError(f"--other {text!r}: {', '.join(clash)} is already a label")
    if OTHER_LABEL in labels:
        raise DataError(f"a label is named {OTHER_LABEL!r}; it cannot also get a background label")
    missing = [lang for lang in languages if lang not in here]
    if missing:
        raise DataError(f"--other: no file for {', '.join(missing)} in {data_dir} (labels here: {', '.join(here)})")
    return languages


def read_background(data_dir, languages, dataset: NamesDataset, exclude_texts=frozenset()) -> tuple:
    """(candidates, record): every usable background name, by language, before sampling.

    ``candidates``: language -> [(name, model text), ...] in file order, each
    model text once over all languages and never a real label's.
    ``exclude_texts``: model texts to leave out as well (leave-one-language-out
    removes the held-out language's texts from the others this way).
    ``record``: counts of what was dropped and why, and each file's sha256.
    """
    encoder = Encoder(dataset.rules())
    real = {encoder.prepare(name).text for name in dataset.names}
    taken = set(exclude_texts)
    candidates = {}
    record = {"files_sha256": {}, "unsupported": 0, "shared_with_labels": 0, "repeated": 0}
    for language in languages:
        path = Path(data_dir) / f"{language}.txt"
        content = path.read_bytes()
        record["files_sha256"][language] = hashlib.sha256(content).hexdigest()
        try:
            lines = content.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
        kept = []
        for name in dict.fromkeys(line.strip() for line in lines if line.strip()):
            prepared = encoder.prepare(name)
            if not prepared.usable:
                record["unsupported"] += 1
            elif prepared.text in real:
                record["shared_with_labels"] += 1
            elif prepared.text in taken:
                record["repeated"] += 1
            else:
                taken.add(prepared.text)
                kept.append((name, prepared.text))
        candidates[language] = kept
    return candidates, record


def quotas(available: dict, total: int) -> dict:
    """Deal ``total`` names evenly over the languages, none more than it has (water-filling)."""
    left = dict(available)
    out = {language: 0 for language in available}
    remaining = total
    while left and remaining > 0:
        share = remaining // len(left)
        small = {lang: n for lang, n in left.items() if n <= share}
        if not small:
            # Everyone can give the even share; the remainder goes one each in language order.
            extra = remaining - share * len(left)
            for i, lang in enumerate(left):
                out[lang] += share + (1 if i < extra else 0)
            break
        for lang, n in small.items():
            out[lang] += n
            remaining -= n
            del left[lang]
    return out


def add_background(
    dataset: NamesDataset,
    data_dir,
    languages,
    ratio: float = DEFAULT_OTHER_RATIO,
    seed: int = 0,
    exclude_texts=frozenset(),
) -> NamesDataset:
    """``dataset`` with a label ``other`` appended: sampled background names (rules in the module docstring).

    The result's ``origins`` names each row's source file (the label itself for
    real rows), so per-language figures can be reported.
    """
    if not languages:
        return dataset
    if ratio <= 0:
        raise DataError(f"--other-ratio must be positive, not {ratio}")
    candidates, record = read_background(data_dir, languages, dataset, exclude_texts)
    counts = dataset.counts()
    total = round(ratio * sum(counts.values()) / len(counts))
    share = quotas({lang: len(names) for lang, names in candidates.items()}, total)
    names, origins = [], []
    for language in languages:
        rng = random.Random(f"{seed}:{language}")  # per file: adding a file does not reshuffle the others
        picked = rng.sample(range(len(candidates[language])), share[language])
        for i in sorted(picked):  # file order, as the real labels
            names.append(candidates[language][i][0])
            origins.append(language)
    if len(names) < 2:
        raise DataError(f"--other {','.join(languages)}: only {len(names)} usable background name(s)")
    other_index = len(dataset.labels)
    real_origins = dataset.origins or tuple(dataset.labels[t] for t in dataset.targets)
    return replace(
        dataset,
        labels=dataset.labels + (OTHER_LABEL,),
        names=dataset.names + tuple(names),
        targets=dataset.targets + (other_index,) * len(names),
        origins=real_origins + tuple(origins),
        files_sha256=dict(dataset.files_sha256) | record["files_sha256"],
        background={
            "languages": list(languages),
            "ratio": ratio,
            "per_language": {lang: share[lang] for lang in languages},
            "dropped": {k: v for k, v in record.items() if k != "files_sha256"},
        },
    )


def build_dataset(data_dir, labels, shared: str, other=(), other_ratio: float = DEFAULT_OTHER_RATIO,
                  seed: int = 0, exclude_texts=frozenset(), dedupe: bool = False, merge=()) -> NamesDataset:
    """The training data of a run: the real labels (``load_dataset``), plus ``other`` when asked.

    Training and ``nameort evaluate`` both call this, so evaluation re-derives
    exactly the rows (and split) a model was trained on from its recorded config.
    """
    dataset = load_dataset(data_dir, labels, shared, dedupe=dedupe, merge=merge)
    return add_background(dataset, data_dir, tuple(other), other_ratio, seed, exclude_texts)
