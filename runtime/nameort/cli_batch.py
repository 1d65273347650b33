"""``nameort batch``: classify the name column of a CSV or Parquet file (the work is in ``nameort.batch``).

This module draws the progress bar and the summary line on stderr; errors
become one ``nameort: error:`` line through the ``Main`` group in ``cli``.
It imports nothing from ``cli``, so ``cli`` can register it without a cycle.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time

import click

from .batch import DEFAULT_BATCH_SIZE, FORMATS, INPUT_FORMATS, ON_BAD_ROWS, Progress, classify_csv
from .cli_options import device_option, model_option, other_threshold_option

REDRAW_SECONDS = 0.2  # progress bar redraws at most this often on a terminal
LOG_SECONDS = 10.0  # a progress line this often when asked for on a non-terminal
BAR_WIDTH = 24


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", "output_path", required=True, metavar="OUTPUT",
              help="Output file, or - for stdout. Written beside, moved into place only on success.")
@click.option("-c", "--column", required=True, metavar="NAME_OR_POSITION",
              help="The name column: a header name, or a 1-based position (a header name wins).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format: csv (the input's columns plus nameort_* columns), jsonl (one object per row) "
              "or parquet (typed columns; needs pip install 'nameort[parquet]') [default: from OUTPUT's "
              "extension, else csv].")
@click.option("--input-format", type=click.Choice(INPUT_FORMATS), default=None,
              help="csv or parquet [default: from INPUT's extension (.parquet), else csv].")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Add the k most likely labels.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Below this confidence the label is 'unknown'.")
@other_threshold_option
@click.option("--probabilities", is_flag=True, help="Add a probability column per label.")
@click.option("--encoding", default="utf-8", show_default=True,
              help="Input encoding (a UTF-8 BOM is tolerated). The output is UTF-8.")
@click.option("--delimiter", default=None,
              help="Field delimiter, also used for the output [default: tab for .tsv, else ','; 'tab' for tab].")
@click.option("--no-header", is_flag=True, help="The first row is data: no header in, none out.")
@click.option("--on-bad-rows", type=click.Choice(ON_BAD_ROWS), default="error", show_default=True,
              help="Rows with the wrong number of fields: stop, skip (counted), or keep with status bad_row.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True,
              help="Rows read, classified and written together.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes for a split CSV file, else model threads; with --engine dask, worker "
              "processes of the LocalCluster [default: all cores].")
@click.option("--split/--no-split", default=None,
              help="Cut a CSV file into byte ranges, one worker process each (same output) [default: for a CSV "
              "file of 8 MiB or more, on the CPU].")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: this process; dask: a Dask cluster, same output (needs pip install 'nameort[dask]').")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="With --engine dask: the scheduler to use (tcp://HOST:8786) [default: a LocalCluster].")
@click.option("--blocksize", type=click.IntRange(min=1), default=None, metavar="BYTES",
              help="With --engine dask: input bytes per partition [default: 16 MiB, less for small files].")
@click.option("--progress/--quiet", "show_progress", default=None,
              help="Progress bar and summary on stderr [default: when stderr is a terminal].")
@model_option
@device_option
def batch(input_path, output_path, column, fmt, input_format, top_k, threshold, other_threshold, probabilities,
          encoding, delimiter, no_header, on_bad_rows, batch_size, workers, split, engine, scheduler, blocksize,
          show_progress, model, device):
    """Classify the names in one column of INPUT (a CSV or Parquet file, or - for CSV on stdin).

    Every row is written to OUTPUT in input order with its fields unchanged,
    followed by nameort_label, nameort_confidence, nameort_status and
    nameort_unknown_chars (and top-k / probability columns when asked).
    OUTPUT appears only when the whole file is done.
    """
    run, engine_options = classify_csv, {"workers": workers, "input_format": input_format, "split": split}
    if engine == "dask":
        if split is not None:
            raise ValueError("--split is the local engine's; the dask engine always splits (see --blocksize)")
        if scheduler is not None and workers is not None:
            raise ValueError("--workers sizes the LocalCluster started without --scheduler; give one of them")
        from .dask_engine import DEFAULT_BLOCKSIZE
        from .dask_engine import classify_csv as run  # one line naming the extra when Dask is missing

        if "parquet" in (input_format, fmt) or any(
            str(path).lower().endswith((".parquet", ".pq")) for path in (input_path, output_path)
        ):
            raise ValueError("--engine dask reads and writes CSV or JSONL; use the local engine for Parquet")
        engine_options = {"workers": workers, "client": scheduler, "blocksize": blocksize or DEFAULT_BLOCKSIZE}
    elif scheduler is not None or blocksize is not None:
        raise ValueError("--scheduler and --blocksize need --engine dask")
    tty = _isatty(sys.stderr)
    if show_progress is None:
        show_progress = tty
    bar = _ProgressBar(sys.stderr, tty) if show_progress else None
    with _terminate_as_exit():
        try:
            summary = run(
                input_path, output_path, column, model=model, device=device, top_k=top_k, threshold=threshold,
                other_threshold=other_threshold, probabilities=probabilities, fmt=fmt, encoding=encoding,
                delimiter=delimiter, header=not no_header,
                on_bad_rows=on_bad_rows, batch_size=batch_size, progress=bar, **engine_options,
            )
        finally:
            if bar is not None:
                bar.clear()
    if show_progress:
        where = "" if output_path == "-" else f"{output_path}: "
        click.echo(f"nameort: {where}{summary.text()}", err=True)


class _ProgressBar:
    """Draws ``Progress`` on one terminal line, or as an occasional log line elsewhere."""

    def __init__(self, stream, tty: bool):
        self.stream, self.tty = stream, tty
        self.last = 0.0 if tty else time.monotonic()  # a log gets its first line after LOG_SECONDS
        self.drawn = False

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self.last < (REDRAW_SECONDS if self.tty else LOG_SECONDS):
            return
        self.last = now
        text = self.render(p)
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
            self.drawn = True
        else:
            self.stream.write(f"nameort: {text}\n")
        self.stream.flush()

    @staticmethod
    def render(p: Progress) -> str:
        rate = p.rows / p.seconds if p.seconds > 0 else 0.0
        text = f"{p.rows:,} rows  {rate:,.0f} rows/s"
        if p.total_bytes:
            done = min(1.0, p.bytes_read / p.total_bytes)
            filled = int(done * BAR_WIDTH)
            bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
            text = f"[{bar}] {done:4.0%}  {text}"
            if 0 < done < 1:
                text += f"  ETA {_duration(p.seconds * (1 - done) / done)}"
        return text

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _isatty(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _terminate_as_exit():
    """Turn SIGTERM into SystemExit(143) so ``finally`` blocks remove the temporary output."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
