#!/usr/bin/env bash
# The README's main command: set up what is missing, then run the end-to-end demo
# (MAETok-Mini → SiT-Mini on Fashion-MNIST; outputs under out/). Flags pass through,
# e.g. --short, --compare, --device cpu, --out DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/ensure-deps.sh" >&2
cd "$root"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/kiln-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR"
exec node cli/kiln.js demo "$@"
