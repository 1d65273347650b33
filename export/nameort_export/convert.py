"""Convert a trained NameRNN to a single ``model.onnx`` with a dynamic batch axis.

Uses the new exporter (``dynamo=True``), not on the NameRNN itself but on
``unroll.UnrolledRNN``: the same weights with the recurrence written out in
the form ONNX Runtime runs fastest (plain Gemm/Tanh steps; an ``RNN`` node is
slower, see FIELD-NOTES and unroll.py). Traps handled here: the example batch
must be at least 2 or the exporter silently fixes the batch at 1; weights must
go inside the file, not into a ``.onnx.data`` beside it; the model must be in
eval mode so no dropout reaches the graph. The saved graph's interface is
checked before returning.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import onnx
import onnx_ir.passes.common as ir_passes
import torch

from nameort.errors import NameortError
from nameort_train.model import MergedOutputs, NameRNN

from .unroll import UnrolledRNN

log = logging.getLogger(__name__)

INPUT_NAME = "onehot"  # [batch, L, V] float32
OUTPUT_NAME = "logits"  # [batch, classes] float32, before softmax
BATCH_DIM = "batch"
EXAMPLE_BATCH = 3  # anything >= 2 keeps the batch axis symbolic


class ExportError(NameortError):
    """The model could not be converted, or the ONNX file is not what the runtime expects."""


def to_onnx(model: torch.nn.Module, sequence_length: int, vocab_size: int, path: Path) -> Path:
    """Write ``model`` to ``path`` as one self-contained ONNX file and check its interface."""
    path = Path(path)
    model = model.eval()
    if isinstance(model, NameRNN):
        model = UnrolledRNN(model).eval()
    elif isinstance(model, MergedOutputs) and isinstance(model.model, NameRNN):
        model = MergedOutputs(UnrolledRNN(model.model), model.merge_from).eval()
    example = torch.zeros(EXAMPLE_BATCH, sequence_length, vocab_size)
    example[:, 0, 0] = 1.0  # a one-character name; values do not matter for tracing
    batch = torch.export.Dim(BATCH_DIM, min=1)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"x": {0: batch}},
                optimize=True,
                verbose=False,
            )
            # Constant folding can leave identical copies of a weight (exporting nn.RNN
            # directly left one transposed W_hh per step: 420 kB instead of 140 kB).
            ir_passes.DeduplicateInitializersPass(size_limit=1 << 40)(program.model)
            program.save(str(path), external_data=False)
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed: {str(exc).strip().splitlines()[0]}") from None
    check_interface(path, sequence_length, vocab_size, num_classes=None)
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return path


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's notices (missing torchvision ops, opset upgrades) that do not apply here."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def check_interface(path: Path, sequence_length: int, vocab_size: int, num_classes: int | None) -> None:
    """One file, input ``[batch, L, V]`` float32 with a symbolic batch, output ``[batch, classes]``."""
    stray = [p.name for p in Path(path).parent.iterdir() if p.name.startswith(Path(path).name + ".") and p.suffix == ".data"]
    if stray:
        raise ExportError(f"export wrote external weights ({', '.join(stray)}); expected one self-contained file")
    graph = onnx.load(str(path), load_external_data=False).graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ExportError(f"expected 1 input and 1 output, got {len(graph.input)} and {len(graph.output)}")
    (inp,), (out,) = graph.input, graph.output
    got_in = _shape(inp)
    want_in = [BATCH_DIM, sequence_length, vocab_size]
    if inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT or got_in != want_in:
        raise ExportError(f"exported input {inp.name} has shape {got_in}, expected {want_in} float32")
    got_out = _shape(out)
    if len(got_out) != 2 or got_out[0] != BATCH_DIM or (num_classes is not None and got_out[1] != num_classes):
        raise ExportError(f"exported output {out.name} has shape {got_out}, expected [{BATCH_DIM}, classes]")
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in graph.initializer):
        raise ExportError("exported weights point to an external file; expected one self-contained file")


def _shape(value_info) -> list:
    """Dims as ints, or the symbol's name for a symbolic dim."""
    return [d.dim_param if d.dim_param else d.dim_value for d in value_info.type.tensor_type.shape.dim]
