"""Train a NameRNN on a names folder and save the run: checkpoint.pt + metrics.json.

What the notebook did wrong and this loop does instead: the model returns
logits and the loss is cross-entropy on them; every batch starts from a zero
hidden state (the model never takes one); the last, smaller batch is trained
on like any other; one seed fixes the split, the weights, dropout and the
batch order; the kept weights are those of the best validation epoch, and
training stops when validation has not improved for ``patience`` epochs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nameort.decision import DecisionRules, decide, softmax
from nameort.encoding import Encoder
from nameort.errors import DeviceError

from .background import OTHER_LABEL, build_dataset
from .checkpoint import Checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .data import split_indices
from .figures import calibrate, foreign_mask, score
from .metrics import classification_metrics
from .orthography import letter_labels
from .model import ModelConfig, build_model, inference_model, merge_members

log = logging.getLogger(__name__)

EVAL_BATCH = 2048  # names per forward pass when only scoring
MEMBER_SEED_STEP = 7919  # ensemble member k trains with seed + k * this (a prime: no overlap with fold seeds)


@dataclass(frozen=True)
class EpochStats:
    """One line of training progress."""

    epoch: int  # 1-based
    loss: float  # mean training cross-entropy over the epoch
    train_accuracy: float  # on the training batches as they were trained (dropout on)
    val_loss: float  # mean validation cross-entropy
    val_accuracy: float
    seconds: float  # wall time of the epoch, validation included
    best: bool  # this epoch is the best so far and its weights are kept

    def line(self) -> str:
        mark = " *" if self.best else ""
        return (
            f"epoch {self.epoch:3d}  loss {self.loss:.4f}  train {self.train_accuracy:.4f}  "
            f"val {self.val_accuracy:.4f} (loss {self.val_loss:.4f})  {self.seconds:.2f}s{mark}"
        )


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when torch sees a device, else CPU; ``cuda`` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"--device cuda: torch {torch.__version__} sees no CUDA device "
            "(use --device cpu, or install a CUDA build of torch)"
        )
    if name not in ("cpu", "cuda"):
        raise DeviceError(f"unknown device {name!r} (auto, cpu or cuda)")
    return torch.device(name)


def train(
    data_dir: Path,
    config: TrainConfig,
    run_dir: Path | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> Checkpoint:
    """Train, keep the best validation epoch, score it on the test split.

    Writes ``run_dir/checkpoint.pt`` and ``run_dir/metrics.json`` when
    ``run_dir`` is given. ``on_epoch`` receives each epoch's stats (the CLI
    prints them); they are also logged at DEBUG level.
    """
    with torch_threads(config.threads):
        return _train(Path(data_dir), config, run_dir, on_epoch)


@contextlib.contextmanager
def torch_threads(count: int):
    """Run with ``count`` torch CPU threads, then give the caller back its setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(data_dir, config, run_dir, on_epoch) -> Checkpoint:
    device = resolve_device(config.device)
    dataset = build_dataset(data_dir, config.labels, config.shared, config.other, config.other_ratio, config.seed,
                            dedupe=config.dedupe, merge=config.merge)
    splits = split_indices(dataset, config.seed, config.split)
    for name in ("train", "validation", "test"):
        if not splits[name]:
            raise ConfigError(f"the {name} split is empty with fractions {list(config.split)}")
    rules = dataset.rules()
    fitted = fit_rows(dataset, splits, config, device, on_epoch)
    model_config, best_state, best_epoch, history = (
        fitted.model_config, fitted.best_state, fitted.best_epoch, fitted.history
    )
    # The decision rules (temperature, operating point) are fitted on validation, then applied
    # to test exactly as the runtime applies them (nameort.decision.decide).
    decision, calibration = fit_decision(fitted, dataset, splits["validation"], config)
    test_targets, test_logits, test_foreign = scored_rows(fitted, dataset, splits["test"], "test")
    test_pred, _ = decide(softmax(test_logits, decision.temperature), decision, dataset.labels, foreign=test_foreign)
    test = classification_metrics(test_targets, test_pred, dataset.labels)
    figures = score(test_targets, test_logits, dataset.labels, decision, foreign=test_foreign)
    # Named for the split, as the sidecar carries them: "accuracy" alone would not say of what.
    metrics = {
        "test_accuracy": test.pop("accuracy"),
        "validation_accuracy": history[best_epoch - 1]["val_accuracy"],
        **test,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        # The median: the first epoch pays one-off warm-up costs, and the machine may be shared.
        "seconds_per_epoch": float(np.median([h["seconds"] for h in history])),
        "device": device.type,
        # How logits become answers (the sidecar's "decision" entry), how it was fitted, and what it gives on test.
        "decision": decision.to_json() or None,
        "calibration": calibration,
        "test_figures": {k: v for k, v in figures.items() if k not in ("confusion_matrix", "labels")},
    }
    log.info(
        "best epoch %d: validation %.4f, test %.4f", best_epoch, metrics["validation_accuracy"], metrics["test_accuracy"]
    )

    checkpoint = Checkpoint(
        model_config=model_config,
        train_config=config,
        rules=rules,
        labels=dataset.labels,
        data={
            "labels": list(dataset.labels),
            # The files read: the labels plus any merged into another (merge), and how rows were kept.
            "files": list(config.labels),
            "dedupe": config.dedupe,
            "merge": [list(pair) for pair in config.merge],
            "shared": config.shared,
            "seed": config.seed,
            "split": list(config.split),
            "files_sha256": dict(dataset.files_sha256),
            "counts": dataset.counts(),
            "split_sizes": {name: len(rows) for name, rows in splits.items()},
            "removed": list(dataset.removed) if config.shared == "drop" else [],
            "other": list(config.other),
            "other_ratio": config.other_ratio,
            "background": dataset.background,
        },
        metrics=metrics,
        history=history,
        state_dict={k: v.cpu() for k, v in best_state.items()},
    )
    if run_dir is not None:
        save_checkpoint(checkpoint, Path(run_dir))
    return checkpoint


