"""Helpers for the browser tests: Node and Chromium found (or a failure saying how to install them),
the nameort CLI as a process, a static server in a thread, the page driven by web/tools/run-page.mjs,
and stand-in ONNX models of any label set.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from nameort.sidecar import BUNDLED_MODEL_DIR, MODEL_FILENAME

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
CHROMIUM = os.environ.get("NAMEORT_CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = "CI installs them with: apt-get install -y chromium && npm ci --prefix web (Node.js >= 20 on PATH)"


def need(condition: bool, what: str):
    if not condition:
        pytest.fail(f"{what} is missing; {INSTALL_HINT}", pytrace=False)


def node() -> str:
    path = shutil.which("node")
    need(path is not None, "node (Node.js >= 20)")
    return path


def node_modules(*packages):
    for package in packages:
        need((WEB / "node_modules" / package / "package.json").is_file(), f"web/node_modules/{package}")


def nameort(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-c", "from nameort.cli import main; main()", *args],
        cwd=REPO, capture_output=True, text=True, encoding="utf-8", timeout=timeout,
    )


def one_line_error(run):
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nameort: error: "), run.stderr
    return lines[0]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    # The MIME types a well-configured host sends: .wasm as application/wasm streams.
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
    }

    def log_message(self, *args):
        pass


class PlainHostHandler(QuietHandler):
    """A host that knows only html, js and css: everything else is application/octet-stream."""

    def guess_type(self, path):
        known = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
        return known.get(Path(str(path)).suffix, "application/octet-stream")


@contextlib.contextmanager
def serve(directory, handler=QuietHandler):
    """``directory`` over http on 127.0.0.1 (a free port), in a thread; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def open_page(url, *extra):
    """Run web/tools/run-page.mjs (playwright-core driving /usr/bin/chromium); its JSON report."""
    node_bin = node()
    node_modules("onnxruntime-web", "playwright-core")
    need(os.access(CHROMIUM, os.X_OK), f"chromium ({CHROMIUM})")
    run = subprocess.run(
        [node_bin, "web/tools/run-page.mjs", url, "--chromium", CHROMIUM, "--timeout-ms", "90000", *extra],
        cwd=REPO, capture_output=True, text=True, encoding="utf-8", timeout=180,
    )
    assert run.stdout.strip(), run.stderr
    return run.returncode, json.loads(run.stdout)


def names_query(names):
    return "?names=" + ",".join(urllib.parse.quote(n, safe="") for n in names)


# Names for the browser: every status, and the characters a JavaScript port gets wrong.


BROWSER_NAMES = [
    "Tribbiani", "Müller", "Mu\u0308ller", "Rossi", "Schmidt", "Esposito", "Schröder", "D'Angelo",
    "O\u2019Brien", "Smith-Jones", "Van\u00a0Dyke", "Ro\u200bssi", "\u0301", "Rossi😀", "😀", "王", "Иванов",
    "", "   ", "\u3000Bianchi\u3000", "Abcdefghijklmnopqrstuvwxyz", "Àbcdéfghìjklmnòpqrstù", "Łukasz", "Ñúñez",
    "Straße", "\ufb01sher", "Rossi",
]


def linear_model(folder: Path, labels, decision=None, seed=0, scale=0.35) -> Path:
    """A stand-in model with the bundled model's encoding: logits = one-hot (flattened) @ W + b.

    Any number of labels, any decision entry: enough to check in the browser what the
    page does with them, against the Python runtime on the very same file.
    """
    import onnx  # from the [train] extra, which the full test environment installs
    from onnx import TensorProto, helper, numpy_helper

    from nameort.sidecar import file_sha256, read_card

    card = read_card(BUNDLED_MODEL_DIR / MODEL_FILENAME)
    steps, vocab, n = card.rules.sequence_length, len(card.rules.characters), len(labels)
    rng = np.random.default_rng(seed)
    weights = (rng.normal(size=(steps * vocab, n)) * scale).astype(np.float32)
    bias = (rng.normal(size=n) * scale).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1), helper.make_node("Gemm", ["flat", "W", "b"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", steps, vocab])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / MODEL_FILENAME)
    sidecar = json.loads(card.sidecar_path.read_text(encoding="utf-8"))
    sidecar.update(labels=list(labels), model_sha256=file_sha256(folder / MODEL_FILENAME), metrics={}, training={})
    sidecar.pop("decision", None)
    if decision is not None:
        sidecar["decision"] = decision
    (folder / "model.onnx.json").write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
    return folder


def built_site(tmp_path, model) -> Path:
    node_modules("onnxruntime-web")
    out = tmp_path / "site"
    run = nameort("web", "build", str(out), "--model", str(model))
    assert run.returncode == 0, run.stderr
    return out


def assert_same_predictions(got, want):
    """The page's results against Prediction.to_dict()s: same answers, numbers to 1e-5 (float32 in ONNX)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == list(w), (g, w)
        assert (g["name"], g["label"], g["status"], g["unknown_chars"], g["text"]) == (
            w["name"], w["label"], w["status"], w["unknown_chars"], w["text"]), (g, w)
        for label, p in w["probabilities"].items():
            assert abs(g["probabilities"][label] - p) <= 1e-5, (g["name"], label)
        if w["confidence"] is None:
            assert g["confidence"] is None
        else:
            assert abs(g["confidence"] - w["confidence"]) <= 1e-5, g
        if "top" in w:
            assert [label for label, _ in g["top"]] == [label for label, _ in w["top"]], (g, w)


def options_query(options):
    return "".join(f"&{key}={value}" for key, value in options.items())
