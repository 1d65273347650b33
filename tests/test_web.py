"""The browser page (web/): JavaScript encoder parity in Node, and the built site in real Chromium.

These need Node.js, `npm ci --prefix web` and Debian's chromium; they fail, not
skip, when any is missing, because CI installs all three. Open-set and
many-label models in the page: tests/test_web_decision.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from nameort import Classifier
from nameort.sidecar import BUNDLED_MODEL_DIR, MODEL_FILENAME, sidecar_path_for
from web_page import (
    BROWSER_NAMES, REPO, WEB, PlainHostHandler, names_query, nameort, node, node_modules, one_line_error, open_page,
    serve,
)
from web_vectors import write_vectors

def test_encoder_parity_in_node(tmp_path):
    """The JavaScript encoder gives the Python runtime's text, statuses, unknown characters and one-hot."""
    node_bin = node()
    vectors = tmp_path / "vectors.json"
    write_vectors(vectors)
    run = subprocess.run(
        [node_bin, "--test", "--test-reporter=tap", *sorted(str(p) for p in (WEB / "test").glob("*.test.mjs"))],
        cwd=REPO, env={**os.environ, "NAMEORT_WEB_VECTORS": str(vectors)},
        capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    counts = dict(re.findall(r"^# (pass|fail) (\d+)$", run.stdout, re.MULTILINE))
    assert counts.get("fail") == "0" and int(counts.get("pass", 0)) >= 20, run.stdout[-3000:]


# ---------------------------------------------------------------------------
# `nameort web build`


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    node_modules("onnxruntime-web")
    out = tmp_path_factory.mktemp("web") / "site"
    run = nameort("web", "build", str(out))  # the bundled model
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"wrote {out}: ")
    return out


def test_build_writes_a_self_contained_site(site):
    manifest = json.loads((site / "build.json").read_text(encoding="utf-8"))
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    assert manifest["onnxruntime_web"] == lock["packages"]["node_modules/onnxruntime-web"]["version"]
    files = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert files == set(manifest["files"]) | {"build.json"}
    for name in ("index.html", "app.js", "classifier.js", "encoder.js", "style.css"):
        assert (site / name).read_bytes() == (WEB / name).read_bytes()
    bundled = BUNDLED_MODEL_DIR / MODEL_FILENAME
    assert (site / "model" / MODEL_FILENAME).read_bytes() == bundled.read_bytes()
    assert (site / "model" / "model.onnx.json").read_bytes() == sidecar_path_for(bundled).read_bytes()
    assert (site / "vendor" / "ort-wasm-simd-threaded.wasm").stat().st_size > 1_000_000
    # Nothing is fetched from elsewhere: no absolute URL in what the page loads.
    for name in ("index.html", "app.js", "classifier.js", "encoder.js"):
        text = (site / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_build_replaces_an_earlier_build_and_refuses_other_folders(site, tmp_path):
    (site / "CNAME").write_text("names.example")  # a file of the site owner's, beside the build
    again = nameort("web", "build", str(site))
    assert again.returncode == 0, again.stderr
    assert (site / "CNAME").read_text() == "names.example"
    (site / "CNAME").unlink()
    (tmp_path / "notes.txt").write_text("mine")
    line = one_line_error(nameort("web", "build", str(tmp_path)))
    assert "not empty" in line
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    assert "not a folder" in one_line_error(nameort("web", "build", str(tmp_path / "file")))


def test_build_errors_are_one_line(tmp_path):
    node_modules("onnxruntime-web")
    line = one_line_error(nameort("web", "build", str(tmp_path / "a"), "--model", str(tmp_path / "nope")))
    assert "model not found" in line
    # Page sources without their node_modules: says how to install them.
    bare = tmp_path / "web"
    bare.mkdir()
    for name in ("index.html", "app.js", "classifier.js", "encoder.js", "style.css", "package.json"):
        shutil.copy(WEB / name, bare / name)
    line = one_line_error(nameort("web", "build", str(tmp_path / "b"), "--web-dir", str(bare)))
    assert f"npm ci --prefix {bare}" in line
    line = one_line_error(nameort("web", "build", str(tmp_path / "c"), "--web-dir", str(tmp_path)))
    assert "no page sources" in line
    # A model whose sidecar belongs to another model is refused before anything is written.
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(BUNDLED_MODEL_DIR / MODEL_FILENAME, bad / MODEL_FILENAME)
    sidecar = json.loads(sidecar_path_for(BUNDLED_MODEL_DIR / MODEL_FILENAME).read_text(encoding="utf-8"))
    sidecar["model_sha256"] = "0" * 64
    (bad / "model.onnx.json").write_text(json.dumps(sidecar), encoding="utf-8")
    line = one_line_error(nameort("web", "build", str(tmp_path / "d"), "--model", str(bad)))
    assert "does not match its sidecar" in line
    assert not (tmp_path / "d").exists()


def test_build_takes_a_path_to_a_bundled_models_copy(tmp_path):
    node_modules("onnxruntime-web")
    copy = tmp_path / "copy"
    shutil.copytree(BUNDLED_MODEL_DIR, copy)
    run = nameort("web", "build", str(tmp_path / "path"), "--model", str(copy / MODEL_FILENAME))
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "path" / "build.json").read_text(encoding="utf-8"))
    assert manifest["model_name"] is None
    assert (tmp_path / "path" / "model" / MODEL_FILENAME).read_bytes() == (BUNDLED_MODEL_DIR / MODEL_FILENAME).read_bytes()


