// Models · the HOG target of MAETok's auxiliary decoder (spec §2.6), computed in
// the DSL on the unmasked image: reflect-padded Sobel gradients, 9 unsigned
// orientation bins with hard assignment, Gaussian window weights tiled over the
// image, per-cell sum pooling, L2 normalisation over bins per (channel, cell),
// regrouped per token as [channel][bin][cell-row][cell-col].

import { DType, concat, where, type Context, type Shape, type Tensor } from '../dsl/index.ts';

type F32 = Tensor<Shape, DType.F32>;

export interface HogConfig {
  /** Cell side in pixels (8 for MAETok-B, 2 for the minis). */
  readonly cell: number;
  /** Gaussian window side (16; 4 for the minis); sd = window / 2. */
  readonly window: number;
  /** Patch size P: each token covers (P / cell)² cells. */
  readonly patch: number;
}

export const HOG_BINS = 9;

/** Reflect padding by 1 on the last two axes (torch's 'reflect': the edge row is not repeated). */
function reflectPad1(x: F32): F32 {
  const h = x.shape[2]!;
  const w = x.shape[3]!;
  const rows = concat([x.slice(2, 1, 2), x, x.slice(2, h - 2, h - 1)], 2);
  return concat([rows.slice(3, 1, 2), rows, rows.slice(3, w - 2, w - 1)], 3);
}

/** Per-pixel weight g[i mod window]·g[j mod window] / Σ ggᵀ, g[n] = exp(−½((n − (window−1)/2)/sd)²). */
function gaussianTile(ctx: Context, height: number, width: number, window: number): F32 {
  const sd = window / 2;
  const g = Array.from({ length: window }, (_, n) => Math.exp(-0.5 * ((n - (window - 1) / 2) / sd) ** 2));
  const total = g.reduce((a, b) => a + b, 0) ** 2;
  const axis = (length: number) => ctx.iota([length] as const).mod(window).cast(DType.F32).sub((window - 1) / 2).square().mul(-0.5 / (sd * sd)).exp();
  return axis(height).reshape([height, 1]).mul(axis(width).reshape([1, width])).mul(1 / total);
}

/** (B, C, H, W) images → (B, N, C·9·u²) HOG features, u = patch / cell. */
export function hogFeatures(ctx: Context, images: F32, config: HogConfig): F32 {
  const [batch, channels, height, width] = images.shape as [number, number, number, number];
  const { cell, window, patch } = config;
  if (height % window !== 0 || width % window !== 0 || patch % cell !== 0) {
    throw new Error(`hogFeatures: ${height}×${width} images need sides divisible by the window ${window}, and the patch ${patch} by the cell ${cell}`);
  }
  const p = reflectPad1(images);
  const at = (dy: number, dx: number) => p.slice(2, dy, dy + height).slice(3, dx, dx + width);
  // Sobel as cross-correlation: gx = left − right, gy = up − down
  const gx = at(0, 0).sub(at(0, 2)).add(at(1, 0).sub(at(1, 2)).mul(2)).add(at(2, 0).sub(at(2, 2)));
  const gy = at(0, 0).add(at(0, 1).mul(2)).add(at(0, 2)).sub(at(2, 0).add(at(2, 1).mul(2)).add(at(2, 2)));
  const magnitude = gx.square().add(gy.square()).sqrt();
  // phase = atan2(gx, gy) folded into [0, π); bin k counts the boundaries jπ/9 (j = 1…8) at or below it.
  const flip = gx.lt(0).or(gx.eq(0).and(gy.lt(0)));
  const u = where(flip, gy.neg(), gy) as F32;
  const v = where(flip, gx.neg(), gx) as F32;
  let bin = v.mul(0);
  for (let j = 1; j < HOG_BINS; j++) {
    const beta = (j * Math.PI) / HOG_BINS;
    bin = bin.add(v.mul(Math.cos(beta)).sub(u.mul(Math.sin(beta))).ge(0).cast(DType.F32));
  }
  const weighted = magnitude.mul(gaussianTile(ctx, height, width, window));
  const bins = bin.unsqueeze(2).eq(ctx.iota([batch, channels, HOG_BINS, height, width] as const, 2, DType.F32)).cast(DType.F32);
  const histogram = bins.mul(weighted.unsqueeze(2));
  const cellsH = height / cell;
  const cellsW = width / cell;
  const pooled = histogram.reshape([batch, channels, HOG_BINS, cellsH, cell, cellsW, cell]).sum([4, 6]);
  const norm = pooled.square().sum(2, true).sqrt().maximum(1e-12);
  const normalised = pooled.div(norm);
  const perSide = patch / cell;
  const gridH = height / patch;
  const gridW = width / patch;
  return normalised
    .reshape([batch, channels, HOG_BINS, gridH, perSide, gridW, perSide])
    .permute([0, 3, 5, 1, 2, 4, 6] as const)
    .reshape([batch, gridH * gridW, channels * HOG_BINS * perSide * perSide]);
}
