"""The exported form of a NameRNN: the same arithmetic, laid out for ONNX Runtime.

``torch.onnx.export`` (dynamo) unrolls ``nn.RNN`` as it is written: per step a
Slice and a Squeeze of the input projection, a MatMul with the recurrent
weights (even against the all-zero first state), two bias Adds and a Tanh.
``UnrolledRNN`` writes the recurrence out so the graph holds, per layer:

* the input projection of all L steps at once, with the two biases summed
  into one (``b_ih + b_hh``). For the first layer it is a lookup: the input
  is one-hot, so ``x @ [1, 2, ..., V]`` is each step's character code + 1 (0
  on a padding step) and the projection is that row of a table holding
  ``W_ih + b`` per character and ``b`` for padding: a [B, L, V] x [V, 1]
  product and a Gather instead of a [B*L, V] x [V, H] product. The rows are
  the very float32 sums the product makes, so the result is the same to the
  bit; it relies on each step being one-hot or all zeros, which is what
  ``Encoder.one_hot`` writes (and all the input the model is defined for).
  Deeper layers take a Gemm with the bias on the [B*L, H] view;
* the first step as ``tanh(x_0)`` alone: the initial state is zeros;
* every later step as ``tanh(addmm(x_t, h, W_hh^T))``: a 2-D Gemm whose C is
  the step's input projection, which ONNX Runtime fuses with the Tanh into one
  FusedGemm node; the steps are column slices of a ``[batch, L*H]`` view, which
  it merges into one Split;
* the last character's state picked by ``model.last_step_of``, whose
  padding mask is ``min(code, 1)`` here (``x.amax(-1)`` for one-hot input).
  This left-aligned form serves deeper networks, the flatten head and GRUs.

A one-layer tanh nn.RNN read at the last character (the ``small`` network,
and ensembles of it) runs right-aligned instead (``_right_aligned``): the
character codes are shifted so each name ends at the last step, the steps
before it look up a zero row and leave the state exactly zero, and the last
step's state is the answer. That drops the Split of the projection, the
Concat of every step's state and the product picking the last one: the same
logits to the bit, ONNX Runtime time per name 0.85x at 128 names per run,
0.7x at 512 and about 0.6x at 1,024 and more, where the stacked states no
longer fit in cache; one name alone takes 1.2x (72 nodes to dispatch after
optimisation, against 39: a Gather of its own per step).

A GRU (``cell`` "gru") is written out the same way, with torch's equations:
per step one Gemm ``h @ [W_hr W_hz]`` whose C is the step's input projection
(biases b_i and b_h of r and z summed into it) and which ONNX Runtime fuses
with the Sigmoid, one Gemm ``h @ W_hn + b_hn`` (that bias stays inside, since
r multiplies it), then ``n = tanh(x_n + r * gh_n)`` and
``h = n + z * (h - n)``, which is torch's ``(1 - z) * n + z * h`` up to
float32 rounding. The first step, from a zero state, needs no Gemm. The
projection's [r z] and n columns come from two tables, so each is one
``[batch, L*width]`` view whose step slices become one Split, not a Split of
every step's projection (216 nodes after optimisation down to 199, the same
outputs to the bit).

The default model's graph drops from 112 nodes to about 30 after ONNX
Runtime's own optimisation. For batches its run time per name is about two
thirds of the previous unrolled form's, a 3-D MatMul with the one-hot input
and a separate bias Add (0.66x, interleaved medians at 256 names; the
product, the Add and the mask over the input were about half the time in
ONNX Runtime's profiler); for one name it is about the same (0.93x). The
weights are the model's own; only the sums with the biases are new, so
results differ from torch by float32 rounding, which
``validate.validate_onnx`` checks against the original model as before.
"""

from __future__ import annotations

import torch
from torch import nn

from nameort_train.model import GATES, NameRNN, last_step_of


