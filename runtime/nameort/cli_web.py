"""``nameort web``: the model as a static web page (see ``webbuild``).

Errors are NameortErrors, which the ``main`` group prints as one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_options import model_option


@click.group()
def web():
    """Run the model in a browser: build a static page on onnxruntime-web."""


@web.command()
@click.argument("out_dir", type=click.Path(path_type=Path))
@model_option
@click.option(
    "--web-dir", type=click.Path(path_type=Path), default=None,
    help="The page sources with their node_modules (default: the repository's web/ folder).",
)
def build(out_dir, model, web_dir):
    """Write a self-contained static site for the model into OUT_DIR.

    --model takes a bundled model's name (see `nameort models`), a model folder or
    a .onnx file; the default is the default bundled model.

    OUT_DIR must be new, empty, or an earlier build (whose files are replaced). Serve
    it with any static server, e.g. `python -m http.server -d OUT_DIR`, and open
    it over http (not file://). Needs `npm ci --prefix web` once.
    """
    from .webbuild import build_site

    result = build_site(out_dir, model=model, web_dir=web_dir)
    model_bytes = sum(size for path, size in result.files.items() if path.startswith("model/"))
    name = f"{result.model_name}: " if result.model_name else ""
    click.echo(
        f"wrote {result.out_dir}: {len(result.files)} files, {result.total_bytes:,} bytes "
        f"(model {name}{model_bytes:,} bytes, labels {', '.join(result.labels)}; "
        f"onnxruntime-web {result.onnxruntime_web})"
    )
