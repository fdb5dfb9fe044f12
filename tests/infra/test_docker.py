"""Structure of the Dockerfile, .dockerignore, the Makefile and noxfile additions."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    items = instructions()
    last = max(i for i, (word, _) in enumerate(items) if word == "FROM")
    return items[last:]


def test_multi_stage_with_a_base_image_argument() -> None:
    items = instructions()
    froms = [rest for word, rest in items if word == "FROM"]
    assert len(froms) >= 2
    assert items[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    assert all(rest.startswith("${BASE_IMAGE}") for rest in froms)


def test_runtime_stage_is_non_root_with_itb_entrypoint_and_labels() -> None:
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    assert ("ENTRYPOINT", '["itb"]') in stage
    labels = " ".join(rest for word, rest in stage if word == "LABEL")
    for key in ("version", "revision", "source", "title"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert "${VERSION}" in labels and "${REVISION}" in labels
    # Only the virtualenv comes from the build stage: no compilers, uv or wheels at run time.
    copies = [rest for word, rest in stage if word == "COPY"]
    assert any(c.startswith("--from=build /opt/venv") for c in copies)
    assert not any("/wheels" in c or "/opt/uv" in c for c in copies)


def test_dependencies_come_from_the_lock_and_wheels() -> None:
    assert "uv export --frozen --no-dev --no-emit-workspace" in re.sub(r"\\\n\s*", "", DOCKERFILE)
    assert "--require-hashes" in DOCKERFILE
    assert "uv build --all-packages --wheel" in DOCKERFILE


def test_no_secrets_in_the_dockerfile() -> None:
    for word, rest in instructions():
        if word in {"ARG", "ENV"}:
            assert not re.search(r"secret|password|token|_key\b", rest, re.I), rest


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
            for source in sources:
                assert any(source == a or source.startswith(a + "/") for a in allowed), source
    for pattern in ("**/.env", "**/*.pem", "**/*.key"):
        assert pattern in lines
    assert not any(fnmatch.fnmatch(".venv", a) for a in allowed)


def test_make_help_lists_the_delivery_targets() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    targets = ("setup", "pipeline", "test", "bench", "lint", "infra-plan", "infra-apply", "image", "push")
    for target in targets:
        assert re.search(rf"^\s+make {re.escape(target)}\s", out, re.M), f"make help does not list {target}"


def test_nox_sessions_exist() -> None:
    text = (ROOT / "noxfile.py").read_text()
    for session in ("iac", "checkov", "docker_lint", "image", "tests", "lint", "typecheck"):
        assert re.search(rf"^def {session}\(session", text, re.M), session
    assert 'nox.options.sessions = ["lint", "typecheck", "tests"]' in text  # image is not a default


def test_base_image_script() -> None:
    text = (ROOT / "docker" / "make-base.sh").read_text()
    assert "debootstrap" in text and "/etc/apt/sources.list" in text
    assert "python3" in text and "libgomp1" in text
