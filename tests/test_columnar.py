"""The columnar bulk path against the per-name path: the same answers, and the same bytes once formatted.

The reference is the per-name algorithm ``predict_many`` had before it was
built on ``columnar.classify``: ``Encoder.prepare`` for each name, one
``Prediction`` (with its probability dict) per name, formatted one at a time
by ``output.probability_cell`` and ``json.dumps(p.to_dict())``.
"""

import json
import random
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nameort import Classifier
from nameort.classifier import UNKNOWN_LABEL, Prediction
from nameort.columnar import NO_LABEL, Columns, STATUS_TEXT, PlainNames, classify
from nameort.decision import decide, foreign_letters
from nameort.encoding import LOW_CONFIDENCE, status_string
from nameort.output import probability_cell
from nameort import rendering
from nameort.rendering import json_array, json_objects, probability_cells
from nameort.sidecar import BUNDLED_MODEL_DIR, MODEL_FILENAME
from test_hostile_names import CORPUS

HOSTILE = [name for name, *_ in CORPUS]
OPTIONS = [{}, {"top_k": 2}, {"threshold": 0.9}, {"top_k": 1, "threshold": 0.75}]


def reference(clf, names, top_k=None, threshold=None, other_threshold=None, batch_size=1024):
    """The per-name path: one prepared name and one Prediction at a time."""
    prepared = {}
    for name in names:
        if name not in prepared:
            prepared[name] = clf.encoder.prepare(name)
    usable = [p for p in prepared.values() if p.usable]
    texts = list(dict.fromkeys(p.text for p in usable))
    row_of = {text: i for i, text in enumerate(texts)}
    probs = clf.probabilities(texts, batch_size=batch_size)[[row_of[p.text] for p in usable]]
    foreign = None
    if clf.card.decision.foreign_letters:
        foreign = np.array([bool(foreign_letters(p.unknown, clf.encoder.index)) for p in usable], bool)
    best, conf = decide(probs, clf.card.decision, clf.labels, other_threshold=other_threshold, foreign=foreign)
    made = {}
    for p, row, index, c in zip(usable, probs, best.tolist(), conf.tolist()):
        label, flags = clf.labels[index], p.flags
        if threshold is not None and c < threshold:
            label, flags = UNKNOWN_LABEL, flags + (LOW_CONFIDENCE,)
        top = ()
        if top_k:
            top = tuple((clf.labels[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top_k])
        probabilities = {label_: float(v) for label_, v in zip(clf.labels, row)}
        made[p.name] = Prediction(p.name, label, c, probabilities, status_string(flags), p.unknown, p.text, top)
    for name, p in prepared.items():
        if not p.usable:
            made[name] = Prediction(name, None, None, {}, p.status, p.unknown, p.text)
    return [made[name] for name in names]


def random_names(clf, count, seed=0):
    """Names of 0-24 characters: mostly the vocabulary, with spaces, look-alikes, accents, marks, emoji, CJK, NUL."""
    rng = random.Random(seed)
    extra = "  -\u2019\u00f1\u0142\u0131\u00e9\u0301\u00a0\U0001f600\u674e\x00\"\\,"
    alphabet = clf.card.rules.characters * 3 + extra
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 25))) for _ in range(count)]
    return names + names[: count // 10]  # some repeats


@pytest.fixture(scope="module")
def clf():
    return Classifier.load()


def bundled_copy(folder, decision):
    """The bundled model with its sidecar's decision entry replaced (None: removed, a plain argmax)."""
    target = folder / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, target)
    sidecar = target / (MODEL_FILENAME + ".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data.pop("decision", None)
    if decision is not None:
        data["decision"] = decision
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def open_set(tmp_path_factory):
    """The bundled model with "Italian" as its background label, a temperature and foreign letters on."""
    decision = {"temperature": 1.5, "other_label": "Italian", "other_threshold": 0.8, "foreign_letters": True}
    return Classifier.load(bundled_copy(tmp_path_factory.mktemp("open"), decision))


@pytest.fixture(scope="module")
def closed_set(tmp_path_factory):
    """The bundled model without decision rules: a plain argmax, no background label."""
    return Classifier.load(bundled_copy(tmp_path_factory.mktemp("closed"), None))


@pytest.fixture(scope="module")
def many(clf):
    return random_names(clf, 100_000)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_hostile_names_give_the_per_name_answers(clf, options):
    names = HOSTILE * 2
    assert classify(clf, names, **options).predictions() == reference(clf, names, **options)
    assert clf.predict_many(names, **options) == reference(clf, names, **options)


@pytest.mark.parametrize("options", [{}, {"top_k": 2, "threshold": 0.9}], ids=str)
def test_100000_random_names_give_the_per_name_answers(clf, many, options):
    cols = classify(clf, many, **options)
    assert cols.predictions() == reference(clf, many, **options)
    assert len(cols) == len(many)
    assert cols.model_texts < len(many)  # repeats and names that read alike ran once


@pytest.mark.parametrize("other_threshold", [None, 0.3, 0.95])
def test_the_decision_rules_apply_alike(open_set, clf, other_threshold):
    names = HOSTILE + random_names(clf, 5_000, seed=1) + ["Weber\u0144", "Weber\u00dc", "Nguy\u1ec5n"]
    options = {"top_k": 2, "threshold": 0.6, "other_threshold": other_threshold}
    got = classify(open_set, names, **options).predictions()
    assert got == reference(open_set, names, **options)
    assert sum(p.label == "Italian" for p in got) > 0
    # A foreign letter answers the background label; the capital of a known letter is not foreign.
    plain = classify(open_set, names[-3:], other_threshold=other_threshold).label_strings()
    assert plain[0] == plain[2] == "Italian"
    assert plain[1] == open_set.predict("WeberU", other_threshold=other_threshold).label


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_formatted_output_is_byte_identical(clf, options):
    names = HOSTILE + random_names(clf, 20_000, seed=2)
    cols = classify(clf, names, **options)
    predictions = reference(clf, names, **options)
    assert json_objects(cols) == [json.dumps(p.to_dict(), ensure_ascii=False) for p in predictions]
    assert json_array(cols) == json.dumps([p.to_dict() for p in predictions], ensure_ascii=False)
    assert probability_cells(cols.confidence) == [probability_cell(p.confidence) for p in predictions]
    for j, label in enumerate(clf.labels):
        assert probability_cells(cols.probabilities[:, j]) == [
            probability_cell(p.probabilities.get(label)) for p in predictions
        ]


def test_probability_cells_are_the_format_of_every_value():
    """The bulk digits agree with "{:.6f}" everywhere, half-way points and their neighbours included."""
    rng = np.random.default_rng(7)
    halves = (np.arange(0, 200_000) + 0.5) / 1e6
    edge = [np.nan, 0.0, -0.0, 1.0, 1.0000001, -1e-9, np.inf, -np.inf, 5e-7, 2**-7, 0.9999995, 0.5000005, 1e-300]
    for values in (rng.random(200_000), rng.random(50_000) ** 8, 1 - rng.random(50_000) ** 8,
                   np.arange(0, 200_001) / 1e6, halves, np.nextafter(halves, 0), np.nextafter(halves, 1),
                   np.arange(0, 129) / 128, np.array(edge * 3), rng.random(20)):
        expected = ["" if v != v else probability_cell(v) for v in values.tolist()]
        assert probability_cells(values) == expected
        assert probability_cells(values[::3]) == expected[::3]  # a strided column, as probabilities[:, j] is


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "repr"])
def test_json_numbers_are_what_json_writes_for_every_value(monkeypatch, fast):
    """orjson's digits where they match ``float.__repr__``, repr itself elsewhere; "null" for NaN."""
    if not fast:
        monkeypatch.setattr(rendering, "_orjson", None)
    else:
        assert rendering._orjson is not None  # the test environment has the [serve] extra
    rng = np.random.default_rng(11)
    edge = [np.nan, 0.0, -0.0, 1.0, 1e-4, np.nextafter(1e-4, 0), 9.99e-5, 1e-5, 5e-324, -3e-7, np.inf, -np.inf,
            1e16, 1e15, 2**-30, 0.1, 1 / 3]
    for values in (rng.random(100_000), rng.random(50_000) ** 12, np.exp(-40 * rng.random(50_000)),
                   rng.random(20_000).astype(np.float32).astype(np.float64), np.array(edge * 2), rng.random(5)):
        expected = ["null" if v != v else float.__repr__(v) for v in values.tolist()]
        assert rendering.json_numbers(values) == expected
        assert rendering.json_numbers(values[::3]) == expected[::3]


