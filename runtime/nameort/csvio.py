"""Files for batch jobs: opening the input, explaining decode errors, writing the output atomically.

The input is read as bytes and decoded by a ``TextIOWrapper`` with
``newline=""``, so the csv module sees quoted newlines and every line ending as
written. UTF-8 is decoded as ``utf-8-sig`` so a BOM never sticks to the first
header. A decode error is never guessed around (latin-1 "works" on anything and
hides mojibake): it becomes an ``InputError`` naming the line and ``--encoding``.

The output goes to a hidden temporary file in the destination's own folder
(so ``os.replace`` is an atomic rename on one file system), is fsynced, and is
moved over the destination only by ``AtomicFile.commit``. On any Python-level
failure, Ctrl-C included, ``discard`` removes the temporary file: the
destination is either the old file or the complete new one, never a part.

Only a kill that Python never sees (SIGKILL, a power cut) leaves the
temporary file behind. Its name carries the writer's PID and the writer holds
an exclusive ``flock`` on it while it lives, so the next ``AtomicFile`` for the
same destination removes leftovers whose PID is not running here *and* whose
lock it can take: both prove no live process still writes them (the lock also
covers a writer on another host or PID namespace sharing the folder).
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import itertools
import os
import re
import stat
import sys
from pathlib import Path

from .errors import InputError, OutputError

try:
    import fcntl  # POSIX: the lock that marks a temporary output as in use
except ImportError:  # Windows: leftovers are never removed automatically
    fcntl = None

STDIO = "-"  # the path that means stdin (input) or stdout (output)
TEMP_SUFFIX = ".nameort-tmp"  # temporary outputs are ".<name>.<pid>-<random>.nameort-tmp" beside the output
READ_CHUNK = 1 << 16  # bytes decoded at a time; 8 KiB (the default) costs more calls per row
WRITE_BUFFER = 1 << 16  # bytes buffered before a write to the output file


class Source:
    """The decoded input: ``lines`` feeds csv.reader; ``consumed()`` and ``size`` measure progress."""

    def __init__(self, src, encoding: str):
        self.encoding = encoding
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r} (--encoding)") from None
        # The BOM-tolerant variant for UTF-8; other codecs (utf-16, ...) handle their own BOM.
        self.decode_as = "utf-8-sig" if codec.name == "utf-8" else codec.name
        if src != STDIO:
            self.name = str(src)
            underlying, owned = _open_input(src), True
        else:
            self.name = "<stdin>"
            if sys.stdin is None or not hasattr(sys.stdin, "buffer"):
                raise InputError("no standard input to read from")
            underlying, owned = sys.stdin.buffer, False
        self.size = _regular_size(underlying)  # None for pipes and terminals
        self._decode(underlying, owned)

    def _decode(self, underlying, owned: bool) -> None:
        """Read ``underlying`` (a binary file) through a byte counter and decode it as ``self.decode_as``.

        Shared with sources that open their input another way (the Dask
        engine's byte ranges), so every engine decodes exactly alike.
        """
        self._counter = _CountingReader(underlying, owned)
        binary = io.BufferedReader(self._counter, buffer_size=READ_CHUNK)
        self.text = io.TextIOWrapper(binary, encoding=self.decode_as, errors="strict", newline="")
        self.text._CHUNK_SIZE = READ_CHUNK
        self.line_ending = "\n"
        self.lines = iter(self.text)

    def sniff_line_ending(self) -> None:
        """Read the first line now, to learn its ending ("\\r\\n" or "\\n"); nothing is lost."""
        try:
            first = self.text.readline()
        except UnicodeDecodeError as exc:
            raise self.decode_error(exc, 0) from None
        if first.endswith("\r\n"):
            self.line_ending = "\r\n"
        self.lines = itertools.chain([first], self.text) if first else iter(())

    def consumed(self) -> int:
        """Bytes read from the input so far (what is buffered but not parsed yet included)."""
        return self._counter.count

    def decode_error(self, exc: UnicodeDecodeError, lines_before: int) -> InputError:
        """The InputError for ``exc``, raised after ``lines_before`` whole lines were delivered.

        ``exc.object`` holds the bytes being decoded when it failed (the newest
        read, after every line already delivered), so the lines before the bad
        byte are those delivered plus the line breaks before ``exc.start``.
        """
        before = exc.object[: exc.start].decode(self.decode_as, errors="replace")
        line = lines_before + before.count("\n") + before.count("\r") - before.count("\r\n") + 1
        bad = " ".join(f"0x{b:02x}" for b in bytes(exc.object[exc.start : min(exc.end, exc.start + 4)]))
        what = f"byte {bad} is" if " " not in bad else f"bytes {bad} are"
        return InputError(
            f"{self.name}, line {line}: {what} not valid {self.encoding}; "
            f"name the file's encoding with --encoding (for example --encoding latin-1 or cp1252)"
        )

    def close(self) -> None:
        self.text.close()  # closes the file, but never sys.stdin (see _CountingReader)


class _CountingReader(io.RawIOBase):
    """A raw stream that counts the bytes it reads: progress, and chunks bounded in bytes."""

    def __init__(self, underlying, owned: bool):
        self._underlying, self._owned = underlying, owned
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._underlying.readinto(buffer)
        if n:
            self.count += n
        return n

    def close(self) -> None:
        if not self.closed and self._owned:
            self._underlying.close()
        super().close()


@contextlib.contextmanager
def opening_input(name):
    """The one-line errors for an input file that is missing, a folder or not readable (CSV and Parquet alike)."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"input not found: {name}") from None
    except IsADirectoryError:
        raise InputError(f"input {name} is a directory, not a file") from None
    except PermissionError:
        raise InputError(f"no permission to read {name}") from None


def _open_input(src):
    path = Path(src)
    try:
        with opening_input(src):
            return open(path, "rb", buffering=0)
    except OSError as exc:
        raise InputError(f"cannot read {src}: {exc.strerror or exc}") from None


def _regular_size(binary) -> int | None:
    try:
        st = os.fstat(binary.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def check_destination(src, dst) -> None:
    """Refuse, before any work, an output that is the input or cannot be a file."""
    if dst == STDIO:
        return
    path = Path(dst)
    if path.is_dir():
        raise OutputError(f"output {dst} is a directory; name a file")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {dst}: folder {parent} does not exist")
    if not path.exists():
        return
    target = os.stat(path)
    if src == STDIO:
        try:
            same = os.path.samestat(os.fstat(sys.stdin.fileno()), target)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            same = False
    else:
        try:
            same = os.path.samefile(src, path)
        except OSError:
            same = False
    if same:
        raise OutputError(
            f"refusing to write the output over the input ({dst} is the input file); choose another output"
        )
    if not os.access(path, os.W_OK):
        raise OutputError(f"output {dst} exists and is read-only; nothing was written")


class AtomicFile:
    """A text file (``.file``) written beside ``path`` and moved over it by ``commit`` only.

    A symlink at ``path`` is followed: the file it points to is replaced and
    the link stays. Write errors are the caller's to report (see ``write_error``).
    """

    def __init__(self, path, encoding: str = "utf-8"):
        self.shown = str(path)
        self.path = Path(os.path.realpath(path))
        self.temp = None
        mode = None
        if self.path.exists():
            mode = stat.S_IMODE(os.stat(self.path).st_mode)
        remove_abandoned_temps(self.path)
        for _ in range(100):
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{os.urandom(4).hex()}{TEMP_SUFFIX}")
            try:
                # 0o666 lets the umask decide, as for any new file; O_EXCL never reuses a name.
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                _lock(fd, wait=True)  # held until the file is closed, by commit, discard or death
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise OutputError(self._why(exc, creating=True)) from None
        else:
            raise OutputError(f"cannot write {self.shown}: no free temporary name in {self.path.parent}")
        self.temp = temp
        # Held open across the job; commit() or discard() closes it.
        self.file = open(fd, "w", encoding=encoding, newline="", buffering=WRITE_BUFFER)  # noqa: SIM115
        if mode is not None:
            try:
                os.chmod(temp, mode)  # replacing a file keeps its permissions
            except OSError:
                pass

    def commit(self) -> None:
        """Flush, fsync, and move the finished file over ``path``."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.discard()
            raise OutputError(self._why(exc)) from None
        self.temp = None
        _fsync_folder(self.path.parent)

    def discard(self) -> None:
        """Remove the temporary file; safe to call twice and after commit."""
        try:
            self.file.close()  # may fail to flush (a full disk): the file is closed all the same
        except (OSError, ValueError):
            pass
        if self.temp is not None:
            try:
                os.unlink(self.temp)
            except OSError:
                pass
            self.temp = None

    def write_error(self, exc: OSError) -> OutputError:
        return OutputError(self._why(exc))

    def _why(self, exc: OSError, creating: bool = False) -> str:
        where = self.path.parent
        if exc.errno in (errno.EACCES, errno.EPERM):
            reason = f"no permission to create files in {where}" if creating else "permission denied"
        elif exc.errno == errno.EROFS:
            reason = f"{where} is on a read-only file system"
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            reason = f"no space left on the device holding {where}"
        else:
            reason = exc.strerror or str(exc)
        return f"cannot write {self.shown}: {reason}; the output was not written"


def remove_abandoned_temps(path: Path) -> list:
    """Remove the temporary files of earlier writers of ``path`` that provably died; return their names.

    A leftover is removed only when the PID in its name is not a running
    process here and its ``flock`` can be taken (no live writer anywhere holds
    it). Anything unparseable, locked, or owned by a live PID stays.
    """
    if fcntl is None:
        return []
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)-[0-9a-f]{8}" + re.escape(TEMP_SUFFIX))
    removed = []
    try:
        candidates = [entry for entry in os.scandir(path.parent) if pattern.fullmatch(entry.name)]
    except OSError:
        return removed
    for entry in candidates:
        if _pid_running(int(pattern.fullmatch(entry.name).group(1))):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            if _lock(fd, wait=False):
                os.unlink(entry.path)  # still locked by us: no writer can take it over meanwhile
                removed.append(entry.name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _lock(fd: int, wait: bool) -> bool:
    """An exclusive flock on ``fd``; False when another holds it (``wait=False``) or locks are unsupported."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        return True
    except OSError:  # held elsewhere, or a file system without locks: prove nothing
        return False


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return True  # not a PID we wrote: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: running, under another user
        return True
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every platform can open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
