"""Load the Terraform tree with python-hcl2 into plain Python values (quotes stripped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"


def unquote(value: Any) -> Any:
    """python-hcl2 >= 7 keeps the quotes of string literals and block labels; drop them."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1].replace('\\"', '"')
        return value
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


@dataclass
class Resource:
    type: str
    name: str
    body: dict[str, Any]
    file: Path

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass
class Module:
    """One Terraform module (a directory of .tf files)."""

    path: Path
    resources: list[Resource] = field(default_factory=list)
    data: list[Resource] = field(default_factory=list)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, address: str) -> Resource:
        for res in self.resources:
            if res.address == address:
                return res
        raise KeyError(f"{self.path.name}: no resource {address}")

    def of_type(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.type == kind]


@cache
def load_file(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return unquote(hcl2.load(f))  # type: ignore[no-any-return]


@cache
def load_module(path: Path) -> Module:
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        doc = load_file(tf)
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for block in doc.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        target.append(Resource(rtype, name, body, tf))
        for block in doc.get("variable", []):
            module.variables.update(block)
        for block in doc.get("output", []):
            module.outputs.update(block)
        for block in doc.get("locals", []):
            module.locals.update(block)
        for block in doc.get("module", []):
            module.modules.update(block)
        module.terraform.extend(doc.get("terraform", []))
        module.providers.extend(doc.get("provider", []))
    return module


def module_dirs() -> list[Path]:
    return sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())


def env_dirs() -> list[Path]:
    return sorted(p for p in (TERRAFORM / "envs").iterdir() if p.is_dir())


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)
