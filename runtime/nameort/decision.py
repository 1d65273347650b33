"""How a model's output becomes an answer: calibration and the background label.

The rules (recorded in the sidecar under ``"decision"``; a model without the
entry gets the defaults, which is exactly a plain argmax of the softmax):

1. Probabilities are ``softmax(logits / temperature)``. The temperature is one
   scalar fitted on validation data at export (Guo et al. 2017); it changes how
   sure the model says it is, never which label is most probable.
2. A model trained with a background label (``other_label``, e.g. ``other``:
   names of none of the real labels) answers it when its probability reaches
   ``other_threshold`` (the operating point chosen on validation data, which a
   caller may override), or, with ``foreign_letters`` on, when the name holds a
   letter that no name of the real labels uses (see ``foreign_letters``).
   Otherwise the answer is the most probable *real* label, so lowering the
   operating point trades real-label recall for rejections, and raising it
   the other way round.
3. The confidence is the probability of the answered label.
4. A model may list, for letters that only some of its labels write
   (``letter_labels``: ``ř`` only Czech, ``ã`` Portuguese or Vietnamese), which
   labels those are. A name holding such letters can only be a label listed for
   every one of them: the others' probabilities become zero and the rest are
   scaled to sum to 1 again, before rules 2 and 3 (``restrict_to_letters``). The
   background label is never ruled out; letters whose lists share no label rule
   nothing out. It is how a model trained on ASCII-folded spellings (the
   tutorial's Czech and Vietnamese files) still reads the letters real names
   carry: ``Dvořák`` is Czech, not the Polish the folded ``Dvorak`` suggests.

Everything here works on whole arrays, so one name and a million take the same
path: ``Classifier.predict`` and every bulk surface call ``restrict_to_letters``
and ``decide``.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecisionRules:
    """The sidecar's ``"decision"`` entry, parsed."""

    temperature: float = 1.0  # logits are divided by this before the softmax
    other_label: str | None = None  # the background label, one of the model's labels; None: closed set
    other_threshold: float = 0.5  # answer other_label when its probability is at least this
    foreign_letters: bool = False  # a name holding a foreign letter is answered other_label
    letter_labels: tuple = ()  # ((letter, (label, ...)), ...) sorted: the labels that write each letter (rule 4)

    def __post_init__(self):
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, not {self.temperature!r}")
        if not 0.0 <= self.other_threshold <= 1.0:
            raise ValueError(f"other_threshold must be between 0 and 1, not {self.other_threshold!r}")
        if self.foreign_letters and self.other_label is None:
            raise ValueError("foreign_letters needs an other_label to answer")

    def to_json(self) -> dict:
        """The sidecar entry; empty when every rule is the default (nothing to record)."""
        if self == DecisionRules():
            return {}
        entry = {
            "temperature": self.temperature,
            "other_label": self.other_label,
            "other_threshold": self.other_threshold,
            "foreign_letters": self.foreign_letters,
        }
        if self.letter_labels:
            entry["letter_labels"] = {letter: list(labels) for letter, labels in self.letter_labels}
        return entry

    @classmethod
    def from_json(cls, data: dict | None, labels) -> "DecisionRules":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise TypeError("decision must be a JSON object")
        rules = cls(
            temperature=float(data.get("temperature", 1.0)),
            other_label=None if data.get("other_label") is None else str(data["other_label"]),
            other_threshold=float(data.get("other_threshold", 0.5)),
            foreign_letters=bool(data.get("foreign_letters", False)),
            letter_labels=_letter_labels(data.get("letter_labels", {}), labels),
        )
        if rules.other_label is not None and rules.other_label not in labels:
            raise ValueError(f"other_label {rules.other_label!r} is not one of the labels")
        return rules