def test_json_objects_of_labels_holding_percent_signs():
    """A label is text in the row template: "%" in it must not be read as a conversion."""
    labels = ("50%", "%s")
    cols = Columns(
        names=["Ab", None, "Cd"], labels=labels, label_names=labels + ("unknown",),
        label=np.array([1, NO_LABEL, 2], np.int16), confidence=np.array([0.75, np.nan, 0.5]),
        status=np.array([0, 1, 16], np.uint8), unknown_chars=np.array(["", "", "%"], object),
        text=np.array(["Ab", "", "Cd"], object), probabilities=np.array([[0.25, 0.75], [np.nan] * 2, [0.5, 0.5]]),
        top_index=None, top_probability=None, model_texts=2,
    )
    expected = [json.dumps(p.to_dict(), ensure_ascii=False) for p in cols.predictions()]
    assert json_objects(cols) == expected
    assert '"probabilities": {"50%": 0.25, "%s": 0.75}' in expected[0]


def test_the_arrays_and_their_types(clf):
    names = ["Rossi", "", None, "\U0001f600", "Garc\u00eda", "Schmidt", "Rossi", "a" * 40]
    cols = classify(clf, names, top_k=2, threshold=0.5)
    n_labels = len(clf.labels)
    assert cols.label.dtype == np.int16 and cols.status.dtype == np.uint8
    assert cols.confidence.dtype == cols.probabilities.dtype == np.float64
    assert cols.probabilities.shape == (8, n_labels) and cols.top_index.shape == cols.top_probability.shape == (8, 2)
    assert [STATUS_TEXT[c] for c in cols.status.tolist()] == cols.status_strings()
    assert cols.status_strings()[1:4] == ["empty", "empty", "unsupported"]
    assert cols.status_strings()[4] in ("unknown_chars", "unknown_chars+low_confidence")
    assert cols.status_strings()[0] == clf.predict("Rossi", threshold=0.5).status
    assert cols.status_strings()[7] in ("truncated", "truncated+low_confidence")
    assert cols.label[1] == cols.label[2] == cols.label[3] == NO_LABEL
    assert np.isnan(cols.confidence[1:4]).all() and np.isnan(cols.probabilities[1:4]).all()
    assert (cols.top_index[1:4] == -1).all()
    assert cols.label_strings()[0] == cols.label_strings()[6] == clf.predict("Rossi", threshold=0.5).label
    assert classify(clf, ["Rossi"], threshold=1.0).status_strings() == ["low_confidence"]
    assert classify(clf, ["Rossi"], threshold=1.0).label_strings() == ["unknown"]
    assert cols.unknown_chars.tolist()[4] == "\u00ed" and cols.text.tolist()[4] == "Garcia"
    assert cols.names is not None and cols.predictions()[2].name is None
    assert cols.model_texts == 4  # Rossi, Garcia, Schmidt, aaa...: the repeat and the unusable ones did not run


