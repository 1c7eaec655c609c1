#!/usr/bin/env bash
# The one-call CUDA check, run from the repository root on a GPU machine that has
# the CUDA driver and PyTorch but no Node, no nvcc and no network. Its inputs come
# from `npx tsx scripts/gpu-check/pack.ts` (run where nvcc and npm are) in
# out/gpu-check, carried along with the working tree. It unpacks the carried Node
# binary, runs the cuda check suite (CUDA Programs with PTX against the
# interpreter's values), times kiln's bench cases, times the same workloads in
# PyTorch (bench/torch/bench.py) and writes the kiln/PyTorch ratio table.
#
#   bash scripts/gpu-check.sh [pack-dir] [results-dir]     (results default: $OUT, else <pack-dir>/results)
#
# Exit status: that of the check suite (the table is written either way).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pack="$(cd "${1:-$root/out/gpu-check}" && pwd)" || { echo "gpu-check: no pack folder (run scripts/gpu-check/pack.ts first)" >&2; exit 2; }
results="${2:-${OUT:-$pack/results}}"
mkdir -p "$results"
work="$(mktemp -d -t kiln-gpu-XXXXXX)"
trap 'rm -rf "$work"' EXIT

# xz when the machine has it, Python's lzma otherwise.
unpack() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

for f in node.xz kiln_cuda.node run.mjs check.json.xz bench.json.xz; do
  [ -f "$pack/$f" ] || { echo "gpu-check: $pack/$f is missing (rerun scripts/gpu-check/pack.ts)" >&2; exit 2; }
done
unpack "$pack/node.xz" "$work/node" && chmod +x "$work/node"
unpack "$pack/check.json.xz" "$work/check.json"
unpack "$pack/bench.json.xz" "$work/bench.json"
echo "== $("$work/node" --version) · $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"

# PyTorch's site-packages, where its wheels keep libcublasLt (runtime/cuda/libraries.ts looks there)
export KILN_PYTHON_SITE="${KILN_PYTHON_SITE:-$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null)}"
echo "== kiln cuda suite and kiln benchmarks"
KILN_CUDA_ADDON="$pack/kiln_cuda.node" "$work/node" "$pack/run.mjs" "$work/check.json" "$work/bench.json" "$results" 2>&1 | tee "$results/kiln.log"
status=${PIPESTATUS[0]}

echo "== PyTorch benchmarks"
python3 "$root/bench/torch/bench.py" --out "$results/torch-bench.json" 2>&1 | tee "$results/torch.log"

echo "== kiln / PyTorch"
if [ -f "$results/kiln-bench.json" ] && [ -f "$results/torch-bench.json" ]; then
  python3 "$root/bench/torch/ratios.py" "$results/kiln-bench.json" "$results/torch-bench.json" | tee "$results/ratios.md"
else
  echo "gpu-check: no ratio table (a benchmark step failed; see $results/*.log)"
fi
exit "$status"
