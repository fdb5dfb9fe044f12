"""The Python modules of itb, itb_local and itb_azure, for tests that read the source with ``ast``."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "packages" / name / "src" for name in ("itb-core", "itb-local", "itb-azure")]


def project_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the three packages (``pkg/__init__.py`` is ``pkg``)."""
    modules: dict[str, Path] = {}
    for src in SOURCES:
        for path in sorted(src.rglob("*.py")):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules
