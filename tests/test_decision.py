"""Decision rules: temperature, the background label's operating point, foreign letters, bundled names."""

import json
import math
import shutil

import numpy as np
import pytest

from nameort import Classifier, ModelError
from nameort.decision import DecisionRules, decide, foreign_letters, softmax
from nameort.sidecar import BUNDLED_MODEL_DIR, DEFAULT_MODEL, MODEL_FILENAME, bundled_models, resolve_model_path

LABELS = ("German", "Italian", "other")
RULES = DecisionRules(other_label="other", other_threshold=0.4, foreign_letters=True)
VOCAB = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzßàäèéìòóöùü' ")


def test_default_rules_are_a_plain_argmax_and_record_nothing():
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    best, confidence = decide(p, DecisionRules(), LABELS)
    assert best.tolist() == [1, 0]
    assert confidence.tolist() == [0.5, 0.6]
    assert DecisionRules().to_json() == {}


def test_other_is_answered_from_its_operating_point_on():
    p = np.array([
        [0.35, 0.25, 0.40],  # P(other) == threshold: other
        [0.50, 0.11, 0.39],  # just under: the best real label
        [0.10, 0.20, 0.70],
    ])
    best, confidence = decide(p, RULES, LABELS)
    assert [LABELS[i] for i in best] == ["other", "German", "other"]
    assert confidence.tolist() == [0.40, 0.50, 0.70]


def test_below_the_operating_point_the_best_real_label_wins_even_over_a_larger_other():
    p = np.array([[0.30, 0.25, 0.45]])
    best, confidence = decide(p, RULES, LABELS, other_threshold=0.5)
    assert LABELS[best[0]] == "German" and confidence[0] == 0.30


def test_a_foreign_letter_answers_other():
    p = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]])
    best, _ = decide(p, RULES, LABELS, foreign=np.array([True, False]))
    assert [LABELS[i] for i in best] == ["other", "German"]
    off = DecisionRules(other_label="other", other_threshold=0.4, foreign_letters=False)
    best, _ = decide(p, off, LABELS, foreign=np.array([True, False]))
    assert [LABELS[i] for i in best] == ["German", "German"]


@pytest.mark.parametrize(
    "unknown, foreign",
    [
        ("í", "í"),  # García
        ("Ł", "Ł"),  # Łukasz
        ("ı", "ı"),  # Yılmaz
        ("ễ", "ễ"),  # Nguyễn
        ("Ü", ""),  # MÜLLER: ü is known
        ("’", ""),  # O’Connor: punctuation
        ("-1\u0301", ""),  # digits, hyphen, a lone combining mark
        ("ñç", "ñç"),
    ],
)
def test_foreign_letters(unknown, foreign):
    assert foreign_letters(unknown, VOCAB) == foreign


def test_temperature_scales_log_odds_and_keeps_the_argmax():
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)
    plain, warm = softmax(logits), softmax(logits, temperature=2.0)
    assert warm.argmax() == plain.argmax()
    assert math.log(warm[0, 0] / warm[0, 1]) == pytest.approx(math.log(plain[0, 0] / plain[0, 1]) / 2, rel=1e-12)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"other_label": "Spanish"}, "not one of the labels"),
        ({"temperature": 0}, "temperature must be a positive number"),
        ({"other_label": "Italian", "other_threshold": 1.5}, "other_threshold must be between 0 and 1"),
        ({"foreign_letters": True}, "foreign_letters needs an other_label"),
        ([1, 2], "decision must be a JSON object"),
        ({"letter_labels": ["ř"]}, "letter_labels must be a JSON object"),
        ({"letter_labels": {"ř": ["Czech"]}}, "letter_labels: 'Czech' is not one of the labels"),
        ({"letter_labels": {"ř": []}}, "letter_labels: 'ř' must list labels"),
        ({"letter_labels": {"ř": "German"}}, "letter_labels: 'ř' must list labels"),
        ({"letter_labels": {"ch": ["German"]}}, "letter_labels: 'ch' is not one character beyond ASCII"),
        ({"letter_labels": {"a": ["German"]}}, "letter_labels: 'a' is not one character beyond ASCII"),
    ],
)
def test_a_bad_decision_entry_is_a_model_error(tmp_path, entry, message):
    model = _bundled_copy(tmp_path, entry)
    with pytest.raises(ModelError, match=message):
        Classifier.load(model)


