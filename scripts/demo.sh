#!/usr/bin/env bash
# The README's main command: set up what is missing, then run the end-to-end demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/ensure-deps.sh" >&2
cd "$root"
exec npx tsx examples/trace-demo.ts "$@"
