#!/usr/bin/env bash
# The README's benchmark command: set up what is missing (lavapipe, npm packages
# including the peers jax-js and tfjs), then run bench/run.ts once and print its
# markdown table. Flags pass through, e.g.
#   bash scripts/bench.sh --only matmul --runs 3 --json bench.json
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/ensure-deps.sh"
cd "$root"
exec npx tsx bench/run.ts "$@"
