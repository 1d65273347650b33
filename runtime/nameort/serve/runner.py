"""Binding the socket and running uvicorn: one worker in this process, or several.

The socket is bound here, before any worker starts, so the address is known
(``--port 0`` picks a free port) and printed at once, and a port in use is a
one-line error rather than a log record. Workers inherit the socket and the
settings (in the environment) and each loads the model once.

Stopping: SIGTERM or SIGINT stop accepting connections, let in-flight requests
finish (up to ``graceful_timeout`` seconds) and exit 0. uvicorn re-raises the
signal it caught once it has shut down; the handler installed here turns that
into a normal return instead of a death by signal.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket

from ..errors import NameortError
from .app import LOAD_FAILURE_EXIT
from .protocol import protocol_path
from .settings import DEFAULT_GRACEFUL_TIMEOUT, DEFAULT_KEEP_ALIVE, DEFAULT_LIMIT_CONCURRENCY, ENV_VAR, Settings

APP = "nameort.serve.app:app_from_env"
BACKLOG = 1024  # connections the kernel queues while every worker is busy


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise NameortError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)  # worker processes serve on it
    sock.listen(BACKLOG)  # from now on connections queue until a worker accepts them
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


def run(
    settings: Settings,
    *,
    host: str,
    port: int,
    limit_concurrency: int = DEFAULT_LIMIT_CONCURRENCY,
    keep_alive: int = DEFAULT_KEEP_ALIVE,
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT,
    log_level: str = "warning",
    access_log: bool = False,
    loop: str = "auto",
    http: str = "auto",
    announce=print,
) -> None:
    """Serve until SIGTERM/SIGINT; NameortError when the socket or the model fails."""
    import uvicorn

    sock = bind(host, port)
    settings = dataclasses.replace(settings, url=url_of(sock))
    os.environ[ENV_VAR] = settings.to_env()  # read by every worker's app factory
    config = uvicorn.Config(
        APP,
        factory=True,
        workers=settings.workers,
        limit_concurrency=limit_concurrency,
        backlog=BACKLOG,
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=graceful_timeout,
        log_level=log_level,
        access_log=access_log,
        loop=loop,
        http=protocol_path(http),
        lifespan="on",
        server_header=False,
    )
    announce(
        f"nameort serve: listening on {settings.url}, loading model {settings.model_name} "
        f"({settings.workers} worker{'s' if settings.workers > 1 else ''})"
    )
    # Installed for good, not restored: a second signal arriving while the
    # process winds down must not turn a clean stop into a death by signal.
    stops = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda sig, frame: stops.append(sig))
    try:
        if settings.workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            supervisor = Multiprocess(config, sockets=[sock])
            supervisor.run()
            if any(process.exitcode == LOAD_FAILURE_EXIT for process in supervisor.processes):
                raise NameortError("a worker could not load the model (see above)")
    finally:
        sock.close()
    announce(f"nameort serve: stopped ({', '.join(signal.Signals(s).name for s in stops) or 'done'})")