def _letter_labels(data, labels) -> tuple:
    """The sidecar's ``letter_labels`` object, checked, as a sorted tuple of (letter, labels)."""
    if not isinstance(data, dict):
        raise ValueError("letter_labels must be a JSON object")
    entries = []
    for letter, listed in data.items():
        if len(letter) != 1 or letter.isascii():
            raise ValueError(f"letter_labels: {letter!r} is not one character beyond ASCII")
        if not isinstance(listed, list) or not listed or not all(isinstance(label, str) for label in listed):
            raise ValueError(f"letter_labels: {letter!r} must list labels")
        for label in listed:
            if label not in labels:
                raise ValueError(f"letter_labels: {label!r} is not one of the labels")
        entries.append((letter, tuple(listed)))
    return tuple(sorted(entries))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``, in float64."""
    z = logits.astype(np.float64)
    if temperature != 1.0:
        z /= temperature
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def foreign_letters(unknown: str, vocabulary) -> str:
    """The letters among ``unknown`` that no name of the model's labels uses.

    ``unknown`` is what the encoder listed as outside the vocabulary (after
    NFC). A letter counts when neither it nor its lower-case form is in the
    vocabulary: ``ł``, ``ñ``, ``í``, ``ı`` do; ``Ü`` does not when ``ü`` is
    known (a name in capitals is not foreign). Upper-case forms are not
    consulted: ``ı`` (dotless i) upper-cases to a known ``I`` yet is Turkish.
    Punctuation, digits and combining marks never count.
    """
    return "".join(ch for ch in unknown if ch.isalpha() and ch.lower() not in vocabulary)


def foreign_mask(unknowns, vocabulary) -> np.ndarray:
    """For each name's unknown characters (as the encoder listed them): is a foreign letter among them?"""
    return np.fromiter((bool(u) and bool(foreign_letters(u, vocabulary)) for u in unknowns), bool)


@functools.lru_cache(maxsize=16)
def _letter_masks(rules: DecisionRules, labels: tuple) -> dict:
    """Letter -> bool array over ``labels``: may a name holding it be that label? (The background label: always.)"""
    masks = {}
    for letter, listed in rules.letter_labels:
        mask = np.array([label in listed or label == rules.other_label for label in labels])
        masks[letter] = mask
    return masks


def allowed_labels(name: str, rules: DecisionRules, labels) -> np.ndarray | None:
    """Rule 4 for one name: a bool per label (may it be that one?), or None when its letters rule nothing out.

    The name is read in NFC; a letter not listed is looked up lower-cased too
    (``Ř`` as ``ř``).
    """
    masks = _letter_masks(rules, tuple(labels))
    allowed = None
    for ch in unicodedata.normalize("NFC", name):
        mask = masks.get(ch)
        if mask is None:
            mask = masks.get(ch.lower())
        if mask is not None:
            allowed = mask if allowed is None else allowed & mask
    if allowed is None or allowed.all() or not allowed.any():
        return None
    return allowed


def restrict_to_letters(probabilities: np.ndarray, names, rules: DecisionRules, labels) -> None:
    """Rule 4, in place: each row of ``probabilities`` kept to the labels its name's letters allow, summing to 1.

    ``names``: one per row, as given (not the text the model read: the
    letters it folded or dropped are the ones that tell). A row whose allowed
    labels hold no probability at all stays as it is.
    """
    if not rules.letter_labels:
        return
    for row, name in enumerate(names):
        if name.isascii():  # no listed letter is ASCII: most names are done here
            continue
        allowed = allowed_labels(name, rules, labels)
        if allowed is None:
            continue
        kept = probabilities[row] * allowed
        total = kept.sum()
        if total > 0:
            probabilities[row] = kept / total


def check_other_threshold(rules: DecisionRules, other_threshold) -> None:
    """A per-call operating point must fit the model: ValueError otherwise."""
    if other_threshold is None:
        return
    if rules.other_label is None:
        raise ValueError("other_threshold needs a model with a background label (this one has none)")
    if not 0.0 <= other_threshold <= 1.0:
        raise ValueError(f"other_threshold must be between 0 and 1, not {other_threshold}")


def decide(
    probabilities: np.ndarray,
    rules: DecisionRules,
    labels,
    *,
    other_threshold: float | None = None,
    foreign: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(index of the answered label, its probability) for each row of ``probabilities``.

    ``foreign``: a boolean per row, true where the name holds a foreign letter
    (only used when the rules say so). ``other_threshold`` overrides the
    model's operating point.
    """
    rows = np.arange(len(probabilities))
    if rules.other_label is None:
        best = probabilities.argmax(axis=1)
        return best, probabilities[rows, best]
    other = list(labels).index(rules.other_label)
    real = probabilities.copy()
    real[:, other] = -1.0  # never the best real label
    best = real.argmax(axis=1)
    threshold = rules.other_threshold if other_threshold is None else other_threshold
    is_other = probabilities[:, other] >= threshold
    if rules.foreign_letters and foreign is not None:
        is_other |= foreign
    best = np.where(is_other, other, best)
    return best, probabilities[rows, best]
