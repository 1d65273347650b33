"""Batch classification on Dask: the same job as ``nameort batch``, spread over worker processes.

Needs the ``dask`` extra (``pip install 'nameort[dask]'``); nothing else in
nameort imports this module, so the runtime without it stays as it was.

Two entry points:

* ``classify_csv(src, dst, column, ...)``: a CSV file (a path every worker can
  read, or an fsspec URL) into one output file (``single_file=True``, written
  by the caller's process in input order) or a folder of part files. The
  output is byte for byte what ``nameort batch`` writes for the same input
  and model: each partition is run through ``nameort.batch``'s own reading,
  classifying and formatting code.
* ``classify_frame(ddf, column, ...)``: a Dask DataFrame you already have, with
  the result columns ``nameort batch`` appends added on the right (as the
  strings ``nameort batch`` writes, for example ``"0.912345"``).

Splitting a CSV file by bytes is where Dask's own ``read_csv`` goes wrong: it
cuts blocks at the first line break after each block boundary, and a quoted
field holding a line break may straddle that point. Here each boundary is a
line break with an even number of quote characters before it (pass one
counts them per block, on the workers), and every boundary is then *checked*:
a partition is parsed with the csv module from a boundary already known to be
right, and if its last record is still open at the end of its byte range (a
quote inside an unquoted field breaks the counting rule), the partition is
run again merged with the next one. Output is never taken from a partition
whose start has not been confirmed this way, so an unlucky split costs time,
never correctness.

Each worker process loads the model once (an ONNX Runtime session cannot be
pickled) into a per-process cache keyed by the model's sha256, with one
intra-op and one inter-op thread. With a distributed client the model's bytes
travel to the workers in a worker plugin and are written to each worker's
local directory, so workers need not see the client's files (workers that
join later get the plugin too). The input and, with ``single_file=False``,
the output folder must be reachable from the workers under the same path or
URL.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
import os
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MissingDependencyError

INSTALL_HINT = "pip install 'nameort[dask]'"

try:
    import distributed
    import fsspec
    import numpy as np
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as exc:  # the extra is not installed
    raise MissingDependencyError(f"the dask engine needs Dask ({exc.name or exc} is missing): {INSTALL_HINT}") from None

from . import batch, csvio
from .errors import InputError, ModelError, NameortError, OutputError
from .sidecar import MODEL_FILENAME, file_sha256, read_card, resolve_model_path, sidecar_path_for

log = logging.getLogger(__name__)

DEFAULT_BLOCKSIZE = 16 << 20  # bytes of input per partition, at most
MIN_BLOCKSIZE = 1 << 20  # a small file is split finer than the default, but not below this
PARTITIONS_PER_WORKER = 4  # aim for this many partitions per worker thread on smaller files
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before giving up
QUOTE, NEWLINE = 0x22, 0x0A  # the csv module's default quote character, and the byte blocks are cut after
PART_NAME = "part-{:05d}"  # part files of single_file=False, numbered in input order


# ---------------------------------------------------------------------------
# The model on the workers: shipped once per worker, loaded once per process.

@dataclass(frozen=True)
class ModelRef:
    """What a task needs to find the model: its checksum, the client's path, the device."""

    sha256: str
    path: str  # where the client read it; used only when no plugin shipped it to this process
    device: str = "auto"


_models: dict = {}  # sha256 -> Classifier (this process)
_sessions_opened: Counter = Counter()  # sha256 -> sessions opened (the cache makes this 1)
_loaded_from: dict = {}  # sha256 -> the file each model was loaded from
_shipped: dict = {}  # sha256 -> folder a ModelPlugin wrote the model to (this process)
_lock = threading.Lock()


def cached_classifier(ref: ModelRef):
    """This process's Classifier for ``ref``: loaded on first use, single-threaded, then reused."""
    with _lock:
        clf = _models.get(ref.sha256)
        if clf is None:
            from .classifier import Classifier

            path = _shipped.get(ref.sha256) or ref.path
            try:
                clf = Classifier.load(path, device=ref.device, threads=1)
            except ModelError as exc:
                where = "shipped copy" if ref.sha256 in _shipped else "path given by the client"
                raise ModelError(f"worker cannot load the model from its {where} ({exc})") from None
            if clf.card.model_sha256 != ref.sha256:
                raise ModelError(f"{path} is not the model the client asked for (sha256 {ref.sha256[:12]}...)")
            _models[ref.sha256] = clf
            _sessions_opened[ref.sha256] += len(clf._sessions)
            _loaded_from[ref.sha256] = str(clf.card.model_path)
        return clf


def model_cache_info() -> dict:
    """This process's cache: sessions opened and file loaded, per model sha256 (for tests and ``client.run``)."""
    with _lock:
        return {
            "sessions": dict(_sessions_opened),
            "loaded_from": dict(_loaded_from),
            "shipped": {sha: str(path) for sha, path in _shipped.items()},
        }


