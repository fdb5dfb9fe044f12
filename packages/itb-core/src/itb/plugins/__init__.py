"""itb's plugin contract (pluggy, project and entry-point group ``itb``).

A plugin is a module listed under the ``itb`` entry-point group of its distribution. It implements
hooks from :mod:`itb.plugins.hookspecs`, each of which receives an object to extend::

    from itb.plugins import hookimpl

    @hookimpl
    def itb_register_generators(registry):
        registry.add(Generator("my_feature", "feature", MyConfig, my_fn, my_outputs))

:mod:`itb.plugins.manager` is the one place plugins are found; itb's own generators and the
``inprocess`` backend register through it as internal plugins, exactly like installed ones.
"""

from itb.plugins.hookspecs import hookimpl

__all__ = ["hookimpl"]
