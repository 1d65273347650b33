"""The browser page (web/): JavaScript encoder parity in Node, and the built site in real Chromium.

These need Node.js, `npm ci --prefix web` and Debian's chromium; they fail, not
skip, when any is missing, because CI installs all three.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import unicodedata
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from nameort import Classifier
from nameort.encoding import DEFAULT_EQUIVALENTS, Encoder, EncodingRules
from nameort.sidecar import BUNDLED_MODEL_DIR, MODEL_FILENAME, sidecar_path_for

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


# ---------------------------------------------------------------------------
# The built site in headless Chromium


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


@pytest.fixture(scope="module")
def served(site):
    with serve(site) as url:
        yield url


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


# ---------------------------------------------------------------------------
# Models by name, decision rules and many labels, in the built page


def test_build_takes_a_bundled_name_or_a_path(tmp_path):
    node_modules("onnxruntime-web")
    bundled = BUNDLED_MODEL_DIR / MODEL_FILENAME
    run = nameort("web", "build", str(tmp_path / "named"), "--model", BUNDLED_MODEL_DIR.name)
    assert run.returncode == 0, run.stderr
    assert f"(model {BUNDLED_MODEL_DIR.name}: " in run.stdout
    manifest = json.loads((tmp_path / "named" / "build.json").read_text(encoding="utf-8"))
    assert manifest["model_name"] == BUNDLED_MODEL_DIR.name
    assert (tmp_path / "named" / "model" / MODEL_FILENAME).read_bytes() == bundled.read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(BUNDLED_MODEL_DIR, copy)
    run = nameort("web", "build", str(tmp_path / "path"), "--model", str(copy / MODEL_FILENAME))
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "path" / "build.json").read_text(encoding="utf-8"))
    assert manifest["model_name"] is None
    assert (tmp_path / "path" / "model" / MODEL_FILENAME).read_bytes() == bundled.read_bytes()


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


# Open-set models for the page: the bundled model with "Italian" posing as the background label
# (as tests/test_decision.py does), and a three-label German / Italian / other stand-in.
ITALIAN_AS_OTHER = {"temperature": 1.5, "other_label": "Italian", "other_threshold": 0.9, "foreign_letters": True}
OPEN_SET = {"temperature": 1.25, "other_label": "other", "other_threshold": 0.45, "foreign_letters": True}


def _open_set_model(kind, folder):
    if kind == "italian-as-other":
        shutil.copytree(BUNDLED_MODEL_DIR, folder)
        path = folder / "model.onnx.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["decision"] = ITALIAN_AS_OTHER
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return folder, "Italian", "not German"
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
    labels = [
        "Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish", "Italian",
        "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish", "Vietnamese",
    ]
    model = linear_model(tmp_path / "model", labels, {"temperature": 0.8}, seed=5, scale=0.25)
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