class ModelPlugin(WorkerPlugin):
    """Carries a model's bytes to every worker, present and future, and writes them to its local folder."""

    idempotent = True  # registering the same model twice sends nothing new to the workers

    def __init__(self, sha256: str, model_bytes: bytes, sidecar_bytes: bytes):
        self.name = f"nameort-model-{sha256[:20]}"
        self.sha256 = sha256
        self.model_bytes = model_bytes
        self.sidecar_bytes = sidecar_bytes

    @classmethod
    def from_card(cls, card) -> "ModelPlugin":
        return cls(card.model_sha256, card.model_path.read_bytes(), card.sidecar_path.read_bytes())

    def setup(self, worker):
        folder = Path(worker.local_directory) / "nameort-models" / self.sha256
        write_model_files(folder, self.model_bytes, self.sidecar_bytes, self.sha256)
        with _lock:
            _shipped[self.sha256] = folder


def write_model_files(folder: Path, model_bytes: bytes, sidecar_bytes: bytes, sha256: str) -> None:
    """``model.onnx`` and its sidecar into ``folder``, each written whole then renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_FILENAME
    if target.is_file() and file_sha256(target) == sha256 and sidecar_path_for(target).is_file():
        return
    for path, data in ((target, model_bytes), (sidecar_path_for(target), sidecar_bytes)):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        temp.write_bytes(data)
        os.replace(temp, path)
    if file_sha256(target) != sha256:
        raise ModelError(f"the model shipped to {folder} does not match its checksum")


def ship_model(client, card) -> None:
    """Register the plugin for ``card``'s model on ``client``'s cluster (once per client and model)."""
    shipped = client.__dict__.setdefault("_nameort_models", set())
    if card.model_sha256 not in shipped:
        client.register_plugin(ModelPlugin.from_card(card))
        shipped.add(card.model_sha256)


def _card(model):
    """The checked ModelCard of a model argument: None (bundled), a folder, a .onnx file, or a Classifier."""
    from .classifier import Classifier

    if isinstance(model, Classifier):
        return model.card
    return read_card(resolve_model_path(model))


def _ref(card, device: str, client) -> ModelRef:
    """How tasks find ``card``'s model; ships it to ``client``'s workers when there is a client."""
    if client is not None:
        ship_model(client, card)
    return ModelRef(card.model_sha256, str(Path(card.model_path).resolve()), device)


# ---------------------------------------------------------------------------
# Clusters and clients.

def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """A Client for the scheduler at ``address``; a one-line NameortError when it cannot be reached.

    A plain TCP connection is tried first, so "nothing listens there" fails at
    once instead of after Dask's retries; all waiting together is bounded by
    ``timeout`` (give or take half a second).
    """
    deadline = time.monotonic() + timeout

    def left() -> float:  # the three steps share one time budget
        return max(0.5, deadline - time.monotonic())

    _probe(address, left())
    _identify(address, left())
    try:
        return distributed.Client(address, timeout=left(), set_as_default=False)
    except (OSError, ValueError) as exc:
        raise NameortError(f"cannot connect to the Dask scheduler at {address}: {_one_line(exc)}") from None


def _identify(address: str, timeout: float) -> None:
    """Ask whatever listens at ``address`` who it is, before a Client is made.

    A Client whose start fails cannot be closed and later hangs the interpreter's
    exit for seconds, printing a traceback; a web server (the dashboard's port,
    8787) answers Dask's handshake with bytes it misreads as a huge frame.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.core import rpc

    async def identity():
        async with rpc(address, timeout=timeout) as scheduler:
            return await asyncio.wait_for(scheduler.identity(), timeout)

    with ThreadPoolExecutor(1) as pool:  # its own event loop, even when the caller runs one
        try:
            info = pool.submit(asyncio.run, identity()).result()
        except (OSError, asyncio.TimeoutError) as exc:  # something accepted the connection (see _probe)
            raise NameortError(
                f"the server at {address} did not answer as a Dask scheduler within {timeout:.2g} s "
                f"({_one_line(exc)}); the scheduler usually listens on port 8786 (8787 is its dashboard)"
            ) from None
        except Exception as exc:  # it answered, with something that is not Dask's protocol
            raise NameortError(
                f"the server at {address} did not answer as a Dask scheduler ({type(exc).__name__}: "
                f"{_one_line(exc)[:120]}); the scheduler usually listens on port 8786 (8787 is its dashboard)"
            ) from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise NameortError(f"{address} is a Dask {kind or 'server'}, not the scheduler; give the scheduler's address")


