"""itb's local-process backend."""

from itb_local.backend import LocalBackend

__version__ = "0.1.0"
__all__ = ["LocalBackend"]
