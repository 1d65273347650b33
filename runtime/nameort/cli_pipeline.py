"""``nameort train``, ``nameort export`` and ``nameort evaluate``: parse, call the library, format.

Importing this module imports neither torch nor ONNX: the command bodies
import ``nameort_train`` / ``nameort_export`` when they run, and a missing
package becomes one line saying what to install. User mistakes raise
NameortError or click.UsageError; ``nameort.cli.Main`` turns them into one
line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from .errors import MissingDependencyError

# As the README: torch first, so pip keeps the torch build chosen here instead of resolving its own.
TRAIN_HINT = "pip install torch==2.13.0 first, then pip install 'nameort[train,cpu]' (any torch >= 2.4 works)"


def _require(command: str, *modules: str) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(f"nameort {command} needs {module}: {TRAIN_HINT}") from None


def _refuse_used_run_dir(run_dir: Path) -> None:
    """A finished run is not overwritten by accident: its folder must be new or empty (or --force)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise click.UsageError(f"--out {run_dir} is a file; name a folder for the run")
    held = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    if held:
        shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise click.UsageError(
            f"--out {run_dir} is not empty (it holds {shown}); choose a new folder, or add --force to overwrite its run"
        )


def _data_option(command):
    return click.option(
        "--data",
        "data_dir",
        envvar="NAMEORT_DATA",
        required=True,
        help="Folder of <Label>.txt name files (or set NAMEORT_DATA).",
    )(command)


