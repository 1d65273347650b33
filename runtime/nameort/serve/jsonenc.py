"""JSON for the service: orjson when it is installed, the standard library otherwise.

orjson writes the same numbers (shortest repr that round-trips) and strings
as ``json.dumps(..., ensure_ascii=False)``, several times faster. It refuses
two things the standard library accepts, and for those we fall back to it:

- reading, a lone surrogate escape such as ``"\\ud800"``: valid JSON text,
  and a name we must answer like any other;
- writing, a str holding such a surrogate: it cannot be UTF-8, so the answer
  escapes it (``ensure_ascii=True``) instead of failing.
"""

from __future__ import annotations

import json

try:
    import orjson
except ImportError:  # optional: the [serve] extra brings it
    orjson = None


def loads(data: bytes):
    """Parse JSON bytes; ValueError (json.JSONDecodeError) with the standard library's message."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, and words the error
    return json.loads(data)


def dumps(obj) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(obj)
        except TypeError:  # a lone surrogate in a name
            return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
