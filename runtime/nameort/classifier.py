"""The Classifier: a checked model, its encoder and ONNX Runtime sessions.

``Classifier.load()`` validates the sidecar against the ONNX model's own
shapes before anything is predicted. ``predict_many`` encodes each distinct
name once, runs the model in batches (several single-threaded sessions side by
side for large inputs), turns probabilities into answers by the sidecar's
decision rules (``decision.decide``: temperature, background label), and
returns one ``Prediction`` per input, in order; ``predict`` gives the same
result for one name by a shorter path.
A Classifier is safe to share between threads: ONNX Runtime's ``run`` is
thread-safe and the lazily opened extra sessions are guarded by a lock.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import sessions
from .decision import check_other_threshold, decide, foreign_mask, restrict_to_letters, softmax
from .encoding import EMPTY, LOW_CONFIDENCE, UNSUPPORTED, Encoder, PreparedName, status_string
from .errors import ModelError
from .sidecar import ModelCard, read_card, resolve_model_path

UNKNOWN_LABEL = "unknown"  # the label given when confidence is below the threshold
# Names per ONNX Runtime run, unless a caller says otherwise: as many as keep one
# run's one-hot input near this size, so that it and the model's working state stay
# in a core's cache (the 2-core VM has 512 KiB of L2 per core). Time per name at this
# size against half of it (benchmarks/run_size.py, one thread, medians in one run,
# busy host): the bundled default model 0.89x (256 names against 128), the bundled
# languages model 0.87-1.03x (172 against 86), the seed preset's 2 x 256 network
# 1.00x; the nn.RNN languages model bundled before the GRU lost (1.10-1.17x).
RUN_INPUT_BYTES = 1_200_000
MIN_RUN, MAX_RUN = 16, 1024


def run_batch_size(sequence_length: int, vocab_size: int) -> int:
    """The default names per model run for a model of this input size."""
    per_name = sequence_length * vocab_size * 4  # float32 one-hot
    return max(MIN_RUN, min(MAX_RUN, RUN_INPUT_BYTES // per_name))


# From this many distinct names on, they are shared out in equal chunks over one
# single-threaded session per core. Measured on 2 cores (benchmarks/README.md):
# a model as heavy as the seed preset runs ~1.6x faster at 1024 names; the small
# default model, whose per-name Python work does not run in parallel, gains
# ~5% there and loses below 512. Keeps `nameort batch`'s 512-name jobs serial.
PARALLEL_MIN_ROWS = 1024


@dataclass(frozen=True)
class Prediction:
    """What the model said about one name, and what was done to the name first."""

    name: str  # exactly as given
    label: str | None  # the answer ("other" included); "unknown" under the threshold; None without a prediction
    confidence: float | None  # probability of the answered label; None without a prediction
    probabilities: dict  # label -> probability, every label, in model order ({} without a prediction)
    status: str  # "ok", or flags joined by "+": empty, unsupported, unknown_chars, truncated, low_confidence
    unknown_chars: str  # characters outside the vocabulary, in order of first appearance
    text: str  # what the model read after normalisation, substitution and truncation
    top: tuple = ()  # the top_k (label, probability) pairs, best first, when asked

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "confidence": self.confidence,
            "status": self.status,
            "probabilities": self.probabilities,
            "unknown_chars": self.unknown_chars,
            "text": self.text,
            **({"top": [list(pair) for pair in self.top]} if self.top else {}),
        }


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Classifier:
    """Load with ``Classifier.load()``; then ``predict`` / ``predict_many``."""

    def __init__(self, card: ModelCard, session, provider: str, threads: int, model_bytes: bytes):
        self.card = card
        self._model_bytes = model_bytes  # the verified bytes: extra sessions load these, not the file again
        self.encoder = Encoder(card.rules)
        self.batch_size = run_batch_size(card.rules.sequence_length, self.encoder.vocab_size)  # names per run
        self.provider = provider
        self.threads = threads
        self._sessions = [session]
        self._input = session.get_inputs()[0].name
        self._lock = threading.Lock()
        self._pool = None

    @classmethod
    def load(cls, model: str | Path | None = None, device: str = "auto", threads: int | None = None) -> "Classifier":
        """Open ``model`` (None = bundled default; a folder; or a .onnx beside its sidecar).

        ``threads`` caps the CPU cores a large batch uses (default: all); each
        core gets its own single-threaded session.
        """
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        path = resolve_model_path(model)
        try:
            model_bytes = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
        card = read_card(path, model_bytes=model_bytes)
        if card.verified is False:  # Python shows a warning once per place; the CLI prints it as one line
            warnings.warn(f"{path} was exported with --no-verify: it was never checked against torch", stacklevel=2)
        session, provider = sessions.open_session(path, device=device, model_bytes=model_bytes)
        _check_shapes(card, session)
        return cls(card, session, provider, threads or default_threads(), model_bytes)

    @property
    def labels(self) -> tuple:
        return self.card.labels

    def predict(
        self, name: str, *, top_k: int | None = None, threshold: float | None = None,
        other_threshold: float | None = None,
    ) -> Prediction:
        """``predict_many([name])[0]`` without the batching machinery: ~10 us less per call."""
        self._check_options(top_k, threshold, other_threshold)
        p = self.encoder.prepare(name)
        if not p.usable:
            return _unusable(p)
        logits = self._sessions[0].run(None, {self._input: self.encoder.one_hot_single(p.text)})[0]
        probabilities = softmax(logits, self.card.decision.temperature)
        restrict_to_letters(probabilities, [name], self.card.decision, self.labels)
        return self._predictions([p], probabilities, top_k, threshold, other_threshold)[0]

    def predict_many(
        self,
        names,
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        other_threshold: float | None = None,
        batch_size: int | None = None,
    ) -> list:
        """One Prediction per name, in input order. Each distinct name is run once.

        The work is ``columnar.classify``'s (the bulk path every surface
        shares); only the ``Prediction`` objects are made here.
        """
        from .columnar import classify

        names = list(names)
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"a name must be a str, not {type(name).__name__}")
        return classify(
            self, names, top_k=top_k, threshold=threshold, other_threshold=other_threshold, batch_size=batch_size,
        ).predictions()

    def probabilities(self, texts: list, *, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities [len(texts), labels] (float64) for already-prepared texts.

        ``batch_size``: names per model run (default ``self.batch_size``, chosen from the model's input size).
        """
        if batch_size is None:
            batch_size = self.batch_size
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not texts:
            return np.zeros((0, len(self.labels)))
        workers = self._workers_for(len(texts))
        if workers > 1:
            # Equal chunks, as many as the sessions or a multiple: every core gets the same work.
            count = workers * -(-len(texts) // (workers * batch_size))
            batch_size = -(-len(texts) // count)
        chunks = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        if workers == 1:
            logits = [self._run(self._sessions[0], chunk) for chunk in chunks]
        else:
            pool = self._executor()
            sessions_ = self._sessions[:workers]
            logits = list(pool.map(self._run, [sessions_[i % workers] for i in range(len(chunks))], chunks))
        return softmax(np.concatenate(logits), self.card.decision.temperature)

    def _run(self, session, texts):
        return session.run(None, {self._input: self.encoder.one_hot(texts)})[0]

    def _workers_for(self, rows: int) -> int:
        if self.provider != sessions.CPU or self.threads == 1 or rows < PARALLEL_MIN_ROWS:
            return 1
        with self._lock:
            while len(self._sessions) < self.threads:
                session, _ = sessions.open_session(self.card.model_path, device="cpu", model_bytes=self._model_bytes)
                self._sessions.append(session)
        return self.threads

    def _executor(self):
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="nameort")
            return self._pool

    def _check_options(self, top_k, threshold, other_threshold) -> None:
        _check_options(top_k, threshold, len(self.labels))
        check_other_threshold(self.card.decision, other_threshold)

    def foreign(self, prepared) -> np.ndarray | None:
        """For each prepared name: does it hold a foreign letter? None when the model does not use them."""
        if not self.card.decision.foreign_letters:
            return None
        return foreign_mask([p.unknown for p in prepared], self.encoder.index)

    def _predictions(self, prepared, probabilities, top_k, threshold, other_threshold) -> list:
        """Predictions of usable names, ``probabilities`` holding one row per name."""
        best, confidence = decide(
            probabilities, self.card.decision, self.labels,
            other_threshold=other_threshold, foreign=self.foreign(prepared),
        )
        made = []
        for p, row, index, conf in zip(prepared, probabilities, best.tolist(), confidence.tolist()):
            label, flags = self.labels[index], p.flags
            if threshold is not None and conf < threshold:
                label, flags = UNKNOWN_LABEL, flags + (LOW_CONFIDENCE,)
            top = ()
            if top_k:
                order = np.argsort(-row, kind="stable")[:top_k]
                top = tuple((self.labels[i], float(row[i])) for i in order)
            probs = {lab: float(v) for lab, v in zip(self.labels, row)}
            made.append(Prediction(p.name, label, conf, probs, status_string(flags), p.unknown, p.text, top))
        return made

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _unusable(p: PreparedName) -> Prediction:
    """An empty or unsupported name: no prediction, the status says why."""
    return Prediction(p.name, None, None, {}, p.status, p.unknown, p.text)


def _check_options(top_k, threshold, n_labels):
    if top_k is not None and not 1 <= top_k <= n_labels:
        raise ValueError(f"top_k must be between 1 and {n_labels} (the number of labels), not {top_k}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold}")


def _check_shapes(card: ModelCard, session) -> None:
    """The sidecar must describe this very model: input [batch, L, V], output [batch, labels]."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    where = card.model_path.name
    if len(inputs) != 1 or len(outputs) < 1:
        raise ModelError(f"{where}: expected 1 input and 1 output, found {len(inputs)} and {len(outputs)}")
    want_in = [card.rules.sequence_length, len(card.rules.characters)]
    shape_in = list(inputs[0].shape)
    if len(shape_in) != 3 or shape_in[1:] != want_in:
        raise ModelError(
            f"{where}: input shape {shape_in} does not match the sidecar "
            f"(sequence length {want_in[0]}, vocabulary {want_in[1]})"
        )
    if isinstance(shape_in[0], int) and shape_in[0] != -1:
        raise ModelError(f"{where}: the batch axis is fixed at {shape_in[0]}; re-export with a dynamic batch")
    if inputs[0].type != "tensor(float)":
        raise ModelError(f"{where}: input type {inputs[0].type} is not float32")
    shape_out = list(outputs[0].shape)
    if len(shape_out) != 2 or shape_out[1] != len(card.labels):
        raise ModelError(f"{where}: output shape {shape_out} does not match the sidecar's {len(card.labels)} labels")


__all__ = ["Classifier", "Prediction", "UNKNOWN_LABEL", "EMPTY", "UNSUPPORTED"]