# The recipe: what decides the trained network. Shared by train and crossval, so a recipe measured
# by cross-validation is trained with exactly the same options.
_RECIPE_OPTIONS = (
    click.option("--labels", default=None,
                 help="Comma-separated label files, or 'all' (default: the preset's; German,Italian "
                      "for small and seed, the 18 language files for languages)."),
    click.option("--other", default=None,
                 help="Add a background label 'other' from these label files: 'rest' (every other file) "
                      "or a comma list. Default: none (closed set)."),
    click.option("--other-ratio", type=float, default=None,
                 help="Size of 'other' as a multiple of the mean real-label count (default 4)."),
    click.option("--other-threshold", "fixed_other_threshold", type=click.FloatRange(0, 1), default=None,
                 help="Fixed operating point: answer 'other' from this probability on "
                      "(default: chosen on validation)."),
    click.option("--other-budget", type=click.FloatRange(0, 1), default=None,
                 help="With --other: real-label balanced accuracy the chosen operating point may give up "
                      "(default 0.02)."),
    click.option("--foreign-letters/--no-foreign-letters", default=None,
                 help="With --other: answer 'other' for a name holding a letter no real-label name uses "
                      "(default on)."),
    click.option("--preset", default=None,
                 help="small (default: fast, 1x64 RNN, last-step head), seed (the notebook's) or languages "
                      "(the bundled 18-language model's recipe)."),
    click.option("--epochs", type=int, default=None, help="Upper bound on epochs (early stopping may end sooner)."),
    click.option("--batch-size", type=int, default=None),
    click.option("--lr", type=float, default=None, help="Learning rate (AdamW)."),
    click.option("--weight-decay", type=float, default=None, help="AdamW weight decay (default 0)."),
    click.option("--lr-schedule", type=click.Choice(["constant", "onecycle"]), default=None,
                 help="constant lr (small, seed) or onecycle: warm up, then anneal to ~0 by the last epoch."),
    click.option("--label-smoothing", type=float, default=None, help="Cross-entropy label smoothing (default 0)."),
    click.option("--cell", type=click.Choice(["rnn", "gru"]), default=None,
                 help="The recurrent cell: rnn (tanh nn.RNN, the small and seed presets') or gru (nn.GRU)."),
    click.option("--hidden", type=int, default=None, help="RNN hidden size."),
    click.option("--layers", type=int, default=None, help="Stacked RNN layers."),
    click.option("--ensemble", type=click.IntRange(1, 16), default=None,
                 help="Train this many networks (different seeds) and merge them into one network whose "
                      "logits are their mean (default 1)."),
    click.option("--dropout", type=float, default=None),
    click.option("--seed", type=int, default=None,
                 help="Drives split, background sample, initialisation, dropout and batch order (default 0)."),
    click.option("--patience", type=int, default=None, help="Stop after this many epochs without validation gain."),
    click.option("--shared", type=click.Choice(["drop", "keep"]), default=None,
                 help="Spellings under several labels: drop them (default) or keep them under each."),
    click.option("--dedupe/--no-dedupe", default=None,
                 help="Keep each spelling once per label (default: every line of the files is a row)."),
    click.option("--merge", default=None,
                 help="Read one label's file as another label: SOURCE=TARGET[,...], e.g. Scottish=English."),
    click.option("--logit-adjust", type=click.FloatRange(0, None), default=None,
                 help="Class balancing: subtract this times log(label share) from the logits after training "
                      "(1: as if every label were equally common; default 0)."),
    click.option("--letter-labels/--no-letter-labels", default=None,
                 help="Record which labels write each letter beyond ASCII (for the tutorial's languages), so a "
                      "name holding such letters is answered among those (default: on for languages)."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
    click.option("--threads", type=int, default=None, help="torch CPU threads (default 1: fastest for these models)."),
)


def _recipe_options(command):
    for option in reversed(_RECIPE_OPTIONS):
        command = option(command)
    return command


def _recipe_config(data_dir, recipe: dict):
    """The TrainConfig the recipe options describe (unset options keep the preset's values)."""
    from nameort_train.background import resolve_other
    from nameort_train.config import DEFAULT_PRESET, preset_config
    from nameort_train.data import parse_merge, resolve_labels

    preset = recipe["preset"] or DEFAULT_PRESET
    labels = resolve_labels(recipe["labels"], data_dir) if recipe["labels"] is not None else preset_config(preset).labels
    return preset_config(
        preset,
        labels=labels,
        other=resolve_other(recipe["other"], data_dir, labels) if recipe["other"] is not None else None,
        other_ratio=recipe["other_ratio"],
        other_threshold=recipe["fixed_other_threshold"],
        foreign_letters=recipe["foreign_letters"],
        other_budget=recipe["other_budget"],
        shared=recipe["shared"],
        dedupe=recipe["dedupe"],
        merge=parse_merge(recipe["merge"]) if recipe["merge"] is not None else None,
        logit_adjust=recipe["logit_adjust"],
        letter_labels=recipe["letter_labels"],
        seed=recipe["seed"],
        cell=recipe["cell"],
        hidden_size=recipe["hidden"],
        num_layers=recipe["layers"],
        ensemble=recipe["ensemble"],
        dropout=recipe["dropout"],
        epochs=recipe["epochs"],
        batch_size=recipe["batch_size"],
        lr=recipe["lr"],
        weight_decay=recipe["weight_decay"],
        lr_schedule=recipe["lr_schedule"],
        label_smoothing=recipe["label_smoothing"],
        patience=recipe["patience"],
        device=recipe["device"],
        threads=recipe["threads"],
    )


@click.command()
@_data_option
@click.option("--out", "run_dir", required=True, help="Run folder for checkpoint.pt and metrics.json.")
@_recipe_options
@click.option("--quiet", is_flag=True, help="No per-epoch progress lines.")
@click.option("--force", is_flag=True, help="Train into an --out folder that is not empty (its run is overwritten).")
def train(data_dir, run_dir, quiet, force, **recipe):
    """Train a surname classifier; writes RUN_DIR/checkpoint.pt and RUN_DIR/metrics.json."""
    _require("train", "torch")
    if not force:
        _refuse_used_run_dir(Path(run_dir))
    from nameort_train.train import train as run_training

    config = _recipe_config(data_dir, recipe)
    progress = None if quiet else (lambda stats: click.echo(stats.line(), err=True))
    checkpoint = run_training(Path(data_dir), config, Path(run_dir), on_epoch=progress)
    m = checkpoint.metrics
    click.echo(
        f"test accuracy {m['test_accuracy']:.4f} ({m['count']} names), best epoch {m['best_epoch']} of "
        f"{m['epochs_run']}, {m['seconds_per_epoch']:.2f} s/epoch on {m['device']}; wrote {Path(run_dir) / 'checkpoint.pt'}"
    )
    figures = m.get("test_figures") or {}
    if "rejection" in figures:
        click.echo(
            f"open set on test: real-label balanced accuracy {figures['in_scope_balanced_accuracy']:.4f}, "
            f"'other' names answered other {figures['rejection']:.4f}, AUROC {figures['auroc']:.4f}; "
            f"operating point P(other) >= {m['decision']['other_threshold']}"
        )


@click.command()
@click.argument("run_dir")
@click.option("--out", "model_dir", required=True, help="Folder for model.onnx and model.onnx.json.")
@click.option("--no-verify", is_flag=True, help="Skip the ONNX Runtime vs torch parity check (not recommended).")
def export(run_dir, model_dir, no_verify):
    """Export RUN_DIR's checkpoint to MODEL_DIR/model.onnx (+ sidecar), verified against torch."""
    _require("export", "torch", "onnx", "onnxscript", *(() if no_verify else ("onnxruntime",)))
    from nameort_export.export import export_run

    card = export_run(Path(run_dir), Path(model_dir), verify=not no_verify)
    parity = card.metrics.get("onnx_parity")
    if parity is None:
        check = "NOT verified"
    else:
        check = f"verified: max abs diff {parity['max_abs_diff']:.2g} at batch sizes {parity['batch_sizes']}"
        if parity["max_abs_diff"] > parity["atol"]:
            check += (
                f" (float32 rounding: ONNX Runtime is {parity['onnx_error_vs_float64']:.2g} from float64, "
                f"torch {parity['torch_error_vs_float64']:.2g})"
            )
    click.echo(f"wrote {card.model_path} and {card.sidecar_path.name} (sha256 {card.model_sha256[:12]}...); {check}")


@click.command()
@_data_option
@_recipe_options
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True)
@click.option("--repeats", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--cv-seed", type=int, default=0, show_default=True, help="Drives the fold assignment and each fold's network.")
@click.option("--lolo", is_flag=True,
              help="Also leave-one-language-out (with --other): per background language, train without it and "
                   "count how many of its names come back 'other'.")
@click.option("--plot", "plot_dir", default=None, help="Write reliability.png and confusion.png (out-of-fold, repeat 1) here.")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON (per fold, summary, leave-one-out).")
def crossval(data_dir, folds, repeats, cv_seed, lolo, plot_dir, as_json, **recipe):
    """Repeated stratified k-fold cross-validation of a training recipe (identical spellings never on both sides)."""
    _require("crossval", "torch")
    from nameort_train.background import build_dataset
    from nameort_train.crossval import cross_validate, leave_one_language_out

    config = _recipe_config(data_dir, recipe)
    if lolo and not config.other:
        raise click.UsageError("--lolo needs --other (a background label to leave languages out of)")
    dataset = build_dataset(data_dir, config.labels, config.shared, config.other, config.other_ratio, config.seed,
                            dedupe=config.dedupe, merge=config.merge)
    progress = None if as_json else (lambda e: click.echo(f"repeat {e['repeat'] + 1} fold {e['fold'] + 1}: "
                                                          + _figure_line(e), err=True))
    result = cross_validate(dataset, config, folds=folds, repeats=repeats, seed=cv_seed, on_fold=progress)
    if lolo:
        result["leave_one_language_out"] = leave_one_language_out(
            data_dir, config,
            on_language=None if as_json else (lambda e: click.echo(
                f"without {e['language']}: {e['rejection']:.4f} of {e['names']} names answered other", err=True)),
        )
    if plot_dir is not None:
        import numpy as np
        from nameort_train.plots import write_plots

        oof = result["out_of_fold"]
        named = "+".join(dataset.labels) if len(dataset.labels) <= 4 else f"{len(dataset.labels)} labels"
        title = f"{named}: {folds}-fold CV, out of fold"
        result["plots"] = [str(p) for p in write_plots(
            plot_dir, np.asarray(oof["probabilities"]), oof["targets"],
            _confusion(oof["targets"], oof["answers"], len(dataset.labels)), dataset.labels, title)]
    if as_json:
        result.pop("out_of_fold")
        click.echo(json.dumps(result | {"config": config.to_json()}, indent=2, ensure_ascii=False))
        return
    click.echo(f"{folds}-fold cross-validation x {repeats} repeats over {len(dataset.names)} names "
               f"({', '.join(f'{k} {v}' for k, v in dataset.counts().items())}); mean ± std over "
               f"{folds * repeats} folds")
    for key, value in result["summary"].items():
        click.echo(f"  {key:<28} {value['mean']:.4f} ± {value['std']:.4f}")
    if "operating_point" in result:
        op = result["operating_point"]
        click.echo(f"operating point on all out-of-fold predictions (repeat 1, budget {op['budget']}): "
                   f"P(other) >= {op['other_threshold']}: real-label balanced accuracy "
                   f"{op['in_scope_balanced_accuracy']:.4f}, background answered other {op['rejection']:.4f}")
    if lolo:
        loo = result["leave_one_language_out"]
        click.echo(f"leave-one-language-out: answered other, per language never seen as other "
                   f"(mean over languages {loo['macro_rejection']:.4f})")
        for e in loo["languages"]:
            click.echo(f"  {e['language']:<12} {e['rejection']:.4f}  ({e['names']} names; "
                       f"{e['rejection_without_foreign_letters']:.4f} without the foreign-letter rule)")
    for path in result.get("plots", []):
        click.echo(f"wrote {path}")


def _figure_line(entry: dict) -> str:
    keys = ("in_scope_balanced_accuracy", "rejection", "auroc", "balanced_accuracy", "ece")
    return ", ".join(f"{k} {entry[k]:.4f}" for k in keys if isinstance(entry.get(k), float))


def _confusion(targets, answers, n: int) -> list:
    table = [[0] * n for _ in range(n)]
    for t, a in zip(targets, answers):
        table[t][a] += 1
    return table


@click.command()
@click.argument("model_dir")
@_data_option
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--allow-changed-data", is_flag=True,
              help="Score even when the data files differ from those recorded at training (warns).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--plot", "plot_dir", default=None, help="Write reliability.png and confusion.png here.")
