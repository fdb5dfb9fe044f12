"""Building a config's ``output_sets`` for the service, and the optional state an output keeps.

Each set names an output kind of the registry (:func:`itb.outputs.output_registry`); its config is
validated by the kind's model (errors name ``output_sets[i].config.<key>``, exit 2). Kinds of the
reference project that itb has not built yet are skipped with a note instead of failing, so a
ported config still serves.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.outputs import Output, OutputContext, OutputInfo, output_registry
from itb.plugins.manager import secret_resolvers
from itb.secret_refs import resolvers
from itb.serve.messages import ConsoleFactory, MessageSink
from itb.serve.telegram import message_sink
from itb.storage.store import Storage
from itb.trade.factory import TradingMode

#: Output kinds of the reference project not built in itb yet: skipped with a note.
NOT_BUILT = ("trader_mt5",)


@runtime_checkable
class StatefulOutput(Protocol):
    """An output whose state the service persists with the last processed candle."""

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: dict[str, Any]) -> None: ...


@runtime_checkable
class BatchOutput(Protocol):
    """An output that collects within a batch of candles (one tick) and reports when it ends."""

    def end_batch(self) -> None: ...


@dataclass
class ConfiguredOutputs:
    #: (state key ``<index>:<kind>``, output) in config order.
    outputs: list[tuple[str, Output]] = field(default_factory=list)
    #: Notes about skipped sets, for the console.
    skipped: list[str] = field(default_factory=list)
    #: The message sink the outputs share (closed last: it delivers what they said).
    sink: MessageSink | None = None

    def snapshots(self) -> dict[str, dict[str, Any]]:
        return {key: out.snapshot() for key, out in self.outputs if isinstance(out, StatefulOutput)}

    def restore(self, states: dict[str, dict[str, Any]]) -> None:
        for key, out in self.outputs:
            if isinstance(out, StatefulOutput) and key in states:
                out.restore(states[key])

    def end_batch(self) -> None:
        """A tick's candles were all delivered (before the state is logged with the last one)."""
        for _, out in self.outputs:
            if isinstance(out, BatchOutput):
                out.end_batch()

    def close(self) -> None:
        try:
            for _, out in self.outputs:
                out.close()
        finally:
            if self.sink is not None:
                self.sink.close()


def check_requirements(info: OutputInfo, where: str) -> None:
    """Raise :class:`ConfigError` (at ``where``) naming the first optional module ``info`` needs that
    is not installed, with its install hint."""
    for module, hint in info.requires:
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"{where}: {info.name} needs {module}, which is not installed: {hint}")


def configured_outputs(
    config: PipelineConfig, console: ConsoleFactory | None = None, *, trading: TradingMode | None = None
) -> ConfiguredOutputs:
    """The outputs of ``config.output_sets`` (raises :class:`ConfigError` for an unknown kind or a
    bad config section; what was built before the error, the message sink too, is closed).
    ``console`` makes the sink for the messages when no Telegram is configured (default: printed
    lines); ``trading`` says whether ``--live`` was given and whether this is a replay (traders' mode)."""
    built = ConfiguredOutputs()
    try:
        _build(config, built, console, trading or TradingMode())
    except BaseException:
        built.close()
        raise
    return built


def _build(
    config: PipelineConfig, built: ConfiguredOutputs, console: ConsoleFactory | None, trading: TradingMode
) -> None:
    registry = output_registry()
    context: OutputContext | None = None
    for i, oset in enumerate(config.output_sets):
        info = registry.lookup(oset.generator)
        if info is None:
            if oset.generator in NOT_BUILT:
                built.skipped.append(f"output_sets[{i}]: {oset.generator} is not built in itb yet; skipped")
                continue
            known = ", ".join(sorted(registry.keys()))
            raise ConfigError(
                f"output_sets[{i}].generator: unknown output {oset.generator!r} (known: {known})"
            )
        try:
            settings = info.config_model.model_validate(oset.config)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"output_sets[{i}].config.{where}: {first['msg']}") from None
        check_requirements(info, f"output_sets[{i}].generator")
        if not info.with_context:
            built.outputs.append((f"{i}:{oset.generator}", info.factory(settings)))
            continue
        if context is None:  # one sink per symbol, made only when an output needs it
            storage = Storage(config.data_root)
            built.sink = message_sink(config, storage, resolvers(secret_resolvers()), console)
            context = OutputContext(
                config.symbol, storage, config.simulate, built.sink, config.freq_ms, config, trading
            )
        built.outputs.append((f"{i}:{oset.generator}", info.factory(settings, context)))
