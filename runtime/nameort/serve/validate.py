"""Requests to (names, options), or a ``BadRequest`` naming the problem.

Pure functions over already-read data (a query string's pairs, a parsed JSON
body), so every rule is in one place and testable without a server. Ranges
that depend on the model (``top_k`` up to the number of labels, a model
without an ``other`` label refusing ``other_threshold``) are the classifier's
to check: its ValueError becomes a 400 with the same message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OPTION_FIELDS = ("top_k", "threshold", "other_threshold")
POST_FIELDS = ("names",) + OPTION_FIELDS
GET_FIELDS = ("name",) + OPTION_FIELDS


class BadRequest(Exception):
    """A client error: the HTTP status and a one-line message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Options:
    """Per-request options, as ``Classifier.predict_many`` takes them (None = not asked for)."""

    top_k: int | None = None
    threshold: float | None = None
    other_threshold: float | None = None


def parse_query(pairs) -> tuple:
    """``GET /v1/classify`` query pairs -> (name, Options)."""
    values = {}
    for key, value in pairs:
        if key not in GET_FIELDS:
            raise BadRequest(400, f"unknown query parameter {key!r} (expected {', '.join(GET_FIELDS)})")
        if key in values:
            hint = "; POST /v1/classify takes a list of names" if key == "name" else ""
            raise BadRequest(400, f"query parameter {key!r} given more than once{hint}")
        values[key] = value
    if "name" not in values:
        raise BadRequest(400, "missing query parameter 'name'")
    options = Options(
        top_k=_int_text("top_k", values.get("top_k")),
        threshold=_float_text("threshold", values.get("threshold")),
        other_threshold=_float_text("other_threshold", values.get("other_threshold")),
    )
    return values["name"], options


def parse_body(body, max_names: int) -> tuple:
    """A parsed ``POST /v1/classify`` body -> (names, Options)."""
    if not isinstance(body, dict):
        raise BadRequest(400, f"the body must be a JSON object with a 'names' list, not {_json_type(body)}")
    unknown = [key for key in body if key not in POST_FIELDS]
    if unknown:
        raise BadRequest(400, f"unknown field {unknown[0]!r} (expected {', '.join(POST_FIELDS)})")
    if "names" not in body:
        raise BadRequest(400, "missing field 'names' (a list of strings)")
    names = body["names"]
    if not isinstance(names, list):
        raise BadRequest(400, f"'names' must be a list of strings, not {_json_type(names)}")
    if len(names) > max_names:
        raise BadRequest(413, f"too many names: {len(names)} (at most {max_names} per request)")
    for i, name in enumerate(names):
        if type(name) is not str:
            raise BadRequest(400, f"names[{i}] must be a string, not {_json_type(name)}")
    options = Options(
        top_k=_int_json("top_k", body.get("top_k")),
        threshold=_float_json("threshold", body.get("threshold")),
        other_threshold=_float_json("other_threshold", body.get("other_threshold")),
    )
    return names, options


def _int_text(field, text):
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise BadRequest(400, f"{field} must be an integer, not {text!r}") from None


def _float_text(field, text):
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(400, f"{field} must be a number, not {text!r}") from None
    return _finite(field, value)


def _int_json(field, value):
    if value is None:
        return None
    if type(value) is not int:  # bool is an int subclass, and true is not a count
        raise BadRequest(400, f"{field} must be an integer, not {_json_type(value)}")
    return value


def _float_json(field, value):
    if value is None:
        return None
    if type(value) not in (int, float):
        raise BadRequest(400, f"{field} must be a number, not {_json_type(value)}")
    return _finite(field, float(value))


def _finite(field, value):
    if not math.isfinite(value):
        raise BadRequest(400, f"{field} must be a finite number, not {value}")
    return value


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
