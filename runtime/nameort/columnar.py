"""The bulk path every surface shares: names in, arrays out.

``classify(classifier, names)`` runs the same rules as ``Classifier.predict``
(``encoding``'s text rules, ``decision.restrict_to_letters`` and ``decide``, the low-confidence
threshold) over a whole sequence at once and returns a ``Columns``: one
NumPy array per field, one entry per input name, in input order. No Python
object is made per name unless asked for (``Columns.predictions()``), which
is where ``predict_many``'s time used to go.

Why it is fast:

* each distinct name is prepared and run once (``inverse`` maps rows back);
* plain names (every character in the vocabulary, stable under the Unicode
  normal form, no surrounding whitespace, not too long) are recognised for
  the whole batch in a few NumPy operations on the UTF-32 code points of the
  joined names; only the others go through ``Encoder.prepare`` one by one;
* softmax, the decision rules and top-k are array operations.

Status codes are bit flags (``EMPTY_BIT`` ...), in the order the flags are
joined into a status string; ``STATUS_TEXT[code]`` is that string.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from .classifier import UNKNOWN_LABEL, Prediction
from .decision import decide, foreign_mask, restrict_to_letters
from .encoding import (
    CAPITAL, EMPTY, LOW_CONFIDENCE, MIN_CAPITALS, MIN_SMALL, NO_CASE, OTHER_CASE, SMALL, TRUNCATED, UNKNOWN_CHARS,
    UNSUPPORTED, case_of, status_string,
)

FLAGS = (EMPTY, UNSUPPORTED, UNKNOWN_CHARS, TRUNCATED, LOW_CONFIDENCE)  # bit i of a status code is FLAGS[i]
EMPTY_BIT, UNSUPPORTED_BIT, UNKNOWN_CHARS_BIT, TRUNCATED_BIT, LOW_CONFIDENCE_BIT = (1 << i for i in range(5))
NO_PREDICTION = EMPTY_BIT | UNSUPPORTED_BIT  # either bit: the model was not run
STATUS_TEXT = tuple(status_string([f for i, f in enumerate(FLAGS) if code >> i & 1]) for code in range(32))
_BITS = {flag: 1 << i for i, flag in enumerate(FLAGS)}
NO_LABEL = -1  # ``Columns.label`` of a name without a prediction


@dataclass(frozen=True, eq=False)
class Columns:
    """What the model said about each name, one array per field, rows in input order.

    ``label`` indexes ``label_names`` (the model's labels, then ``"unknown"``
    for an answer under the threshold); ``NO_LABEL`` (-1) means no prediction
    (an empty or unsupported name). Float fields hold NaN where there is no
    prediction.
    """

    names: list  # the input, as given (None for a missing value)
    labels: tuple  # the model's labels: the columns of ``probabilities``
    label_names: tuple  # labels + ("unknown",): what ``label`` indexes
    label: np.ndarray  # int16 [n]: index into label_names, NO_LABEL without a prediction
    confidence: np.ndarray  # float64 [n]: probability of the answered label; NaN without a prediction
    status: np.ndarray  # uint8 [n]: status bit flags; STATUS_TEXT[code] is the status string
    unknown_chars: np.ndarray  # object [n] of str: characters outside the vocabulary ("" mostly)
    text: np.ndarray  # object [n] of str: what the model read ("" without a prediction)
    probabilities: np.ndarray  # float64 [n, len(labels)]; NaN rows without a prediction
    top_index: np.ndarray | None  # int16 [n, top_k]: labels by probability, best first (-1: none); None without top_k
    top_probability: np.ndarray | None  # float64 [n, top_k] (NaN: none); None without top_k
    model_texts: int  # distinct texts the model ran for this call

    def __len__(self) -> int:
        return len(self.names)

    def label_strings(self) -> list:
        """The answered label of each row (None without a prediction)."""
        return _take(self.label_names + (None,), self.label)

    def status_strings(self) -> list:
        return _take(STATUS_TEXT, self.status)

    def predictions(self) -> list:
        """One ``Prediction`` per row, equal to what ``Classifier.predict`` returns for the name."""
        labels = self.labels
        made = []
        probs = self.probabilities.tolist()
        top_i = self.top_index.tolist() if self.top_index is not None else None
        top_p = self.top_probability.tolist() if self.top_probability is not None else None
        rows = zip(self.names, self.label_strings(), self.confidence.tolist(), self.status_strings(),
                   self.unknown_chars.tolist(), self.text.tolist(), self.label.tolist())
        for i, (name, label, conf, status, unknown, text, index) in enumerate(rows):
            if index == NO_LABEL:
                made.append(Prediction(name, None, None, {}, status, unknown, text))
                continue
            top = tuple((labels[j], p) for j, p in zip(top_i[i], top_p[i])) if top_i is not None else ()
            made.append(Prediction(name, label, conf, dict(zip(labels, probs[i])), status, unknown, text, top))
        return made


def _take(table, codes) -> list:
    """``[table[c] for c in codes]`` at C speed (a negative code indexes from the end)."""
    return list(map(table.__getitem__, codes.tolist()))


class PlainNames:
    """Finds, for a whole batch at once, the names the text rules leave unchanged.

    A name is plain when every character is in the vocabulary and is inert
    under the normal form (a starter that no other vocabulary character
    composes with), it does not start or end with whitespace, and it is not
    longer than the sequence length, and (under rule 1b) it is not written in
    one case. ``Encoder.prepare`` would return it as it is, with no flag;
    every other name goes through ``prepare``.
    """

    def __init__(self, encoder):
        rules = encoder.rules
        chars = rules.characters
        form = rules.normalization
        inert = [
            ch for ch in chars
            if unicodedata.combining(ch) == 0 and unicodedata.is_normalized(form, ch)
            and all(unicodedata.is_normalized(form, ch + other) and unicodedata.is_normalized(form, other + ch)
                    for other in chars)
        ]
        size = max(map(ord, chars)) + 2  # the last slot stands for every code point beyond the vocabulary
        self.size = size
        self.plain = np.zeros(size, bool)
        self.plain[[ord(ch) for ch in inert]] = True
        self.space = np.zeros(size, bool)
        if rules.strip_whitespace:
            self.space[[ord(ch) for ch in chars if ch.isspace()]] = True
        self.length = rules.sequence_length
        # Rule 1b: encoding.case_of each vocabulary character (NO_CASE for every other code point).
        self.case = None
        if rules.title_single_case:
            self.case = np.full(size, NO_CASE, np.int8)
            self.case[[ord(ch) for ch in chars]] = [case_of(ch) for ch in chars]

    def find(self, names: list) -> np.ndarray:
        """A boolean per name (all str): is it plain?"""
        n = len(names)
        lengths = np.fromiter(map(len, names), np.int64, n)
        joined = "".join(names)
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
        if len(codes) != int(lengths.sum()):  # cannot happen for str; be safe
            return np.zeros(n, bool)
        codes = np.minimum(codes, self.size - 1)
        bad = np.concatenate(([0], np.cumsum(~self.plain[codes])))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        ok = (lengths >= 1) & (lengths <= self.length) & (bad[ends] == bad[starts])
        where = np.flatnonzero(ok)
        if len(where):
            edge = self.space[codes[starts[where]]] | self.space[codes[ends[where] - 1]]
            ok[where[edge]] = False
        if self.case is not None and ok.any():
            ok &= ~self._single_case(codes, starts, ends)
        return ok

    def _single_case(self, codes, starts, ends) -> np.ndarray:
        """Per name: ``encoding.single_case``, for names made of vocabulary characters."""
        case = self.case[codes]
        capitals, smalls, others = (
            running[ends] - running[starts]
            for running in (np.concatenate(([0], np.cumsum(case == kind))) for kind in (CAPITAL, SMALL, OTHER_CASE))
        )
        one_case = (others == 0) & ((capitals == 0) | (smalls == 0))
        return one_case & ((capitals >= MIN_CAPITALS) | (smalls >= MIN_SMALL))


def _plain_finder(classifier) -> PlainNames:
    finder = getattr(classifier, "_plain_names", None)
    if finder is None:
        finder = PlainNames(classifier.encoder)
        try:
            classifier._plain_names = finder
        except AttributeError:  # a stand-in without attributes: build it each time
            pass
    return finder


def classify(
    classifier,
    names,
    *,
    top_k: int | None = None,
    threshold: float | None = None,
    other_threshold: float | None = None,
    batch_size: int | None = None,
) -> Columns:
    """Classify ``names`` (str, or None for a missing value: status ``empty``) into a ``Columns``.

    The options are ``Classifier.predict``'s; ``batch_size``: names per model
    run (default: the classifier's). A name of another type is a TypeError.
    """
    classifier._check_options(top_k, threshold, other_threshold)
    names = names if isinstance(names, list) else list(names)
    n = len(names)
    labels = tuple(classifier.labels)
    distinct, inverse = _distinct(names)
    m = len(distinct)
    same_rows = inverse is None

    texts, flags, unknown, all_plain = _prepare(classifier, distinct)
    usable = np.flatnonzero((flags & NO_PREDICTION) == 0)
    label = np.full(m, NO_LABEL, np.int16)
    confidence = np.full(m, np.nan)
    probabilities = np.full((m, len(labels)), np.nan)
    model_texts = 0
    if len(usable):
        usable_texts = list(map(texts.__getitem__, usable.tolist())) if len(usable) != m else texts
        if all_plain:  # each text is its name, and the names differ
            model_input, rows = usable_texts, None
        else:  # names that differ may read alike ("Rossi ", "Rossi")
            model_input, rows = _distinct(usable_texts)
        model_texts = len(model_input)
        probs = classifier.probabilities(model_input, batch_size=batch_size)
        if rows is not None:
            probs = probs[rows]
        rules = classifier.card.decision
        if rules.letter_labels:  # rule 4 reads the names as given, not the texts
            restrict_to_letters(probs, [distinct[i] for i in usable.tolist()], rules, labels)
        best, conf = decide(probs, classifier.card.decision, labels, other_threshold=other_threshold,
                            foreign=_foreign(classifier, unknown, flags, usable))
        best = best.astype(np.int16)
        if threshold is not None:
            low = conf < threshold
            best[low] = len(labels)
            flags[usable[low]] |= LOW_CONFIDENCE_BIT
        label[usable] = best
        confidence[usable] = conf
        probabilities[usable] = probs

    top_index = top_probability = None
    if top_k:
        top_index = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k].astype(np.int16)
        top_probability = np.take_along_axis(probabilities, top_index.astype(np.intp), axis=1)
        none = label == NO_LABEL
        top_index[none] = -1

    text_col = np.empty(m, object)
    text_col[:] = texts
    unknown_col = np.empty(m, object)
    unknown_col[:] = unknown
    if not same_rows:
        label, confidence, flags = label[inverse], confidence[inverse], flags[inverse]
        unknown_col, text_col, probabilities = unknown_col[inverse], text_col[inverse], probabilities[inverse]
        if top_k:
            top_index, top_probability = top_index[inverse], top_probability[inverse]
    return Columns(
        names=names, labels=labels, label_names=labels + (UNKNOWN_LABEL,), label=label, confidence=confidence,
        status=flags, unknown_chars=unknown_col, text=text_col, probabilities=probabilities,
        top_index=top_index, top_probability=top_probability, model_texts=model_texts,
    )


def _distinct(values: list):
    """(the distinct values in order of first appearance, each value's index among them or None when all differ)."""
    first = dict.fromkeys(values)
    if len(first) == len(values):
        return values, None
    distinct = list(first)
    position = dict(zip(distinct, range(len(distinct))))
    return distinct, np.fromiter(map(position.__getitem__, values), np.intp, len(values))


def _prepare(classifier, distinct: list):
    """(texts, status flags uint8, unknown characters, all plain?) of distinct names; plain ones in bulk."""
    m = len(distinct)
    flags = np.zeros(m, np.uint8)
    try:
        plain = _plain_finder(classifier).find(distinct)
    except TypeError:  # a None (missing) or a value of another type among them
        for name in distinct:
            if name is not None and not isinstance(name, str):
                raise TypeError(f"a name must be a str, not {type(name).__name__}") from None
        strings = [name for name in distinct if name is not None]
        plain = np.zeros(m, bool)
        if strings:
            found = _plain_finder(classifier).find(strings)
            plain[np.flatnonzero(np.fromiter((name is not None for name in distinct), bool, m))] = found
    texts = list(distinct)
    unknown = [""] * m
    prepare = classifier.encoder.prepare
    bits = _BITS
    for i in np.flatnonzero(~plain).tolist():
        name = distinct[i]
        if name is None:
            texts[i] = ""
            flags[i] = EMPTY_BIT
            continue
        p = prepare(name)
        texts[i], unknown[i] = p.text, p.unknown
        code = 0
        for flag in p.flags:
            code |= bits[flag]
        flags[i] = code
    return texts, flags, unknown, bool(plain.all())


def _foreign(classifier, unknown: list, flags: np.ndarray, usable: np.ndarray):
    """For each usable name: does it hold a foreign letter? None when the model does not use them."""
    if not classifier.card.decision.foreign_letters:
        return None
    # Only names flagged unknown_chars can hold one: the rest are skipped at C speed.
    with_unknown = np.flatnonzero((flags[usable] & UNKNOWN_CHARS_BIT) != 0)
    out = np.zeros(len(usable), bool)
    if len(with_unknown):
        out[with_unknown] = foreign_mask([unknown[i] for i in usable[with_unknown].tolist()], classifier.encoder.index)
    return out


__all__ = [
    "classify", "Columns", "PlainNames", "STATUS_TEXT", "FLAGS", "NO_LABEL", "NO_PREDICTION",
    "EMPTY_BIT", "UNSUPPORTED_BIT", "UNKNOWN_CHARS_BIT", "TRUNCATED_BIT", "LOW_CONFIDENCE_BIT",
]
