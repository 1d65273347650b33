"""The exported form of a NameRNN: the same arithmetic, laid out for ONNX Runtime.

``torch.onnx.export`` (dynamo) unrolls ``nn.RNN`` as it is written: per step a
Slice and a Squeeze of the input projection, a MatMul with the recurrent
weights (even against the all-zero first state), two bias Adds and a Tanh.
``UnrolledRNN`` writes the recurrence out so the graph holds, per layer:

* one MatMul + Add for the input projection of all L steps at once, with the
  two biases summed into one (``b_ih + b_hh``);
* the first step as ``tanh(x_0)`` alone: the initial state is zeros;
* every later step as ``tanh(addmm(x_t, h, W_hh^T))``: a 2-D Gemm whose C is
  the step's input projection, which ONNX Runtime fuses with the Tanh into one
  FusedGemm node; the steps are column slices of a ``[batch, L*H]`` view, which
  it merges into one Split.

The default model's graph drops from 112 nodes to 34 after ONNX Runtime's own
optimisation, which halves its one-name latency (measured in
``benchmarks/run.py``). The weights are the model's own; only the sum of the
two biases is new, so results differ from torch by float32 rounding, which
``validate.validate_onnx`` checks against the original model as before.
"""

from __future__ import annotations

import torch
from torch import nn

from nameort_train.model import NameRNN, last_step


class UnsupportedModel(ValueError):
    """A network this exported form does not reproduce."""


class UnrolledRNN(nn.Module):
    """Inference-only twin of a ``NameRNN`` (eval mode: dropout is the identity)."""

    def __init__(self, model: NameRNN):
        super().__init__()
        rnn = model.rnn
        if rnn.mode != "RNN_TANH" or not rnn.bias or rnn.bidirectional or not rnn.batch_first or rnn.proj_size:
            raise UnsupportedModel("only unidirectional, batch-first tanh nn.RNN with biases is unrolled")
        self.config = model.config
        self.head = model.head
        # Stored transposed, [in, H] and [H, H], so the graph multiplies without a Transpose node.
        self.w_ih = nn.ParameterList()
        self.w_hh = nn.ParameterList()
        self.bias = nn.ParameterList()
        for layer in range(rnn.num_layers):
            weight_ih, weight_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
            bias = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
            self.w_ih.append(nn.Parameter(weight_ih.detach().t().contiguous(), requires_grad=False))
            self.w_hh.append(nn.Parameter(weight_hh.detach().t().contiguous(), requires_grad=False))
            self.bias.append(nn.Parameter(bias.detach().clone(), requires_grad=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: one-hot ``[batch, L, V]`` -> logits ``[batch, classes]``, as ``NameRNN.forward`` in eval mode."""
        batch = x.shape[0]
        steps, hidden = self.config.sequence_length, self.config.hidden_size
        layer_input = x
        for w_ih, w_hh, bias in zip(self.w_ih, self.w_hh, self.bias):
            # addmm on the [batch*L, in] view: one Gemm with the bias, not a 3-D MatMul and a separate Add.
            rows = layer_input.reshape(-1, layer_input.shape[-1])
            projected = torch.addmm(bias, rows, w_ih).reshape(batch, steps * hidden)
            h = torch.tanh(projected[:, :hidden])
            outputs = [h]
            for t in range(1, steps):
                h = torch.tanh(torch.addmm(projected[:, t * hidden : (t + 1) * hidden], h, w_hh))
                outputs.append(h)
            flat = torch.cat(outputs, dim=1)  # [batch, L*H]: exactly outputs.reshape(batch, -1)
            layer_input = flat.reshape(batch, steps, hidden)
        if self.config.head == "flatten":
            return self.head(flat)
        return self.head(last_step(layer_input, x))