def _probe(address: str, timeout: float) -> None:
    """Fail fast, in one line, when nothing accepts TCP connections at a tcp:// or tls:// address."""
    import socket

    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return  # other transports (ucx, inproc, ...) are left to distributed
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise NameortError(f"bad Dask scheduler address {address!r}: {_one_line(exc)}") from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        raise NameortError(
            f"no Dask scheduler at {address}: connection refused; is it running, and is that its address?"
        ) from None
    except socket.gaierror as exc:
        raise NameortError(f"no Dask scheduler at {address}: unknown host {host!r} ({exc.strerror or exc})") from None
    except TimeoutError:
        raise NameortError(f"no Dask scheduler at {address}: no answer within {timeout:.2g} s") from None
    except OSError as exc:
        raise NameortError(f"no Dask scheduler at {address}: {exc.strerror or _one_line(exc)}") from None


def local_cluster(workers: int | None = None):
    """A LocalCluster of ``workers`` single-threaded worker processes (default: one per core) and a Client."""
    from .classifier import default_threads

    cluster = distributed.LocalCluster(
        n_workers=workers or default_threads(),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # No dashboard; the scheduler's small HTTP server (health, metrics) on any free port,
        # not 8787: another cluster there would make Dask warn on stderr.
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        plugins={_IgnoreInterrupts()},
    )
    return cluster, distributed.Client(cluster, set_as_default=False)


class _IgnoreInterrupts(WorkerPlugin):
    """Ctrl-C in a terminal reaches every process of the group: a LocalCluster's workers leave it to
    the process that started them, which closes the cluster (instead of each printing a traceback)."""

    name = "nameort-ignore-interrupts"

    def setup(self, worker):
        import signal

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _client_for(client, workers):
    """The client to use: the one given, one connected to an address, the default one, or a new LocalCluster."""
    if isinstance(client, str):
        own = connect(client)
        try:
            yield own
        finally:
            own.close()
        return
    if client is None:
        client = _default_client()
    if client is not None:
        yield client
        return
    cluster, own = local_cluster(workers)
    try:
        yield own
    finally:
        own.close()
        cluster.close()


def _default_client():
    try:
        return distributed.default_client()
    except ValueError:
        return None


def _one_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------
# classify_frame: a Dask DataFrame in, the same DataFrame with result columns out.

def classify_frame(
    ddf,
    column,
    *,
    model=None,
    top_k: int | None = None,
    threshold: float | None = None,
    probabilities: bool = False,
    device: str = "auto",
    client=None,
):
    """``ddf`` with the result columns ``nameort batch`` appends, computed lazily, partition by partition.

    ``column``: a column name, or a 1-based position (a name wins). The new
    columns (``nameort_label``, ``nameort_confidence``, ``nameort_status``,
    ``nameort_unknown_chars``, then ``nameort_top<i>_label`` /
    ``nameort_top<i>_probability`` with ``top_k`` and ``nameort_p_<label>``
    with ``probabilities``) hold the very strings ``nameort batch`` writes:
    ``pd.to_numeric`` them for arithmetic. A missing value in the name column
    counts as an empty name. Read CSV files with ``dtype=str,
    keep_default_na=False, na_filter=False`` so that "NA", "NULL", "None" and
    leading zeros stay as written (``classify_csv`` does all of this, and
    splits files with quoted line breaks safely). ``client``: the distributed
    client that will compute the result (default: the current default
    client, if any): the model is shipped to its workers now, so compute on
    that client (``client.compute(result)``, or ``result.compute()`` when it
    is the default one). Without a distributed client the result computes on
    Dask's local schedulers, loading the model from its path.
    """
    dd, pd = _dataframe_modules()  # only here: classify_csv needs neither, nor do its workers
    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(f"classify_frame needs a dask DataFrame, not {type(ddf).__name__}")
    batch._check_options("csv", "error", top_k, 1, None, threshold, 0)
    columns = [str(c) for c in ddf.columns]
    batch._refuse_prefixed(columns, "the DataFrame")
    index = batch._column_index(column, columns, None, "the DataFrame")
    card = _card(model)
    ref = _ref(card, device, client if client is not None else _default_client())
    if top_k is not None and top_k > len(card.labels):
        raise ValueError(f"top_k must be between 1 and {len(card.labels)} (the number of labels), not {top_k}")
    names = batch.result_columns(card.labels, top_k, probabilities)
    meta = ddf._meta.assign(**{name: pd.Series([], dtype=_str_dtype(pd)) for name in names})
    return ddf.map_partitions(
        _classify_pandas, ddf.columns[index], ref, top_k, threshold, probabilities, names, meta=meta,
        token=f"nameort-{ref.sha256[:12]}",
    )


def _dataframe_modules():
    try:
        import dask.dataframe as dd
        import pandas as pd
    except ImportError as exc:
        raise MissingDependencyError(
            f"classify_frame needs dask.dataframe ({exc.name or exc} is missing): {INSTALL_HINT}"
        ) from None
    return dd, pd


