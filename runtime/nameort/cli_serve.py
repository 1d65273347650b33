"""``nameort serve``: the model as an HTTP service (see ``nameort.serve`` and docs/serve.md).

The model argument is checked here (found, sidecar readable) before a socket
is opened, so a typo is one line and exit 2, not a server that never gets
healthy. The model itself loads in each worker process.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from .cli_options import device_option, model_option
from .serve import settings as defaults


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, printed when listening).")
@model_option
@device_option
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes, each with its own copy of the model.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU cores each worker's model uses for large requests (default: cores / workers).")
@click.option("--max-names", type=click.IntRange(min=1), default=defaults.DEFAULT_MAX_NAMES, show_default=True,
              help="Most names in one POST.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=defaults.DEFAULT_MAX_BODY_BYTES,
              show_default=True, help="Largest request body; larger ones get 413 before they are read.")
@click.option("--read-timeout", type=click.FloatRange(min=0, min_open=True), default=defaults.DEFAULT_READ_TIMEOUT,
              show_default=True,
              help="Seconds a client has to send a request's headers (else the connection is closed), "
              "and again its body (else 408).")
@click.option("--limit-concurrency", type=click.IntRange(min=1), default=defaults.DEFAULT_LIMIT_CONCURRENCY,
              show_default=True, help="Connections and requests per worker before new ones get 503.")
@click.option("--keep-alive", type=click.IntRange(min=1), default=defaults.DEFAULT_KEEP_ALIVE, show_default=True,
              help="Seconds an idle keep-alive connection stays open.")
@click.option("--graceful-timeout", type=click.IntRange(min=1), default=defaults.DEFAULT_GRACEFUL_TIMEOUT,
              show_default=True, help="Seconds SIGTERM waits for in-flight requests.")
@click.option("--api-key", envvar=defaults.API_KEY_ENV, default=None, show_envvar=True,
              help="Require this key on /v1/* (Authorization: Bearer KEY, or X-API-Key: KEY).")
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="Allow browser pages from this origin (repeatable; '*' for any). CORS is off without it.")
@click.option("--access-log", is_flag=True, help="Log every request to stderr.")
@click.option("--loop", type=click.Choice(["auto", "asyncio", "uvloop"]), default="auto", hidden=True)
@click.option("--http", type=click.Choice(["auto", "h11", "httptools"]), default="auto", hidden=True)
def serve(host, port, model, device, workers, threads, max_names, max_body_bytes, read_timeout, limit_concurrency,
          keep_alive, graceful_timeout, api_key, cors_origins, access_log, loop, http):
    """Serve the model over HTTP: GET/POST /v1/classify, /v1/model, /healthz, /docs.

    Binds to 127.0.0.1 unless --host says otherwise. Prints the address at once
    and, per worker, the model's sha256 when it is ready. SIGTERM (or Ctrl-C)
    finishes the requests in flight and exits 0.
    """
    from .serve import require_stack

    require_stack()
    from .serve import runner
    from .serve.settings import Settings
    from .sidecar import read_card, resolve_model_path

    path = resolve_model_path(model)
    read_card(path, verify_checksum=False)  # the worker verifies the checksum over the bytes it loads
    if api_key is not None and not api_key.strip():
        raise click.BadParameter("the API key is empty", param_hint="--api-key")
    if threads is None and workers > 1:
        threads = max(1, _cores() // workers)
    settings = Settings(
        model=model,
        model_name=_model_name(model, path),
        device=device,
        threads=threads,
        max_names=max_names,
        max_body_bytes=max_body_bytes,
        read_timeout=read_timeout,
        api_key=api_key,
        cors_origins=tuple(cors_origins),
        workers=workers,
    )
    runner.run(
        settings, host=host, port=port, limit_concurrency=limit_concurrency, keep_alive=keep_alive,
        graceful_timeout=graceful_timeout, access_log=access_log, log_level="info" if access_log else "warning",
        loop=loop, http=http, announce=lambda line: click.echo(line),
    )


def _model_name(model, path: Path) -> str:
    """A bundled model by its name, any other by its file name: server paths are not shown to clients."""
    from .sidecar import BUNDLED_MODELS_DIR, DEFAULT_MODEL

    if model is None:
        return DEFAULT_MODEL
    if path.parent.parent == BUNDLED_MODELS_DIR:
        return path.parent.name
    return path.name if path.name != "model.onnx" else f"{path.parent.name}/{path.name}"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
