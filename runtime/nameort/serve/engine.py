"""The one place a classify request meets the model: names and options in, JSON bytes out.

Every ``/v1/classify`` request, GET or POST, goes through ``Engine``; nothing
else in the service touches the classifier's results. Each result is the very
object ``nameort classify --format json`` prints for the name
(``Prediction.to_dict``). A bad option (``top_k`` above the number of labels,
``other_threshold`` for a model without an ``other`` label) is the classifier's
ValueError, which the app answers with a 400.
"""

from __future__ import annotations

from . import jsonenc
from .validate import BadRequest, Options


class Engine:
    def __init__(self, classifier):
        self.classifier = classifier

    def classify_one(self, name: str, options: Options) -> bytes:
        """The JSON object for one name (``Classifier.predict``: the short path for one name)."""
        try:
            prediction = self.classifier.predict(name, **_kwargs(options))
        except ValueError as exc:  # the classifier checks options before any work
            raise BadRequest(400, str(exc)) from None
        return jsonenc.dumps(prediction.to_dict())

    def classify(self, names: list, options: Options) -> bytes:
        """``{"results": [...]}``, one object per name, in order."""
        try:
            predictions = self.classifier.predict_many(names, **_kwargs(options))
        except ValueError as exc:
            raise BadRequest(400, str(exc)) from None
        return jsonenc.dumps({"results": [p.to_dict() for p in predictions]})


def _kwargs(options: Options) -> dict:
    # Only what was asked for, so the classifier's own defaults apply otherwise.
    return {key: value for key, value in vars(options).items() if value is not None}
