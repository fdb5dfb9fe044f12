"""The itb-serve Helm chart offline, with Helm as a library (``helm-python-sdk``, no ``helm`` binary):
lint it, render it with a values file, and validate the rendered manifests against the Kubernetes
JSON schemas that ``kubernetes-validate`` ships (no cluster, no download).

``python -m tests.deploy.helm_chart OUT`` (what ``nox -s helm`` runs) lints and renders the chart with its
default values and with every file of ``examples/``, writes ``OUT/<values file name>.yaml`` (checkov reads
them next) and validates them; it exits 1 listing every problem. Imported by the chart's tests, which
render variants of the values themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped,import-not-found,unused-ignore]
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "itb-serve"
#: The values files rendered into OUT: the chart's defaults, then the examples.
VALUES_FILES = [CHART / "values.yaml", *sorted((CHART / "examples").glob("*.yaml"))]
RELEASE = "itb-serve"
NAMESPACE = "itb"
#: The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest with shipped schemas.
OLDEST_KUBERNETES = "1.27.0"
#: Kinds of CustomResourceDefinitions, which the Kubernetes schemas do not cover (tests/deploy checks them).
CRD_KINDS = {"ServiceMonitor", "SecretProviderClass"}
#: Lint findings at or above this severity fail (helm-python-sdk: 1 info, 2 warning, 3 error).
LINT_FAILS_AT = 2


@dataclass(frozen=True)
class Rendered:
    """One rendering of the chart: each template's output, the manifests as ``helm template`` prints
    them, and parsed."""

    sources: dict[str, str]
    text: str
    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.documents if d.get("kind") == kind]

    def one(self, kind: str) -> dict[str, Any]:
        """The single object of ``kind`` (an AssertionError naming the count otherwise)."""
        found = self.of_kind(kind)
        assert len(found) == 1, f"{len(found)} objects of kind {kind}, expected 1"
        return found[0]


def load_values(path: Path) -> dict[str, Any]:
    """A values file as a dict (the chart's own values.yaml gives the defaults)."""
    loaded = yaml.safe_load(path.read_text()) or {}
    assert isinstance(loaded, dict), f"{path}: not a mapping of values"
    return loaded


def join_manifests(manifests: Mapping[str, str]) -> str:
    """The rendered templates as one multi-document YAML stream, ordered by template path, without
    NOTES.txt and templates that rendered to nothing (as ``helm template`` prints them)."""
    parts = []
    for name in sorted(manifests):
        body = manifests[name].strip()
        if name.endswith("NOTES.txt") or not body:
            continue
        parts.append(f"---\n# Source: {name}\n{body}\n")
    return "".join(parts)


def parse_documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def render(values: Mapping[str, Any] | None = None) -> Rendered:
    """Render the chart offline with ``values`` over its defaults (raises ``helm.HelmRenderError``
    with the template's message when a value is missing or wrong)."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(dict(values or {}), name=RELEASE, namespace=NAMESPACE, is_install=True)
    text = join_manifests(manifests)
    return Rendered(manifests, text, parse_documents(text))


def merged_values(values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``values`` over the chart's defaults: what a release with them uses."""
    with helm.Chart.load(CHART) as chart:
        return chart.merge_values(dict(values or {}))


def lint_problems(values: Mapping[str, Any] | None = None) -> list[str]:
    """``helm lint --strict`` findings of warning level and above, one line each."""
    report = helm.lint(CHART, dict(values or {}), strict=True, namespace=NAMESPACE)
    lines = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= LINT_FAILS_AT]
    return lines + [str(e) for e in report.get("errors") or []]


def schema_problems(documents: Iterable[dict[str, Any]], versions: Iterable[str]) -> list[str]:
    """Every object checked against the strict Kubernetes schema of each version (unknown fields are
    errors); CRD kinds are skipped, any other kind without a schema is a problem."""
    problems = []
    for version in versions:
        for doc in documents:
            kind, name = doc.get("kind", "?"), doc.get("metadata", {}).get("name", "?")
            if kind in CRD_KINDS:
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                problems.append(f"{kind}/{name} (Kubernetes {version}): {where}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(
                    f"{kind}/{name}: no schema for {doc.get('apiVersion')} in Kubernetes {version}"
                )
    return problems


def build(out: Path) -> list[str]:
    """Lint and render every values file into ``out``, validate the manifests; the problems found."""
    out.mkdir(parents=True, exist_ok=True)
    (out.parent / ".gitignore").write_text("*\n")  # build/ is generated
    versions = [OLDEST_KUBERNETES, kubernetes_validate.latest_version()]
    problems: list[str] = []
    for path in VALUES_FILES:
        values = load_values(path)
        label = path.relative_to(ROOT)
        problems += [f"{label}: lint: {line}" for line in lint_problems(values)]
        rendered = render(values)
        (out / path.name).write_text(rendered.text)
        found = schema_problems(rendered.documents, versions)
        problems += [f"{label}: {line}" for line in found]
        kinds = sorted({d["kind"] for d in rendered.documents})
        print(f"{label}: {len(rendered.documents)} objects ({', '.join(kinds)}) -> {out / path.name}; "
              f"schemas of Kubernetes {' and '.join(versions)}: {len(found)} problems")  # fmt: skip
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.deploy.helm_chart OUT_DIR", file=sys.stderr)
        return 2
    try:
        problems = build(Path(argv[0]))
    except helm.HelmError as exc:
        print(f"{CHART.relative_to(ROOT)}: {exc}", file=sys.stderr)
        return 1
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