def test_bad_input_and_options_are_refused(clf, closed_set):
    with pytest.raises(TypeError, match="a name must be a str, not int"):
        classify(clf, ["Rossi", 5])
    with pytest.raises(TypeError, match="a name must be a str, not NoneType"):
        clf.predict_many(["Rossi", None])
    with pytest.raises(ValueError, match="top_k"):
        classify(clf, ["Rossi"], top_k=len(clf.labels) + 1)
    with pytest.raises(ValueError, match="threshold"):
        classify(clf, ["Rossi"], threshold=1.5)
    with pytest.raises(ValueError, match="background label"):
        classify(closed_set, ["Rossi"], other_threshold=0.5)
    assert len(classify(clf, [])) == 0 and json_objects(classify(clf, [])) == []


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=30))
def test_a_name_found_plain_is_one_the_text_rules_leave_alone(clf, name):
    plain = PlainNames(clf.encoder).find([name, "Rossi"])
    p = clf.encoder.prepare(name)
    if plain[0]:
        assert (p.text, p.flags, p.unknown) == (name, (), "")
    assert plain[1]


def test_names_in_one_case_take_the_text_rules_path(clf):
    """The bulk path's plain-name shortcut leaves ROSSI and rossi to the one-case rule, as the per-name path does."""
    base = ["Rossi", "Schmidt", "Tribbiani", "Müller", "D'Angelo", "De Luca", "McDonald", "A", "Ab"]
    names = base + [n.upper() for n in base] + [n.lower() for n in base]
    cols = classify(clf, names)
    expected = reference(clf, names)
    assert cols.text.tolist() == [p.text for p in expected]
    assert cols.label_strings() == [p.label for p in expected]
    read = ["Rossi", "Schmidt", "Tribbiani", "Müller", "D'Angelo", "De Luca", "Mcdonald"]
    assert cols.text.tolist()[len(base):] == read + ["A", "Ab"] + read + ["a", "ab"]
