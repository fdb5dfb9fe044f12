"""Error types that the CLI turns into clear messages and exit codes instead of tracebacks."""

from __future__ import annotations


class ItbError(Exception):
    """Base class for errors that carry a message meant for the user."""

    exit_code = 1


class ConfigError(ItbError):
    """The configuration (or an input it names) is invalid. Exit code 2."""

    exit_code = 2


class DataError(ItbError):
    """Input data is unusable: names the file and, where possible, the row. Exit code 2."""

    exit_code = 2


class StageFailed(ItbError):
    """A stage failed while running; the run stops its dependents. Exit code 1."""

    exit_code = 1
