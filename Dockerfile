# syntax=docker/dockerfile:1
# The itb image: the `itb` CLI whose `itb stage run` is what each ACI container runs.
#
#   buildah build --build-arg VERSION=$(git rev-parse --short HEAD) -t itb:$(git rev-parse --short HEAD) .
#
# BASE_IMAGE is any Debian-based image with python3 >= 3.11 and the venv module: the public
# python slim image by default, or a local one made by docker/make-base.sh where nothing can be
# pulled. Dependencies come from uv.lock (uv export, hashes checked); itb itself is installed from
# wheels built from this repository.
ARG BASE_IMAGE=python:3.11-slim-bookworm
# checkov:skip=CKV_DOCKER_7:FROM uses the BASE_IMAGE argument, whose default is the versioned python:3.11-slim-bookworm tag.

# --- build: wheels of the workspace packages and a virtualenv with the locked dependencies ---
FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY packages/itb-core/pyproject.toml packages/itb-core/README.md packages/itb-core/
COPY packages/itb-local/pyproject.toml packages/itb-local/README.md packages/itb-local/
COPY packages/itb-azure/pyproject.toml packages/itb-azure/README.md packages/itb-azure/
# Runtime dependencies only (no dev group, no workspace members), pinned with hashes by uv.lock.
RUN /opt/uv/bin/uv export --frozen --no-dev --no-emit-workspace --format requirements-txt \
        --output-file /tmp/requirements.txt \
    && /opt/uv/bin/uv venv --python "$(command -v python3)" /opt/venv \
    && /opt/uv/bin/uv pip install --python /opt/venv/bin/python --require-hashes \
        --requirement /tmp/requirements.txt
COPY packages packages
RUN /opt/uv/bin/uv build --all-packages --wheel --out-dir /wheels \
    && /opt/uv/bin/uv pip install --python /opt/venv/bin/python --no-deps /wheels/*.whl \
    && /opt/venv/bin/python -c "import itb, itb_local, itb_azure; print('itb', itb.__version__)"

# --- runtime: the base image, libgomp for LightGBM, the virtualenv and a non-root user --------
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
ARG LIBGOMP1_VERSION=12.2.0-14+deb12u1
LABEL org.opencontainers.image.title="itb" \
      org.opencontainers.image.description="itb trading-signal pipeline: run one stage with 'itb stage run'" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends "libgomp1=${LIBGOMP1_VERSION}" \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 itb \
    && useradd --uid 10001 --gid itb --no-log-init --create-home --home-dir /home/itb \
        --shell /usr/sbin/nologin itb
COPY --from=build /opt/venv /opt/venv
COPY --chown=itb:itb configs /opt/itb/configs
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/itb
HEALTHCHECK NONE
ENTRYPOINT ["itb"]
CMD ["--help"]