class UnsupportedModel(ValueError):
    """A network this exported form does not reproduce."""


class UnrolledRNN(nn.Module):
    """Inference-only twin of a ``NameRNN`` (eval mode: dropout is the identity)."""

    def __init__(self, model: NameRNN):
        super().__init__()
        rnn = model.rnn
        if rnn.mode not in ("RNN_TANH", "GRU") or not rnn.bias or rnn.bidirectional or not rnn.batch_first \
                or getattr(rnn, "proj_size", 0):
            raise UnsupportedModel("only unidirectional, batch-first tanh nn.RNN or nn.GRU with biases is unrolled")
        self.config = model.config
        self.head = model.head
        self.gru = rnn.mode == "GRU"
        hidden = rnn.hidden_size
        # Stored transposed, [in, G*H] and [H, G*H], so the graph multiplies without a Transpose node.
        self.w_ih = nn.ParameterList()
        self.w_hh = nn.ParameterList()
        self.bias = nn.ParameterList()  # added to each step's input projection
        self.b_hn = nn.ParameterList()  # GRU: the recurrent bias of n, which r multiplies
        for layer in range(rnn.num_layers):
            weight_ih, weight_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
            b_ih, b_hh = getattr(rnn, f"bias_ih_l{layer}").detach(), getattr(rnn, f"bias_hh_l{layer}").detach()
            if self.gru:  # r and z take both biases; n takes b_in here and b_hn inside r * (...)
                bias = b_ih + torch.cat([b_hh[: 2 * hidden], torch.zeros(hidden)])
                self.b_hn.append(_frozen(b_hh[2 * hidden :]))
            else:
                bias = b_ih + b_hh
            self.w_ih.append(_frozen(weight_ih.detach().t()))
            self.w_hh.append(_frozen(weight_hh.detach().t()))
            self.bias.append(_frozen(bias))
        # Column ranges of the projection that the steps use apart: all of it for nn.RNN; [r z] and n for
        # a GRU. Each range gets its own table, so a step's part is a slice of one [batch, L*width]
        # view (ONNX Runtime merges a view's slices into one Split) rather than a Split per step.
        self.parts = [(0, 2 * hidden), (2 * hidden, 3 * hidden)] if self.gru else [(0, hidden)]
        # The first layer's input projection, looked up: row 0 is a padding step's (the bias alone),
        # row c + 1 is character c's (its column of W_ih plus the bias, the very sum the product makes).
        table = torch.cat([self.bias[0].detach()[None], (self.w_ih[0] + self.bias[0]).detach()])
        # One tanh layer read at the last character runs right-aligned (``_right_aligned``): there
        # padding steps come first and must leave the zero state alone, so their row is zeros.
        self.right_aligned = not self.gru and rnn.num_layers == 1 and self.config.head == "last"
        if self.right_aligned:
            table[0] = 0.0
        self.lookups = nn.ParameterList([_frozen(table[:, a:b]) for a, b in self.parts])
        vocab = self.w_ih[0].shape[0]
        self.codes = _frozen(torch.arange(1, vocab + 1, dtype=torch.float32)[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: one-hot ``[batch, L, V]`` -> logits ``[batch, classes]``, as ``NameRNN.forward`` in eval mode."""
        batch, steps = x.shape[0], self.config.sequence_length
        # Each step of x is one-hot or all zeros, so x @ [1..V] is the character's code + 1, or 0 on padding.
        code = (x @ self.codes).squeeze(-1)  # [B, L]
        real = torch.clamp(code, max=1.0)  # 1.0 on characters, 0.0 on padding: x.amax(-1)
        if self.right_aligned:
            return self.head(self._right_aligned(code, real))
        index = code.long()
        layer_input = None
        for layer in range(len(self.w_hh)):
            if layer == 0:  # embedding() is ONNX's Gather of table rows (plain indexing would be GatherND)
                projections = [nn.functional.embedding(index, table) for table in self.lookups]
            else:  # addmm on the [batch*L, H] view: one Gemm with the bias, not a 3-D MatMul and an Add
                rows = layer_input.reshape(-1, layer_input.shape[-1])
                w_ih, bias = self.w_ih[layer], self.bias[layer]
                projections = [torch.addmm(bias[a:b], rows, w_ih[:, a:b]) for a, b in self.parts]
            # Per step, its slice of each part: [batch, width] columns of a [batch, L*width] view.
            views = [(p.reshape(batch, -1), b - a) for p, (a, b) in zip(projections, self.parts)]
            inputs = [[view[:, t * width : (t + 1) * width] for view, width in views] for t in range(steps)]
            outputs = self._gru_layer(inputs, layer) if self.gru else self._rnn_layer(inputs, layer)
            flat = torch.cat(outputs, dim=1)  # [batch, L*H]: exactly outputs.reshape(batch, -1)
            layer_input = flat.reshape(batch, steps, -1)
        if self.config.head == "flatten":
            return self.head(flat)
        return self.head(last_step_of(layer_input, real))

    def _right_aligned(self, code: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The state after each name's last character, with the name moved to the last steps.

        A name of n characters is read at steps L-n .. L-1; the steps before it look up the zero row,
        so the state stays exactly zero until the name begins (tanh(0 + 0 W) = 0), and from there the
        steps are the left-aligned form's, with the same operands. The last step's state is then the
        answer: no stack of every step's state to pick it from, and each step's input is gathered on
        its own, not split out of a [batch, L*H] projection.
        """
        steps = self.config.sequence_length
        length = real.sum(dim=1, keepdim=True)  # [B, 1] characters
        source = torch.arange(steps, dtype=code.dtype)[None, :] - (steps - length)  # < 0 before the name
        index = (torch.gather(code, 1, torch.clamp(source, min=0.0).long()) * (source >= 0).to(code.dtype)).long()
        table, w_hh = self.lookups[0], self.w_hh[0]
        h = torch.tanh(nn.functional.embedding(index[:, 0], table))
        for t in range(1, steps):
            h = torch.tanh(torch.addmm(nn.functional.embedding(index[:, t], table), h, w_hh))
        return h

    def _rnn_layer(self, inputs: list, layer: int) -> list:
        """Each step's state: ``tanh(x_t + h W_hh)``, the first from a zero state."""
        w_hh = self.w_hh[layer]
        h = torch.tanh(inputs[0][0])
        outputs = [h]
        for (x_t,) in inputs[1:]:
            h = torch.tanh(torch.addmm(x_t, h, w_hh))
            outputs.append(h)
        return outputs

    def _gru_layer(self, inputs: list, layer: int) -> list:
        """Each step's state by torch's GRU equations, the first from a zero state."""
        hidden = self.w_hh[layer].shape[0]
        w_rz, w_n = self.w_hh[layer][:, : 2 * hidden], self.w_hh[layer][:, 2 * hidden :]
        b_hn = self.b_hn[layer]
        h = None
        outputs = []
        for x_rz, x_n in inputs:
            if h is None:  # h = 0: the gates see the input alone, and r multiplies b_hn only
                rz = torch.sigmoid(x_rz)
                r, z = rz[:, :hidden], rz[:, hidden:]
                n = torch.tanh(x_n + r * b_hn)
                h = n - z * n
            else:
                rz = torch.sigmoid(torch.addmm(x_rz, h, w_rz))
                r, z = rz[:, :hidden], rz[:, hidden:]
                n = torch.tanh(x_n + r * torch.addmm(b_hn, h, w_n))
                h = n + z * (h - n)
            outputs.append(h)
        return outputs


def _frozen(tensor: torch.Tensor) -> nn.Parameter:
    """A weight of the exported form: contiguous, not trained."""
    return nn.Parameter(tensor.contiguous(), requires_grad=False)
