"""The model on the workers: shipped once per worker, loaded once per process.

An ONNX Runtime session cannot be pickled, so tasks carry a small ``ModelRef``
(the model's key, the client's path, the device) and each worker process
loads the model on first use into a cache keyed by ``model_key``: the ONNX
file's sha256 and its sidecar's, since one network with other decision rules
(another operating point, say) answers differently, with one
intra-op and one inter-op thread. With a distributed client the model's bytes
travel in a ``ModelPlugin`` and are written to each worker's local directory,
so workers need not see the client's files; workers that join later get the
plugin too. Without one (Dask's local schedulers) the model is loaded from
the client's path.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

from ..errors import ModelError
from ..sidecar import MODEL_FILENAME, file_sha256, read_card, resolve_model_path, sidecar_path_for


@dataclass(frozen=True)
class ModelRef:
    """What a task needs to find the model: its checksum, the client's path, the device."""

    sha256: str  # of the ONNX file
    path: str  # where the client read it; used only when no plugin shipped it to this process
    device: str = "auto"
    key: str = ""  # model_key: the ONNX file's and the sidecar's checksums (what the caches are keyed by)


_models: dict = {}  # model key -> Classifier (this process)
_sessions_opened: Counter = Counter()  # model key -> sessions opened (the cache makes this 1)
_loaded_from: dict = {}  # model key -> the file each model was loaded from
_shipped: dict = {}  # model key -> folder a ModelPlugin wrote the model to (this process)
_lock = threading.Lock()  # guards the four above: a worker may run several tasks at once


def cached_classifier(ref: ModelRef):
    """This process's Classifier for ``ref``: loaded on first use, single-threaded, then reused."""
    with _lock:
        key = ref.key or ref.sha256
        clf = _models.get(key)
        if clf is None:
            from ..classifier import Classifier

            path = _shipped.get(key) or ref.path
            try:
                clf = Classifier.load(path, device=ref.device, threads=1)
            except ModelError as exc:
                where = "shipped copy" if key in _shipped else "path given by the client"
                raise ModelError(f"worker cannot load the model from its {where} ({exc})") from None
            if clf.card.model_sha256 != ref.sha256:
                raise ModelError(f"{path} is not the model the client asked for (sha256 {ref.sha256[:12]}...)")
            _models[key] = clf
            _sessions_opened[key] += len(clf._sessions)
            _loaded_from[key] = str(clf.card.model_path)
        return clf


def model_cache_info() -> dict:
    """This process's cache: sessions opened and file loaded, per ``model_key`` (for tests and ``client.run``)."""
    with _lock:
        return {
            "sessions": dict(_sessions_opened),
            "loaded_from": dict(_loaded_from),
            "shipped": {sha: str(path) for sha, path in _shipped.items()},
        }


class ModelPlugin(WorkerPlugin):
    """Carries a model's bytes to every worker, present and future, and writes them to its local folder."""

    idempotent = True  # registering the same model twice sends nothing new to the workers

    def __init__(self, sha256: str, model_bytes: bytes, sidecar_bytes: bytes):
        self.key = _key(sha256, sidecar_bytes)
        self.name = f"nameort-model-{self.key}"
        self.sha256 = sha256
        self.model_bytes = model_bytes
        self.sidecar_bytes = sidecar_bytes

    @classmethod
    def from_card(cls, card) -> "ModelPlugin":
        return cls(card.model_sha256, card.model_path.read_bytes(), card.sidecar_path.read_bytes())

    def setup(self, worker):
        folder = Path(worker.local_directory) / "nameort-models" / self.key
        write_model_files(folder, self.model_bytes, self.sidecar_bytes, self.sha256)
        with _lock:
            _shipped[self.key] = folder


def write_model_files(folder: Path, model_bytes: bytes, sidecar_bytes: bytes, sha256: str) -> None:
    """``model.onnx`` and its sidecar into ``folder``, each written whole then renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_FILENAME
    if target.is_file() and file_sha256(target) == sha256 and sidecar_path_for(target).is_file():
        return
    for path, data in ((target, model_bytes), (sidecar_path_for(target), sidecar_bytes)):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        temp.write_bytes(data)
        os.replace(temp, path)
    if file_sha256(target) != sha256:
        raise ModelError(f"the model shipped to {folder} does not match its checksum")


def ship_model(client, card) -> None:
    """Register the plugin for ``card``'s model on ``client``'s cluster (once per client and model)."""
    shipped = client.__dict__.setdefault("_nameort_models", set())
    key = model_key(card)
    if key not in shipped:
        client.register_plugin(ModelPlugin.from_card(card))
        shipped.add(key)


def model_card(model):
    """The checked ModelCard of a model argument: None (bundled), a folder, a .onnx file, or a Classifier."""
    from ..classifier import Classifier

    if isinstance(model, Classifier):
        return model.card
    return read_card(resolve_model_path(model))


def check_top_k(card, top_k: int | None, other_threshold: float | None = None) -> None:
    """Refuse, before any work, a ``top_k`` beyond the model's labels (the lower bound is batch's check),
    and an ``other_threshold`` for a model without a background label."""
    from ..decision import check_other_threshold

    if top_k is not None and top_k > len(card.labels):
        raise ValueError(f"top_k must be between 1 and {len(card.labels)} (the number of labels), not {top_k}")
    check_other_threshold(card.decision, other_threshold)


def model_ref(card, device: str, client) -> ModelRef:
    """How tasks find ``card``'s model; ships it to ``client``'s workers when there is a client."""
    if client is not None:
        ship_model(client, card)
    return ModelRef(card.model_sha256, str(Path(card.model_path).resolve()), device, model_key(card))


def model_key(card) -> str:
    """What the workers' caches know a model by: the ONNX file's sha256 and a digest of its sidecar."""
    return _key(card.model_sha256, Path(card.sidecar_path).read_bytes())


def _key(sha256: str, sidecar_bytes: bytes) -> str:
    return f"{sha256[:40]}-{hashlib.sha256(sidecar_bytes).hexdigest()[:16]}"
