"""Turn names into the model's one-hot input, and say what was done to each.

This is the one encoder of nameort: training imports it from here, so what the
model saw in training and what it sees at inference can never drift apart.

The rules (recorded in every model's sidecar, see ``EncodingRules``):

1. Unicode NFC, then surrounding whitespace is stripped.
1b. A name written in one case, all capitals (at least two letters that have
   case) or all small letters (at least three), is read the way every
   training file writes names: each word's first letter a capital, the rest
   small (``ROSSI``, ``rossi`` -> ``Rossi``; ``O'BRIEN`` -> ``O'Brien``;
   ``MÜLLER`` -> ``Müller``), then normalised again. Mixed case is kept
   (``McDonald``), and so are two letters in small ones (``de``, ``li``: a
   particle, or the one training name so written, Vietnamese ``an``), so the
   rule changes no training name and models trained before it read their
   data as after it. A name longer than ``ONE_CASE_SPAN`` times the sequence
   length is left as given (the model reads the first characters only, and
   the rule costs a Python step per character). Models whose sidecar
   predates the rule (no ``title_single_case``) skip it.
2. Characters in the vocabulary are kept as they are.
3. Any other character is an *unknown character*. It is replaced by its
   typographic equivalent (curly apostrophe -> ``'``, non-breaking space ->
   space, ...) when that is in the vocabulary, else by its base letter when it
   is an accented letter whose base is in the vocabulary (``ł`` stays unknown,
   ``ñ`` -> ``n``), else dropped. Either way the name gets the status
   ``unknown_chars`` and the characters are listed.
4. A name longer than the sequence length keeps its first characters and gets
   the status ``truncated``.
5. Step ``t`` of the input is the one-hot vector of character ``t``; steps past
   the end of the name are all zeros.

A name that is empty after step 1 is ``empty``; one with no character left
after step 3 is ``unsupported``. Neither is given to the model.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np

# Status flags, in the order they are joined into a status string.
OK = "ok"
EMPTY = "empty"
UNSUPPORTED = "unsupported"
UNKNOWN_CHARS = "unknown_chars"
TRUNCATED = "truncated"
LOW_CONFIDENCE = "low_confidence"

# Look-alikes that keyboards, word processors and PDFs put in names. Each maps
# to candidate characters a training file would have used, in order of
# preference; the first one in the vocabulary stands in.
DEFAULT_EQUIVALENTS = {
    "\u2019": "'",  # right single quotation mark (the "curly apostrophe")
    "\u2018": "'",  # left single quotation mark
    "\u02bc": "'",  # modifier letter apostrophe
    "\u00b4": "'",  # acute accent used as an apostrophe
    "`": "'",
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u202f": " ",  # narrow no-break space
    "-": " ",  # hyphen-minus, for vocabularies without it: Smith-Jones -> Smith Jones
    "\u2010": "- ",  # hyphen
    "\u2011": "- ",  # non-breaking hyphen
    "\u2013": "- ",  # en dash
}


@dataclass(frozen=True)
class EncodingRules:
    """How text becomes model input; stored in the sidecar under "encoding"."""

    characters: str  # the vocabulary, in one-hot index order
    sequence_length: int  # steps of the model input; longer names are truncated
    normalization: str = "NFC"  # Unicode normal form applied first
    strip_whitespace: bool = True  # surrounding whitespace is not part of a name
    equivalents: dict = field(default_factory=lambda: dict(DEFAULT_EQUIVALENTS))  # char -> candidates
    fold_accents: bool = True  # unknown accented letter -> its base letter, if known
    title_single_case: bool = True  # ROSSI, rossi -> Rossi (rule 1b); False for sidecars without the key

    def __post_init__(self):
        if len(set(self.characters)) != len(self.characters):
            raise ValueError("vocabulary characters must be unique")
        if self.sequence_length < 1:
            raise ValueError("sequence_length must be at least 1")
        if self.normalization not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(f"unknown normalization {self.normalization!r}")

    def to_json(self) -> dict:
        return {
            "characters": list(self.characters),
            "sequence_length": self.sequence_length,
            "normalization": self.normalization,
            "strip_whitespace": self.strip_whitespace,
            "equivalents": dict(self.equivalents),
            "fold_accents": self.fold_accents,
            "title_single_case": self.title_single_case,
            "unknown": "replace_or_drop",
            "truncate": "keep_first",
            "padding": "zeros_after",
        }

    @classmethod
    def from_json(cls, data: dict) -> "EncodingRules":
        return cls(
            characters="".join(data["characters"]),
            sequence_length=int(data["sequence_length"]),
            normalization=data.get("normalization", "NFC"),
            strip_whitespace=bool(data.get("strip_whitespace", True)),
            equivalents=dict(data.get("equivalents", DEFAULT_EQUIVALENTS)),
            fold_accents=bool(data.get("fold_accents", True)),
            # Absent in sidecars written before the rule existed: those models keep their behaviour.
            title_single_case=bool(data.get("title_single_case", False)),
        )


@dataclass(frozen=True)
class PreparedName:
    """A name after the text rules: what the model reads, and what changed."""

    name: str  # exactly what the caller gave
    text: str  # what the model reads (normalised, mapped, truncated)
    flags: tuple  # status flags, empty when nothing was done
    unknown: str  # characters outside the vocabulary, in order of first appearance

    @property
    def usable(self) -> bool:
        return EMPTY not in self.flags and UNSUPPORTED not in self.flags

    @property
    def status(self) -> str:
        return status_string(self.flags)


def status_string(flags) -> str:
    return "+".join(flags) if flags else OK


def has_case(ch: str) -> bool:
    """A character with a capital and a small form (per character: no context such as a final sigma)."""
    return ch.lower() != ch.upper()


MIN_CAPITALS, MIN_SMALL = 2, 3  # rule 1b: letters with case a one-case name needs
ONE_CASE_SPAN = 4  # rule 1b: only names of at most this many times the sequence length
NO_CASE, CAPITAL, SMALL, OTHER_CASE = 0, 1, 2, 3  # what case_of says (OTHER_CASE: a title-case digraph)


def case_of(ch: str) -> int:
    """Rule 1b's view of one character: NO_CASE, CAPITAL, SMALL or OTHER_CASE."""
    if not has_case(ch):
        return NO_CASE
    return CAPITAL if ch == ch.upper() else SMALL if ch == ch.lower() else OTHER_CASE


