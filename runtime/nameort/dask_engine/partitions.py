"""Pass one: where a CSV file may be cut into partitions, found by counting quotes on the workers.

Splitting a CSV file by bytes is where Dask's own ``read_csv`` goes wrong: it
cuts blocks at the first line break after each block boundary, and a quoted
field holding a line break may straddle that point. Here each boundary is a
line break with an even number of quote characters before it: ``scan_block``
counts them per block, in a task, and ``boundaries`` adds the counts up in
file order. The rule is only a guess (a quote inside an unquoted field breaks
it); pass two checks every boundary before its output is used (see ``task``).
"""

from __future__ import annotations

import fsspec
import numpy as np

from .messages import unreadable

DEFAULT_BLOCKSIZE = 16 << 20  # bytes of input per partition, at most
MIN_BLOCKSIZE = 1 << 20  # a small file is split finer than the default, but not below this
PARTITIONS_PER_WORKER = 4  # aim for this many partitions per worker thread on smaller files
QUOTE, NEWLINE = 0x22, 0x0A  # the csv module's default quote character, and the byte blocks are cut after


def blocksize_for(blocksize, size: int, threads: int) -> int | None:
    """Bytes per block: ``blocksize``, lowered on smaller files so each worker gets several partitions."""
    if blocksize is None:
        return None
    share = size // (threads * PARTITIONS_PER_WORKER)
    return max(1, min(blocksize, max(MIN_BLOCKSIZE, share))) if blocksize >= MIN_BLOCKSIZE else blocksize


def boundaries(cl, url, size, blocksize, splittable):
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
        return unreadable(url, exc)  # returned, not raised: no worker log noise
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
