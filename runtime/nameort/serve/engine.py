"""The one place a classify request meets the model: names and options in, JSON bytes out.

Every ``/v1/classify`` request goes through ``Engine``; nothing else in the
service touches the classifier's results. Each result is, byte for byte, the
line ``nameort classify --format jsonl`` prints for the name, i.e.
``json.dumps(Prediction.to_dict(), ensure_ascii=False)``:

- a list of names takes the shared columnar path (``columnar.classify``, then
  ``rendering.json_objects``): arrays, no per-name object;
- one name (GET) takes ``Classifier.predict``, the short path for one name
  (the columnar path's set-up costs several times more for a single name).

A bad option (``top_k`` above the number of labels, ``other_threshold`` for a
model without a background label) is the classifier's ValueError, raised
before any work, and becomes a 400 with the same message.
"""

from __future__ import annotations

import json
import re

from .. import columnar, rendering
from .validate import BadRequest, Options

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Engine:
    def __init__(self, classifier):
        self.classifier = classifier

    def classify_one(self, name: str, options: Options) -> bytes:
        """The JSON object for one name."""
        try:
            prediction = self.classifier.predict(name, **_kwargs(options))
        except ValueError as exc:
            raise BadRequest(400, str(exc)) from None
        return _utf8(json.dumps(prediction.to_dict(), ensure_ascii=False))

    def classify(self, names: list, options: Options) -> bytes:
        """``{"results": [...]}``, one object per name, in order."""
        try:
            cols = columnar.classify(self.classifier, names, **_kwargs(options))
        except ValueError as exc:
            raise BadRequest(400, str(exc)) from None
        return _utf8('{"results": [' + ", ".join(rendering.json_objects(cols)) + "]}")


def _kwargs(options: Options) -> dict:
    # Only what was asked for, so the classifier's own defaults apply otherwise.
    return {key: value for key, value in vars(options).items() if value is not None}


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A name held a lone surrogate (valid in JSON as "\ud800", not in UTF-8).
        # Surrogates only occur inside JSON strings here, so writing each as its
        # escape keeps the JSON valid and the string the same.
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")
