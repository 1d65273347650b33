"""Batch classification on Dask: the same job as ``nameort batch``, spread over worker processes.

Needs the ``dask`` extra (``pip install 'nameort[dask]'``); nothing else in
nameort imports this package, so the runtime without it stays as it was.
Importing it without Dask raises ``MissingDependencyError`` naming the extra.

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

The modules, in the order a ``classify_csv`` job uses them:

* ``cluster``: reaching a scheduler within a bounded time, or starting a LocalCluster;
* ``models``: the model shipped to the workers in a plugin, loaded once per process;
* ``partitions``: pass one, candidate partition starts from quote counts;
* ``reading``: the input's head checked on the client (the ranges are read by ``nameort.batch.ranges``);
* ``task``: pass two, one partition classified on a worker;
* ``writer``: finished partitions written in input order;
* ``job``: ``classify_csv``, which runs the two passes;
* ``frame``: ``classify_frame`` (the only module that needs pandas, imported when called);
* ``messages``: one-line messages the others share.

The input and, with ``single_file=False``, the output folder must be
reachable from the workers under the same path or URL; the model need not be.
"""

from __future__ import annotations

from ..errors import MissingDependencyError
from .messages import INSTALL_HINT

try:
    import distributed  # noqa: F401
    import fsspec  # noqa: F401
    import numpy  # noqa: F401
    from distributed.diagnostics.plugin import WorkerPlugin  # noqa: F401
except ImportError as exc:  # the extra is not installed
    raise MissingDependencyError(f"the dask engine needs Dask ({exc.name or exc} is missing): {INSTALL_HINT}") from None

from .cluster import connect, local_cluster
from .frame import classify_frame
from .job import DaskSummary, classify_csv
from .models import ModelPlugin, ModelRef, cached_classifier, model_cache_info, model_key, ship_model
from .partitions import DEFAULT_BLOCKSIZE

__all__ = [
    "classify_csv", "classify_frame", "connect", "local_cluster", "ModelPlugin", "ModelRef",
    "cached_classifier", "model_cache_info", "model_key", "ship_model", "DaskSummary", "DEFAULT_BLOCKSIZE",
]
