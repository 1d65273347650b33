"""The bundled 18-language model: loads by name, says how it was made, and holds its figures on unseen names.

It was trained on the 80% train split of its recipe (seed 0), so the 10% test
split its sidecar records is made of names it never saw: ``nameort evaluate``
re-derives that split from the sidecar (files, dedupe, merge, seed) and scores
it through the runtime. Floors, not single names, so retraining does not flip them.
"""

import json
import subprocess
import sys

from nameort.classifier import Classifier
from nameort.sidecar import BUNDLED_MODELS_DIR, bundled_models, read_card

MODEL_DIR = BUNDLED_MODELS_DIR / "languages"
LANGUAGES = [
    "Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish",
    "Italian", "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Spanish", "Vietnamese",
]


def test_loads_by_name_with_17_labels():
    assert "languages" in bundled_models()
    with Classifier.load("languages") as classifier:
        assert list(classifier.card.labels) == LANGUAGES
        (prediction,) = classifier.predict_many(["Nguyen"])
        assert prediction.label in LANGUAGES and prediction.status == "ok"
        assert abs(sum(prediction.probabilities.values()) - 1) < 1e-5


def test_sidecar_records_the_recipe():
    card = read_card(MODEL_DIR / "model.onnx")
    config, data = card.training["config"], card.training["data"]
    assert config["preset"] == "languages" and config["seed"] == 0 and config["split"] == [0.8, 0.1, 0.1]
    assert config["dedupe"] is True and config["merge"] == [["Scottish", "English"]] and config["shared"] == "keep"
    assert config["logit_adjust"] == 1.0 and config["ensemble"] == 3 and config["lr_schedule"] == "onecycle"
    assert config["cell"] == "gru" and card.training["model"]["cell"] == "gru"
    assert len(data["files"]) == 18 and "Scottish" in data["files"] and "Scottish" in data["files_sha256"]
    assert card.training["model"]["hidden_size"] == 192  # 3 merged 64-unit GRUs
    assert len(card.rules.characters) == 87 and card.rules.sequence_length == 20
    assert card.metrics["verified"] is True
    assert (MODEL_DIR / "model.onnx").stat().st_size < 4_000_000


def test_held_out_split_meets_the_floors(data_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "evaluate", "languages", "--data", str(data_dir), "--json"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    scored = json.loads(proc.stdout)
    card = read_card(MODEL_DIR / "model.onnx")
    assert scored["accuracy"] == card.metrics["test_accuracy"]
    assert scored["count"] == 1790 and scored["unscored"] == 0 and scored["data_changed"] == []
    figures = scored["figures"]
    # Measured when built (scripts/build_languages_model.sh): accuracy 0.7670, macro recall 0.5955,
    # top-3 0.9084, macro top-3 0.8633 on these 1,790 names. One split of 1,790 names moves by about
    # a point between recipes of equal merit (macro recall by more: Portuguese has 7 names in it),
    # hence floors a little under the figures.
    assert scored["accuracy"] >= 0.75
    assert figures["balanced_accuracy"] >= 0.57
    assert figures["top_3_accuracy"] >= 0.89
    assert figures["balanced_top_3_accuracy"] >= 0.84


def test_info_describes_the_network():
    proc = subprocess.run([sys.executable, "-m", "nameort", "info", "--model", "languages"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "network:          GRU, 1 x 192 units (3 networks of 64 merged), last-step head\n" in proc.stdout