def _str_dtype(pd):
    """What pandas makes of Python strings here: object, or the "str" dtype of pandas 3."""
    return pd.Series(["x"]).dtype


def _classify_pandas(part, column, ref, top_k, threshold, probabilities, names):
    """In a task: one pandas partition with the result columns added."""
    import pandas as pd

    clf = cached_classifier(ref)
    values = part[column]
    texts = ["" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in values.tolist()]
    cells = batch.result_cells(clf, texts, top_k=top_k, threshold=threshold, probabilities=probabilities)
    by_column = list(zip(*cells)) if cells else [() for _ in names]
    dtype = _str_dtype(pd)
    added = pd.DataFrame({name: pd.Series(col, index=part.index, dtype=dtype) for name, col in zip(names, by_column)})
    return pd.concat([part, added], axis=1)


# ---------------------------------------------------------------------------
# classify_csv: a CSV file in, the file `nameort batch` would write out.

@dataclass(frozen=True)
class DaskSummary(batch.Summary):
    """A ``batch.Summary`` plus how the work was split and where its time went."""

    partitions: int = 0  # partitions written
    remerged: int = 0  # partitions run again merged with the next (a boundary inside a record)
    workers: int = 0  # worker threads in the cluster
    timings: dict = field(default_factory=dict)  # seconds: startup, scan, tasks (summed), write, ...


@dataclass(frozen=True)
class _Plan:
    """Everything a partition task needs besides its byte range; small, sent with every task."""

    url: str
    name: str  # the input as the user named it, for messages
    encoding: str
    first_codec: str  # decodes the start of the file (a UTF-8 BOM is dropped)
    codec: str  # decodes every later partition
    delimiter: str
    line_ending: str
    header: tuple | None
    width: int
    column: object
    col: int
    fmt: str
    top_k: int | None
    threshold: float | None
    probabilities: bool
    on_bad_rows: str
    batch_size: int
    memo_size: int
    model: ModelRef


@dataclass
class _PartResult:
    data: bytes | None  # the partition's output (single_file=True)
    path: str | None  # or where the task wrote it (single_file=False)
    rows: int = 0
    skipped: int = 0
    counts: dict = field(default_factory=dict)
    model_names: int = 0
    overran: bool = False  # its last record did not end at its byte range's end: merge and rerun
    timings: dict = field(default_factory=dict)
    error: Exception | None = None  # a NameortError for the user (returned, not raised: no worker log noise)


def classify_csv(
    src,
    dst,
    column,
    *,
    model=None,
    device: str = "auto",
    top_k: int | None = None,
    threshold: float | None = None,
    probabilities: bool = False,
    fmt: str = "csv",
    encoding: str = "utf-8",
    delimiter: str | None = None,
    header: bool = True,
    on_bad_rows: str = "error",
    batch_size: int = batch.DEFAULT_BATCH_SIZE,
    memo_size: int = batch.MEMO_SIZE,
    blocksize: int | None = DEFAULT_BLOCKSIZE,
    client=None,
    workers: int | None = None,
    single_file: bool = True,
    progress=None,
) -> DaskSummary:
    """Classify column ``column`` of CSV ``src`` on a Dask cluster; same output as ``nameort.batch.classify_csv``.

    ``src``: a path the workers can read under the same name, or an fsspec
    URL. ``dst``: with ``single_file`` (default) one file written by this
    process in input order, replaced only when the job succeeded (``"-"``:
    stdout); otherwise a folder that gets ``part-00000.csv``, ... (each with
    the header), written by the workers. ``client``: a
    ``distributed.Client``, a scheduler address, or None (the current
    default client, else a LocalCluster of ``workers`` single-threaded
    processes, closed at the end). ``blocksize``: input bytes per partition
    (None: one partition); smaller files are split finer so every worker has
    work. Other options as in ``nameort.batch.classify_csv``.
    """
    started = time.monotonic()
    batch._check_options(fmt, on_bad_rows, top_k, batch_size, workers, threshold, memo_size)
    if blocksize is not None and blocksize < 1:
        raise ValueError("blocksize must be at least 1 byte, or None for one partition")
    if src == csvio.STDIO:
        raise ValueError("the dask engine reads a file its workers can open, not standard input")
    if dst == csvio.STDIO and not single_file:
        raise ValueError("part files need an output folder, not standard output")
    delimiter = batch._delimiter(delimiter, src)
    url, fs, path = _locate(src)
    if single_file and not _is_url(dst):
        csvio.check_destination(src if not _is_url(src) else csvio.STDIO, dst)
    if csv.field_size_limit() < batch.FIELD_LIMIT:
        csv.field_size_limit(batch.FIELD_LIMIT)
    head = _read_head(fs, path, str(src), encoding, delimiter, header, column)
    card = _card(model)
    if top_k is not None and top_k > len(card.labels):
        raise ValueError(f"top_k must be between 1 and {len(card.labels)} (the number of labels), not {top_k}")

    timings = Counter()
    with _client_for(client, workers) as cl:
        timings["startup"] = time.monotonic() - started
        ref = _ref(card, device, cl)
        plan = _Plan(
            url=url, name=str(src), encoding=encoding, first_codec=head["first_codec"], codec=head["codec"],
            delimiter=delimiter, line_ending=head["line_ending"], header=head["header"], width=head["width"],
            column=column, col=head["col"], fmt=fmt, top_k=top_k, threshold=threshold,
            probabilities=probabilities, on_bad_rows=on_bad_rows, batch_size=batch_size, memo_size=memo_size,
            model=ref,
        )
        threads = max(1, sum(cl.nthreads().values()))
        size = head["size"]
        t = time.monotonic()
        bounds, lines = _boundaries(cl, fs, path, url, size, _blocksize(blocksize, size, threads), head["splittable"])
        timings["scan"] = time.monotonic() - t
        writer = _Writer(dst, fmt, single_file, fs_url=_is_url(dst))
        try:
            result = _run_parts(cl, plan, bounds, lines, size, writer, threads, progress, started, timings)
            writer.commit()
        finally:
            writer.discard()
    rows, skipped, counts, model_names, parts, remerged = result
    return DaskSummary(
        rows=rows, written=rows - skipped, skipped=skipped, statuses=dict(counts.most_common()),
        seconds=time.monotonic() - started, output=str(dst), model_names=model_names,
        partitions=parts, remerged=remerged, workers=threads, timings=dict(timings),
    )


