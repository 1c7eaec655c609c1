// DSL · RoPE angle tables for the three forms of spec §1.6. Each returns angles
// of shape (…, T, hd/2) for the rope() composite. Fixed tables are built from
// iota in the graph (no host constants); MAETok's mixed form multiplies integer
// grid positions by a learnable (2, heads·hd/2) frequency slice, so its
// frequencies receive gradients through the angles.

import { DType } from '../../compiler/ir/dtype.ts';
import { ShapeError } from '../../compiler/ir/errors.ts';
import type { Context } from '../context.ts';
import type { Shape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { concat } from './functional.ts';

/** pos (T) ⊗ θ^(−2k/d) for k < count, with d = 2·count·spacing: a (T, count) table. */
function anglesFor(ctx: Context, positions: Tensor<Shape, DType.F32>, count: number, exponentScale: number, theta: number): Tensor<Shape, DType.F32> {
  const k = ctx.iota([1, count] as const, 1, DType.F32);
  const freqs = k.mul(-exponentScale * Math.log(theta)).exp();
  return positions.reshape([positions.shape[0]!, 1]).mul(freqs);
}

function gridPositions(ctx: Context, gridH: number, gridW: number): { row: Tensor<Shape, DType.F32>; col: Tensor<Shape, DType.F32> } {
  const token = ctx.iota([gridH * gridW] as const, 0, DType.I32);
  return { row: token.div(gridW).cast(DType.F32), col: token.mod(gridW).cast(DType.F32) };
}

function checkHeadDim(op: string, hd: number, multiple: number): void {
  if (hd % multiple !== 0) throw new ShapeError(op, [[hd]], `head dim must be a multiple of ${multiple}`);
}

/**
 * 1D RoPE (§1.6c): pair k turns by index·10000^(−2k/hd). → (T, hd/2)
 * @example const angles = rope1dAngles(ctx, 128, 72);
 *          const q2 = rope(q, angles);
 */
export function rope1dAngles(ctx: Context, length: number, hd: number, theta = 10000): Tensor<Shape, DType.F32> {
  checkHeadDim('rope1dAngles', hd, 2);
  return anglesFor(ctx, ctx.iota([length] as const, 0, DType.F32), hd / 2, 2 / hd, theta);
}

/**
 * LightningDiT 2D RoPE (§1.6b): dims [0, hd/2) turn by the row, [hd/2, hd) by the column,
 * pair k of each half at θ^(−4k/hd). Tokens row-major. → (gridH·gridW, hd/2)
 * @example const angles = rope2dAngles(ctx, 16, 16, 64);
 */
export function rope2dAngles(ctx: Context, gridH: number, gridW: number, hd: number, theta = 10000): Tensor<Shape, DType.F32> {
  checkHeadDim('rope2dAngles', hd, 4);
  const { row, col } = gridPositions(ctx, gridH, gridW);
  return concat([anglesFor(ctx, row, hd / 4, 4 / hd, theta), anglesFor(ctx, col, hd / 4, 4 / hd, theta)], 1);
}

/**
 * MAETok's axial RoPE (the mixed form with zero angle, §1.6a): the first half of the head dims
 * turn by the column (x), the second half by the row (y), magnitudes θ^(−4j/hd). → (N, hd/2)
 * @example const angles = ropeAxialAngles(ctx, 16, 16, 64, 10);
 */
export function ropeAxialAngles(ctx: Context, gridH: number, gridW: number, hd: number, theta = 10): Tensor<Shape, DType.F32> {
  checkHeadDim('ropeAxialAngles', hd, 4);
  const { row, col } = gridPositions(ctx, gridH, gridW);
  return concat([anglesFor(ctx, col, hd / 4, 4 / hd, theta), anglesFor(ctx, row, hd / 4, 4 / hd, theta)], 1);
}

/**
 * MAETok's RoPE-mixed (§1.6a): φ[h, n, j] = col_n·Fx[h, j] + row_n·Fy[h, j] from one layer's
 * learnable frequencies `freqs` (2, heads·hd/2). → (heads, gridH·gridW, hd/2)
 * @example const freqs = ctx.param('freqs', [2, depth, heads * hd / 2], init.ropeMixed(heads));
 *          const angles = ropeMixedAngles(ctx, freqs.slice(1, l, l + 1).squeeze(1), 16, 16, heads);
 */
export function ropeMixedAngles(ctx: Context, freqs: Tensor<Shape, DType.F32>, gridH: number, gridW: number, heads: number): Tensor<Shape, DType.F32> {
  if (freqs.rank !== 2 || freqs.shape[0] !== 2 || (freqs.shape[1] ?? 0) % heads !== 0) {
    throw new ShapeError('ropeMixedAngles', [freqs.shape], `freqs must be (2, heads·hd/2) with heads = ${heads}`);
  }
  const pairs = freqs.shape[1]! / heads;
  const { row, col } = gridPositions(ctx, gridH, gridW);
  const positions = concat([col.unsqueeze(1), row.unsqueeze(1)], 1);
  const angles = positions.matmul(freqs);
  return angles.reshape([gridH * gridW, heads, pairs]).permute([1, 0, 2] as const);
}
