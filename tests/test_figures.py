"""Scoring figures: AUROC, ECE, temperature, the operating point, and score() against hand-counted cases."""

import numpy as np
import pytest

from nameort.decision import DecisionRules, softmax
from nameort_train.figures import auroc, calibrate, choose_threshold, ece, fit_temperature, reliability, score


def test_auroc():
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5  # a tie counts half
    assert auroc([0.9, 0.3, 0.5, 0.1], [True, True, False, False]) == 0.75  # 3 of 4 pairs ordered
    assert np.isnan(auroc([0.1, 0.2], [True, True]))


def test_ece_by_hand():
    # Two names at confidence 0.9, one right one wrong: |0.9 - 0.5| = 0.4 over the one bin used.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert ece(probabilities, [0, 1]) == pytest.approx(0.4)
    curve = reliability(probabilities, [0, 1])
    assert curve["count"][13] == 2 and sum(curve["count"]) == 2  # 0.9 is in (13/15, 14/15]
    assert curve["accuracy"][13] == 0.5 and curve["accuracy"][0] is None
    assert ece(np.array([[1.0, 0.0]]), [0]) == 0.0


def test_fit_temperature_recovers_an_overconfident_model():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, size=(4000, 3))
    targets = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    fitted = fit_temperature(true_logits * 2.5, targets)  # logits 2.5x too large
    assert fitted == pytest.approx(2.5, rel=0.08)


def test_choose_threshold_and_calibrate():
    labels = ("German", "Italian", "other")
    # P(other) of three in-scope rows is 0.1..0.3, of three background rows 0.6..0.8: anything in (0.3, 0.6] separates.
    p_other = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    probabilities = np.stack([(1 - p_other) * 0.9, (1 - p_other) * 0.1, p_other], axis=1)
    targets = np.array([0, 0, 0, 2, 2, 2])
    # Default: the lowest threshold that keeps the real labels' balanced accuracy (1.0 here) within the budget.
    assert choose_threshold(targets, probabilities, labels, "other") == (0.305, 1.0)
    # The mean of balanced accuracy and rejection: the middle of its best plateau (0.305 .. 0.6).
    threshold, rejection = choose_threshold(targets, probabilities, labels, "other", budget=None)
    assert threshold == pytest.approx(0.45, abs=0.006) and rejection == 1.0
    # A wider budget may give up one of the three German rows (balanced accuracy 2/3) for nothing more.
    assert choose_threshold(targets, probabilities, labels, "other", budget=0.34)[0] == 0.205
    rules, record = calibrate(targets, np.log(probabilities), labels, "other", foreign_letters=True)
    # Perfectly separable logits: the fitted temperature sharpens them, and the point is chosen after it.
    assert rules.temperature < 1 and record["kept"]
    scaled = softmax(np.log(probabilities), rules.temperature)
    expected = choose_threshold(targets, scaled, labels, "other", np.zeros(6, bool))[0]
    assert rules.other_label == "other" and rules.foreign_letters and rules.other_threshold == expected
    assert record["validation"]["rejection"] == 1.0 and record["chosen_by"] == "in-scope budget 0.02"
    fixed, _ = calibrate(targets, np.log(probabilities), labels, "other", fixed_threshold=0.25)
    assert fixed.other_threshold == 0.25 and not fixed.foreign_letters


def test_score_open_set_by_hand():
    labels = ("German", "Italian", "other")
    logits = np.log(np.array([
        [0.7, 0.1, 0.2],  # German, answered German
        [0.3, 0.1, 0.6],  # German, answered other (P(other) >= 0.5): wrong
        [0.1, 0.8, 0.1],  # Italian, answered Italian
        [0.5, 0.1, 0.4],  # other, answered German
        [0.8, 0.1, 0.1],  # other, holds a foreign letter: answered other
    ]))
    rules = DecisionRules(other_label="other", other_threshold=0.5, foreign_letters=True)
    figures = score([0, 0, 1, 2, 2], logits, labels, rules, foreign=np.array([0, 0, 0, 0, 1], bool))
    assert figures["confusion_matrix"] == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    assert figures["accuracy"] == pytest.approx(3 / 5)
    assert figures["in_scope_accuracy"] == pytest.approx(2 / 3)
    assert figures["in_scope_balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert figures["rejection"] == 0.5
    assert figures["recall"] == {"German": 0.5, "Italian": 1.0, "other": 0.5}
    assert figures["top_3_accuracy"] == 1.0
    # 1 - P(other): in-scope rows 0.8, 0.4, 0.9 against background rows 0.6, 0.9: 2 pairs ordered, 1 tie, of 6.
    assert figures["auroc"] == pytest.approx(2.5 / 6)