def _is_url(path) -> bool:
    return isinstance(path, str) and "://" in path


def _locate(src):
    """(url the workers open, filesystem, path on it) for a local path or an fsspec URL."""
    if _is_url(src):
        fs, path = fsspec.core.url_to_fs(src)
        if not fs.exists(path):
            raise InputError(f"input not found: {src}")
        if fs.isdir(path):
            raise InputError(f"input {src} is a directory, not a file")
        return src, fs, path
    local = Path(src)
    if not local.exists():
        raise InputError(f"input not found: {src}")
    if local.is_dir():
        raise InputError(f"input {src} is a directory, not a file")
    fs, path = fsspec.core.url_to_fs(str(local.resolve()))
    return str(local.resolve()), fs, path


class _FileSource(csvio.Source):
    """``csvio.Source`` over an already open binary file (a local or fsspec file, or a byte range)."""

    def __init__(self, binary, name: str, encoding: str, decode_as: str, line_offset: int = 0):
        self.encoding = encoding
        self.decode_as = decode_as
        self.name = name
        self.size = None
        self.line_offset = line_offset  # lines of the file before this byte range
        self._counted = _Counting(binary)
        self.text = io.TextIOWrapper(
            io.BufferedReader(self._counted, buffer_size=csvio.READ_CHUNK),
            encoding=decode_as, errors="strict", newline="",
        )
        self.text._CHUNK_SIZE = csvio.READ_CHUNK
        self.line_ending = "\n"
        self.lines = iter(self.text)

    def consumed(self) -> int:
        return self._counted.count

    def decode_error(self, exc, lines_before):
        return super().decode_error(exc, lines_before + self.line_offset)

    def close(self) -> None:
        self.text.close()


