"""``nameort serve``: the runtime as an HTTP service (Starlette on uvicorn).

Modules, one concern each:

- ``settings``: what the command line decided, passed to every worker process;
- ``validate``: query strings and JSON bodies to (names, options), or a 4xx;
- ``body``: reading a request body under a size cap and a deadline;
- ``protocol``: uvicorn's HTTP protocols with a deadline for request headers;
- ``engine``: the one function every classify request goes through;
- ``jsonenc``: JSON in and out (orjson when installed);
- ``openapi``: the OpenAPI document and the offline /docs page;
- ``app``: the Starlette application (routes, API key, CORS, model loading);
- ``runner``: binding the socket and running one or several uvicorn workers.

Starlette and uvicorn are the ``[serve]`` extra: nothing here is imported by
the rest of the runtime, and ``require_stack`` turns their absence into one
line naming what to install.
"""

from __future__ import annotations

from ..errors import MissingDependencyError

INSTALL_HINT = "pip install 'nameort[serve]'"


def require_stack() -> None:
    """Raise MissingDependencyError (one line) unless starlette and uvicorn import."""
    missing = []
    for module in ("starlette", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise MissingDependencyError(f"nameort serve needs {' and '.join(missing)}: {INSTALL_HINT}")