@dataclass
class Fitted:
    """A trained network and what it was trained on."""

    model: torch.nn.Module  # in eval mode, holding the best validation epoch's weights
    model_config: ModelConfig
    best_state: dict  # those weights
    best_epoch: int  # 1-based
    history: list  # per-epoch stats (EpochStats fields)
    parts: dict  # split name -> (one-hot inputs, targets) on the training device


def fit_rows(dataset, rows: dict, config: TrainConfig, device=None, on_epoch=None) -> Fitted:
    """Train a fresh network on ``rows["train"]``, early-stopping on ``rows["validation"]``.

    ``rows`` maps split names to row indices of ``dataset``; every split given
    is encoded (the runtime's encoder) so callers can score it afterwards.
    The network's initial weights come from ``config.seed``. Training and
    cross-validation (crossval.py) both train through here.
    """
    device = device if device is not None else resolve_device(config.device)
    rules = dataset.rules()
    # Open set, fine background: the network learns each background language as its own class;
    # the returned model merges them into "other" (model.MergedOutputs), so callers see dataset.labels.
    fine = config.other_fine and dataset.background is not None
    learned = fine_background(dataset) if fine else dataset
    parts = _encode(learned, rules, rows, device)
    torch.manual_seed(config.seed)
    model_config = ModelConfig(
        vocab_size=len(rules.characters),
        sequence_length=rules.sequence_length,
        num_classes=len(learned.labels),
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dropout=config.dropout,
        head=config.head,
        head_hidden=config.head_hidden,
        merge_from=len(dataset.labels) - 1 if fine else 0,
        cell=config.cell,
    )
    model = build_model(model_config).to(device)
    log.info(
        "training %s on %d names (%s), %d parameters%s, device %s",
        config.preset,
        len(dataset.names),
        ", ".join(f"{k} {len(v)}" for k, v in rows.items()),
        sum(p.numel() for p in model.parameters()),
        f" x {config.ensemble} members" if config.ensemble > 1 else "",
        device,
    )
    best_state, best_epoch, history = _fit(model, parts, config, on_epoch)
    model.load_state_dict(best_state)
    if config.ensemble > 1:
        # Members 2..K: same data and recipe, their own initial weights and batch order; each keeps
        # its own best validation epoch. history and best_epoch stay the first member's.
        members = [model.cpu().eval()]
        for member in range(1, config.ensemble):
            member_config = dataclasses.replace(config, seed=config.seed + MEMBER_SEED_STEP * member)
            torch.manual_seed(member_config.seed)
            other = build_model(model_config).to(device)
            log.info("training member %d of %d (seed %d)", member + 1, config.ensemble, member_config.seed)
            state, epoch, _ = _fit(other, parts, member_config, on_epoch)  # progress lines restart at epoch 1
            other.load_state_dict(state)
            log.info("member %d: best epoch %d", member + 1, epoch)
            members.append(other.cpu().eval())
        model = merge_members(members).to(device)
        model_config = model.config
        best_state = copy.deepcopy(model.state_dict())
    if config.logit_adjust:
        best_state = adjust_logits(model, parts["train"][1], config.logit_adjust)
    return Fitted(inference_model(model), model_config, best_state, best_epoch, history, parts)


