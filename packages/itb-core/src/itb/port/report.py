"""What ``itb port`` did with each key of a reference-project config, in four groups.

The report is data (frozen dataclasses), formatted once for stderr by :meth:`PortReport.format`.
No entry ever holds a value read from the source config's secret keys: entries name keys only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mapped:
    """Carried over with the same meaning (``target`` is the itb key it went to)."""

    source: str
    target: str
    note: str = ""


@dataclass(frozen=True)
class Changed:
    """Carried over, but itb does something different: ``what`` differs, ``keep`` says what to set
    to keep the reference project's behaviour (or that nothing can)."""

    source: str
    what: str
    keep: str


@dataclass(frozen=True)
class Dropped:
    """Not carried over: itb has no use for it (``why``)."""

    source: str
    why: str


@dataclass(frozen=True)
class Unsupported:
    """itb cannot do this (``instead``: what to use). A ``blocking`` one makes the port fail unless
    ``--drop-unsupported`` is given; a non-blocking one is left out with this note."""

    source: str
    instead: str
    blocking: bool = True


@dataclass
class PortReport:
    mapped: list[Mapped] = field(default_factory=list)
    changed_meaning: list[Changed] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)

    @property
    def blocking(self) -> list[Unsupported]:
        return [u for u in self.unsupported if u.blocking]

    def format(self) -> str:
        """The report as plain text, grouped, one line per key (two for a change of meaning)."""
        lines: list[str] = []
        if self.mapped:
            lines.append(f"mapped as is ({len(self.mapped)}):")
            for m in self.mapped:
                lines.append(f"  {m.source} -> {m.target}" + (f" ({m.note})" if m.note else ""))
        if self.changed_meaning:
            lines.append(f"mapped with a change of meaning ({len(self.changed_meaning)}):")
            for c in self.changed_meaning:
                lines.append(f"  {c.source}: {c.what}")
                lines.append(f"    to keep the reference behaviour: {c.keep}")
        if self.dropped:
            lines.append(f"dropped ({len(self.dropped)}):")
            lines.extend(f"  {d.source}: {d.why}" for d in self.dropped)
        if self.unsupported:
            lines.append(f"not supported ({len(self.unsupported)}):")
            for u in self.unsupported:
                mark = "" if u.blocking else " [left out]"
                lines.append(f"  {u.source}{mark}: use instead: {u.instead}")
        return "\n".join(lines)
