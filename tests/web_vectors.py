"""Vectors the Python runtime writes for web/test/*.test.mjs (the JavaScript encoder and decision rules).

tests/test_web.py writes them into a temporary file and points the Node tests
at it with NAMEORT_WEB_VECTORS. By hand:
    python -c "import sys; sys.path.insert(0, 'tests'); import web_vectors; web_vectors.write_vectors('/tmp/v.json')"
    NAMEORT_WEB_VECTORS=/tmp/v.json node --test web/test/*.test.mjs
"""

from __future__ import annotations

import json
import random
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from nameort.encoding import DEFAULT_EQUIVALENTS, Encoder, EncodingRules
from nameort.sidecar import MODEL_FILENAME, sidecar_path_for

# ---------------------------------------------------------------------------
# Encoder vectors, written by the Python runtime for web/test/encoder.test.mjs

# Characters the generated names are made of: ASCII, precomposed and combining
# accents, look-alikes with equivalents, every kind of space, zero-width and
# format characters, other scripts, emoji (astral, with modifiers and ZWJ),
# compatibility characters that NFC or NFKC change.
POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ' -.,0123")
    + list("àáâãäåçèéêëìíîïñòóôõöùúûüýÿßÀÉÖÜłŁøØđıİşŞțăőűẞǅǄ")
    + ["\u0300", "\u0301", "\u0308", "\u0327", "\u0345", "\u0903", "\u093c", "\u0f71", "\u0f72", "\u0f73"]
    + ["\u2019", "\u2018", "\u02bc", "\u00b4", "`", "\u2010", "\u2011", "\u2013", "\u2014"]
    + ["\u00a0", "\u2007", "\u202f", "\t", "\n", "\r", "\x0b", "\x1c", "\x1f", "\x85", "\u1680", "\u2003"]
    + ["\u2028", "\u3000"]
    + ["\u200b", "\u200c", "\u200d", "\ufeff", "\u180e", "\u00ad", "\u2060"]
    + ["王", "李", "Иван", "Ωμέγα", "محمد", "한", "\u1100", "\u1161", "\u11a8", "ア", "\u3099"]
    + ["😀", "👍", "\U0001f3fd", "\U0001f1e9", "\U0001f1ea", "\U0001d400", "\U00020000", "\ue000"]
    + ["\u212b", "\u212a", "\ufb01", "\u00bd", "\uff21", "\u2126", "\u1e9b", "\u0344"]
)

# Curated cases: each one a rule the encoder applies, or a trap a JavaScript port falls into.
CASES = [
    "Tribbiani", "Müller", "Schmidt", "D'Angelo", "De Luca", "van der Berg",
    "José", "Jose\u0301", "Mu\u0308ller", "Nun\u0303ez", "Ñúñez", "Łukasz", "Øster", "Straße", "STRASSE", "ẞ",
    "O\u2019Brien", "O\u2018Brien", "O\u02bcBrien", "O\u00b4Brien", "O`Brien",
    "Smith-Jones", "Smith\u2010Jones", "Smith\u2011Jones", "Smith\u2013Jones", "Smith\u2014Jones",
    "Van\u00a0Dyke", "Van\u2007Dyke", "Van\u202fDyke", "Van\u3000Dyke",
    "", " ", "   ", "\t\n", "\u00a0", "\u3000", "\x1c", "\x85", "\ufeff", "\u200b", "\u180e",
    "  Rossi  ", "\u00a0Rossi\u00a0", "\x1cRossi\x1f", "\x85Rossi\x85", "\ufeffRossi", "Rossi\ufeff",
    "\u2028Rossi\u2029",
    "Ro\u200bssi", "Ro\u200dssi", "Ro\u00adssi",
    "\u0301", "\u0301Rossi", "Rossi\u0301", "\u0345", "\u0903", "\u0f73", "\u0344",
    "😀", "Rossi😀", "😀Rossi", "👍\U0001f3fd", "\U0001f1e9\U0001f1ea", "\U0001d400bc", "\U00020000", "\ue000",
    "王", "王Wang", "Иванов", "Παπαδόπουλος", "محمد", "김", "\u1100\u1161\u11a8", "ア\u3099",
    "\u212bngstr\u00f6m", "\u212aelvin", "\ufb01sher", "\uff21bc",
    "Abcdefghijklmnopqr", "Abcdefghijklmnopqrs", "Abcdefghijklmnopqrstuvwxyz" * 3,
    "Àbcdéfghìjklmnòpqrstù", "A\u0301" * 20, "😀" * 30 + "ab", "ab" + "😀" * 30,
    "\ud800", "a\udfffb",
    "0123", "O'Neil, Jr.", "a" * 18 + "\u0301", "a" * 17 + "\u00e9x",
    # Rule 1b (one-case names re-cased): capitals, small letters (two kept), words, mixed case kept,
    # mappings that leave a mark or grow (İ -> i + dot, ß -> SS), title-case digraphs, Greek sigma.
    "ROSSI", "rossi", "O'BRIEN", "d'angelo", "MÜLLER", "MU\u0308LLER", "McDONALD", "DE LA CRUZ", "A", "AB", "a1b",
    "İSTANBUL", "istanbul", "STRAßE", "ßTRASSE", "ǄEMAL", "ǅEMAL", "ΣΙΣΥΦΟΣ", "ιβαν", "IVAN-PETROV", "X Æ A-12",
    "ROSSI😀", "ŁUKASZ", "NGUYỄN", "GARCÍA", " TRIBBIANI ", "ﬁSHER", "ᾈΑ", "an", "li", "de la cruz", "nguyễn",
    "ǆemal", "ßtrasse", "ﬁsher", "i̇stanbul", "σισυφος", "ROSSI" * 14, "ROSSI" * 15, "rossi" * 15,
]


