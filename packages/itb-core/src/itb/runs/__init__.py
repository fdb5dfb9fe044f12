"""Runs: executing stages, the runner that walks the stage graph, and run manifests."""
