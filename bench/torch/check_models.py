#!/usr/bin/env python3
# Bench · a CPU check of the PyTorch baselines' models (bench.py), for machines
# with PyTorch but no GPU (Debian's python3-torch works): the SiT-XL baseline has
# kiln's parameter count, 675,000,608 with the fixed positional table (spec §5.1,
# test/models), and a miniature of it trains one step under bf16 autocast. A
# baseline that drifted from kiln's model would time a different workload.
#
#   python3 bench/torch/check_models.py

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if not hasattr(F, 'scaled_dot_product_attention'):  # PyTorch < 2.0
    F.scaled_dot_product_attention = lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v

import bench  # noqa: E402

KILN_SIT_XL_PARAMS = 675_000_608


def main():
    model = bench.SiT(bench.SIT_XL)
    count = sum(p.numel() for p in model.parameters()) + model.pos_embed.numel()
    assert count == KILN_SIT_XL_PARAMS, f'SiT-XL baseline has {count:,} parameters, kiln has {KILN_SIT_XL_PARAMS:,}'
    small = dict(bench.SIT_XL, width=64, depth=2, heads=4, batch=2)
    model = bench.SiT(small)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x0 = torch.randn(small['batch'], small['tokens'], small['channels'])
    t = torch.rand(small['batch'])
    noise = torch.randn_like(x0)
    y = torch.randint(0, small['classes'] + 1, (small['batch'],))
    tb = t[:, None, None]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        v = model((1 - tb) * x0 + tb * noise, t, y)
        loss = ((v.float() - (noise - x0)) ** 2).mean()
    loss.backward()
    optimizer.step()
    assert v.shape == x0.shape and math.isfinite(loss.item()), (v.shape, loss.item())
    print(f'SiT-XL baseline: {count:,} parameters (kiln: {KILN_SIT_XL_PARAMS:,}); a miniature trains one step, loss {loss.item():.3f}')


if __name__ == '__main__':
    main()
