#!/usr/bin/env bash
# Installs the system packages kiln's tests need on a Debian bookworm machine:
# Mesa's lavapipe (software Vulkan, from bookworm-backports: plain bookworm's Mesa
# is too old for Dawn) and the Fashion-MNIST dataset. Idempotent; needs root.
set -euo pipefail

have_lavapipe() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg -l mesa-vulkan-drivers 2>/dev/null | grep -q '^ii.*25\.'; }
have_dataset() { ls /usr/share/datasets/fashion-mnist/*idx* >/dev/null 2>&1; }

if have_lavapipe && have_dataset; then
  echo "setup-system: lavapipe and Fashion-MNIST already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-system: need root to install mesa-vulkan-drivers (bookworm-backports) and dataset-fashion-mnist" >&2
  exit 1
fi
src=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat >"$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers
apt-get install -y -q dataset-fashion-mnist
have_lavapipe || { echo "setup-system: lavapipe ICD missing after install" >&2; exit 1; }
have_dataset || { echo "setup-system: Fashion-MNIST IDX files missing after install" >&2; exit 1; }
echo "setup-system: done"
