"""uvicorn's HTTP protocols with a deadline for request headers.

uvicorn closes a keep-alive connection that stays idle after a response, but
it waits forever for the first request on a new connection and for the rest
of a request's headers once they have begun. A client that connects and says
nothing (or a header line a minute) would hold one of the worker's
``--limit-concurrency`` slots for good; enough of them and every other client
gets 503. Here each connection has ``read_timeout`` seconds to deliver the
headers of its next request (the app gives the body the same again), else it
is closed.

The classes extend uvicorn's own (httptools or h11) through what they share:
``connection_made``, ``data_received``, ``transport``, ``loop`` and ``cycle``
(the request being answered; it appears once its headers are parsed).
"""

from __future__ import annotations

import functools

from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings


@functools.lru_cache(maxsize=1)
def read_timeout() -> float:
    return Settings.from_env().read_timeout


class HeaderDeadline:
    """Mixin: close the connection unless a request's headers arrive within ``read_timeout()``."""

    _deadline = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._watch()

    def data_received(self, data):
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _busy(self) -> bool:
        # Headers parsed and the request not yet answered: the app's business now.
        return self.cycle is not None and not self.cycle.response_complete

    def _watch(self):
        if self._busy():
            self._disarm()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(read_timeout(), self._expire)

    def _disarm(self):
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self):
        self._deadline = None
        if not self._busy() and not self.transport.is_closing():
            self.transport.close()


class H11WithDeadline(HeaderDeadline, H11Protocol):
    pass


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional (uvicorn[standard] brings it)
    HttpToolsWithDeadline = None
else:

    class HttpToolsWithDeadline(HeaderDeadline, HttpToolsProtocol):
        pass


def protocol_path(http: str) -> str:
    """The import string uvicorn's ``http=`` takes for ``auto``, ``httptools`` or ``h11``."""
    if http == "h11" or (http == "auto" and HttpToolsWithDeadline is None):
        return f"{__name__}:H11WithDeadline"
    return f"{__name__}:HttpToolsWithDeadline"
