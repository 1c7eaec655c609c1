#!/usr/bin/env python3
# Bench · the kiln/PyTorch table of the CUDA GPU check. In: kiln-bench.json
# (scripts/gpu-check/run.ts) and torch-bench.json (bench/torch/bench.py). Out: a
# Markdown table on stdout: per workload, kiln's and PyTorch eager's median ms and
# kiln/PyTorch (above 1: kiln is slower). The block-train step is compared in f32
# (kiln without tensor cores) and in bf16 (kiln's CUDA policy: tensor cores with
# bf16 operands; PyTorch under bf16 autocast); the bf16 workloads twice on kiln's
# side, with its own GEMM kernels and with GEMMs on cuBLASLt (*-cublaslt, the
# same library PyTorch calls).
#
#   python3 bench/torch/ratios.py kiln-bench.json torch-bench.json

import json
import sys

PAIRS = [
    ('matmul-f32', 'matmul-f32'),
    ('matmul-bf16', 'matmul-bf16'),
    ('matmul-bf16-cublaslt', 'matmul-bf16'),
    ('block-train', 'block-train'),
    ('block-train-bf16', 'block-train-bf16'),
    ('block-train-cublaslt', 'block-train-bf16'),
    ('sit-xl-train-bf16', 'sit-xl-train-bf16'),
    ('sit-xl-train-cublaslt', 'sit-xl-train-bf16'),
]


def main():
    kiln = json.load(open(sys.argv[1]))
    torch = json.load(open(sys.argv[2]))
    device = torch.get('_device', {})
    print(f'kiln vs PyTorch {device.get("torch", "?")} eager (CUDA {device.get("cuda", "?")}) on {device.get("name", "?")}; median ms per run')
    print()
    print('| workload | kiln ms | PyTorch ms | kiln / PyTorch |')
    print('| --- | ---: | ---: | ---: |')
    for k, t in PAIRS:
        a, b = kiln.get(k, {}), torch.get(t, {})
        title = a.get('title', b.get('title', t))
        if 'ms' not in a or 'ms' not in b:
            print(f'| {title} | {a.get("error", "n/a")} | {b.get("ms", "n/a")} | n/a |')
            continue
        print(f'| {title} | {a["ms"]:.3f} | {b["ms"]:.3f} | {a["ms"] / b["ms"]:.2f} |')


if __name__ == '__main__':
    main()
