"""Where finished partitions go, strictly in input order: one file written here, or a folder of part files.

With ``single_file`` the client writes each partition's bytes as it arrives
into a ``csvio.AtomicFile`` (or stdout), so the output appears only when the
whole job succeeded. Otherwise each task writes its part under a hidden
temporary name and the client renames the confirmed ones to ``part-00000``,
``part-00001``, ... in order; parts of partitions that were run again, and
whatever a failed job left, are removed.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import fsspec

from .. import csvio
from ..errors import OutputError
from .task import PartResult

PART_NAME = "part-{:05d}"  # part files of single_file=False, numbered in input order


class Writer:
    """Where finished partitions go, in order: one atomic file (or stdout), or a folder of part files."""

    def __init__(self, dst, fmt, single_file, fs_url):
        self.single_file = single_file
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
        return f"{self.url.rstrip('/')}/.part-{self.token}-{secrets.token_hex(6)}{self.suffix}{csvio.TEMP_SUFFIX}"

    def write(self, result: PartResult) -> None:
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

    def drop(self, result: PartResult) -> None:
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