def fine_background(dataset):
    """``dataset`` with its ``other`` rows labelled by their background file (the real labels first)."""
    real = len(dataset.labels) - 1
    languages = tuple(dataset.background["languages"])
    targets = tuple(t if t < real else real + languages.index(o) for t, o in zip(dataset.targets, dataset.origins))
    return dataclasses.replace(dataset, labels=dataset.labels[:real] + languages, targets=targets)


@torch.no_grad()
def adjust_logits(model, train_targets: torch.Tensor, tau: float) -> dict:
    """Subtract ``tau * log(share of each label in training)`` from the output bias; return the new weights.

    Post-hoc logit adjustment (Menon et al., 2021): a network trained on the
    natural mix learns each label's share as part of its logits; taking
    ``tau`` times its log back out trades the big labels' accuracy for the
    small labels' recall, without retraining and at no inference cost (it is
    only a bias). A label with no training row counts as one row.
    """
    counts = torch.bincount(train_targets.cpu(), minlength=model.config.num_classes).clamp(min=1).double()
    shift = (tau * torch.log(counts / counts.sum())).float()
    final = model.head if isinstance(model.head, torch.nn.Linear) else model.head[-1]
    final.bias -= shift.to(final.bias.device)
    return copy.deepcopy(model.state_dict())


@torch.no_grad()
def logits_of(model, inputs: torch.Tensor) -> np.ndarray:
    """Logits [rows, labels] as float32 numpy, in eval mode."""
    model.eval()
    if not len(inputs):
        return np.zeros((0, model.config.num_classes), np.float32)
    return torch.cat([model(inputs[i : i + EVAL_BATCH]) for i in range(0, len(inputs), EVAL_BATCH)]).cpu().numpy()


def scored_rows(fitted: Fitted, dataset, rows, part: str) -> tuple:
    """(targets, logits, foreign-letter mask or None) of ``rows``, encoded as ``fitted.parts[part]``."""
    logits = logits_of(fitted.model, fitted.parts[part][0])
    targets = np.asarray([dataset.targets[i] for i in rows], dtype=np.int64)
    foreign = None
    if dataset.background is not None:
        foreign = foreign_mask([dataset.names[i] for i in rows], dataset.rules())
    return targets, logits, foreign


def fit_decision(fitted: Fitted, dataset, rows, config: TrainConfig) -> tuple:
    """(DecisionRules, record): temperature and operating point fitted on the validation ``rows``.

    With ``config.letter_labels`` the rules also list the labels writing each
    letter beyond ASCII (``orthography``). The test figures training reports are
    the network's, without that rule; ``crossval`` and ``nameort evaluate`` apply it.
    """
    targets, logits, foreign = scored_rows(fitted, dataset, rows, "validation")
    open_set = dataset.background is not None
    rules, record = calibrate(
        targets,
        logits,
        dataset.labels,
        OTHER_LABEL if open_set else None,
        foreign_letters=open_set and config.foreign_letters,
        foreign=foreign,
        fixed_threshold=config.other_threshold,
        budget=config.other_budget,
    )
    if config.letter_labels:  # read as a sidecar's entry is: checked, in its canonical order
        rules = DecisionRules.from_json(rules.to_json() | {"letter_labels": letter_labels(dataset.labels)},
                                        dataset.labels)
    return rules, record