class _Counting(io.RawIOBase):
    """A raw stream over a binary file that counts the bytes read (batch bounds its chunks by them)."""

    def __init__(self, binary):
        self.binary, self.count = binary, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.binary.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _codecs(encoding: str):
    """(codec for the start of the file, codec for the rest, can it be cut at newline bytes?)."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if codec.name == "utf-8":
        return "utf-8-sig", "utf-8", True
    # A single-byte code page decodes each byte on its own: cutting at b"\n" is safe. Others
    # (UTF-16, Shift-JIS, ...) are read as one partition.
    single = len(bytes(range(256)).decode(codec.name, errors="replace")) == 256 and "\n".encode(codec.name) == b"\n"
    return codec.name, codec.name, single


def _read_head(fs, path, name, encoding, delimiter, header, column) -> dict:
    """Check the header (or first row) and the column here, before any worker starts."""
    first_codec, codec, splittable = _codecs(encoding)
    with fs.open(path, "rb") as binary:
        source = _FileSource(binary, name, encoding, first_codec)
        source.sniff_line_ending()
        rows = batch._RowReader(csv.reader(source.lines, delimiter=delimiter), source, header, "error")
        col = rows.start(column)
        size = fs.size(path)
        return {
            "first_codec": first_codec, "codec": codec, "splittable": splittable, "size": size,
            "line_ending": source.line_ending, "header": tuple(rows.header) if rows.header is not None else None,
            "width": rows.width or 0, "col": col,
        }


def _blocksize(blocksize, size: int, threads: int) -> int | None:
    """Bytes per block: ``blocksize``, lowered on smaller files so each worker gets several partitions."""
    if blocksize is None:
        return None
    share = size // (threads * PARTITIONS_PER_WORKER)
    return max(1, min(blocksize, max(MIN_BLOCKSIZE, share))) if blocksize >= MIN_BLOCKSIZE else blocksize


def _boundaries(cl, fs, path, url, size, blocksize, splittable):
    """Partition starts (byte offsets, first 0) and the line breaks before each; pass one, on the workers."""
    if blocksize is None or not splittable or size <= blocksize:
        return [0], [0]
    starts = list(range(0, size, blocksize))
    futures = [
        cl.submit(scan_block, url, start, min(start + blocksize, size), pure=False, priority=10)
        for start in starts
    ]
    scans = cl.gather(futures)
    for scan in scans:
        if isinstance(scan, Exception):
            raise scan
    bounds, lines = [0], [0]
    quotes_before, newlines_before = 0, 0
    for start, (quotes, newlines, candidates) in zip(starts, scans):
        if start > 0:
            # Global parity at this block's start decides which local parity makes an even total.
            found = candidates[quotes_before & 1]
            if found is not None:
                offset, nl = found
                if offset < size:
                    bounds.append(offset)
                    lines.append(newlines_before + nl)
        quotes_before += quotes
        newlines_before += newlines
    return bounds, lines


def scan_block(url: str, start: int, end: int):
    """Pass one, in a task: quote and newline counts of bytes [start, end), and where records may start.

    ``candidates[p]`` is for a block whose preceding bytes hold a number of
    quotes of parity ``p``: the offset just after the first newline in the
    block with an even number of quotes before it in the whole file, and the
    newlines in the block up to it; None when there is none.
    """
    fs, path = fsspec.core.url_to_fs(url)
    try:
        raw = fs.cat_file(path, start=start, end=end)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        return _unreadable(url, exc)  # returned, not raised: no worker log noise
    data = np.frombuffer(raw, dtype=np.uint8)
    quotes = np.flatnonzero(data == QUOTE)
    newlines = np.flatnonzero(data == NEWLINE)
    candidates = [None, None]
    if len(newlines):
        local = np.searchsorted(quotes, newlines) & 1  # quotes before each newline, in this block, mod 2
        for before in (0, 1):
            hits = np.flatnonzero(local == before)  # even in total when the block starts with parity `before`
            if len(hits):
                i = int(hits[0])
                candidates[before] = (start + int(newlines[i]) + 1, i + 1)
    return len(quotes), len(newlines), candidates


class _Writer:
    """Where finished partitions go, in order: one atomic file (or stdout), or a folder of part files."""

    def __init__(self, dst, fmt, single_file, fs_url):
        self.dst, self.fmt, self.single_file = dst, fmt, single_file
        self.atomic = None
        self.out = None
        self.written = []
        self.suffix = ".jsonl" if fmt == "jsonl" else ".csv"
        if single_file:
            if dst == csvio.STDIO:
                import sys

                self.out = sys.stdout.buffer
            elif fs_url:
                raise ValueError("a single output file must be a local path (or -); use single_file=False for URLs")
            else:
                self.atomic = csvio.AtomicFile(dst)
                self.out = self.atomic.file.buffer
        else:
            self.fs, self.folder = fsspec.core.url_to_fs(str(dst) if fs_url else str(Path(dst).resolve()))
            if self.fs.exists(self.folder) and not self.fs.isdir(self.folder):
                raise OutputError(f"output {dst} is a file; part files need a folder")
            self.fs.makedirs(self.folder, exist_ok=True)
            self.url = str(dst) if fs_url else self.folder
            self.token = secrets.token_hex(4)

    def temp_path(self) -> str | None:
        """Where a task writes its part (single_file=False), under a name no finished part has."""
        if self.single_file:
            return None
        return f"{self.url.rstrip('/')}/.part-{self.token}-{secrets.token_hex(6)}{self.suffix}.nameort-tmp"

    def write(self, result: _PartResult) -> None:
        if self.single_file:
            try:
                self.out.write(result.data)
            except OSError as exc:
                if self.atomic is not None:
                    raise self.atomic.write_error(exc) from None
                raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None
        else:
            final = f"{self.folder.rstrip('/')}/{PART_NAME.format(len(self.written))}{self.suffix}"
            self.fs.mv(self.fs._strip_protocol(result.path), final)
            self.written.append(final)

    def drop(self, result: _PartResult) -> None:
        """A partition not used (its start was wrong): remove what its task wrote."""
        if result is not None and result.path:
            with contextlib.suppress(OSError, FileNotFoundError):
                self.fs.rm(self.fs._strip_protocol(result.path))

    def commit(self) -> None:
        if self.atomic is not None:
            self.atomic.commit()
        elif self.single_file:
            self.out.flush()

    def discard(self) -> None:
        if self.atomic is not None:
            self.atomic.discard()
        if not self.single_file:
            # Leftover temporary parts of this job (a failure, an interruption).
            with contextlib.suppress(OSError, FileNotFoundError):
                for leftover in self.fs.glob(f"{self.folder.rstrip('/')}/.part-{self.token}-*"):
                    self.fs.rm(leftover)


def _run_parts(cl, plan, bounds, lines, size, writer, threads, progress, started, timings):
    """Pass two: classify partitions on the workers, write them in input order, merge any that overran."""
    window = 2 * threads + 1  # partitions in flight: enough to keep every worker busy while this one writes
    ends = bounds[1:] + [size]
    final_index = len(bounds) - 1
    inflight = {}  # start index -> (end index, future)
    next_index = 0
    rows = skipped = model_names = parts = remerged = 0
    counts = Counter()
    abandoned = []  # futures whose results will not be used

    def abandon(future):
        if writer.single_file:
            future.cancel()
        else:
            abandoned.append(future)  # let it finish, then remove the part file it wrote

    def submit(i, j):
        future = cl.submit(
            classify_range, plan, bounds[i], ends[j - 1], j - 1 == final_index, lines[i], i,
            writer.temp_path(), pure=False, priority=-i,
        )
        inflight[i] = (j, future)

    pos = 0  # index into bounds of the next partition to write; its start is a confirmed record boundary
    try:
        while pos <= final_index:
            while next_index <= final_index and len(inflight) < window:
                if next_index not in inflight:
                    submit(next_index, next_index + 1)
                next_index += 1
            j, future = inflight[pos]
            t = time.monotonic()
            result = future.result()
            if result.error is not None:
                raise result.error
            timings["wait"] += time.monotonic() - t
            if result.overran:
                # The range ended inside a record: run it again up to the next candidate boundary.
                writer.drop(result)
                remerged += 1
                del inflight[pos]
                if j in inflight:
                    abandon(inflight.pop(j)[1])  # it started inside a record
                next_index = max(next_index, j + 1)
                submit(pos, j + 1)
                continue
            t = time.monotonic()
            writer.write(result)
            timings["write"] += time.monotonic() - t
            for key, value in result.timings.items():
                timings["task_" + key] += value
            del inflight[pos]
            rows += result.rows
            skipped += result.skipped
            counts.update(result.counts)
            model_names += result.model_names
            parts += 1
            pos = j
            if progress is not None:
                done = ends[j - 1]
                progress(batch.Progress(rows, done, size, time.monotonic() - started))
    finally:
        for _, future in inflight.values():
            abandon(future)
        for future in abandoned:  # part files only: wait for each to finish, then remove what it wrote
            with contextlib.suppress(Exception):
                writer.drop(future.result(timeout=600))
            future.release()
    return rows, skipped, counts, model_names, parts, remerged


_memos: dict = {}  # (thread, model, format options) -> batch._Memo, in this process


def _memo_for(plan: _Plan):
    """A ``batch._Memo`` kept across this thread's partitions: names repeat across partitions as within them.

    Its entries are rendered results, so it is keyed by everything that shapes
    them; one per thread, so concurrent tasks never share one.
    """
    key = (threading.get_ident(), plan.model.sha256, plan.fmt, plan.top_k, plan.threshold, plan.probabilities,
           plan.memo_size)
    memo = _memos.get(key)
    if memo is None:
        with _lock:
            for old in [k for k in _memos if k[0] == key[0]]:  # one memo per thread: the latest job's
                del _memos[old]
            memo = _memos[key] = batch._Memo(plan.memo_size)
    return memo


class _Lines:
    """The decoded lines of a byte range; remembers running out."""

    def __init__(self, text):
        self.iterator = iter(text)
        self.exhausted = False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self.iterator)
        except StopIteration:
            self.exhausted = True
            raise


class _Records:
    """csv records of a byte range that must end on a record boundary; stops at a record cut short."""

    def __init__(self, reader, lines: _Lines, final: bool, line_offset: int):
        self.reader, self.lines, self.final = reader, lines, final
        self.line_offset = line_offset
        self.overran = False

    @property
    def line_num(self) -> int:
        return self.reader.line_num

    def __iter__(self):
        return self

    def __next__(self):
        row = next(self.reader)
        if self.lines.exhausted and not self.final:
            # The csv module asked for another line inside a record: this range ends mid-record.
            self.overran = True
            raise StopIteration
        return row


class _PartRows(batch._RowReader):
    """``batch._RowReader`` for one partition, with line numbers counted from the start of the file."""

    def __init__(self, records, source, plan: _Plan, first: bool, line_offset: int):
        super().__init__(records, source, plan.header is not None, plan.on_bad_rows)
        self.line_offset = line_offset
        if not first:  # a later partition: the header (or first row) was read by the first
            self.header = list(plan.header) if plan.header is not None else None
            self.width = plan.width

    def _bad_row_message(self, row, line):
        return super()._bad_row_message(row, line + self.line_offset)

    def _csv_message(self, exc, line):
        return super()._csv_message(exc, line + self.line_offset)


class _TimedModel:
    """The classifier as ``batch._Job`` uses it, adding up the seconds spent in the model."""

    def __init__(self, clf):
        self.clf, self.labels, self.seconds = clf, clf.labels, 0.0

    def predict_many(self, names, **kwargs):
        t = time.perf_counter()
        try:
            return self.clf.predict_many(names, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t


def classify_range(plan: _Plan, start: int, end: int, final: bool, line_offset: int, index: int, part_path):
    """Pass two, in a task: bytes [start, end) of the input through ``nameort.batch``'s own pipeline.

    Errors meant for the user come back in the result rather than raised, so
    the worker does not log them as failures; the client decides whether they
    count (only for a partition whose start is confirmed).
    """
    try:
        return _classify_range(plan, start, end, final, line_offset, part_path)
    except NameortError as exc:
        return _PartResult(None, None, error=exc)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        return _PartResult(None, None, error=_unreadable(plan.name, exc))


def _unreadable(name, exc) -> InputError:
    return InputError(
        f"a worker cannot read {name} ({type(exc).__name__}: {_one_line(exc)}); workers must reach the input "
        f"under the same path or URL (a shared file system, or a URL such as s3://...)"
    )


def _classify_range(plan: _Plan, start: int, end: int, final: bool, line_offset: int, part_path):
    t0 = time.perf_counter()
    clf = cached_classifier(plan.model)
    t1 = time.perf_counter()
    fs, path = fsspec.core.url_to_fs(plan.url)
    raw = fs.cat_file(path, start=start, end=end)
    t2 = time.perf_counter()
    first = start == 0
    source = _FileSource(io.BytesIO(raw), plan.name, plan.encoding, plan.first_codec if first else plan.codec,
                         line_offset)
    source.line_ending = plan.line_ending
    lines = _Lines(source.text)
    records = _Records(csv.reader(lines, delimiter=plan.delimiter), lines, final, line_offset)
    rows = _PartRows(records, source, plan, first, line_offset)
    model = _TimedModel(clf)
    out = io.StringIO(newline="")
    try:
        col = rows.start(plan.column) if first else plan.col
        job = batch._Job(
            model, rows, col, plan.fmt, plan.top_k, plan.threshold, plan.probabilities, plan.delimiter,
            plan.line_ending, plan.batch_size, 1, plan.memo_size, None, time.monotonic(),
        )
        job.memo = _memo_for(plan)  # carried over from this thread's earlier partitions of the same job kind
        job._pipeline(out)
    except NameortError:
        if lines.exhausted and not final:  # an error in a record cut short by the range's end
            return _PartResult(None, None, overran=True)
        raise
    if records.overran:
        return _PartResult(None, None, overran=True)
    t3 = time.perf_counter()
    text = out.getvalue()
    if not first and plan.header is not None and part_path is None and plan.fmt == "csv":
        head = io.StringIO(newline="")
        batch._CsvFormat(head, clf.labels, plan.top_k, plan.probabilities, plan.delimiter, plan.line_ending,
                         plan.width).begin(list(plan.header))
        head = head.getvalue()
        assert text.startswith(head)
        text = text[len(head):]
    data = text.encode("utf-8")
    del text
    t4 = time.perf_counter()
    written = None
    if part_path is not None:
        pfs, ppath = fsspec.core.url_to_fs(part_path)
        with pfs.open(ppath, "wb") as f:
            f.write(data)
        data, written = None, part_path
    t5 = time.perf_counter()
    timings = {
        "load_model": t1 - t0, "read": t2 - t1, "parse_classify_format": t3 - t2 - model.seconds,
        "model": model.seconds, "encode": t4 - t3, "write_part": t5 - t4,
    }
    return _PartResult(
        data, written, rows=rows.count, skipped=rows.skipped, counts=dict(job.counts),
        model_names=job.model_names, timings=timings,
    )


__all__ = [
    "classify_csv", "classify_frame", "connect", "local_cluster", "ModelPlugin", "ModelRef",
    "cached_classifier", "model_cache_info", "ship_model", "DaskSummary", "DEFAULT_BLOCKSIZE",
]
