#!/usr/bin/env bash
# Installs the system packages kiln's tests need on a Debian bookworm machine:
# Mesa's lavapipe (software Vulkan, from bookworm-backports: plain bookworm's Mesa
# is too old for Dawn), the Fashion-MNIST dataset, python3/make/g++ (node-gyp
# builds the CUDA addon) and nvcc (CUDA kernels are validated by compiling them to
# PTX). Machines of kiln's kind come with nvcc 13 in /usr/local/cuda; elsewhere
# Debian's nvidia-cuda-toolkit (11.8, non-free; sm_90 capable) is installed.
# Idempotent; needs root.
set -euo pipefail

have_lavapipe() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg -l mesa-vulkan-drivers 2>/dev/null | grep -q '^ii.*25\.'; }
have_dataset() { ls /usr/share/datasets/fashion-mnist/*idx* >/dev/null 2>&1; }
have_build_tools() { command -v python3 >/dev/null && command -v make >/dev/null && command -v g++ >/dev/null; }
have_nvcc() { [ -n "${KILN_NVCC:-}" ] || command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }

if have_lavapipe && have_dataset && have_build_tools && have_nvcc; then
  echo "setup-system: lavapipe, Fashion-MNIST, python3/make/g++ and nvcc already installed"
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
have_build_tools || apt-get install -y -q python3 make g++
if ! have_nvcc; then
  nonfree=/etc/apt/sources.list.d/bookworm-nonfree.sources
  cat >"$nonfree" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: non-free contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -q
  apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit
fi
have_lavapipe || { echo "setup-system: lavapipe ICD missing after install" >&2; exit 1; }
have_dataset || { echo "setup-system: Fashion-MNIST IDX files missing after install" >&2; exit 1; }
have_nvcc || { echo "setup-system: nvcc missing after installing nvidia-cuda-toolkit" >&2; exit 1; }
echo "setup-system: done"