def _ranges(code_points):
    ranges = []
    for cp in code_points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return ranges


def _assigned():
    """Code points this Python's Unicode assigns, surrogates left out."""
    return [cp for cp in range(0x110000) if unicodedata.category(chr(cp)) not in ("Cn", "Cs")]


def _ruleset(ident, encoding, names, *, every_code_point=False, assigned=()):
    rules = EncodingRules.from_json(encoding)
    encoder = Encoder(rules)
    prepared = [encoder.prepare(n) for n in names]
    batch = encoder.one_hot([p.text for p in prepared])
    flat = batch.reshape(len(names), -1)
    assert set(np.unique(flat)) <= {0.0, 1.0}
    cases = [
        {"name": p.name, "text": p.text, "status": p.status, "unknown": p.unknown,
         "onehot": np.flatnonzero(flat[i]).tolist()}
        for i, p in enumerate(prepared)
    ]
    out = {
        "id": ident,
        "encoding": encoding,
        "vocabulary": list(rules.characters),
        "sequence_length": rules.sequence_length,
        "cases": cases,
    }
    if every_code_point:
        special = []
        for cp in assigned:
            ch = chr(cp)
            p = encoder.prepare(ch)
            if not (p.text == "" and p.status == "unsupported" and p.unknown == ch):
                special.append([cp, p.text, p.status, p.unknown])
        out["codepoints"] = {"domain": _ranges(assigned), "special": special}
    return out


# ---------------------------------------------------------------------------
# Decision vectors: the runtime's Classifier on a stand-in session, for web/test/decision.test.mjs

# Names that test the foreign-letter rule: letters no German or Italian name uses, in either case,
# letters whose lower-case form is known (not foreign), titlecase, dotted and dotless i, CJK, and
# non-letters (punctuation, digits, marks, emoji) that never count.
FOREIGN_NAMES = [
    "García", "GARCÍA", "Łukasz", "ŁUKASZ", "Yılmaz", "YILMAZ", "Nguyễn", "Nguyễn", "Dvořák", "Müller",
    "MÜLLER", "Straße", "STRAẞE", "O’Connor", "İnönü", "İsmail", "ǅuro", "Σωκράτης", "王Wang", "Wang王",
    "Weberń", "Jørgensen", "Ångström", "Ångström", "Ærø", "Þór", "Smith1", "Rossi😀", "Róssi",
    "Ñúñez", "Çelik", "Şahin", "Kovač", "Tribbiani", "Schmidt", "Rossi", "Weber", "ǲ", "ﬁsher",
]

EIGHTEEN = [
    "Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish", "Italian",
    "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish", "Vietnamese",
]

