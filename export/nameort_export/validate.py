"""Check an exported ``model.onnx`` against the torch model it came from.

Separate from the conversion (as in optimum's exporter) and on by default.
ONNX Runtime on CPU and torch score the same fixed names, of every length
1..L, at several batch sizes. For every batch size:

* the logits agree: ``|onnx - torch| <= ATOL + RTOL * |torch|`` everywhere, or,
  failing that, ONNX Runtime is no further from the exact (float64) logits than
  ``FLOAT32_SLACK`` times torch's own float32 error (see below);
* the predicted class is identical for every name;

and the graph holds no Dropout or random-number node. Every failure is
collected, then one ``VerificationError`` reports them all.

Why the second clause: float32 rounding grows with the logit and along the
recurrence (a tanh RNN whose recurrent matrix has spectral radius > 1 amplifies
it step by step). The default model stays ~3e-6 from torch, well inside
ATOL alone. Measured on others: the seed preset's logits reach ~35 and ONNX
Runtime is 1.2e-5 from float64 there; an 18-language model (length 20) had
torch itself 3.8e-5 from float64 and ONNX Runtime 5.5e-5. A fixed 1e-5 would
reject exports that are as exact as float32 allows, while export bugs (wrong
weights, padding or batch handling) show up as differences of 1e-3 and more.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

from nameort.encoding import Encoder, EncodingRules
from nameort.errors import NameortError
from nameort_train.train import torch_threads

from .convert import INPUT_NAME

log = logging.getLogger(__name__)

BATCH_SIZES = (1, 2, 3, 64, 1000)
ATOL = 1e-5  # absolute part of the tolerance on logits
RTOL = 1e-4  # relative part, for large logits
FLOAT32_SLACK = 2.0  # ONNX Runtime may be this many times further from float64 than torch is
POOL_SIZE = 1000  # fixed names scored at every batch size
# Ops that only make sense in training, or make inference non-deterministic.
FORBIDDEN_OPS = (
    "Dropout", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial",
)


class VerificationError(NameortError):
    """The exported model does not reproduce the torch model."""


@dataclass
class ParityReport:
    """What validation measured; stored in the sidecar."""

    atol: float  # absolute part of the allowed difference of the logits
    rtol: float  # relative part: |onnx - torch| <= atol + rtol * |torch|
    batch_sizes: tuple  # batch sizes tried
    names: int  # distinct names scored at each batch size
    lengths: tuple  # name lengths covered (all of 1..L)
    max_abs_diff: float = 0.0  # max |onnx - torch| over every batch size and logit
    onnx_error: float = 0.0  # max |onnx - float64 torch|: how exact ONNX Runtime is
    torch_error: float = 0.0  # max |float32 torch - float64 torch|: how exact torch itself is
    argmax_mismatches: int = 0  # names whose predicted class differs, over all batch sizes
    failures: list = field(default_factory=list)  # one short line per problem

    def to_json(self) -> dict:
        return {
            "atol": self.atol,
            "rtol": self.rtol,
            "float32_slack": FLOAT32_SLACK,
            "batch_sizes": list(self.batch_sizes),
            "names": self.names,
            "lengths": [min(self.lengths), max(self.lengths)],
            "max_abs_diff": self.max_abs_diff,
            "onnx_error_vs_float64": self.onnx_error,
            "torch_error_vs_float64": self.torch_error,
            "argmax_mismatches": self.argmax_mismatches,
            "provider": "CPUExecutionProvider",
        }


def parity_names(rules: EncodingRules, count: int = POOL_SIZE, seed: int = 0) -> list[str]:
    """``count`` reproducible pseudo-names whose lengths cycle through 1..L.

    Random characters of the vocabulary rather than real names: what is tested
    is arithmetic agreement, and random strings reach every input column.
    """
    rng = np.random.default_rng(seed)
    chars = np.array(list(rules.characters))
    lengths = [1 + i % rules.sequence_length for i in range(count)]
    return ["".join(rng.choice(chars, size=n)) for n in lengths]


def validate_onnx(
    model: torch.nn.Module,
    onnx_path: Path,
    rules: EncodingRules,
    batch_sizes=BATCH_SIZES,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> ParityReport:
    """Compare ONNX Runtime (CPU) with ``model``; raise VerificationError listing every failure."""
    import onnxruntime as ort  # the runtime dependency; imported here so conversion alone does not need it

    names = parity_names(rules)
    inputs = Encoder(rules).one_hot(names)
    report = ParityReport(atol, rtol, tuple(batch_sizes), len(names), tuple(sorted({len(n) for n in names})))

    nodes = {node.op_type for node in onnx.load(str(onnx_path)).graph.node}
    for op in sorted(nodes & set(FORBIDDEN_OPS)):
        report.failures.append(f"graph holds a {op} node (was the model in eval mode?)")

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only; the providers' notices are not ours to show
    options.intra_op_num_threads = 1  # as the runtime runs it; and quick on a busy machine
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    model = model.eval().cpu()
    with torch_threads(1), torch.no_grad():
        # The exact logits, whatever the batch: what both float32 results are measured against.
        exact = copy.deepcopy(model).double()(torch.from_numpy(inputs).double()).numpy()
        for batch in batch_sizes:
            _compare_batch(session, model, inputs, exact, batch, report)

    if report.failures:
        raise VerificationError(f"{Path(onnx_path).name} does not match the torch model: " + "; ".join(report.failures))
    log.info("verified %s: max abs diff %.3g over batch sizes %s", onnx_path, report.max_abs_diff, list(batch_sizes))
    return report


def _compare_batch(session, model, inputs, exact, batch: int, report: ParityReport) -> None:
    """Score every input in chunks of ``batch`` with both; add what differs to ``report``."""
    got, want = [], []
    for start in range(0, len(inputs), batch):
        chunk = inputs[start : start + batch]
        try:
            got.append(session.run(None, {INPUT_NAME: chunk})[0])
        except Exception as exc:
            report.failures.append(f"batch {batch}: ONNX Runtime failed: {str(exc).strip().splitlines()[0]}")
            return
        want.append(model(torch.from_numpy(chunk)).numpy())
    got, want = np.concatenate(got), np.concatenate(want)
    if got.shape != want.shape:
        report.failures.append(f"batch {batch}: output shape {list(got.shape)}, torch gives {list(want.shape)}")
        return
    if not np.isfinite(got).all():  # the comparisons below would let a NaN through
        report.failures.append(f"batch {batch}: ONNX Runtime returned NaN or infinite logits")
        return
    diff = float(np.abs(got - want).max())
    onnx_error = float(np.abs(got - exact).max())
    torch_error = float(np.abs(want - exact).max())
    close = bool((np.abs(got - want) <= report.atol + report.rtol * np.abs(want)).all())
    as_exact = onnx_error <= FLOAT32_SLACK * torch_error
    mismatched = int((got.argmax(axis=1) != want.argmax(axis=1)).sum())

    report.max_abs_diff = max(report.max_abs_diff, diff)
    report.onnx_error = max(report.onnx_error, onnx_error)
    report.torch_error = max(report.torch_error, torch_error)
    report.argmax_mismatches += mismatched
    if not (close or as_exact):
        report.failures.append(
            f"batch {batch}: max abs diff {diff:.3g} exceeds {report.atol:g} + {report.rtol:g} * |logit|, and "
            f"ONNX Runtime is {onnx_error:.3g} from float64 where torch is {torch_error:.3g}"
        )
    if mismatched:
        report.failures.append(f"batch {batch}: predicted class differs for {mismatched} of {len(inputs)} names")
    log.debug("batch %d: max abs diff %.3g, %d argmax mismatches", batch, diff, mismatched)
