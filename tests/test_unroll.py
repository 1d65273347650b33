"""The exported form of the network: the same numbers as NameRNN, for every head and depth."""

import dataclasses

import pytest
import torch

from nameort.encoding import Encoder, EncodingRules
from nameort_export.unroll import UnrolledRNN
from nameort_train.model import ModelConfig, build_model

RULES = EncodingRules(characters=" 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", sequence_length=18)
NAMES = ["Tribbiani", "Schmidt", "O'Neill", "X", "Abatantuonoabatant", ""]


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("head,layers", [("last", 1), ("last", 2), ("flatten", 1), ("flatten", 2)])
def test_unrolled_form_reproduces_the_model(head, layers, cell):
    torch.manual_seed(0)
    config = ModelConfig(len(RULES.characters), 18, 3, hidden_size=16, num_layers=layers, dropout=0.3,
                         head=head, head_hidden=32, cell=cell)
    model = build_model(config).eval()
    x = torch.from_numpy(Encoder(RULES).one_hot(NAMES))
    with torch.no_grad():
        want, got = model(x), UnrolledRNN(model)(x)
    # Only the order of float32 operations differs (the biases are summed first; a GRU's last
    # blend is n + z * (h - n)). Every random logit is compared, so a wrong gate would show.
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_unrolled_form_holds_no_trainable_copy():
    model = build_model(ModelConfig(len(RULES.characters), 18, 2, 8, 1, 0.0, "last", 16)).eval()
    unrolled = UnrolledRNN(model)
    assert unrolled.head is model.head
    assert not any(p.requires_grad for name, p in unrolled.named_parameters() if not name.startswith("head."))


def test_one_layer_rnn_runs_right_aligned_with_the_same_numbers():
    """The small network's exported form reads each name at the last steps: the logits equal the left-aligned form's."""
    torch.manual_seed(1)
    config = ModelConfig(len(RULES.characters), 18, 3, hidden_size=16, num_layers=1, dropout=0.0,
                         head="last", head_hidden=1)
    model = build_model(config).eval()
    unrolled = UnrolledRNN(model)
    assert unrolled.right_aligned and float(unrolled.lookups[0][0].abs().sum()) == 0.0  # padding: the zero row
    left = UnrolledRNN(model)
    left.right_aligned = False
    with torch.no_grad():  # the left-aligned form with its padding row: the bias, as nn.RNN sees padding
        left.lookups[0][0] = left.bias[0]
    x = torch.from_numpy(Encoder(RULES).one_hot(NAMES))
    with torch.no_grad():
        # Same operands per step once the name begins, and an exactly zero state before it: equal, not close.
        assert torch.equal(unrolled(x), left(x))
    gru = UnrolledRNN(build_model(dataclasses.replace(config, cell="gru")).eval())
    deep = UnrolledRNN(build_model(dataclasses.replace(config, num_layers=2)).eval())
    assert not gru.right_aligned and not deep.right_aligned
