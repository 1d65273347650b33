"""The errors nameort raises on purpose. Each carries a one-line message for the user."""


class NameortError(Exception):
    """Base class: something the user can fix, described in one line."""


class ModelError(NameortError):
    """A model file or its sidecar is missing, unreadable or inconsistent."""


class DeviceError(NameortError):
    """The requested execution device cannot be used."""


class MissingDependencyError(NameortError):
    """An optional package is needed for this and is not installed."""


class InputError(NameortError):
    """An input file cannot be read as asked: missing, undecodable, malformed, or a wrong column."""


class OutputError(NameortError):
    """The result cannot be written: a bad destination, no permission, a full disk."""
