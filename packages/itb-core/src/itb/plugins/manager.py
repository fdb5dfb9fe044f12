"""The one place itb finds plugins: entry points of the ``itb`` group, plus itb's internal plugins.

Internal plugins (itb's own generators, the ``inprocess`` backend) are listed by module name and
registered through the same manager as installed ones, the way pytest and tox load their built-in
plugins: the core never imports them directly, so "find plugins" does not depend on "run stages".

After loading, :meth:`pluggy.PluginManager.check_pending` turns a hook implementation that matches
no specification (a misspelt hook name) into a :class:`~itb.errors.ConfigError` naming the plugin;
a hook with wrong argument names fails the same way when the plugin is registered.

Hooks that extend a registry are called one plugin at a time (:func:`fill`), so the registry knows
which plugin provided each name and reports a duplicate name with both plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import version as dist_version
from typing import TYPE_CHECKING, Any, cast

import pluggy

from itb.errors import ConfigError
from itb.plugins.hookspecs import PROJECT, ItbSpec
from itb.plugins.registry import Registry

if TYPE_CHECKING:
    from itb.backends.base import Backend, BackendInfo

#: itb's own plugins, registered before entry points (so a plugin reusing a built-in name is the
#: one named second in the duplicate error).
INTERNAL_PLUGINS = ("itb.generators.builtins", "itb.backends.inprocess")

Resolver = Callable[[str], str]


def new_plugin_manager(*extra: object, entry_points: bool = True) -> pluggy.PluginManager:
    """A manager with the internal plugins, the installed ones (``entry_points``) and ``extra``.

    Raises :class:`ConfigError` naming the plugin when a plugin implements a hook that does not
    exist or with arguments the hook does not have.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(ItbSpec)
    try:
        for name in INTERNAL_PLUGINS:
            pm.register(importlib.import_module(name), name=name)
        if entry_points:
            pm.load_setuptools_entrypoints(PROJECT)
        for plugin in extra:
            pm.register(plugin)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or getattr(exc.plugin, "__name__", None) or repr(exc.plugin)
        raise ConfigError(f"itb plugin {name!r}: {exc}") from None
    except Exception as exc:  # an installed plugin that fails to import: one line naming it
        raise ConfigError(
            f"itb plugin {_first_unloaded(pm)!r} failed to load: {type(exc).__name__}: {exc}"
        ) from None
    return pm


def _first_unloaded(pm: pluggy.PluginManager) -> str:
    """The entry point pluggy stopped at: the first of the ``itb`` group, in its own order, not loaded."""
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == PROJECT and pm.get_plugin(ep.name) is None:
                return f"{ep.name} = {ep.value}"
    return "?"


@cache
def plugin_manager() -> pluggy.PluginManager:
    """The process's manager: internal and installed plugins, loaded once."""
    return new_plugin_manager()


def fill(hook: str, registry: Registry[Any, Any], pm: pluggy.PluginManager | None = None) -> None:
    """Call ``hook`` of every plugin in registration order, attributing what each adds to it."""
    pm = pm or plugin_manager()
    for impl in getattr(pm.hook, hook).get_hookimpls():
        with registry.provided_by(impl.plugin_name):
            impl.function(registry)


class BackendRegistry(Registry[str, "BackendInfo"]):
    def __init__(self) -> None:
        super().__init__("backend")

    def add(self, info: BackendInfo) -> BackendInfo:
        return self.put(info.name, info)


def backend_registry(pm: pluggy.PluginManager | None = None) -> BackendRegistry:
    pm = pm or plugin_manager()
    registry = BackendRegistry()
    for impl in pm.hook.itb_backends.get_hookimpls():
        with registry.provided_by(impl.plugin_name):
            infos = cast("list[BackendInfo]", impl.function() or [])
            for info in infos:
                registry.add(info)
    return registry


def backends(pm: pluggy.PluginManager | None = None) -> dict[str, BackendInfo]:
    return backend_registry(pm).as_dict()


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


def secret_resolvers(pm: pluggy.PluginManager | None = None) -> dict[str, Resolver]:
    """Secret reference scheme -> resolver, from plugins (``env`` is built into :mod:`itb.secret_refs`)."""
    pm = pm or plugin_manager()
    registry: Registry[str, Resolver] = Registry("secret resolver")
    for impl in pm.hook.itb_secret_resolvers.get_hookimpls():
        with registry.provided_by(impl.plugin_name):
            provided = cast("dict[str, Resolver]", impl.function() or {})
            for scheme, resolver in provided.items():
                registry.put(scheme, resolver)
    return registry.as_dict()


def plugins(
    provided: Mapping[str, list[str]] | None = None, pm: pluggy.PluginManager | None = None
) -> list[dict[str, str]]:
    """Loaded plugins with their distribution, version and what they provide (plugin name ->
    descriptions, from the registries), for ``itb plugins``."""
    pm = pm or plugin_manager()
    provided = provided or {}
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        dist = dists.get(id(plugin))
        rows.append(
            {
                "plugin": name,
                "distribution": dist.project_name if dist else "itb-core",
                "version": dist.version if dist else dist_version("itb-core"),
                "provides": ", ".join(provided.get(name, [])),
            }
        )
    return sorted(rows, key=lambda r: r["plugin"])
