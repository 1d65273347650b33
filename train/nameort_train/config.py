"""Training configuration: one frozen dataclass, and the named presets.

A preset is a complete ``TrainConfig``; command-line options replace single
fields of it (``dataclasses.replace``), and the resulting config is stored in
the checkpoint and the model's sidecar, so every model says how it was made.
This module needs no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nameort.errors import NameortError

from .background import DEFAULT_OTHER_RATIO
from .data import DEFAULT_LABELS, DEFAULT_SPLIT, SHARED_POLICIES
from .figures import IN_SCOPE_BUDGET

HEADS = ("last", "flatten")
CELLS = ("rnn", "gru")  # model.CELLS: nn.RNN (tanh) or nn.GRU
DEVICES = ("auto", "cpu", "cuda")
LR_SCHEDULES = ("constant", "onecycle")
# The tutorial's 18 language files, sorted as --labels all reads them.
LANGUAGES = (
    "Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish",
    "Italian", "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish", "Vietnamese",
)


class ConfigError(NameortError):
    """A preset or option value that cannot be used."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run produces (the data folder aside)."""

    preset: str  # the preset these values started from, for the record
    # Data
    labels: tuple = DEFAULT_LABELS  # label files to read, in output order
    shared: str = "drop"  # spellings under several labels: "drop" them (notebook) or "keep" under each
    split: tuple = DEFAULT_SPLIT  # train / validation / test fractions
    seed: int = 0  # drives the split, the initial weights, dropout and batch order
    dedupe: bool = False  # one row per (spelling, label): repeated lines neither train twice nor test twice
    merge: tuple = ()  # (source, target) label pairs: the source file is read as the target (Scottish=English)
    # Open set (background.py): files whose names form a label "other" after the real ones; () = closed set
    other: tuple = ()
    other_ratio: float = DEFAULT_OTHER_RATIO  # "other" gets this many times the mean real-label count
    # with other: learn each background file as its own class, merged into "other" for answers
    # (5-fold CV, German/Italian, ratio 4: per-language AUROC 0.892 against 0.871 for one mixed class)
    other_fine: bool = True
    foreign_letters: bool = True  # with other: a name holding a letter no real-label name uses is answered other
    other_threshold: float | None = None  # with other: fixed operating point; None = chosen on validation
    # with other: real-label balanced accuracy the chosen operating point may give up (figures.choose_threshold)
    other_budget: float = IN_SCOPE_BUDGET
    # Model
    cell: str = "rnn"  # "rnn": the notebook's tanh nn.RNN; "gru": nn.GRU (gated, ~2x the training time)
    hidden_size: int = 64  # RNN state width
    num_layers: int = 1  # stacked nn.RNN layers
    dropout: float = 0.0  # between RNN layers and before the head (training only)
    head: str = "last"  # "last": classify the state at each name's last character; "flatten": notebook's L*H head
    head_hidden: int = 256  # width of the flatten head's hidden layer (unused by "last")
    # Networks trained with different seeds and merged into one nn.RNN of ensemble * hidden_size
    # units whose logits are their mean (model.merge_members: exact, exports like any network).
    ensemble: int = 1
    # Optimisation
    epochs: int = 60  # upper bound; early stopping usually ends sooner
    batch_size: int = 32  # names per step; the last, smaller batch is kept
    lr: float = 3e-3  # Adam learning rate (the notebook's 5e-6 barely moves the weights)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    # "constant" lr, or "onecycle": warm up, then anneal to ~0 at the last epoch (set patience >= epochs
    # so early stopping does not cut the annealing short; the best validation epoch is still kept).
    lr_schedule: str = "constant"
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0: none)
    # Class balancing by post-hoc logit adjustment: after training, tau * log(training share of
    # each label) is subtracted from the head's bias, so 1.0 answers as if every label were
    # equally common (0: the training mix). Measured on 18 languages it beat class-weighted
    # loss at every accuracy (docs/languages.md), and it costs nothing at inference.
    logit_adjust: float = 0.0
    # Record in the model's decision rules which labels write each letter beyond ASCII
    # (orthography.WRITERS), so that a name holding such letters is answered among those
    # labels only (nameort.decision rule 4). For models of the tutorial's languages.
    letter_labels: bool = False
    grad_clip: float = 1.0  # max gradient norm; tanh RNNs occasionally spike
    patience: int = 12  # stop after this many epochs without a better validation score
    device: str = "auto"  # "auto" (CUDA when torch sees it), "cpu" or "cuda"
    # torch CPU threads. These models are too small to gain from more: on a busy 2-core
    # machine 2 threads ran ~10x slower than 1. Fixed, it also fixes the summation order.
    threads: int = 1

    def __post_init__(self):
        # Validated in one place so every entry point (CLI, tests, scripts) gets the same messages.
        problems = []
        if len(self.labels) < 2:
            problems.append("at least 2 labels are needed")
        if self.shared not in SHARED_POLICIES:
            problems.append(f"shared must be one of {', '.join(SHARED_POLICIES)}")
        if len(self.split) != 3 or any(f < 0 for f in self.split) or abs(sum(self.split) - 1) > 1e-9:
            problems.append("split must be 3 non-negative fractions summing to 1")
        if self.cell not in CELLS:
            problems.append(f"cell must be one of {', '.join(CELLS)}")
        if self.head not in HEADS:
            problems.append(f"head must be one of {', '.join(HEADS)}")
        if self.device not in DEVICES:
            problems.append(f"device must be one of {', '.join(DEVICES)}")
        if self.ensemble > 1 and self.head != "last":
            problems.append("an ensemble needs head 'last'")
        for name in ("hidden_size", "num_layers", "head_hidden", "epochs", "batch_size", "threads", "ensemble"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.patience < 1:
            problems.append("patience must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            problems.append("dropout must be in [0, 1)")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
        if self.logit_adjust < 0:
            problems.append("logit_adjust must not be negative")
        if any(len(pair) != 2 for pair in self.merge):
            problems.append("merge must hold (source, target) label pairs")
        if not self.lr > 0:
            problems.append("lr must be positive")
        if self.other_threshold is not None and not 0.0 <= self.other_threshold <= 1.0:
            problems.append("other_threshold must be in [0, 1]")
        if not 0.0 <= self.other_budget <= 1.0:
            problems.append("other_budget must be in [0, 1]")
        if not self.other_ratio > 0:
            problems.append("other_ratio must be positive")
        if not 0.0 <= self.label_smoothing < 1.0:
            problems.append("label_smoothing must be in [0, 1)")
        if self.weight_decay < 0 or self.grad_clip < 0:
            problems.append("weight_decay and grad_clip must not be negative")
        if problems:
            raise ConfigError("bad training config: " + "; ".join(problems))

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {
            "labels": list(self.labels), "split": list(self.split), "other": list(self.other),
            "merge": [list(pair) for pair in self.merge],
        }

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["labels"] = tuple(values.get("labels", DEFAULT_LABELS))
        values["split"] = tuple(values.get("split", DEFAULT_SPLIT))
        values["merge"] = tuple(tuple(pair) for pair in values.get("merge", ()))
        values["other"] = tuple(values.get("other", ()))
        return cls(**values)


PRESETS = {
    # The notebook's network with its bugs fixed: 2 x 256 tanh RNN, dropout 0.4,
    # every step's output (padding included) flattened into 18*256 -> 256 -> ReLU -> classes.
    "seed": TrainConfig(
        preset="seed",
        hidden_size=256,
        num_layers=2,
        dropout=0.4,
        head="flatten",
        head_hidden=256,
        batch_size=32,
        lr=1e-3,
    ),
    # The default: one 64-wide RNN layer read at each name's last character.
    # Measured on German/Italian (10 seeds): 96.4% test accuracy against the seed
    # preset's ~94%, at ~28 us per name through Classifier.predict against ~174 us
    # (benchmarks/README.md). Hidden 32 lost ~0.6 points; 96 and 128 gained
    # nothing and cost 1.5-2.6x the throughput.
    "small": TrainConfig(preset="small"),
    # The bundled 18-language model (issue 12; measurements in docs/languages.md): every language
    # file, each spelling once per label, Scottish read as English (99 of its 100 names are English
    # ones: kept apart, its recall was 0), 64-unit GRUs with a one-cycle learning rate over 30 epochs,
    # three of them merged into one network (192 units), and the logits adjusted by the label shares.
    # Against the same recipe with nn.RNN cells, cross-validated on the same folds: +2.5 accuracy,
    # +2.9 macro recall, +1.5 macro top-3 points, at about 3x the inference time.
    "languages": TrainConfig(
        preset="languages",
        labels=LANGUAGES,
        shared="keep",
        dedupe=True,
        merge=(("Scottish", "English"),),
        cell="gru",
        epochs=30,
        patience=30,
        lr_schedule="onecycle",
        ensemble=3,
        logit_adjust=1.0,
        letter_labels=True,
    ),
}
DEFAULT_PRESET = "small"


def preset_config(name: str, **overrides) -> TrainConfig:
    """The named preset with the given fields replaced; ``None`` values mean "keep the preset's"."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (presets: {', '.join(sorted(PRESETS))})")
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(changes) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    return dataclasses.replace(PRESETS[name], **changes)
