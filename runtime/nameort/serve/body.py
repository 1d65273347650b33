"""Reading a request body under a size cap and a deadline.

The cap is checked twice: against Content-Length before a byte is read (so a
declared 1 GB upload is refused at once), and against the bytes counted while
the body streams in (chunked uploads, or a Content-Length that lies). Either
way at most ``cap`` bytes are ever held. The deadline covers the whole body:
a client trickling a byte a second cannot hold a slot of the server forever.
"""

from __future__ import annotations

import asyncio

from .validate import BadRequest


async def read_body(request, cap: int, timeout: float) -> bytes:
    """The body of a Starlette ``request``, or BadRequest 413 (too large) / 408 (too slow) / 400."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest(400, f"bad Content-Length header {declared!r}") from None
        if size > cap:
            raise BadRequest(413, f"request body of {size} bytes is over the limit of {cap} bytes")
    try:
        return await asyncio.wait_for(_collect(request, cap), timeout)
    except asyncio.TimeoutError:
        raise BadRequest(408, f"request body not received within {timeout:g} s") from None


async def _collect(request, cap: int) -> bytes:
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > cap:
            raise BadRequest(413, f"request body is over the limit of {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