def single_case(text: str) -> bool:
    """Rule 1b applies: at least two letters with case, all capitals, or at least three, all small."""
    counts = [0, 0, 0, 0]  # by case_of
    for ch in text:
        kind = case_of(ch)
        counts[kind] += 1
        if counts[OTHER_CASE] or (counts[CAPITAL] and counts[SMALL]):
            return False  # mixed case: most names stop at their second character
    return counts[CAPITAL] >= MIN_CAPITALS or counts[SMALL] >= MIN_SMALL


def title_single_case(text: str, normalization: str = "NFC") -> str:
    """Rule 1b: a one-case name with each word's first letter a capital and the rest small; others as given.

    A word is a run of letters with case: after any other character (an
    apostrophe, a space, a hyphen) the next letter is a capital again. Each
    character is mapped on its own (``str.upper``/``str.lower`` of one
    character, which JavaScript's toUpperCase/toLowerCase match), and the
    result is normalised again, as a mapping may leave a combining mark.
    """
    if not single_case(text):
        return text
    out, previous_cased = [], False
    for ch in text:
        cased = has_case(ch)
        out.append((ch.lower() if previous_cased else ch.upper()) if cased else ch)
        previous_cased = cased
    return unicodedata.normalize(normalization, "".join(out))


class Encoder:
    """Applies ``EncodingRules``; safe to share between threads."""

    def __init__(self, rules: EncodingRules):
        self.rules = rules
        self.index = {ch: i for i, ch in enumerate(rules.characters)}
        self._known = frozenset(rules.characters)
        # Code point -> one-hot index, so a whole batch is looked up in one step.
        self._table = np.full(max(map(ord, rules.characters)) + 1, -1, np.int64)
        for ch, i in self.index.items():
            self._table[ord(ch)] = i
        self._steps = np.arange(rules.sequence_length)

    @property
    def vocab_size(self) -> int:
        return len(self.rules.characters)

    def prepare(self, name: str) -> PreparedName:
        if not isinstance(name, str):
            raise TypeError(f"a name must be a str, not {type(name).__name__}")
        text = unicodedata.normalize(self.rules.normalization, name)
        if self.rules.strip_whitespace:
            text = text.strip()
        if not text:
            return PreparedName(name, "", (EMPTY,), "")
        if self.rules.title_single_case and len(text) <= ONE_CASE_SPAN * self.rules.sequence_length:
            text = title_single_case(text, self.rules.normalization)
        flags = []
        unknown = ""
        if not self._known.issuperset(text):
            text, unknown = self._replace_unknown(text)
            flags.append(UNKNOWN_CHARS)
            if not text:
                return PreparedName(name, "", (UNSUPPORTED,), unknown)
        if len(text) > self.rules.sequence_length:
            text = text[: self.rules.sequence_length]
            flags.append(TRUNCATED)
        return PreparedName(name, text, tuple(flags), unknown)

    def _replace_unknown(self, text: str) -> tuple[str, str]:
        """(the text with stand-ins, the unknown characters in order of first appearance).

        Only names with a character outside the vocabulary come here. The text
        is built only up to one character past the sequence length (the rest
        would be truncated anyway), so a megabyte of stray characters costs
        C-speed set work, not a Python step per character.
        """
        unknown = [ch for ch in dict.fromkeys(text) if ch not in self._known]
        stand_in = {ch: self._substitute(ch) for ch in unknown}
        limit = self.rules.sequence_length + 1
        kept, length = [], 0
        for ch in text:
            out = stand_in.get(ch, ch)
            if out:
                kept.append(out)
                length += len(out)
                if length >= limit:
                    break
        return "".join(kept), "".join(unknown)

    def _substitute(self, ch: str) -> str:
        """The known character standing in for ``ch``, or "" to drop it."""
        for candidate in self.rules.equivalents.get(ch, ""):
            if candidate in self._known:
                return candidate
        if self.rules.fold_accents:
            base = "".join(
                c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)
            )
            if base and all(c in self._known for c in base):
                return base
        return ""

    def one_hot(self, texts: list[str]) -> np.ndarray:
        """[len(texts), sequence_length, vocab] float32 for prepared texts.

        Every character must be in the vocabulary and no text longer than the
        sequence length, which is what ``prepare`` guarantees.
        """
        batch = np.zeros((len(texts), self.rules.sequence_length, self.vocab_size), np.float32)
        if not texts:
            return batch
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        joined = "".join(texts)
        if not joined:
            return batch
        codes = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
        columns = self._table[codes]
        rows = np.repeat(np.arange(len(texts)), lengths)
        starts = np.cumsum(lengths) - lengths
        steps = np.arange(len(codes)) - np.repeat(starts, lengths)
        batch[rows, steps, columns] = 1.0
        return batch

    def one_hot_single(self, text: str) -> np.ndarray:
        """``one_hot([text])`` for one prepared text, without the batch path's fixed cost of ~5 us."""
        batch = np.zeros((1, self.rules.sequence_length, self.vocab_size), np.float32)
        if text:
            codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
            batch[0, self._steps[: len(codes)], self._table[codes]] = 1.0
        return batch

    def encode(self, names: list[str]) -> tuple[np.ndarray, list[PreparedName]]:
        """One-hot batch of every name (all-zero rows for unusable ones) and what was done."""
        prepared = [self.prepare(n) for n in names]
        return self.one_hot([p.text for p in prepared]), prepared
