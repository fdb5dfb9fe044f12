#!/usr/bin/env bash
# Build a local Python base image (Debian + python3) with debootstrap, for machines where no base
# image can be pulled from a registry. The Dockerfile then builds on it with
#   buildah build --build-arg BASE_IMAGE=localhost/itb-base:bookworm ...
#
# Usage: docker/make-base.sh [IMAGE]   (run as root; needs debootstrap and buildah)
# Environment:
#   SUITE    Debian suite (default: bookworm, the suite of the public python:3.11-slim-bookworm)
#   MIRROR   Debian mirror (default: the first one configured in /etc/apt/sources.list*)
#   FORCE=1  rebuild even if IMAGE already exists
#   STORAGE_DRIVER  buildah storage driver (default: vfs, which works without overlay support)
# Extra CA certificates in /usr/local/share/ca-certificates (a TLS-inspecting proxy's, for example)
# are copied into the base so that pip and apt inside the build trust the same hosts as this machine.
set -euo pipefail

IMAGE="${1:-localhost/itb-base:bookworm}"
SUITE="${SUITE:-bookworm}"
STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
bh() { buildah --storage-driver "$STORAGE_DRIVER" "$@"; }

die() { echo "make-base: $*" >&2; exit 1; }
for tool in debootstrap buildah; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get update && apt-get install -y debootstrap buildah"
done
[[ $(id -u) == 0 ]] || die "debootstrap needs root"

if [[ "${FORCE:-0}" != 1 ]] && bh inspect --type image "$IMAGE" >/dev/null 2>&1; then
    echo "make-base: $IMAGE already exists (FORCE=1 to rebuild)"
    exit 0
fi

if [[ -z "${MIRROR:-}" ]]; then
    MIRROR=$(
        {
            grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
            grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true
        } | awk '{print $2}' | grep -E '/debian/?$' | head -n1
    ) || true
fi
[[ -n "${MIRROR:-}" ]] || die "no Debian mirror found in /etc/apt/sources.list*; set MIRROR"

ROOTFS=$(mktemp -d /var/tmp/itb-base.XXXXXX)
ctr=""
cleanup() {
    [[ -n "$ctr" ]] && bh rm "$ctr" >/dev/null 2>&1 || true
    rm -rf "$ROOTFS"
}
trap cleanup EXIT

echo "make-base: debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,libgomp1 \
    "$SUITE" "$ROOTFS" "$MIRROR"

shopt -s nullglob
extra=(/usr/local/share/ca-certificates/*.crt)
if ((${#extra[@]})); then
    cp "${extra[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null
fi
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb

ctr=$(bh from scratch)
bh copy --quiet "$ctr" "$ROOTFS" /
bh config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd /bin/bash \
    --label org.opencontainers.image.title=itb-base \
    --label "org.opencontainers.image.description=Debian $SUITE with python3 (debootstrap, local)" \
    "$ctr"
bh commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
ctr=""
echo "make-base: built $IMAGE"
bh images "$IMAGE"
