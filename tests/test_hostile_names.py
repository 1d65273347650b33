"""Awkward and hostile names through the API and `nameort classify`: each has one expected outcome."""

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nameort import Classifier
from nameort.encoding import EMPTY, LOW_CONFIDENCE, TRUNCATED, UNKNOWN_CHARS, UNSUPPORTED

VALID_FLAGS = {UNKNOWN_CHARS, TRUNCATED, LOW_CONFIDENCE}

# name, expected status, expected text the model reads (None: no prediction), expected unknown chars
CORPUS = [
    ("", "empty", None, ""),
    ("   ", "empty", None, ""),
    ("\u00a0\u2003", "empty", None, ""),  # NBSP and em space are whitespace
    ("Ro\u00a0ssi", "unknown_chars", "Ro ssi", "\u00a0"),
    ("Ros\u200bsi", "unknown_chars", "Rossi", "\u200b"),  # zero-width space is dropped
    ("\u200b\u200d", "unsupported", None, "\u200b\u200d"),
    ("😀", "unsupported", None, "😀"),
    ("Rossi😀", "unknown_chars", "Rossi", "😀"),
    ("李明", "unsupported", None, "李明"),
    ("Иванов", "unsupported", None, "Ивано"),  # each unknown character listed once
    ("محمد", "unsupported", None, "محد"),
    ("123", "unsupported", None, "123"),
    ("!!!", "unsupported", None, "!"),
    ("García" * 50, "unknown_chars+truncated", "GarciaGarciaGarcia", "í"),
    ("O'Connor", "ok", "O'Connor", ""),
    ("O\u2019Connor", "unknown_chars", "O'Connor", "\u2019"),
    ("Smith-Jones", "unknown_chars", "Smith Jones", "-"),
    ("Van Der Berg", "ok", "Van Der Berg", ""),
    ("Mu\u0308ller", "ok", "M\u00fcller", ""),
    ("\u0301", "unsupported", None, "\u0301"),  # a lone combining mark
    ("Ross\udcff", "unknown_chars", "Ross", "\udcff"),  # surrogate escape of an undecodable byte
    ("Ros\x00si", "unknown_chars", "Rossi", "\x00"),
    ("a" * 1_000_000, "truncated", "a" * 18, ""),
]


@pytest.fixture(scope="module")
def clf():
    return Classifier.load()


@pytest.mark.parametrize("name, status, text, unknown", CORPUS, ids=[repr(c[0][:12]) for c in CORPUS])
def test_corpus_entry(clf, name, status, text, unknown):
    p = clf.predict(name)
    assert p.name == name
    assert p.status == status
    assert p.unknown_chars == unknown
    if text is None:
        assert (p.label, p.confidence, p.probabilities) == (None, None, {})
    else:
        assert p.text == text
        assert p.label in clf.labels
        assert math.isclose(sum(p.probabilities.values()), 1.0, abs_tol=1e-9)


def test_substituted_names_classify_like_their_plain_form(clf):
    assert clf.predict("O\u2019Connor").probabilities == clf.predict("O'Connor").probabilities
    assert clf.predict("Ros\u200bsi").probabilities == clf.predict("Rossi").probabilities
    assert clf.predict("Mu\u0308ller").probabilities == clf.predict("M\u00fcller").probabilities


def test_a_random_megabyte_name_is_handled(clf):
    import random

    rng = random.Random(0)
    name = "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(1_000_000))
    p = clf.predict(name)
    assert p.status == "unknown_chars+truncated" and len(p.text) == 18
    # Every distinct unknown character (after NFC) is listed once, in order of first appearance.
    import unicodedata

    normalized = unicodedata.normalize("NFC", name).strip()
    unknown = [ch for ch in dict.fromkeys(normalized) if ch not in clf.encoder.index]
    assert p.unknown_chars == "".join(unknown)


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=60))
def test_any_text_gives_a_valid_result(clf, name):
    p = clf.predict(name)
    assert p.name == name
    if p.status in (EMPTY, UNSUPPORTED):
        assert p.label is None and p.probabilities == {}
        return
    flags = set(p.status.split("+")) - {"ok"}
    assert flags <= VALID_FLAGS and (flags or p.status == "ok")
    values = list(p.probabilities.values())
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in values)
    assert abs(sum(values) - 1) <= 1e-5
    assert len(p.text) <= clf.card.rules.sequence_length
    assert set(p.text) <= set(clf.card.rules.characters)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.text(max_size=25), max_size=40))
