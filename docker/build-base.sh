#!/usr/bin/env bash
# Build the Python base image from Debian packages, for machines that reach a Debian mirror (and
# PyPI) but no image registry: `debootstrap --variant=minbase` + python3, python3-venv and
# ca-certificates, trimmed, then `docker import`. Pass the result to every image build as
# BASE_IMAGE (docker/e2e.sh does; compose reads BASE_IMAGE from docker/.env).
#
#   sudo docker/build-base.sh                     # -> gansweep-base:bookworm
#   sudo docker/build-base.sh my/base:tag         # another tag
#
# Needs root, debootstrap and a Docker daemon. Knobs (environment):
#   DEBIAN_SUITE    Debian release                      (bookworm: Python 3.11, as python:3.11-slim)
#   DEBIAN_MIRROR   mirror debootstrap and apt use      (http://deb.debian.org/debian)
#   EXTRA_PACKAGES  more Debian packages, comma-separated (none)
# The image is rebuilt only when missing; FORCE=1 rebuilds it.
set -euo pipefail

tag="${1:-gansweep-base:bookworm}"
suite="${DEBIAN_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages="python3,python3-venv,ca-certificates${EXTRA_PACKAGES:+,${EXTRA_PACKAGES}}"

if [[ "${FORCE:-0}" != "1" ]] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "build-base: $tag exists (FORCE=1 rebuilds it)"
  exit 0
fi
if [[ $EUID -ne 0 ]]; then
  echo "build-base: debootstrap needs root (sudo $0 $*)" >&2
  exit 2
fi
command -v debootstrap >/dev/null || { echo "build-base: install debootstrap (apt-get install debootstrap)" >&2; exit 2; }

root="$(mktemp -d /var/tmp/gansweep-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror"

# What an image never needs: package lists and caches (apt-get update restores the lists), docs,
# man pages, locales other than C.UTF-8 (built in), Python byte-code caches.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
find "$root"/usr/lib/python3* -name __pycache__ -type d -prune -exec rm -rf {} +
# Security updates come from the security archive, as in Debian's own images.
if [[ "$suite" != sid && "$suite" != unstable ]]; then
  echo "deb http://deb.debian.org/debian-security ${suite}-security main" >> "$root/etc/apt/sources.list"
fi

tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap --variant=minbase $suite + $packages" \
  - "$tag"
docker image ls "$tag"
