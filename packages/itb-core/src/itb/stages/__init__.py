"""Pipeline stages: each declares inputs, outputs and what its key covers (see :mod:`base`), reads
its inputs, calls :mod:`itb.compute` and writes its outputs. The graph is :mod:`registry`.

Importing this package imports no stage, so that a stage's code closure (its key) holds only the
modules that stage runs.
"""
