"""The ``itb`` command line."""