# (id, labels, decision entry or None, options for predict_many). Every open-set model is asked
# at its own operating point, at both ends, and exactly at a probability it produces (1/3 below).
DECISION_MODELS = [
    ("two-labels", ["German", "Italian"], None, [{}, {"threshold": 0.7}, {"top_k": 2}]),
    ("italian-as-other", ["German", "Italian"],
     {"temperature": 1.5, "other_label": "Italian", "other_threshold": 0.9, "foreign_letters": True},
     [{}, {"other_threshold": 0.0}, {"other_threshold": 1.0}, {"threshold": 0.8, "top_k": 1}]),
    ("open-set", ["German", "Italian", "other"],
     {"other_label": "other", "other_threshold": 0.4, "foreign_letters": True},
     [{}, {"top_k": 3}, {"other_threshold": 1 / 3, "threshold": 0.5, "top_k": 2}, {"other_threshold": 1.0}]),
    ("open-set-no-letters", ["other", "German", "Italian"],
     {"temperature": 0.7, "other_label": "other", "other_threshold": 0.55, "foreign_letters": False},
     [{}, {"threshold": 0.9}, {"other_threshold": 1 / 3}]),
    ("eighteen", EIGHTEEN, {"temperature": 1.3}, [{}, {"top_k": 5}, {"top_k": 18, "threshold": 0.3}]),
    ("eighteen-letters", EIGHTEEN, {"temperature": 1.3, "letter_labels": {
        "ř": ["Czech"], "ñ": ["Spanish"], "ł": ["Polish"], "ễ": ["Vietnamese"], "ß": ["German"],
        "ü": ["German", "Spanish"], "ç": ["French", "Portuguese", "Spanish"],
        "í": ["Czech", "Irish", "Portuguese", "Spanish", "Vietnamese"],
        "ó": ["Czech", "Irish", "Polish", "Portuguese", "Spanish", "Vietnamese"],
        "ú": ["Czech", "Irish", "Portuguese", "Spanish", "Vietnamese"]}},
     [{}, {"top_k": 5}, {"top_k": 18, "threshold": 0.3}]),
    ("open-set-letters", ["German", "Italian", "other"],
     {"other_label": "other", "other_threshold": 0.6, "letter_labels": {"ü": ["German"], "ì": ["Italian"]}},
     [{}, {"top_k": 3}]),
]

# Sidecar decision entries both readers refuse, with the runtime's message.
BAD_DECISIONS = [
    {"other_label": "Spanish"},
    {"temperature": 0},
    {"temperature": -1.5},
    {"other_label": "Italian", "other_threshold": 1.5},
    {"other_label": "Italian", "other_threshold": -0.1},
    {"foreign_letters": True},
    [1, 2],
    {"letter_labels": ["ř"]},
    {"letter_labels": {"ř": ["Czech"]}},
    {"letter_labels": {"ř": []}},
    {"letter_labels": {"ch": ["German"]}},
    {"letter_labels": {"a": ["German"]}},
]


class TableSession:
    """Stands in for an ONNX Runtime session: each one-hot row's logits are looked up by the text it spells."""

    def __init__(self, characters, table):
        self.characters, self.table = characters, table

    def get_inputs(self):
        return [type("Input", (), {"name": "x"})()]

    def run(self, _outputs, feeds):
        rows = []
        for one_hot in feeds["x"]:
            text = "".join(self.characters[i] for i in one_hot.argmax(axis=1)[one_hot.max(axis=1) > 0])
            rows.append(self.table[text])
        return [np.array(rows, np.float32)]


def _logits_table(texts, n_labels, rng):
    """Logits per text on different scales (sure and unsure answers), float32 values; some rows all equal."""
    table = {}
    for i, text in enumerate(texts):
        if i % 17 == 0:
            row = np.zeros(n_labels)  # every label equally likely: exactly 1/n each, in both languages
        else:
            row = rng.normal(size=n_labels) * rng.choice([0.3, 2.0, 6.0])
        table[text] = np.asarray(row, np.float32).tolist()
    return table


def build_decision_vectors(encoding: dict) -> dict:
    from nameort.classifier import Classifier as RuntimeClassifier
    from nameort.decision import DecisionRules
    from nameort.errors import ModelError
    from nameort.sidecar import ModelCard

    rules = EncodingRules.from_json(encoding)
    encoder = Encoder(rules)
    names = CASES + FOREIGN_NAMES + _fuzz_names(11, 600)
    texts = sorted({p.text for p in map(encoder.prepare, names) if p.usable})
    rng = np.random.default_rng(12)
    models = []
    for ident, labels, decision, calls in DECISION_MODELS:
        table = _logits_table(texts, len(labels), rng)
        card = ModelCard(
            model_path=Path("model.onnx"), sidecar_path=Path("model.onnx.json"), model_sha256="0" * 64,
            labels=tuple(labels), rules=rules, metrics={}, training={}, tool_versions={},
            decision=DecisionRules.from_json(decision, labels),
        )
        clf = RuntimeClassifier(card, TableSession(rules.characters, table), "CPUExecutionProvider", 1, b"")
        sidecar = {
            "format": "nameort-model", "format_version": 1, "model_sha256": "0" * 64,
            "labels": labels, "encoding": encoding, **({"decision": decision} if decision is not None else {}),
        }
        results = []
        for options in calls:
            results.append({
                "options": options,
                "predictions": [p.to_dict() for p in clf.predict_many(names, **options)],
            })
        models.append({"id": ident, "sidecar": sidecar, "logits": table, "calls": results})
    return {"names": names, "models": models, "bad": _bad_decision_messages(encoding)}


