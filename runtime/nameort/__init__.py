"""nameort: classify surnames by language of origin with a small ONNX model.

The runtime needs numpy and ONNX Runtime, never torch:

    from nameort import Classifier
    clf = Classifier.load()              # the bundled German/Italian model
    clf.predict("Tribbiani").label       # 'Italian'
"""

from .errors import DeviceError, InputError, MissingDependencyError, ModelError, NameortError, OutputError

__all__ = [
    "Classifier", "Prediction", "classify_frame",
    "NameortError", "ModelError", "DeviceError", "MissingDependencyError", "InputError", "OutputError",
]
__version__ = "0.1.0"


def __getattr__(name):
    # Keep `import nameort` cheap: the classifier (and ONNX Runtime) load on first use.
    if name in ("Classifier", "Prediction"):
        from . import classifier

        return getattr(classifier, name)
    if name == "classify_frame":  # pandas / polars are never imported by nameort itself
        from .frame import classify_frame

        return classify_frame
    raise AttributeError(f"module 'nameort' has no attribute {name!r}")
