"""Clients and clusters: a scheduler reached within a bounded time, or a LocalCluster of our own.

``connect`` checks an address in three steps that share one time budget (a
plain TCP connection, Dask's identity handshake, then the Client), so every
wrong address fails in one line and in seconds. ``local_cluster`` starts
single-threaded worker processes that leave Ctrl-C to the process that
started them. ``client_for`` picks the client a job runs on and closes what it
opened.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from ..errors import NameortError
from .messages import one_line

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before giving up


def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """A Client for the scheduler at ``address``; a one-line NameortError when it cannot be reached.

    A plain TCP connection is tried first, so "nothing listens there" fails at
    once instead of after Dask's retries; all waiting together is bounded by
    ``timeout`` (give or take half a second).
    """
    deadline = time.monotonic() + timeout

    def left() -> float:  # the three steps share one time budget
        return max(0.5, deadline - time.monotonic())

    _probe(address, left())
    _identify(address, left())
    try:
        return distributed.Client(address, timeout=left(), set_as_default=False)
    except (OSError, ValueError) as exc:
        raise NameortError(f"cannot connect to the Dask scheduler at {address}: {one_line(exc)}") from None


def _identify(address: str, timeout: float) -> None:
    """Ask whatever listens at ``address`` who it is, before a Client is made.

    A Client whose start fails cannot be closed and later hangs the interpreter's
    exit for seconds, printing a traceback; a web server (the dashboard's port,
    8787) answers Dask's handshake with bytes it misreads as a huge frame.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.core import rpc

    async def identity():
        async with rpc(address, timeout=timeout) as scheduler:
            return await asyncio.wait_for(scheduler.identity(), timeout)

    with ThreadPoolExecutor(1) as pool:  # its own event loop, even when the caller runs one
        try:
            info = pool.submit(asyncio.run, identity()).result()
        except (OSError, asyncio.TimeoutError) as exc:  # something accepted the connection (see _probe)
            raise NameortError(
                f"the server at {address} did not answer as a Dask scheduler within {timeout:.2g} s "
                f"({one_line(exc)}); the scheduler usually listens on port 8786 (8787 is its dashboard)"
            ) from None
        except Exception as exc:  # it answered, with something that is not Dask's protocol
            raise NameortError(
                f"the server at {address} did not answer as a Dask scheduler ({type(exc).__name__}: "
                f"{one_line(exc)[:120]}); the scheduler usually listens on port 8786 (8787 is its dashboard)"
            ) from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise NameortError(f"{address} is a Dask {kind or 'server'}, not the scheduler; give the scheduler's address")


def _probe(address: str, timeout: float) -> None:
    """Fail fast, in one line, when nothing accepts TCP connections at a tcp:// or tls:// address."""
    import socket

    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return  # other transports (ucx, inproc, ...) are left to distributed
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise NameortError(f"bad Dask scheduler address {address!r}: {one_line(exc)}") from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        raise NameortError(
            f"no Dask scheduler at {address}: connection refused; is it running, and is that its address?"
        ) from None
    except socket.gaierror as exc:
        raise NameortError(f"no Dask scheduler at {address}: unknown host {host!r} ({exc.strerror or exc})") from None
    except TimeoutError:
        raise NameortError(f"no Dask scheduler at {address}: no answer within {timeout:.2g} s") from None
    except OSError as exc:
        raise NameortError(f"no Dask scheduler at {address}: {exc.strerror or one_line(exc)}") from None


def local_cluster(workers: int | None = None):
    """A LocalCluster of ``workers`` single-threaded worker processes (default: one per core) and a Client."""
    from ..classifier import default_threads

    cluster = distributed.LocalCluster(
        n_workers=workers or default_threads(),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # No dashboard; the scheduler's small HTTP server (health, metrics) on any free port,
        # not 8787: another cluster there would make Dask warn on stderr.
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        plugins={_IgnoreInterrupts()},
    )
    return cluster, distributed.Client(cluster, set_as_default=False)


class _IgnoreInterrupts(WorkerPlugin):
    """Ctrl-C in a terminal reaches every process of the group: a LocalCluster's workers leave it to
    the process that started them, which closes the cluster (instead of each printing a traceback)."""

    name = "nameort-ignore-interrupts"

    def setup(self, worker):
        import signal

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def client_for(client, workers):
    """The client to use: the one given, one connected to an address, the default one, or a new LocalCluster.

    What this opens (a connection, a cluster) it closes; a client it was given stays open.
    """
    if isinstance(client, str):
        own = connect(client)
        try:
            yield own
        finally:
            own.close()
        return
    if client is None:
        client = default_client()
    if client is not None:
        yield client
        return
    cluster, own = local_cluster(workers)
    try:
        yield own
    finally:
        own.close()
        cluster.close()


def default_client():
    """The current default distributed client, or None when there is none."""
    try:
        return distributed.default_client()
    except ValueError:
        return None