def _bad_decision_messages(encoding) -> list:
    """read_card's message for each of BAD_DECISIONS (a sidecar on disk, checksum not checked)."""
    import tempfile

    from nameort.errors import ModelError
    from nameort.sidecar import read_card

    bad = []
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / MODEL_FILENAME
        for entry in BAD_DECISIONS:
            sidecar_path_for(model).write_text(json.dumps({
                "format": "nameort-model", "format_version": 1, "model_sha256": "0" * 64,
                "labels": ["German", "Italian"], "encoding": encoding, "decision": entry,
            }), encoding="utf-8")
            with pytest.raises(ModelError) as caught:
                read_card(model, verify_checksum=False)
            bad.append({"decision": entry, "message": str(caught.value).split(" has a bad decision entry: ")[1]})
    return bad


def _letter_vectors(assigned, vocabulary) -> dict:
    """Python's view of letters: str.isalpha, str.lower and foreign_letters over every assigned code point."""
    from nameort.decision import foreign_letters

    alpha = [cp for cp in assigned if chr(cp).isalpha()]
    return {
        "assigned_ranges": _ranges(assigned),
        "alpha_ranges": _ranges(alpha),
        "lower": [[cp, chr(cp).lower()] for cp in assigned if chr(cp).lower() != chr(cp)],
        "vocabulary": vocabulary,
        # Letters that are not foreign (every other letter is): the vocabulary's letters and their upper cases.
        "known_letters": [cp for cp in alpha if not foreign_letters(chr(cp), set(vocabulary))],
    }


def _fuzz_names(seed: int, count: int):
    rng = random.Random(seed)
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(0, 24))) for _ in range(count)]


def build_vectors(model=None) -> dict:
    from nameort.sidecar import read_card, resolve_model_path

    card = read_card(resolve_model_path(model))
    bundled = json.loads(card.sidecar_path.read_text(encoding="utf-8"))["encoding"]
    assigned = _assigned()
    names = CASES + _fuzz_names(8, 3000)
    vocab = list(card.rules.characters)

    rulesets = [
        _ruleset("model", bundled, names, every_code_point=True, assigned=assigned),
        # The other switches: NFKC, no stripping, no folding, list-valued and multi-character
        # equivalents, a short sequence.
        _ruleset("variant", {
            "characters": vocab + ["-"],
            "sequence_length": 6,
            "normalization": "NFKC",
            "strip_whitespace": False,
            "fold_accents": False,
            "title_single_case": True,
            "equivalents": {
                "\u2019": ["xy", "\u00e0", "'"], "\u0142": "l", "\u2013": "-", "\u00f8": ["o"], "\u00a0": "",
            },
        }, names, every_code_point=True, assigned=assigned),
        # Sidecar with only the required entries: the defaults, vocabulary given as one string.
        _ruleset("defaults", {"characters": "".join(vocab), "sequence_length": 12}, names),
        # Astral characters and combining marks inside the vocabulary (code points, not UTF-16 units),
        # NFD input, and marks of combining class 0 that \p{M} would wrongly drop when folding.
        _ruleset("astral-nfd", {
            "characters": ["a", "b", "c", "e", "o", "u", " ", "\u0301", "\u0308", "😀", "\U0001d400",
                           "\u09c7", "\u09be", "\u0f71"],
            "sequence_length": 5,
            "normalization": "NFD",
        }, names + ["\u09cb", "\u09cbb", "\u0f73", "\u0f71"], every_code_point=True, assigned=assigned),
        _ruleset("marks-nfc", {
            "characters": ["a", "b", "\u09c7", "\u09be", "\u0928", "\u093c"],
            "sequence_length": 4,
        }, ["\u09cb", "\u0929", "a\u09cbb", "\u0f73"], every_code_point=False),
    ]

    nfd_stable = [cp for cp in assigned if unicodedata.normalize("NFD", chr(cp)) == chr(cp)]
    logits = [[0.0, 0.0], [1.0, 2.0, 3.0], [1000.0, -1000.0], [-50.5, -50.25, 3.75, 0.125], [88.0, 88.0, -3.0]]
    from nameort.decision import softmax as _softmax

    return {
        "format": "nameort-web-encoder-vectors",
        "python": sys.version.split()[0],
        "unicode": unicodedata.unidata_version,
        "default_equivalents": DEFAULT_EQUIVALENTS,
        "whitespace": [cp for cp in range(0x110000) if chr(cp).isspace()],
        "combining": [cp for cp in nfd_stable if unicodedata.combining(chr(cp))],
        "nfd_stable_ranges": _ranges(nfd_stable),
        "softmax": [
            {"logits": row, "probabilities": _softmax(np.array([row], np.float32))[0].tolist()} for row in logits
        ],
        "rulesets": rulesets,
        "letters": _letter_vectors(assigned, vocab),
        "decision": build_decision_vectors(bundled),
    }


def write_vectors(path, model=None) -> None:
    Path(path).write_text(json.dumps(build_vectors(model), ensure_ascii=True), encoding="ascii")
