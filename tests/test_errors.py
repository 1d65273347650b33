"""Every deliberate error class is importable from ``nameort`` itself, as the README promises."""

import inspect
import re
from pathlib import Path

import nameort
from nameort import errors


def test_every_nameort_error_is_exported_from_the_package():
    classes = {name for name, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, errors.NameortError)}
    assert classes == {"NameortError", "ModelError", "DeviceError", "MissingDependencyError", "InputError", "OutputError"}
    for name in classes:
        assert getattr(nameort, name) is getattr(errors, name)
        assert name in nameort.__all__


def test_the_readme_names_only_exported_errors():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(?:nameort\.)?(\w+Error)`", readme)) - {"ValueError"}
    assert named and named <= set(nameort.__all__)
