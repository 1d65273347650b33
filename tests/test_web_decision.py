"""Models by name, open-set decision rules and many labels in the built page, against the Python runtime.

Stand-in models (web_page.linear_model) give any label set and decision entry;
the bundled model with "Italian" posing as the background label is the trick
tests/test_decision.py uses. Needs what tests/test_web.py needs.
"""

from __future__ import annotations

import json
import shutil

import pytest

from nameort import Classifier
from nameort.sidecar import BUNDLED_MODEL_DIR, MODEL_FILENAME, bundled_models, resolve_model_path
from web_page import (
    BROWSER_NAMES, assert_same_predictions, built_site, linear_model, names_query, nameort, node_modules, open_page,
    options_query, serve,
)
from web_vectors import EIGHTEEN, FOREIGN_NAMES

@pytest.mark.parametrize("name", bundled_models())
def test_every_bundled_model_builds_by_name_and_answers_in_chromium(name, tmp_path):
    """`nameort web build OUT --model NAME` for each bundled model (german-italian, languages, ...)."""
    node_modules("onnxruntime-web")
    bundled = resolve_model_path(name)
    run = nameort("web", "build", str(tmp_path / "site"), "--model", name)
    assert run.returncode == 0, run.stderr
    assert f"(model {name}: " in run.stdout
    manifest = json.loads((tmp_path / "site" / "build.json").read_text(encoding="utf-8"))
    clf = Classifier.load(name, device="cpu")
    assert manifest["model_name"] == name and manifest["labels"] == list(clf.labels)
    assert (tmp_path / "site" / "model" / MODEL_FILENAME).read_bytes() == bundled.read_bytes()
    names = ["Tribbiani", "Schmidt", "Nguyen", "Yamamoto", "Kowalski", "García", "Łukasz", "O’Brien", "王", ""]
    top_k = min(3, len(clf.labels))
    with serve(tmp_path / "site") as url:
        code, report = open_page(url + names_query(names) + f"&top_k={top_k}")
    assert code == 0 and report["error"] is None, report
    assert_same_predictions(report["results"], [p.to_dict() for p in clf.predict_many(names, top_k=top_k)])
    assert report["model_info"].startswith(f"Model from {name} (model/): {len(clf.labels)} labels"), report


# Open-set models for the page: the bundled German / Italian / other network with "Italian" posing as the
# background label (as tests/test_decision.py does: the page must take it from the sidecar, not assume
# "other"), and a three-label German / Italian / other stand-in. (The bundled model as shipped, with its own
# rules, is test_every_bundled_model_builds_by_name_and_answers_in_chromium's.)
ITALIAN_AS_OTHER = {"temperature": 1.5, "other_label": "Italian", "other_threshold": 0.9, "foreign_letters": True}
OPEN_SET = {"temperature": 1.25, "other_label": "other", "other_threshold": 0.45, "foreign_letters": True}


def _open_set_model(kind, folder):
    if kind == "italian-as-other":
        shutil.copytree(BUNDLED_MODEL_DIR, folder)
        path = folder / "model.onnx.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["decision"] = ITALIAN_AS_OTHER
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        # The page says what the background label means from the model's other labels: "other" is one here.
        assert data["labels"] == ["German", "Italian", "other"]
        return folder, "Italian", "not German or other"
    return linear_model(folder, ["German", "Italian", "other"], OPEN_SET, seed=3), "other", "not German or Italian"


@pytest.mark.parametrize("kind", ["italian-as-other", "german-italian-other"])
def test_page_answers_the_background_label_as_python_does(kind, tmp_path):
    model, other, meaning = _open_set_model(kind, tmp_path / "model")
    site = built_site(tmp_path, model)
    names = BROWSER_NAMES + FOREIGN_NAMES
    clf = Classifier.load(str(model), device="cpu")
    with serve(site) as url:
        code, report = open_page(url + names_query(names), "--type-name", "Łukasz")
        assert code == 0 and report["error"] is None, report
        assert_same_predictions(report["results"], [p.to_dict() for p in clf.predict_many(names)])
        # The operating point, the confidence threshold and top-k from the query string, as classify takes them.
        options = {"threshold": 0.6, "other_threshold": 0.2, "top_k": 2}
        code, again = open_page(url + names_query(names) + options_query(options))
        assert code == 0 and again["error"] is None, again
        assert_same_predictions(again["results"], [p.to_dict() for p in clf.predict_many(names, **options)])
    labels = [r["label"] for r in report["results"]]
    assert labels.count(other) >= 3 and len(set(labels) - {None, other}) >= 1, labels
    # Foreign letters answer the background label whatever the probabilities.
    for name in ("García", "Łukasz", "Yılmaz", "Nguyễn", "王Wang"):
        assert report["results"][names.index(name)]["label"] == other, name
    assert report["results"][names.index("MÜLLER")]["label"] == clf.predict("MÜLLER").label
    assert {r["label"] for r in again["results"]} >= {other, "unknown"}
    assert report["model_info"].startswith("Model from model/: "), report["model_info"]  # not a bundled model
    assert f"answers {other} ({meaning}) from P({other}) ≥ " in report["model_info"], report["model_info"]
    # Under the typed name: the answer, what it means, and why.
    typed = report["typed"]
    assert typed["result"]["label"] == other and meaning in typed["shown"], typed
    if typed["result"]["probabilities"][other] < clf.card.decision.other_threshold:
        assert "Ł is a letter none of its names use" in typed["shown"], typed


def test_page_lists_the_top_labels_of_an_eighteen_label_model(tmp_path):
    model = linear_model(tmp_path / "model", EIGHTEEN, {"temperature": 0.8}, seed=5, scale=0.25)
    site = built_site(tmp_path, model)
    names = BROWSER_NAMES[:12] + ["Nguyen", "Yamamoto", "Kowalski", "O'Brien"]
    clf = Classifier.load(str(model), device="cpu")
    with serve(site) as url:
        code, report = open_page(url + names_query(names) + "&top_k=5", "--type-name", "Kowalski")
    assert code == 0 and report["error"] is None, report
    want = [p.to_dict() for p in clf.predict_many(names, top_k=5)]
    assert_same_predictions(report["results"], want)
    assert all(len(r["top"]) == 5 for r in report["results"] if r["label"] is not None)
    assert len({r["label"] for r in report["results"]} - {None}) >= 3
    # The typed name lists its five most likely labels, best first, and says how many are left.
    typed = report["typed"]
    top = clf.predict("Kowalski", top_k=5).top
    shown = typed["shown"]
    positions = [shown.index(f"{label} {100 * p:.1f} %") for label, p in top]
    assert positions == sorted(positions), shown
    assert f"13 more below {100 * top[-1][1]:.1f} %" in shown
