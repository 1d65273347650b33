"""The Python API on the bundled default model: labels, probabilities, statuses, batching."""

import math

import numpy as np
import pytest

from nameort import Classifier
from nameort.classifier import PARALLEL_MIN_ROWS


@pytest.fixture(scope="module")
def clf():
    return Classifier.load()


def test_bundled_model_knows_the_famous_examples(clf):
    assert clf.labels == ("German", "Italian", "other")
    assert clf.predict("Tribbiani").label == "Italian"
    assert clf.predict("Schmidt").label == "German"
    # Names of neither origin get the background label, not a confident German or Italian.
    assert [clf.predict(name).label for name in ("Nguyen", "Yamamoto", "Kowalski")] == ["other"] * 3


def test_prediction_carries_every_probability(clf):
    p = clf.predict("Rossi")
    assert p.name == "Rossi" and p.status == "ok" and p.text == "Rossi"
    assert set(p.probabilities) == {"German", "Italian", "other"}
    assert math.isclose(sum(p.probabilities.values()), 1.0, abs_tol=1e-9)
    assert p.label == "Italian" and p.confidence == p.probabilities["Italian"]
    assert p.confidence == max(p.probabilities.values())


def test_predict_many_keeps_order_and_duplicates(clf):
    names = ["Schmidt", "Tribbiani", "", "Schmidt", "Esposito", "Tribbiani"]
    results = clf.predict_many(names)
    assert [r.name for r in results] == names
    assert results[0] == results[3] and results[1] == results[5]
    assert results[2].status == "empty" and results[2].label is None and results[2].probabilities == {}
    for name, r in zip(names, results):
        one = clf.predict(name)
        assert (r.label, r.status) == (one.label, one.status)
        # Batch composition may change the last float bits of a GEMM, nothing more.
        assert r.probabilities == pytest.approx(one.probabilities, abs=1e-6)


def test_nfd_name_classifies_exactly_like_nfc(clf):
    assert clf.predict("Mu\u0308ller").probabilities == clf.predict("M\u00fcller").probabilities


def test_unknown_characters_are_reported_and_substituted(clf):
    p = clf.predict("García")
    assert p.status == "unknown_chars" and p.unknown_chars == "í" and p.text == "Garcia"
    assert p.probabilities == clf.predict("Garcia").probabilities


def test_unsupported_script_gets_no_prediction(clf):
    p = clf.predict("李明")
    assert (p.label, p.confidence, p.status) == (None, None, "unsupported")


def test_top_k_is_sorted_best_first(clf):
    p = clf.predict("Tribbiani", top_k=3)
    assert [label for label, _ in p.top][0] == "Italian"
    assert sorted(label for label, _ in p.top) == ["German", "Italian", "other"]
    assert p.top[0][1] >= p.top[1][1] >= p.top[2][1]
    assert [prob for _, prob in p.top] == [p.probabilities[label] for label, _ in p.top]
    assert clf.predict("Tribbiani").top == ()


def test_threshold_abstains_with_label_unknown(clf):
    confident = clf.predict("Tribbiani")
    assert 0.5 < confident.confidence < 1.0 and confident.label == "Italian"
    for threshold in (1.0, confident.confidence + 1e-9):  # anything above the confidence abstains
        abstained = clf.predict("Tribbiani", threshold=threshold)
        assert (abstained.label, abstained.status) == ("unknown", "low_confidence")
        assert abstained.confidence == confident.confidence and abstained.probabilities == confident.probabilities
    at_confidence = clf.predict("Tribbiani", threshold=confident.confidence)  # not below it: answered
    assert (at_confidence.label, at_confidence.status) == ("Italian", "ok")


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"top_k": 4}, {"other_threshold": 1.1}, {"threshold": 1.5}, {"threshold": -0.1}])
def test_bad_options_are_value_errors(clf, kwargs):
    with pytest.raises(ValueError):
        clf.predict("Rossi", **kwargs)


def test_parallel_sessions_give_the_same_numbers_as_one():
    names = [f"Ross{'i' * (i % 5)}{chr(97 + i % 26)}{chr(97 + (i // 26) % 26)}" for i in range(PARALLEL_MIN_ROWS + 500)]
    serial = Classifier.load(threads=1).predict_many(names)
    parallel = Classifier.load(threads=2).predict_many(names, batch_size=256)
    assert len({r.text for r in serial}) >= PARALLEL_MIN_ROWS
    assert [r.label for r in parallel] == [r.label for r in serial]
    for a, b in zip(parallel, serial):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)


def test_probabilities_are_finite_and_normalised(clf):
    probs = clf.probabilities(["A", "Zz", "Abcdefghijklmnopqr"])
    assert probs.shape == (3, 3) and np.isfinite(probs).all()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("options", [{}, {"top_k": 2}, {"threshold": 0.99}, {"top_k": 1, "threshold": 0.5}])
def test_predict_is_exactly_predict_many_of_one(clf, options):
    for name in ["Tribbiani", "Schmidt", "García", "Mu\u0308ller", "O\u2019Connor", "x" * 30, "", "李明", " Rossi "]:
        assert clf.predict(name, **options) == clf.predict_many([name], **options)[0]


def test_model_runs_are_sized_to_the_models_input():
    from nameort.classifier import run_batch_size

    assert run_batch_size(18, 65) == 256  # the default model: 4,680 bytes of one-hot input per name
    assert run_batch_size(20, 87) == 172  # the languages model
    assert run_batch_size(1, 2) == 1024 and run_batch_size(500, 500) == 16  # the bounds
    clf = Classifier.load()
    assert clf.batch_size == 256
    names = [f"Ross{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(600)]  # 3 runs by default
    by_default = clf.probabilities(names)
    one_run = clf.probabilities(names, batch_size=600)
    np.testing.assert_allclose(by_default, one_run, rtol=0, atol=1e-6)