# ---------------------------------------------------------------------------
# The built site in headless Chromium


@pytest.fixture(scope="module")
def served(site):
    with serve(site) as url:
        yield url


def test_page_in_chromium_matches_the_python_runtime(served):
    code, report = open_page(served + names_query(BROWSER_NAMES), "--type-name", "Tribbiani")
    assert code == 0 and report["error"] is None, report
    got = report["results"]
    with Classifier.load(device="cpu") as clf:
        want = [p.to_dict() for p in clf.predict_many(BROWSER_NAMES)]
    assert len(got) == len(want) == len(BROWSER_NAMES)
    statuses = set()
    for g, w in zip(got, want):
        assert set(g) == {"name", "label", "confidence", "status", "probabilities", "unknown_chars", "text"}
        assert (g["name"], g["status"], g["unknown_chars"], g["text"]) == (
            w["name"], w["status"], w["unknown_chars"], w["text"]), g
        assert list(g["probabilities"]) == list(w["probabilities"])
        for label, p in w["probabilities"].items():
            assert abs(g["probabilities"][label] - p) <= 1e-5, (g["name"], label, g["probabilities"][label], p)
        if w["label"] is None:
            assert g["label"] is None and g["confidence"] is None
        else:
            assert g["label"] == w["label"] and abs(g["confidence"] - w["confidence"]) <= 1e-5, g
        statuses.add(w["status"])
    assert {"ok", "empty", "unsupported", "unknown_chars", "truncated"} <= statuses
    # The typed name is answered under the input, with the same numbers.
    typed = report["typed"]["result"]
    assert typed["name"] == "Tribbiani" and typed["label"] == want[0]["label"]
    assert abs(typed["confidence"] - want[0]["confidence"]) <= 1e-5
    assert typed["label"] in report["typed"]["shown"]
    # The model line names the bundled model the site was built from.
    assert report["model_info"].startswith(f"Model from {BUNDLED_MODEL_DIR.name} (model/): "), report["model_info"]
    # Offline: everything came from the local server.
    assert all(r["url"].startswith(served) for r in report["requests"]), report["requests"]
    assert report["first_result_ms"] is not None


def test_page_works_on_a_plain_static_host(site):
    """No .mjs, no application/wasm: the page still loads its modules and answers."""
    with serve(site, PlainHostHandler) as url:
        code, report = open_page(url + names_query(["Rossi", "Müller"]))
    assert code == 0 and report["error"] is None, report
    with Classifier.load(device="cpu") as clf:
        want = clf.predict_many(["Rossi", "Müller"])
    for g, w in zip(report["results"], want):
        assert g["label"] == w.label and abs(g["confidence"] - w.confidence) <= 1e-5


def test_page_reports_a_model_that_does_not_match_its_sidecar(site, tmp_path):
    broken = tmp_path / "site"
    shutil.copytree(site, broken)
    sidecar = json.loads((broken / "model" / "model.onnx.json").read_text(encoding="utf-8"))
    sidecar["model_sha256"] = "f" * 64
    (broken / "model" / "model.onnx.json").write_text(json.dumps(sidecar), encoding="utf-8")
    with serve(broken) as url:
        code, report = open_page(url + "?names=Rossi")
    assert code == 1
    assert "does not match its sidecar" in report["error"], report
    assert report["results"] is None
