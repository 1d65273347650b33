"""The memo: recent results by name, so that a name repeated across chunks is classified once.

Two generations: new results go into the young one; when it is full it
becomes the old one and the previous old one is dropped as a whole. A hit in
the old generation is copied into the young one, so a name that keeps coming
back stays. Memory is bounded by ``size`` entries (names longer than
``MEMO_NAME_CHARS`` are never kept). The Dask engine keeps one per worker thread.

A memo that finds almost nothing (a list of all-different people) only
costs: after ``PROBE_NAMES`` lookups it judges its hit rate, and below
``MIN_HIT_RATE`` it rests (``in_use`` is False) for ``REST_NAMES`` names,
then looks again. The output is the same either way; only the model's work differs.
"""

from __future__ import annotations

from .options import MEMO_NAME_CHARS

PROBE_NAMES = 1 << 16  # distinct names looked up before the memo judges whether it pays
MIN_HIT_RATE = 0.05  # below this share found, it rests
REST_NAMES = 1 << 20  # names let by while it rests, before it looks again


class Memo:
    """Recent results by name, bounded: two generations, the older dropped as a whole."""

    def __init__(self, size: int):
        self.half = size // 2
        self.new, self.old = {}, {}
        self.looked = self.found = 0  # lookups since the last judgement, and how many found something
        self.resting = 0  # names still to let by before looking again

    @property
    def in_use(self) -> bool:
        return self.half > 0 and self.resting <= 0

    def judge(self, looked: int, found: int) -> None:
        """Count a chunk's lookups; every ``PROBE_NAMES`` of them, rest if too few found anything."""
        self.looked += looked
        self.found += found
        if self.looked >= PROBE_NAMES:
            if self.found < MIN_HIT_RATE * self.looked:
                self.resting = REST_NAMES
            self.looked = self.found = 0

    def let_by(self, names: int) -> None:
        """Names that went to the model without a lookup while resting."""
        self.resting -= names

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