def test_the_decision_entry_reaches_every_prediction(tmp_path):
    # The bundled network twice: without decision rules (a plain argmax), and with "Italian"
    # posing as the background label at 0.9, a temperature and foreign letters on.
    plain = Classifier.load(_bundled_copy(tmp_path / "plain", {}))
    entry = {"temperature": 1.5, "other_label": "Italian", "other_threshold": 0.9, "foreign_letters": True}
    clf = Classifier.load(_bundled_copy(tmp_path / "warm", entry))
    names = ["Tribbiani", "Schmidt", "Rossi", "Garcia", "Nguyen", "Bianchi", "Weber", "Esposito"]
    base = {p.name: p for p in plain.predict_many(names)}
    warm = {p.name: p for p in clf.predict_many(names)}
    assert {p.label for p in warm.values()} == {"Italian", "German", "other"}  # the test sees every branch
    for name in names:
        b, w = base[name].probabilities, warm[name].probabilities
        assert max(w, key=w.get) == max(b, key=b.get)  # temperature keeps the argmax...
        assert w[base[name].label] < b[base[name].label]  # ...and only softens
        real = {label: v for label, v in w.items() if label != "Italian"}
        want = "Italian" if w["Italian"] >= 0.9 else max(real, key=real.get)
        assert warm[name].label == want
        assert warm[name].confidence == w[want]
        assert clf.predict(name) == warm[name]
    # A foreign letter answers the background label whatever the probabilities.
    assert clf.predict("Weberń").label == "Italian"
    assert clf.predict("WeberÜ").label == clf.predict("WeberU").label  # a capital of a known letter: not foreign
    # The operating point can be overridden per call.
    assert clf.predict("Schmidt", other_threshold=0.0).label == "Italian"
    with pytest.raises(ValueError, match="needs a model with a background label"):
        plain.predict("Schmidt", other_threshold=0.5)


def test_bundled_models_are_addressed_by_name(tmp_path, monkeypatch):
    assert DEFAULT_MODEL in bundled_models()
    assert resolve_model_path(None) == resolve_model_path(DEFAULT_MODEL) == BUNDLED_MODEL_DIR / MODEL_FILENAME
    with pytest.raises(ModelError, match=r"model not found: nosuchmodel \(bundled models: .*german-italian"):
        resolve_model_path("nosuchmodel")
    # A folder that shares a bundled model's name is reached by a path.
    monkeypatch.chdir(tmp_path)
    shutil.copytree(BUNDLED_MODEL_DIR, tmp_path / DEFAULT_MODEL)
    assert resolve_model_path(f"./{DEFAULT_MODEL}").resolve() == tmp_path / DEFAULT_MODEL / MODEL_FILENAME


def _bundled_copy(tmp_path, decision) -> str:
    target = tmp_path / "model"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(BUNDLED_MODEL_DIR, target, dirs_exist_ok=True)
    sidecar = target / (MODEL_FILENAME + ".json")
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["decision"] = decision
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    return str(target)


def test_info_shows_the_decision_rules(tmp_path):
    from click.testing import CliRunner

    from nameort.cli import main

    entry = {"temperature": 1.5, "other_label": "Italian", "other_threshold": 0.9, "foreign_letters": True}
    model = _bundled_copy(tmp_path, entry)
    result = CliRunner().invoke(main, ["info", "--model", model])
    assert result.exit_code == 0, result.output
    assert "decision:         'Italian' from P >= 0.9 or a foreign letter; temperature 1.5\n" in result.output
    result = CliRunner().invoke(main, ["info", "--model", model, "--json"])
    assert json.loads(result.output)["decision"] == entry


def test_accuracy_summary_fits_the_kind_of_model():
    from nameort.output import accuracy_summary

    open_set = {"test_accuracy": 0.6, "test_figures": {"in_scope_balanced_accuracy": 0.9301, "rejection": 0.4406}}
    assert accuracy_summary(open_set) == (
        "balanced accuracy 0.930 on the real labels, 0.441 of other names answered other"
    )
    assert accuracy_summary({"test_accuracy": 0.96503}) == "accuracy 0.965"
    assert accuracy_summary({}) is None