def _encode(dataset, rules, splits, device) -> dict:
    """{split: (one-hot inputs, targets)} on ``device``, built by the runtime's encoder."""
    encoder = Encoder(rules)
    prepared = [encoder.prepare(name) for name in dataset.names]
    # Background names (other files) are expected to be altered: accents folded, long ones truncated.
    background = {OTHER_LABEL, *(dataset.background or {}).get("languages", ())} if dataset.background else set()
    real = sum(label not in background for label in dataset.labels)
    altered = [p.name for p, t in zip(prepared, dataset.targets) if p.flags and t < real]
    if altered:
        # The vocabulary comes from these very files, so this only happens for
        # text the encoder normalises (e.g. NFD accents); train on what inference will see.
        log.warning("%d training names are altered by the encoder, e.g. %r", len(altered), altered[0])
    inputs = torch.from_numpy(encoder.one_hot([p.text for p in prepared]))
    targets = torch.tensor(dataset.targets, dtype=torch.long)
    return {name: (inputs[rows].to(device), targets[rows].to(device)) for name, rows in splits.items()}


def _fit(model, parts, config: TrainConfig, on_epoch):
    """The epoch loop: returns the best validation epoch's weights, its number, and the history."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = None
    if config.lr_schedule == "onecycle":
        # Warm up to lr over the first 15% of the steps, then anneal towards zero by the last epoch.
        steps = config.epochs * math.ceil(len(parts["train"][1]) / config.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps, pct_start=0.15)
    # Batch order has its own generator so it does not depend on how many
    # random numbers weight initialisation or dropout happened to draw.
    order = torch.Generator().manual_seed(config.seed)
    best_key, best_state, best_epoch, stale = None, None, 0, 0
    history = []
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        loss, train_acc = _train_epoch(model, optimizer, *parts["train"], config, order, schedule)
        val_loss, val_acc, _ = _score(model, *parts["validation"])
        # Accuracy on a small validation set ties often; lower loss breaks the tie.
        key = (val_acc, -val_loss)
        improved = best_key is None or key > best_key
        if improved:
            best_key, best_epoch, stale = key, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        stats = EpochStats(epoch, loss, train_acc, val_loss, val_acc, time.perf_counter() - start, improved)
        history.append({k: v for k, v in vars(stats).items() if k != "best"})
        log.debug(stats.line())
        if on_epoch is not None:
            on_epoch(stats)
        if stale >= config.patience:
            log.info("no validation improvement for %d epochs; stopping after epoch %d", stale, epoch)
            break
    return best_state, best_epoch, history


def _train_epoch(model, optimizer, inputs, targets, config: TrainConfig, order: torch.Generator, schedule=None):
    model.train()
    permutation = torch.randperm(len(targets), generator=order).to(inputs.device)
    total_loss, correct = 0.0, 0
    # range() over the full length: the last, partial batch is trained on too.
    for start in range(0, len(targets), config.batch_size):
        rows = permutation[start : start + config.batch_size]
        logits = model(inputs[rows])
        loss = F.cross_entropy(logits, targets[rows], label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        total_loss += loss.item() * len(rows)
        correct += (logits.argmax(dim=1) == targets[rows]).sum().item()
    mean_loss = total_loss / len(targets)
    if not math.isfinite(mean_loss):
        raise ConfigError(f"training diverged (loss {mean_loss}); try a lower --lr")
    return mean_loss, correct / len(targets)


@torch.no_grad()
def _score(model, inputs, targets):
    """Mean loss, accuracy and predicted class indices, in eval mode."""
    model.eval()
    logits = torch.cat([model(inputs[i : i + EVAL_BATCH]) for i in range(0, len(targets), EVAL_BATCH)])
    loss = F.cross_entropy(logits, targets).item()
    predictions = logits.argmax(dim=1)
    accuracy = (predictions == targets).sum().item() / len(targets)
    return loss, accuracy, predictions.cpu().numpy()
