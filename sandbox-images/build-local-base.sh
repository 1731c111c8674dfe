#!/usr/bin/env bash
# Builds a Debian bookworm base image from Debian's packages (debootstrap + docker import),
# for machines that reach no image registry. Usage: build-local-base.sh [IMAGE_NAME]
set -euo pipefail
image="${1:-paddock/debian:bookworm-local}"
suite="${DEBIAN_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
docker_cli="${DOCKER:-docker}"

if "$docker_cli" image inspect "$image" >/dev/null 2>&1; then
  echo "build-local-base: $image already present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "build-local-base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

rootfs="$(mktemp -d /tmp/paddock-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "build-local-base: debootstrap $suite into $rootfs"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >/dev/null
# Same apt sources a registry image would have, so apt-get works inside docker build.
echo "deb $mirror $suite main" > "$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | "$docker_cli" import --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
echo "build-local-base: built $image"
