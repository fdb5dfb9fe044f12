"""The compute layer: pure functions on polars frames (no storage, no file names).

Stages read their inputs, call these and write the outputs; a live service or a notebook calls the
same functions on frames it holds.
"""
