"""The memo: recent results by name, so that a name repeated across chunks is classified once.

Two generations: new results go into the young one; when it is full it
becomes the old one and the previous old one is dropped as a whole. A hit in
the old generation is copied into the young one, so a name that keeps coming
back stays. Memory is bounded by ``size`` entries (names longer than
``MEMO_NAME_CHARS`` are never kept). The Dask engine keeps one per worker thread.
"""

from __future__ import annotations

from .options import MEMO_NAME_CHARS


class Memo:
    """Recent results by name, bounded: two generations, the older dropped as a whole."""

    def __init__(self, size: int):
        self.half = size // 2
        self.new, self.old = {}, {}

    def get(self, name):
        found = self.new.get(name)
        if found is None:
            found = self.old.get(name)
            if found is not None:
                self.new[name] = found
        return found

    def add(self, results: dict) -> None:
        if self.half <= 0:
            return
        if results and max(map(len, results)) <= MEMO_NAME_CHARS:  # the usual case, at C speed
            self.new.update(results)
        else:
            self.new.update(item for item in results.items() if len(item[0]) <= MEMO_NAME_CHARS)
        if len(self.new) >= self.half:
            self.old, self.new = self.new, {}
