#!/usr/bin/env python3
# Bench · PyTorch (eager) baselines for the CUDA GPU check: the same workloads as
# scripts/gpu-check/corpus.ts times in kiln. In: nothing but a CUDA GPU and
# PyTorch. Out: JSON {name: {title, ms, runs[, gflops]}} with the median time of
# one run, each run ending in a device synchronisation (kiln's runs end in a read
# back of a small output, which synchronises too).
#
#   matmul-f32     1024×1024 @ 1024×1024, float32 (TF32 off: true f32 math)
#   matmul-bf16    the same in bfloat16 (tensor cores, f32 accumulation)
#   block-train    pre-norm ViT block (LayerNorm eps 1e-6, 4-head attention, MLP 4×
#                  exact GELU), B 8 × 64 tokens × width 256, loss mean(y²), backward,
#                  AdamW step; in f32 and under bf16 autocast (block-train-bf16)
#   sit-xl-train-bf16  SiT-XL (28 adaLN-Zero blocks, width 1152, 16 heads, MLP 4× GELU-tanh)
#                  on MAETok's 128×32 latents, batch 32: velocity loss on the linear path,
#                  backward, clip 1.0, AdamW, EMA 0.9999, under bf16 autocast; attention by
#                  F.scaled_dot_product_attention (flash). scripts/gpu-check/corpus.ts times
#                  kiln's models/sit.ts at the same size.
#
#   python3 bench/torch/bench.py --out torch-bench.json

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MATMUL_N = 1024
BLOCK = dict(batch=8, tokens=64, width=256, heads=4)


def timed(fn, warmup=3, min_runs=5, max_runs=50, budget_s=5.0):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), len(times)


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


SIT_XL = dict(batch=32, tokens=128, channels=32, width=1152, depth=28, heads=16, classes=1000, frequency=256)


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class SiTBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x, c):
        b, t, d = x.shape
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        q, k, v = self.qkv(modulate(self.norm1(x), shift_msa, scale_msa)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + gate_msa.unsqueeze(1) * self.proj(a)
        return x + gate_mlp.unsqueeze(1) * self.fc2(F.gelu(self.fc1(modulate(self.norm2(x), shift_mlp, scale_mlp)), approximate='tanh'))


class SiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        width = cfg['width']
        self.frequency = cfg['frequency']
        self.x_embedder = nn.Linear(cfg['channels'], width)
        self.register_buffer('pos_embed', torch.randn(1, cfg['tokens'], width) * 0.02)
        self.t_embedder = nn.Sequential(nn.Linear(cfg['frequency'], width), nn.SiLU(), nn.Linear(width, width))
        self.y_embedder = nn.Embedding(cfg['classes'] + 1, width)
        self.blocks = nn.ModuleList(SiTBlock(width, cfg['heads']) for _ in range(cfg['depth']))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.final_linear = nn.Linear(width, cfg['channels'])

    def forward(self, x, t, y):
        half = self.frequency // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        angles = t[:, None].float() * freqs[None]
        c = self.t_embedder(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)) + self.y_embedder(y)
        h = self.x_embedder(x) + self.pos_embed
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_modulation(c).chunk(2, dim=1)
        return self.final_linear(modulate(self.final_norm(h), shift, scale))


def bench_sit_xl():
    cfg = SIT_XL
    torch.manual_seed(0)
    model = SiT(cfg).cuda()
    ema = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    x0 = torch.randn(cfg['batch'], cfg['tokens'], cfg['channels'], device='cuda')
    labels = torch.randint(0, cfg['classes'], (cfg['batch'],), device='cuda')

    def step():
        optimizer.zero_grad(set_to_none=True)
        t = torch.rand(cfg['batch'], device='cuda')
        noise = torch.randn_like(x0)
        y = torch.where(torch.rand(cfg['batch'], device='cuda') < 0.1, cfg['classes'], labels)
        tb = t[:, None, None]
        with torch.autocast('cuda', dtype=torch.bfloat16):
            v = model((1 - tb) * x0 + tb * noise, t, y)
            loss = ((v.float() - (noise - x0)) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(model.parameters()), 1 - 0.9999)

    ms, runs = timed(step, max_runs=20)
    params = sum(p.numel() for p in model.parameters())
    return dict(title=f'SiT-XL train step ({params:,} params), batch {cfg["batch"]} on {cfg["tokens"]}x{cfg["channels"]} latents, bf16 autocast', ms=ms, runs=runs)


def bench_matmul(dtype):
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device='cuda').manual_seed(0)
    a = torch.randn(MATMUL_N, MATMUL_N, device='cuda', generator=g).to(dtype)
    b = torch.randn(MATMUL_N, MATMUL_N, device='cuda', generator=g).to(dtype)
    ms, runs = timed(lambda: a @ b)
    return dict(title=f'matmul {MATMUL_N}x{MATMUL_N}x{MATMUL_N} {str(dtype).split(".")[-1]}', ms=ms, runs=runs, gflops=2 * MATMUL_N ** 3 / ms / 1e6)


def bench_block(autocast):
    torch.manual_seed(0)
    model = Block(BLOCK['width'], BLOCK['heads']).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(BLOCK['batch'], BLOCK['tokens'], BLOCK['width'], device='cuda')

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=autocast):
            y = model(x)
            loss = (y.float() ** 2).mean()
        loss.backward()
        optimizer.step()

    ms, runs = timed(step)
    kind = 'bf16 autocast' if autocast else 'f32'
    return dict(title=f'transformer block train step B{BLOCK["batch"]}x{BLOCK["tokens"]}x{BLOCK["width"]}, {BLOCK["heads"]} heads, {kind}', ms=ms, runs=runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit('bench.py: torch.cuda is not available')
    results = {
        'matmul-f32': bench_matmul(torch.float32),
        'matmul-bf16': bench_matmul(torch.bfloat16),
        'block-train': bench_block(autocast=False),
        'block-train-bf16': bench_block(autocast=True),
        'sit-xl-train-bf16': bench_sit_xl(),
    }
    results['_device'] = dict(name=torch.cuda.get_device_name(), torch=torch.__version__, cuda=torch.version.cuda)
    for name, r in results.items():
        if 'ms' in r:
            print(f'torch {name}: median {r["ms"]:.3f} ms over {r["runs"]} runs')
    with open(args.out, 'w') as f:
        json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
