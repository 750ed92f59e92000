#!/usr/bin/env bash
# Make sure the base image named by $1 (default debian:bookworm-slim) exists locally.
# Order: already present -> docker pull -> build it from Debian packages with debootstrap
# (machines without a container registry). Each step runs only when the one before failed.
set -euo pipefail
IMAGE="${1:-debian:bookworm-slim}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
echo "hangar: pulling $IMAGE" >&2
if timeout 60 docker pull -q "$IMAGE" >/dev/null 2>&1; then exit 0; fi
echo "hangar: pull failed; building $IMAGE from Debian packages with debootstrap (~1 min)" >&2
command -v debootstrap >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
}
MIRROR="http://deb.debian.org/debian"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  found=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  [ -n "$found" ] && MIRROR="$found"
fi
ROOTFS=$(mktemp -d /tmp/hangar-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/tmp/hangar-debootstrap.log 2>&1 || {
  echo "hangar: debootstrap failed; see /tmp/hangar-debootstrap.log" >&2; exit 1; }
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | docker import - "$IMAGE" >/dev/null
echo "hangar: built $IMAGE" >&2
