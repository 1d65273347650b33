"""What a batch job may be asked, checked once, and the constants every part of it shares."""

from __future__ import annotations

import csv
from pathlib import Path

from .. import csvio

PREFIX = "nameort_"  # every result column starts with this; input columns may not
BAD_ROW = "bad_row"  # status of a row kept by on_bad_rows="mark"
FORMATS = ("csv", "jsonl", "parquet")  # output formats
INPUT_FORMATS = ("csv", "parquet")
ON_BAD_ROWS = ("error", "skip", "mark")
DEFAULT_BATCH_SIZE = 8192  # rows per chunk: read, classified and written together
CHUNK_BYTES = 8 << 20  # a chunk also ends after this many input bytes, so long rows cannot blow up memory
MEMO_NAME_CHARS = 256  # longer names are not remembered across chunks (a memo of huge keys is not bounded)
MEMO_SIZE = 1 << 16  # distinct names remembered across chunks (about 20 MB at most)
JOB_NAMES = 512  # distinct names per model job, run in one pool thread
FIELD_LIMIT = 16 << 20  # longest field accepted (characters); beyond it is a runaway quote
COLUMNS_SHOWN = 40  # columns listed in a "no such column" error
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".tab": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}


def check_options(fmt="csv", on_bad_rows="error", top_k=None, batch_size=1, workers=None, threshold=None,
                  memo_size=0, other_threshold=None) -> None:
    """Refuse, before any work, an option no job can run with (ValueError, one line)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValueError(f"on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}, not {on_bad_rows!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"--top-k must be at least 1, not {top_k}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
    if other_threshold is not None and not 0.0 <= other_threshold <= 1.0:
        raise ValueError(f"other_threshold must be between 0 and 1, not {other_threshold}")
    if memo_size < 0:
        raise ValueError("memo_size must be 0 or more")


def check_model_options(classifier, top_k, other_threshold) -> None:
    """The options that depend on the model: top_k within its labels, other_threshold only with a background label."""
    from ..decision import check_other_threshold

    n_labels = len(classifier.labels)
    if top_k is not None and top_k > n_labels:
        raise ValueError(f"--top-k must be between 1 and {n_labels} (the number of labels), not {top_k}")
    check_other_threshold(classifier.card.decision, other_threshold)


def format_of(path, given: str | None, default: str, allowed=FORMATS) -> str:
    """The format ``given``, else the one the file extension names, else ``default`` (stdin/stdout: default)."""
    if given is not None:
        if given not in allowed:
            raise ValueError(f"unknown format {given!r}; choose one of {', '.join(allowed)}")
        return given
    if path == csvio.STDIO:
        return default
    found = _SUFFIXES.get(Path(str(path)).suffix.lower(), default)
    return found if found in allowed else default


def allow_long_fields() -> None:
    """Let the csv module read fields up to ``FIELD_LIMIT`` in this process (its default is 128 KiB)."""
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)


def delimiter_for(delimiter, src) -> str:
    """The field delimiter: the one given ('tab' allowed), else tab for .tsv / .tab inputs, else comma."""
    if delimiter is None:
        suffix = Path(str(src)).suffix.lower() if src != csvio.STDIO else ""
        return "\t" if suffix in (".tsv", ".tab") else ","
    if delimiter in ("\\t", "tab", "TAB"):
        return "\t"
    if len(delimiter) != 1 or delimiter in ('"', "\r", "\n"):
        raise ValueError(f"the delimiter must be one character other than a quote or a line break, not {delimiter!r}")
    return delimiter
