"""Structure of .github/workflows/*.yml (actionlint has no usable release here: see the README)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
#: Contexts a workflow expression may use (GitHub Actions documentation).
CONTEXTS = {"github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix"}
CONTEXTS |= {"needs", "inputs"}
FUNCTIONS = {"contains", "startsWith", "endsWith", "format", "join", "toJSON", "fromJSON", "hashFiles"}
FUNCTIONS |= {"success", "always", "cancelled", "failure"}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in doc:  # YAML 1.1 reads the key `on` as a boolean
        doc["on"] = doc.pop(True)
    return doc  # type: ignore[no-any-return]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def uses(doc: dict[str, Any]) -> list[str]:
    return [s["uses"] for job in doc["jobs"].values() for s in steps(job) if "uses" in s]


ALL = sorted(p.name for p in WORKFLOWS.glob("*.yml"))


def test_the_four_workflows_exist() -> None:
    assert {"ci.yml", "release.yml", "pipeline.yml", "terraform.yml"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_workflow_basics(name: str) -> None:
    doc = load(name)
    assert doc.get("name") and doc.get("on") and doc.get("jobs")
    assert "permissions" in doc, "least privilege: set top-level permissions"
    assert doc["permissions"].get("contents") == "read"
    for job_id, job in doc["jobs"].items():
        assert job.get("runs-on"), job_id
        assert job.get("timeout-minutes"), f"{job_id}: set timeout-minutes"
        for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in doc["jobs"], f"{job_id} needs unknown job {need}"
        for step in steps(job):
            assert ("run" in step) != ("uses" in step), f"{job_id}: a step has exactly one of run/uses"


@pytest.mark.parametrize("name", ALL)
def test_actions_are_pinned_and_known(name: str) -> None:
    for action in uses(load(name)):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", action), action


@pytest.mark.parametrize("name", ALL)
def test_expressions_use_known_contexts(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    for expr in EXPRESSION.findall(text):
        expr = re.sub(r"'[^']*'", "''", expr)  # string literals
        names = re.findall(r"(?<![\w.'\"-])([A-Za-z_][\w-]*)(?=\s*[.(\[]|\s*$|\s*[|&=!<>)])", expr)
        for word in names:
            if word in {"true", "false", "null"}:
                continue
            assert word in CONTEXTS | FUNCTIONS, f"{name}: unknown context or function {word!r} in {expr!r}"


@pytest.mark.parametrize("name", ALL)
def test_no_long_lived_credentials(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert "secrets." not in text, "sign in with OIDC; client ids are variables, no secret is needed"
    assert "client-secret" not in text and "ARM_CLIENT_SECRET" not in text
    assert "password" not in text.lower()


def test_ci_runs_the_nox_sessions() -> None:
    doc = load("ci.yml")
    assert {"push", "pull_request"} <= set(doc["on"])
    matrix = doc["jobs"]["nox"]["strategy"]["matrix"]["session"]
    assert {"tests", "lint", "typecheck", "iac", "docker_lint"} <= set(matrix)
    assert "make setup" in runs(doc["jobs"]["nox"])
    assert '.venv/bin/nox -s "${{ matrix.session }}"' in runs(doc["jobs"]["nox"])
    image = runs(doc["jobs"]["image"])
    assert "make image BUILDER=docker" in image and "itb stage run" in image


def test_release_pushes_to_acr_through_oidc_tagged_by_sha() -> None:
    doc = load("release.yml")
    assert doc["permissions"]["id-token"] == "write"
    job = doc["jobs"]["image"]
    login = next(s for s in steps(job) if s.get("uses", "").startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    commands = runs(job)
    assert "az acr login" in commands
    assert "make image BUILDER=docker" in commands and "make push BUILDER=docker" in commands
    assert "git rev-parse --short=12 HEAD" in commands


def test_pipeline_is_manual_and_scheduled_on_aci() -> None:
    doc = load("pipeline.yml")
    assert "workflow_dispatch" in doc["on"] and doc["on"]["schedule"][0]["cron"]
    assert doc["permissions"]["id-token"] == "write"
    commands = runs(doc["jobs"]["run"])
    assert "make pipeline BACKEND=aci" in commands
    assert "itb azure settings --from-terraform" in commands
    assert "ITB_AZURE_IMAGE=" in commands and "git rev-parse --short=12 HEAD" in commands


def test_terraform_plans_on_pull_requests_and_applies_on_main_behind_an_environment() -> None:
    doc = load("terraform.yml")
    assert {"pull_request", "push"} <= set(doc["on"])
    jobs = doc["jobs"]
    assert "nox -s iac" in runs(jobs["checks"])  # fmt + checkov
    assert "plan" in runs(jobs["plan"]) and jobs["plan"]["needs"] == "checks"
    assert "-backend-config=" in runs(jobs["plan"])
    apply = jobs["apply"]
    assert apply["environment"] == "dev"
    assert "refs/heads/main" in apply["if"] and "pull_request" in apply["if"]
    assert "apply" in runs(apply) and apply["needs"] == "plan"
    assert doc["env"]["ARM_USE_OIDC"] == "true"
    assert doc["concurrency"]["cancel-in-progress"] is False
