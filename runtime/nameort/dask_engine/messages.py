"""One-line messages the engine's modules share: what to install, and what workers cannot read.

Kept free of Dask imports: the package's ``__init__`` needs the install hint
before it knows whether Dask is there.
"""

from __future__ import annotations

from ..errors import InputError

INSTALL_HINT = "pip install 'nameort[dask]'"


def one_line(exc) -> str:
    """The first line of ``exc``'s message (Dask's errors can run to many), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unreadable(name, exc) -> InputError:
    """The error for an input a worker cannot open: the usual cause is a path only the client sees."""
    return InputError(
        f"a worker cannot read {name} ({type(exc).__name__}: {one_line(exc)}); workers must reach the input "
        f"under the same path or URL (a shared file system, or a URL such as s3://...)"
    )