LANGS = ("Czech", "Polish", "Spanish", "Vietnamese")
LETTERS = DecisionRules(letter_labels=(("ñ", ("Spanish",)), ("ó", ("Czech", "Polish", "Spanish", "Vietnamese")),
                                       ("ř", ("Czech",)), ("ś", ("Polish",)), ("ễ", ("Vietnamese",))))


@pytest.mark.parametrize("name, allowed", [
    ("Dvořák", [True, False, False, False]),  # ř: Czech only (á is not listed: no say)
    ("DVOŘÁK", [True, False, False, False]),  # a capital is looked up lower-cased
    ("Dvor\u030cák", [True, False, False, False]),  # decomposed: read in NFC
    ("Muñóz", [False, False, True, False]),  # ñ and ó: the labels listed for both
    ("Jóźwik", None),  # ó allows all four: nothing is ruled out
    ("Śńřx", None),  # ś and ř share no label: nothing is ruled out
    ("Nowak", None),
])
def test_letter_labels_allow_the_labels_listed_for_every_letter(name, allowed):
    from nameort.decision import allowed_labels

    got = allowed_labels(name, LETTERS, LANGS)
    assert (got if got is None else got.tolist()) == allowed


def test_letters_rule_out_labels_and_the_rest_sum_to_one():
    from nameort.decision import restrict_to_letters

    p = np.array([[0.1, 0.6, 0.2, 0.1], [0.1, 0.6, 0.2, 0.1], [0.0, 0.5, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]])
    restrict_to_letters(p, ["Dvořák", "Nowak", "Nguyễn", "Muñoz"], LETTERS, LANGS)
    assert p[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert p[1].tolist() == [0.1, 0.6, 0.2, 0.1]  # no listed letter: as the model said
    assert p[2].tolist() == [0.0, 0.5, 0.5, 0.0]  # the allowed label holds nothing: as the model said
    assert p[3].tolist() == [0.0, 0.0, 1.0, 0.0]
    background = DecisionRules(other_label="Polish", letter_labels=(("ř", ("Czech",)),))
    q = np.array([[0.2, 0.3, 0.5, 0.0]])
    restrict_to_letters(q, ["Dvořák"], background, LANGS)
    assert q[0].tolist() == pytest.approx([0.4, 0.6, 0.0, 0.0], abs=1e-15)  # the background label stays


def test_letter_labels_go_through_the_sidecar_and_every_prediction(tmp_path):
    plain = Classifier.load(_bundled_copy(tmp_path / "plain", {}))
    entry = {"letter_labels": {"ř": ["German"], "ñ": ["Italian"], "ü": ["German", "Italian"]}}
    clf = Classifier.load(_bundled_copy(tmp_path / "letters", entry))
    assert clf.card.decision.to_json()["letter_labels"] == entry["letter_labels"]
    names = ["Dvořák", "Muñoz", "Müller", "Rossi", "Dvorak"]
    before = {p.name: p for p in plain.predict_many(names)}
    after = {p.name: p for p in clf.predict_many(names, top_k=3)}
    assert after["Dvořák"].label == "German" and after["Dvořák"].probabilities["Italian"] == 0.0
    assert after["Muñoz"].label == "Italian" and after["Muñoz"].confidence == 1.0 - after["Muñoz"].probabilities["other"]
    assert after["Muñoz"].probabilities["German"] == 0.0 and after["Muñoz"].top[0][0] == "Italian"
    for name in ["Rossi", "Dvorak"]:  # nothing ruled out: the plain model's numbers
        assert after[name].probabilities == before[name].probabilities
    # ü allows German and Italian ("other" is an ordinary label here): their odds stay as the model gave them.
    b, a = before["Müller"].probabilities, after["Müller"].probabilities
    assert a["other"] == 0.0 < b["other"] and a["German"] / a["Italian"] == pytest.approx(b["German"] / b["Italian"])
    for name in names:
        assert math.isclose(sum(after[name].probabilities.values()), 1.0, abs_tol=1e-12)
        assert clf.predict(name, top_k=3) == after[name]
    from nameort.output import decision_text

    assert decision_text(clf.card.decision.to_json()) == (
        "temperature 1; 3 letters beyond ASCII answered among the labels writing them (ñ, ü, ř, ...)")
