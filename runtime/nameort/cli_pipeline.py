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


@click.command()
@_data_option
@click.option("--labels", default="German,Italian", show_default=True, help="Comma-separated label files, or 'all'.")
@click.option("--out", "run_dir", required=True, help="Run folder for checkpoint.pt and metrics.json.")
@click.option("--preset", default=None, help="small (default: fast, 1x64 RNN, last-step head) or seed (the notebook's).")
@click.option("--epochs", type=int, default=None, help="Upper bound on epochs (early stopping may end sooner).")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None, help="Learning rate (AdamW).")
@click.option("--hidden", type=int, default=None, help="RNN hidden size.")
@click.option("--layers", type=int, default=None, help="Stacked RNN layers.")
@click.option("--dropout", type=float, default=None)
@click.option("--seed", type=int, default=None, help="Drives split, initialisation, dropout and batch order (default 0).")
@click.option("--patience", type=int, default=None, help="Stop after this many epochs without validation gain.")
@click.option("--shared", type=click.Choice(["drop", "keep"]), default=None,
              help="Spellings under several labels: drop them (default) or keep them under each.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads (default 1: fastest for these models).")
@click.option("--quiet", is_flag=True, help="No per-epoch progress lines.")
@click.option("--force", is_flag=True, help="Train into an --out folder that is not empty (its run is overwritten).")
def train(data_dir, labels, run_dir, preset, epochs, batch_size, lr, hidden, layers, dropout, seed, patience,
          shared, device, threads, quiet, force):
    """Train a surname classifier; writes RUN_DIR/checkpoint.pt and RUN_DIR/metrics.json."""
    _require("train", "torch")
    if not force:
        _refuse_used_run_dir(Path(run_dir))
    from nameort_train.config import DEFAULT_PRESET, preset_config
    from nameort_train.data import resolve_labels
    from nameort_train.train import train as run_training

    config = preset_config(
        preset or DEFAULT_PRESET,
        labels=resolve_labels(labels, data_dir),
        shared=shared,
        seed=seed,
        hidden_size=hidden,
        num_layers=layers,
        dropout=dropout,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        device=device,
        threads=threads,
    )
    progress = None if quiet else (lambda stats: click.echo(stats.line(), err=True))
    checkpoint = run_training(Path(data_dir), config, Path(run_dir), on_epoch=progress)
    m = checkpoint.metrics
    click.echo(
        f"test accuracy {m['test_accuracy']:.4f} ({m['count']} names), best epoch {m['best_epoch']} of "
        f"{m['epochs_run']}, {m['seconds_per_epoch']:.2f} s/epoch on {m['device']}; wrote {Path(run_dir) / 'checkpoint.pt'}"
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
@click.argument("model_dir")
@_data_option
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--allow-changed-data", is_flag=True,
              help="Score even when the data files differ from those recorded at training (warns).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
def evaluate(model_dir, data_dir, split, as_json, allow_changed_data, device):
    """Score MODEL_DIR on the split recorded in its sidecar, through the ONNX runtime."""
    from nameort_export.evaluate import evaluate_model
    from nameort_train.metrics import format_metrics

    metrics = evaluate_model(model_dir, data_dir, split=split, allow_changed_data=allow_changed_data, device=device)
    if as_json:
        click.echo(json.dumps(metrics, indent=2, ensure_ascii=False))
        return
    click.echo(f"{metrics['model']} on the {split} split ({metrics['provider']})")
    click.echo(format_metrics(metrics))
    if metrics["recorded_accuracy"] is not None:
        click.echo(f"\naccuracy recorded at training: {metrics['recorded_accuracy']:.4f}")
