"""Find plugins (entry-point group ``itb``) and the backends they provide."""

from __future__ import annotations

import os
from functools import cache
from importlib.metadata import version as dist_version
from typing import Any

import pluggy

from itb.backends.base import Backend, BackendInfo
from itb.backends.hookspecs import PROJECT, ItbSpec
from itb.config.models import BackendSettings
from itb.errors import ConfigError
from itb.threads import threads_per_stage


@cache
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(ItbSpec)
    pm.load_setuptools_entrypoints(PROJECT)
    from itb.backends import inprocess

    if not pm.is_registered(inprocess):  # running from a source tree without entry points
        pm.register(inprocess, name="inprocess")
    return pm


def backends() -> dict[str, BackendInfo]:
    found: dict[str, BackendInfo] = {}
    for infos in plugin_manager().hook.itb_backends():
        for info in infos:
            found[info.name] = info
    return found


#: Backends shipped in a distribution of their own: what to install when one is missing.
BACKEND_DISTRIBUTIONS = {"local": "itb-local", "aci": "itb-azure"}


def unknown_backend_message(name: str, installed: list[str]) -> str:
    """Why ``name`` cannot be used, and the fix (install its distribution, or use one installed)."""
    message = f"unknown backend {name!r} (installed: {', '.join(sorted(installed)) or 'none'})"
    dist = BACKEND_DISTRIBUTIONS.get(name)
    if dist is not None:
        message += f": install {dist} (pip install {dist})"
        if "inprocess" in installed:
            message += " or use --backend inprocess"
    return message


def create_backend(name: str, options: dict[str, Any] | None = None) -> tuple[Backend, BackendInfo]:
    available = backends()
    if name not in available:
        raise ConfigError(unknown_backend_message(name, list(available)))
    info = available[name]
    return info.factory(dict(options or {})), info


def resolve_parallelism(
    settings: BackendSettings,
    default_workers: int | None,
    workers: int | None = None,
    threads: int | None = None,
    default_threads: int | None = None,
) -> tuple[int, int]:
    """``(workers, threads per stage run)``: explicit values, then the config, then defaults.

    Workers default to the backend's preference or the CPU count; threads to the backend's
    preference or CPU count / workers (so parallel stages never oversubscribe the machine: one
    thread each on 2 cores; :func:`itb.threads.threads_per_stage`).
    """
    workers = workers or settings.workers or default_workers or os.cpu_count() or 1
    threads = threads or settings.threads or default_threads or threads_per_stage(workers)
    return workers, threads


def plugins() -> list[dict[str, str]]:
    """Installed plugins with their distribution and version, for ``itb plugins``."""
    pm = plugin_manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        dist = dists.get(id(plugin))
        provided = [i.name for i in (getattr(plugin, "itb_backends", lambda: [])() or [])]
        rows.append(
            {
                "plugin": name,
                "distribution": dist.project_name if dist else "itb-core",
                "version": dist.version if dist else dist_version("itb-core"),
                "backends": ", ".join(provided),
            }
        )
    return sorted(rows, key=lambda r: r["plugin"])
