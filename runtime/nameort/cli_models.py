"""``nameort models``: the bundled models, by the names ``--model`` takes.

A broken bundled model (missing file, sidecar that does not match) is a
ModelError, which the ``main`` group prints as one line (exit 2).
"""

from __future__ import annotations

import json

import click

from . import sidecar
from .bundled import list_bundled
from .errors import ModelError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def models(as_json):
    """List the bundled models: name, labels, size, default, description.

    Use one by name with --model NAME (classify, batch, info, evaluate, web build)
    or Classifier.load(NAME); a folder or .onnx file works wherever a name does.
    """
    found = list_bundled()
    if not found:
        raise ModelError(f"no bundled models in {sidecar.BUNDLED_MODELS_DIR}; reinstall nameort")
    if as_json:
        click.echo(json.dumps([m.to_json() for m in found], indent=2, ensure_ascii=False))
        return
    blocks = []
    for m in found:
        labels = ", ".join(m.labels) + (f" ({len(m.labels)})" if len(m.labels) > 4 else "")
        if m.other_label:
            labels += f"; '{m.other_label}' means none of the others"
        blocks.append("\n".join([
            m.name + ("  (default)" if m.default else ""),
            f"  labels:  {labels}",
            f"  size:    {m.model_bytes:,} bytes (model.onnx) + {m.sidecar_bytes:,} bytes (sidecar)",
            f"  about:   {m.description}",
        ]))
    click.echo("\n\n".join(blocks))