def evaluate(model_dir, data_dir, split, as_json, allow_changed_data, device, plot_dir):
    """Score MODEL_DIR on the split recorded in its sidecar, through the ONNX runtime."""
    from nameort_export.evaluate import evaluate_model
    from nameort_train.metrics import format_metrics

    metrics = evaluate_model(
        model_dir, data_dir, split=split, allow_changed_data=allow_changed_data, device=device, plot_dir=plot_dir
    )
    if as_json:
        click.echo(json.dumps(metrics, indent=2, ensure_ascii=False))
        return
    click.echo(f"{metrics['model']} on the {split} split ({metrics['provider']})")
    click.echo(format_metrics(metrics))
    figures = metrics["figures"]
    click.echo(f"\nbalanced accuracy {figures['balanced_accuracy']:.4f}, ECE {figures['ece']:.4f} (15 bins)")
    if "rejection" in figures:
        click.echo(
            f"open set: real-label balanced accuracy {figures['in_scope_balanced_accuracy']:.4f} "
            f"(an 'other' answer counts as wrong), background names answered other {figures['rejection']:.4f}, "
            f"AUROC {figures['auroc']:.4f}"
        )
    check = metrics.get("reaccented")
    if check:
        click.echo(
            f"foreign letters: {check['real_label_names_with_a_foreign_letter']} of {check['real_label_names']} "
            "real-label names hold one; held-out background names with one letter re-accented, answered other "
            "(with the rule / without):"
        )
        for language, row in check["per_language"].items():
            click.echo(f"  {language:<12} {row['answered_other_with_rule']:.4f} / {row['answered_other_without_rule']:.4f}"
                       f"  ({row['names']} names, e.g. {row['example']})")
    for path in figures.get("plots", []):
        click.echo(f"wrote {path}")
    if metrics["recorded_accuracy"] is not None:
        click.echo(f"\naccuracy recorded at training: {metrics['recorded_accuracy']:.4f}")
