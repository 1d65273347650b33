"""The ``nameort`` command line: parse, call the library, format.

Exit codes: 0 success, 2 usage or model error, 1 anything else (130 on Ctrl-C).
Results go to stdout, messages to stderr, never a traceback unless
NAMEORT_DEBUG=1. Commands that need torch import it only when they run.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import click

from . import csvio, output
from .cli_batch import batch
from .cli_models import models
from .cli_options import model_options, other_threshold_option
from .cli_pipeline import crossval, evaluate, export, train
from .cli_serve import serve
from .cli_web import web
from .errors import NameortError

FORMATS = ("text", "json", "jsonl", "csv")
# click >= 8.2 raises this for a group run without a command; older click prints the help itself.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class Main(click.Group):
    """The command group; every error, click's usage errors included, becomes one line and an exit code."""

    def main(self, args=None, prog_name=None, **extra):
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:
            # Bare `nameort` (or `nameort web`): the whole help, as click prints it, on stderr, exit 2.
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            fail(exc.format_message() + hint, code=exc.exit_code)
        except click.exceptions.Abort:
            fail("interrupted", code=130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except (NameortError, ValueError) as exc:
            fail(str(exc), code=2)
        except KeyboardInterrupt:
            fail("interrupted", code=130)
        except BrokenPipeError:
            # The reader went away (`nameort classify - | head`): not an error of ours.
            sys.stderr.close()
            sys.exit(0)
        except Exception as exc:
            if os.environ.get("NAMEORT_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (set NAMEORT_DEBUG=1 for a traceback)", code=1)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings (an unverified model, both ONNX Runtime wheels) as one stderr line, not Python's two."""
    click.echo(f"nameort: warning: {' '.join(str(message).split())}", err=True)


def fail(message: str, code: int):
    line = " ".join(str(message).split())  # one line, whatever the exception held
    click.echo(f"nameort: error: {line}", err=True)
    sys.exit(code)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nameort", prog_name="nameort")
def main():
    """Classify surnames by language of origin with a small ONNX model."""
    # Names from argv or stdin may hold undecodable bytes (as surrogate escapes);
    # write them back out byte for byte instead of failing on them.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def load_classifier(model, device, threads):
    from .classifier import Classifier

    return Classifier.load(model, device=device, threads=threads)


@main.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Also list the k most likely labels.")
@click.option(
    "--threshold", type=click.FloatRange(0, 1), default=None,
    help="Below this confidence the label is 'unknown'.",
)
@click.option("--encoding", default="utf-8", show_default=True,
              help="Encoding of stdin with '-' (a UTF-8 BOM is tolerated).")
@other_threshold_option
@model_options
def classify(names, fmt, top_k, threshold, encoding, other_threshold, model, device, threads):
    """Classify NAMES (or '-' to read one name per line from stdin)."""
    if csvio.STDIO in names:
        if names != (csvio.STDIO,):
            raise click.UsageError("'-' (read names from stdin) must be the only NAMES argument")
        names = read_stdin_names(encoding)
    classifier = load_classifier(model, device, threads)
    if top_k is not None and top_k > len(classifier.labels):
        raise click.BadParameter(f"the model has {len(classifier.labels)} labels", param_hint="--top-k")
    predictions = classifier.predict_many(names, top_k=top_k, threshold=threshold, other_threshold=other_threshold)
    output.write_predictions(predictions, fmt, classifier.labels, sys.stdout)


def read_stdin_names(encoding: str = "utf-8") -> list:
    """One name per line; only the line ending is removed, so nothing else changes.

    Decoded strictly, like ``nameort batch``'s input: undecodable bytes stop
    the command with their line number and the ``--encoding`` hint instead of
    becoming names nobody typed.
    """
    source = csvio.Source(csvio.STDIO, encoding)
    names = []
    try:
        for line in source.lines:
            names.append(line.rstrip("\r\n"))
    except UnicodeDecodeError as exc:
        raise source.decode_error(exc, len(names)) from None
    finally:
        source.close()
    return names


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@model_options
def info(as_json, model, device, threads):
    """Show the model (labels, vocabulary, metrics, checksum) and the execution providers."""
    from . import sessions
    from .bundled import bundled_name

    classifier = load_classifier(model, device, threads)
    card = classifier.card
    facts = {
        "name": bundled_name(card.model_path),  # the bundled model's name; None for a folder or file
        "model": str(card.model_path),
        "sha256": card.model_sha256,
        "labels": list(card.labels),
        "vocabulary": card.rules.characters,
        "vocabulary_size": len(card.rules.characters),
        "sequence_length": card.rules.sequence_length,
        "normalization": card.rules.normalization,
        "title_single_case": card.rules.title_single_case,  # ROSSI, rossi read as Rossi
        "metrics": card.metrics,
        "preset": card.training.get("preset"),
        # The architecture training recorded (cell, layers, units, head) and how many networks were merged into it.
        "network": _network(card.training),
        "decision": card.decision.to_json() or None,  # temperature, background label, operating point
        "verified": card.verified,
        "providers_available": sessions.available_providers(),
        "provider_active": classifier.provider,
        "threads": classifier.threads,
    }
    if as_json:
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
    else:
        output.write_info(facts, sys.stdout)


def _network(training: dict) -> dict | None:
    model = training.get("model")
    if not model:
        return None
    return {**model, "ensemble": (training.get("config") or {}).get("ensemble", 1)}


# Commands that live in their own modules. Importing them is cheap: torch, onnx
# and Dask load only when their command runs.
for _command in (batch, train, export, evaluate, crossval, web, serve, models):
    main.add_command(_command)
