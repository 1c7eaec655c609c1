#!/usr/bin/env bash
# Makes a fresh checkout runnable: system packages (when root) and npm dependencies.
# Sourced by the README's commands so each one works on a new machine by itself.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" = 0 ]; then
  bash "$root/scripts/setup-system.sh"
else
  bash "$root/scripts/setup-system.sh" 2>/dev/null || echo "note: not root; install mesa-vulkan-drivers (bookworm-backports) and dataset-fashion-mnist yourself" >&2
fi
if [ ! -d "$root/node_modules" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  (cd "$root" && npm ci --no-audit --no-fund)
fi
