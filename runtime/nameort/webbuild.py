"""``nameort web build``: the model as a self-contained static web page.

The page sources live in the repository's ``web/`` folder (plain HTML and ES
modules, tested there by Node), and onnxruntime-web comes from npm into
``web/node_modules`` (``npm ci --prefix web``). They are not shipped inside the
Python package: the build needs the npm files beside them anyway, the wheel
stays small, and there is one copy of the page, the one the tests check.

The site written::

    OUT_DIR/index.html app.js classifier.js encoder.js style.css
    OUT_DIR/vendor/ort.wasm.bundle.min.js ort-wasm-simd-threaded.wasm   (from onnxruntime-web/dist)
    OUT_DIR/model/model.onnx model.onnx.json
    OUT_DIR/build.json        what was built from what (the bundled model's name, if
                              it is one), with every file's size

``--model`` takes what every command takes: a bundled model's name
(``german-italian``, ``languages``), a folder, or a .onnx file. The page reads
the sidecar's decision rules itself, so an open-set model answers its
background label in the browser as it does in Python.

Any static host serves it over http(s) (``file://`` will not do: browsers load
no modules from it); it fetches nothing from anywhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .bundled import bundled_name
from .errors import NameortError
from .sidecar import MODEL_FILENAME, sidecar_path_for

PAGE_FILES = ("index.html", "app.js", "classifier.js", "encoder.js", "style.css")
# From onnxruntime-web/dist: the WASM-only ES module (its JS glue embedded) and its binary,
# each with the name it gets under vendor/. The module becomes .js because every static
# host serves .js as JavaScript, which browsers demand of modules; not every one knows .mjs.
ORT_FILES = {
    "ort.wasm.bundle.min.mjs": "ort.wasm.bundle.min.js",
    "ort-wasm-simd-threaded.wasm": "ort-wasm-simd-threaded.wasm",
}
VENDOR_DIR = "vendor"
MODEL_DIR = "model"
MANIFEST = "build.json"
MANIFEST_FORMAT = "nameort-web-build"
# Where the page sources are when this package runs from a source checkout
# (runtime/nameort/ -> the repository's web/); None in a regular install.
_HERE = Path(__file__).resolve().parent
CHECKOUT_WEB_DIR = _HERE.parents[1] / "web" if _HERE.parent.name == "runtime" else None


class WebBuildError(NameortError):
    """The site cannot be built; the message says what to do."""


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    files: dict  # relative path -> bytes
    model_sha256: str
    labels: tuple
    onnxruntime_web: str
    model_name: str | None = None  # the bundled model's name; None for a folder or file

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def find_web_dir(web_dir: str | Path | None = None) -> Path:
    """The folder with the page sources.

    --web-dir, else $NAMEORT_WEB_DIR, else the checkout beside this package
    (editable installs), else ./web in the current folder (a regular install
    run from the repository, as CI does).
    """
    if web_dir is not None:
        candidates = [Path(web_dir)]
        hint = "--web-dir must point at the nameort repository's web/ folder"
    elif os.environ.get("NAMEORT_WEB_DIR"):
        candidates = [Path(os.environ["NAMEORT_WEB_DIR"])]
        hint = "NAMEORT_WEB_DIR must point at the nameort repository's web/ folder"
    else:
        candidates = list(dict.fromkeys(p for p in (CHECKOUT_WEB_DIR, Path.cwd() / "web") if p is not None))
        hint = "run from the nameort repository or pass --web-dir pointing at its web/ folder"
    for path in candidates:
        if all((path / name).is_file() for name in PAGE_FILES + ("package.json",)):
            return path
    if len(candidates) == 1:
        missing = [name for name in PAGE_FILES + ("package.json",) if not (candidates[0] / name).is_file()]
        raise WebBuildError(f"no page sources in {candidates[0]} (missing {', '.join(missing)}); {hint}")
    raise WebBuildError(f"no page sources in {' or '.join(map(str, candidates))}; {hint}")


def ort_dist(web: Path) -> tuple[Path, str]:
    """onnxruntime-web's dist/ folder in web/node_modules and its version, checked against the lockfile."""
    package = web / "node_modules" / "onnxruntime-web"
    install = f"run: npm ci --prefix {web}"
    missing = [name for name in ORT_FILES if not (package / "dist" / name).is_file()]
    if missing or not (package / "package.json").is_file():
        raise WebBuildError(f"onnxruntime-web is not installed in {web / 'node_modules'}; {install}")
    installed = json.loads((package / "package.json").read_text(encoding="utf-8")).get("version")
    try:
        lock = json.loads((web / "package-lock.json").read_text(encoding="utf-8"))
        wanted = lock["packages"]["node_modules/onnxruntime-web"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        wanted = installed  # no usable lockfile: take what is installed
    if installed != wanted:
        raise WebBuildError(
            f"web/node_modules has onnxruntime-web {installed} but package-lock.json pins {wanted}; {install}"
        )
    return package / "dist", installed


def load_model(model) -> tuple:
    """Check the model as the runtime does (sidecar, checksum, shapes); its .onnx, sidecar and card."""
    from .classifier import Classifier

    classifier = Classifier.load(model, device="cpu", threads=1)
    try:
        card = classifier.card
        return card.model_path, card.sidecar_path, card
    finally:
        classifier.close()


def build_site(out_dir: str | Path, model=None, web_dir: str | Path | None = None) -> BuildResult:
    """Write the static site into ``out_dir``: new, empty, or an earlier build (whose files are replaced)."""
    out = Path(out_dir).resolve()
    _check_out_dir(out)
    web = find_web_dir(web_dir)
    dist, ort_version = ort_dist(web)
    model_path, sidecar_path, card = load_model(model)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise WebBuildError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        files = {}

        def put(source: Path, relative: str):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            files[relative] = target.stat().st_size

        for name in PAGE_FILES:
            put(web / name, name)
        for name, target in ORT_FILES.items():
            put(dist / name, f"{VENDOR_DIR}/{target}")
        put(model_path, f"{MODEL_DIR}/{MODEL_FILENAME}")
        put(sidecar_path, f"{MODEL_DIR}/{sidecar_path_for(Path(MODEL_FILENAME)).name}")
        from . import __version__

        manifest = {
            "format": MANIFEST_FORMAT,
            "nameort": __version__,
            "onnxruntime_web": ort_version,
            "model_name": bundled_name(model_path),
            "model_sha256": card.model_sha256,
            "labels": list(card.labels),
            **({"other_label": card.decision.other_label} if card.decision.other_label else {}),
            "files": dict(sorted(files.items())),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        files[MANIFEST] = (staging / MANIFEST).stat().st_size
        staging.chmod(0o755)
        _replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise WebBuildError(f"cannot write {out}: {exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(
        out, dict(sorted(files.items())), card.model_sha256, card.labels, ort_version, bundled_name(model_path)
    )


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise WebBuildError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_build(out):
        raise WebBuildError(f"{out} is not empty and holds no earlier nameort web build; choose a new or empty folder")


def _is_build(out: Path) -> bool:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("format") == MANIFEST_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _replace(staging: Path, out: Path) -> None:
    """Move the finished staging folder's files into ``out``, so a failed build never leaves half a site.

    An earlier build's files (those its build.json lists) are removed first; the
    folder itself and anything else in it stay.
    """
    if not out.exists():
        staging.rename(out)
        return
    for relative in _built_files(out):
        (out / relative).unlink(missing_ok=True)
    for source in sorted(staging.rglob("*")):
        if source.is_file():
            target = out / source.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    shutil.rmtree(staging)


def _built_files(out: Path) -> list:
    """The files an earlier build in ``out`` wrote, as paths inside ``out``."""
    if not _is_build(out):
        return []
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    files = [MANIFEST, *(manifest.get("files") or {})]
    return [f for f in files if isinstance(f, str) and not Path(f).is_absolute() and ".." not in Path(f).parts]
