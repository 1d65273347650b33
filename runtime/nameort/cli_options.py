"""Command-line options that several ``nameort`` commands share, defined once."""

import click

from .sessions import DEVICES

model_option = click.option(
    "--model", "model", default=None,
    help="A bundled model's name (german-italian, languages) or a model folder or .onnx file "
    "(default: german-italian).",
)
device_option = click.option(
    "--device", type=click.Choice(DEVICES), default="auto", show_default=True,
    help="auto uses CUDA only when a session really runs on it.",
)
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="CPU cores to use (default: all)."
)


def model_options(command):
    """--model, --device and --threads, for commands that load a model and run it in-process."""
    return model_option(device_option(threads_option(command)))


other_threshold_option = click.option(
    "--other-threshold", type=click.FloatRange(0, 1), default=None,
    help="Answer the background label ('other') from this probability on (default: the model's operating point).",
)
