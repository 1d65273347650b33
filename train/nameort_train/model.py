"""The network: an ``nn.RNN`` (or ``nn.GRU``) over one-hot names, returning logits.

Input is the runtime encoder's one-hot batch ``[batch, L, V]``: step ``t`` is
character ``t`` of the name and the steps after the name are all-zero rows.
The initial hidden state is zeros, created by ``nn.RNN`` itself for every
call, so nothing carries over from one batch to the next and the exported
graph has a single input. Softmax is left to whoever reads the logits.

The cell is ``nn.RNN`` (tanh) unless the config says ``gru``: the same
interface, with update and reset gates (three weight blocks per layer, in
torch's order r, z, n). Both export through ``unroll.UnrolledRNN``.

Two heads:

* ``flatten`` (the notebook's): every step's output, padding included,
  flattened into ``L*H -> head_hidden -> ReLU -> classes``.
* ``last``: the output at each name's last real character. Which step that is
  comes from the input itself (a step is real when its row holds a 1), using
  only elementwise ops and sums, so it exports to plain ONNX.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "gru": nn.GRU}
GATES = {"rnn": 1, "gru": 3}  # weight blocks stacked in each of a layer's matrices


@dataclass(frozen=True)
class ModelConfig:
    """The architecture; with the state dict it rebuilds the network exactly."""

    vocab_size: int  # one-hot width V
    sequence_length: int  # steps L (the flatten head's input is L*H wide)
    num_classes: int  # outputs, one logit per label
    hidden_size: int  # RNN state width
    num_layers: int  # stacked RNN layers
    dropout: float  # between RNN layers and before the head; inactive in eval()
    head: str  # "last" or "flatten"
    head_hidden: int  # flatten head's hidden width
    # Open set with a fine background: outputs from this index on are background languages, merged
    # into one "other" output for inference (MergedOutputs); 0 = no merging.
    merge_from: int = 0
    cell: str = "rnn"  # "rnn" (tanh nn.RNN) or "gru" (nn.GRU)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        return cls(**{f.name: data.get(f.name, defaults.get(f.name)) for f in dataclasses.fields(cls)})


def last_step(outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``outputs[b, t_last(b)]`` where ``t_last`` is name ``b``'s last character.

    Padding is zero rows after the name. An all-zero input (no character at
    all) selects nothing and yields a zero vector rather than an error.
    """
    return last_step_of(outputs, x.amax(dim=-1))


def last_step_of(outputs: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """``last_step`` given ``real`` [B, L]: 1.0 on characters, 0.0 on padding.

    ``real[t] - real[t+1]`` is 1 at the last character and 0 elsewhere, and the
    weighted sum over steps is one ``[B, 1, L] @ [B, L, H]`` product: in the
    exported graph ONNX Runtime then makes no broadcast Mul and ReduceSum
    passes over every step's state. With one weight 1 and the rest 0 it is the
    very same vector.
    """
    after = torch.cat([real[:, 1:], torch.zeros_like(real[:, :1])], dim=1)
    is_last = (real - after).unsqueeze(1)  # [B, 1, L]
    return torch.matmul(is_last, outputs).squeeze(1)


class NameRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.cell not in CELLS:
            raise ValueError(f"unknown cell {config.cell!r}")
        self.rnn = CELLS[config.cell](
            input_size=config.vocab_size,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            # nn.RNN applies this between layers only, and warns when there is one layer.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        if config.head == "flatten":
            self.head = nn.Sequential(
                nn.Linear(config.sequence_length * config.hidden_size, config.head_hidden),
                nn.ReLU(),
                nn.Linear(config.head_hidden, config.num_classes),
            )
        elif config.head == "last":
            self.head = nn.Linear(config.hidden_size, config.num_classes)
        else:
            raise ValueError(f"unknown head {config.head!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: one-hot ``[batch, L, V]`` float32 -> logits ``[batch, classes]``."""
        outputs, _ = self.rnn(x)  # no h0 given: zeros, for every batch
        outputs = self.dropout(outputs)
        if self.config.head == "flatten":
            features = outputs.reshape(outputs.shape[0], -1)
        else:
            features = last_step(outputs, x)
        return self.head(features)


def build_model(config: ModelConfig) -> NameRNN:
    return NameRNN(config)


def inference_model(model: NameRNN) -> nn.Module:
    """What export and scoring run: the network itself, or its outputs merged (``merge_from``)."""
    if model.config.merge_from:
        return MergedOutputs(model, model.config.merge_from).eval()
    return model.eval()


@torch.no_grad()
def merge_members(members: list) -> NameRNN:
    """K trained ``last``-head networks -> one NameRNN of K*H units whose logits are their mean.

    Each layer's weights become block-diagonal (member k's units only read
    member k's units; the first layer's input weights are stacked), and the
    head reads all K*H units with each member's weights divided by K. The
    states of different members never mix, so the merged network computes
    exactly the K members side by side, and the mean of their logits is the
    ensemble (the mean of log-probabilities differs from it only by a per-name
    constant: same answers, same ranking). It is an ordinary nn.RNN (nn.GRU), so
    export, the unrolled fast path and the runtime need nothing new. A GRU's
    gates act unit by unit, so merging gate by gate keeps the members apart too.
    """
    first = members[0].config
    if first.head != "last" or any(m.config != first for m in members):
        raise ValueError("only identical 'last'-head networks can be merged")
    k, h, gates = len(members), first.hidden_size, GATES[first.cell]
    merged = NameRNN(dataclasses.replace(first, hidden_size=k * h))
    for layer in range(first.num_layers):
        for kind in ("ih", "hh"):
            weights = [getattr(m.rnn, f"weight_{kind}_l{layer}") for m in members]
            biases = [getattr(m.rnn, f"bias_{kind}_l{layer}") for m in members]
            blocks, bias = [], []
            # Gate by gate (one for nn.RNN; r, z, n for a GRU), so merged gate g holds every member's gate g.
            for gate in range(gates):
                rows = slice(gate * h, (gate + 1) * h)
                gate_weights = [w[rows] for w in weights]
                if kind == "ih" and layer == 0:
                    blocks.append(torch.cat(gate_weights, dim=0))  # every member reads the same one-hot input
                else:
                    blocks.append(torch.block_diag(*gate_weights))
                bias += [b[rows] for b in biases]
            getattr(merged.rnn, f"weight_{kind}_l{layer}").copy_(torch.cat(blocks, dim=0))
            getattr(merged.rnn, f"bias_{kind}_l{layer}").copy_(torch.cat(bias))
    merged.head.weight.copy_(torch.cat([m.head.weight for m in members], dim=1) / k)
    merged.head.bias.copy_(torch.stack([m.head.bias for m in members]).mean(dim=0))
    return merged.eval()


class MergedOutputs(nn.Module):
    """Inference form of a network trained with one class per background language.

    Outputs ``merge_from`` and later become one logit, their log-sum-exp, so
    its softmax probability is exactly the sum of theirs: P(other) = P(Arabic)
    + P(Chinese) + ... Training on the languages apart gives the network a
    sharper target than one mixed "other" class (cross-validated: per-language
    AUROC 0.892 against 0.871), and users still get one "other" answer.
    """

    def __init__(self, model: nn.Module, merge_from: int):
        super().__init__()
        self.model = model
        self.merge_from = merge_from

    @property
    def config(self):
        return self.model.config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        kept, merged = logits[:, : self.merge_from], logits[:, self.merge_from :]
        return torch.cat([kept, torch.logsumexp(merged, dim=1, keepdim=True)], dim=1)
