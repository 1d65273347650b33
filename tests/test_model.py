"""The network: shapes, logits (not probabilities), the last-step head, the seed preset's layout."""

import pytest
import torch
from torch import nn

from nameort.encoding import Encoder, EncodingRules
from nameort_train.config import PRESETS
from nameort_train.model import ModelConfig, build_model, last_step

RULES = EncodingRules(characters=" 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", sequence_length=18)
NAMES = ["Tribbiani", "Schmidt", "O'Neill", "X", "Abatantuonoabatant"]


def config(head="last", hidden=16, layers=1, dropout=0.0, classes=3):
    return ModelConfig(
        vocab_size=len(RULES.characters), sequence_length=18, num_classes=classes,
        hidden_size=hidden, num_layers=layers, dropout=dropout, head=head, head_hidden=32,
    )


def batch(names=NAMES):
    return torch.from_numpy(Encoder(RULES).one_hot(names))


@pytest.mark.parametrize("head", ["last", "flatten"])
@pytest.mark.parametrize("size", [1, 5])
def test_output_shape(head, size):
    torch.manual_seed(0)
    model = build_model(config(head)).eval()
    out = model(batch(NAMES[:size]))
    assert out.shape == (size, 3) and out.dtype == torch.float32


@pytest.mark.parametrize("head", ["last", "flatten"])
def test_returns_logits_not_probabilities(head):
    torch.manual_seed(0)
    model = build_model(config(head)).eval()
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in model.modules())
    x = batch()
    logits = model(x)
    # The last layer is affine and nothing follows it: doubling its weights and
    # bias doubles the output exactly, which a softmax output could never do.
    last = model.head if head == "last" else model.head[-1]
    with torch.no_grad():
        last.weight.mul_(2)
        last.bias.mul_(2)
    assert torch.allclose(model(x), 2 * logits, atol=1e-6)
    assert not torch.allclose(torch.softmax(logits, 1).sum(1), logits.sum(1))


def test_last_step_reads_each_names_last_character():
    x = batch()
    outputs = torch.arange(len(NAMES) * 18 * 4, dtype=torch.float32).reshape(len(NAMES), 18, 4)
    picked = last_step(outputs, x)
    for b, name in enumerate(NAMES):
        assert torch.equal(picked[b], outputs[b, len(name) - 1])
    assert torch.equal(last_step(outputs[:1], torch.zeros(1, 18, len(RULES.characters))), torch.zeros(1, 4))


def test_no_state_carries_between_batches():
    torch.manual_seed(0)
    model = build_model(config(layers=2)).eval()
    x = batch()
    together = model(x)
    assert torch.equal(model(x), together)  # calling again changes nothing
    alone = torch.cat([model(x[i : i + 1]) for i in range(len(NAMES))])
    assert torch.allclose(alone, together, atol=1e-6)  # a name's logits do not depend on its batch


def test_last_head_ignores_padding_length():
    """With the last-step head, what comes after the name cannot matter."""
    torch.manual_seed(0)
    long_rules = EncodingRules(characters=RULES.characters, sequence_length=30)
    model18 = build_model(config())
    model30 = build_model(ModelConfig(**{**config().to_json(), "sequence_length": 30}))
    model30.load_state_dict(model18.state_dict())
    x18, x30 = batch(), torch.from_numpy(Encoder(long_rules).one_hot(NAMES))
    assert torch.allclose(model18.eval()(x18), model30.eval()(x30), atol=1e-6)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = build_model(config(layers=2, dropout=0.5))
    x = batch()
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_seed_preset_is_the_notebook_network():
    seed = PRESETS["seed"]
    model = build_model(
        ModelConfig(vocab_size=65, sequence_length=18, num_classes=2, hidden_size=seed.hidden_size,
                    num_layers=seed.num_layers, dropout=seed.dropout, head=seed.head, head_hidden=seed.head_hidden)
    )
    assert (model.rnn.input_size, model.rnn.hidden_size, model.rnn.num_layers) == (65, 256, 2)
    assert model.rnn.dropout == 0.4 and model.rnn.batch_first
    first, relu, last = model.head
    assert (first.in_features, first.out_features) == (18 * 256, 256)
    assert isinstance(relu, nn.ReLU) and (last.in_features, last.out_features) == (256, 2)
    assert seed.lr >= 1e-4  # not the notebook's 5e-6