def test_predict_many_equals_predict_one_by_one(clf, names):
    # Batch composition may change the last float bits of a GEMM, nothing more.
    for many, one in zip(clf.predict_many(names), [clf.predict(n) for n in names], strict=True):
        assert (many.name, many.label, many.status, many.text) == (one.name, one.label, one.status, one.text)
        assert many.probabilities == pytest.approx(one.probabilities, abs=1e-6)


def test_classify_cli_keeps_hostile_lines_from_stdin():
    lines = ["", "  ", "Ros\x00si", "😀", "O\u2019Connor", "García" * 50, "Mu\u0308ller"]
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", "-", "--format", "jsonl"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, encoding="utf-8",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in rows] == lines
    assert [r["status"] for r in rows] == [
        "empty", "empty", "unknown_chars", "unsupported", "unknown_chars", "unknown_chars+truncated", "ok",
    ]


def test_classify_cli_table_survives_control_characters_and_undecodable_arguments():
    # Undecodable bytes in argv arrive as surrogate escapes and must come back out unchanged.
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", b"Ross\xff".decode("utf-8", "surrogateescape"), "Ro\tssi"],
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[1].startswith(b"Ross\xff ") and b"unknown_chars" in out[1]
    assert out[2].startswith(b"Ro\\tssi ")


def test_batch_keeps_every_hostile_name_with_the_same_status_as_the_api(tmp_path, clf):
    import csv

    from nameort.batch import classify_csv

    # Files hold bytes, so the surrogate-escape entry has no place here (undecodable
    # input is refused with a line number instead; see test_batch).
    names = [name for name, *_ in CORPUS if "\udcff" not in name]
    src = tmp_path / "hostile.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["id", "name"]] + [[str(i), n] for i, n in enumerate(names)])
    summary = classify_csv(src, tmp_path / "out.csv", "name", model=clf)
    assert summary.rows == len(names)
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == names
    expected = {name: status for name, status, *_ in CORPUS}
    assert [r["nameort_status"] for r in rows] == [expected[n] for n in names]


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=40))
def test_encoder_gives_a_valid_encoding_or_a_status_for_any_text(clf, name):
    encoder = clf.encoder
    p = encoder.prepare(name)
    x = encoder.one_hot([p.text])
    assert x.shape == (1, encoder.rules.sequence_length, encoder.vocab_size)
    # Exactly one 1 per character read, all-zero rows after it.
    assert (x.sum(axis=2)[0] == [1] * len(p.text) + [0] * (encoder.rules.sequence_length - len(p.text))).all()
    assert p.usable == bool(p.text)


def test_concurrent_threads_match_a_serial_run(clf):
    import random
    import threading

    rng = random.Random(7)
    pool = [n for n, *_ in CORPUS if len(n) < 100] + ["Rossi", "Schmidt", "Tribbiani", "Weber", "Esposito"]
    names = [rng.choice(pool) + rng.choice(["", "a", "i", "mann", "ini"]) for _ in range(10_000)]
    chunks = [names[i : i + 100] for i in range(0, len(names), 100)]

    def run():  # 10,000 predictions: 100 batches of 100
        return [p for chunk in chunks for p in clf.predict_many(chunk)]

    serial = run()
    results, errors = [None] * 8, []

    def work(k):
        try:
            results[k] = run()
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(r == serial for r in results)
