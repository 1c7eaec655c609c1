// DSL · composites as functions. Each call adds ONE composite node to the graph
// (named, with its attributes), whose reference decomposition lives in
// compiler/composite; backends may replace it with a fused kernel template.

import { makeComposite } from '../../compiler/composite/registry.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { CompositeKind, type Attrs } from '../../compiler/ir/node.ts';
import type { Shape } from '../shape.ts';
import { Tensor } from '../tensor.ts';

function composite<S extends Shape, D extends DType>(kind: CompositeKind, srcs: readonly Tensor[], attrs: Attrs, owner: Tensor): Tensor<S, D> {
  return new Tensor<S, D>(makeComposite(owner.owner.builder, kind, srcs.map((t) => t.node), attrs), owner.owner);
}

type Erased = Tensor<Shape, DType>;
const erase = <S extends Shape, D extends DType>(t: Tensor<S, D>): Erased => t as unknown as Erased;

/** @example const p = softmax(scores);          // over the last axis
 *          const q = softmax(scores, 1); */
export function softmax<S extends Shape, D extends DType>(x: Tensor<S, D>, axis = -1): Tensor<S, D> {
  return composite(CompositeKind.Softmax, [erase(x)], { axis }, erase(x));
}

/** @example const logp = logSoftmax(logits);
 *          const nll = logp.mul(onehot).sum(-1).neg().mean(); */
export function logSoftmax<S extends Shape, D extends DType>(x: Tensor<S, D>, axis = -1): Tensor<S, D> {
  return composite(CompositeKind.LogSoftmax, [erase(x)], { axis }, erase(x));
}

export interface NormOptions<D extends DType> {
  readonly weight?: Tensor<Shape, D>;
  readonly bias?: Tensor<Shape, D>;
  readonly eps?: number;
}

/** LayerNorm over the last axis (biased variance); affine when weight/bias are given.
 * @example const y = layerNorm(x, { eps: 1e-6 });
 *          const z = layerNorm(x, { weight: g, bias: b }); */
export function layerNorm<S extends Shape, D extends DType>(x: Tensor<S, D>, options: NormOptions<D> = {}): Tensor<S, D> {
  if (options.bias && !options.weight) throw new Error('layerNorm: a bias needs a weight (pass ones for an unscaled affine)');
  const srcs = [erase(x), ...(options.weight ? [erase(options.weight)] : []), ...(options.bias ? [erase(options.bias)] : [])];
  return composite(CompositeKind.LayerNorm, srcs, { eps: options.eps ?? 1e-5 }, erase(x));
}

/** RMSNorm over the last axis: x·rsqrt(mean(x²)+eps)·weight.
 * @example const y = rmsNorm(x, { weight: w, eps: 1e-6 }); */
export function rmsNorm<S extends Shape, D extends DType>(x: Tensor<S, D>, options: Omit<NormOptions<D>, 'bias'> = {}): Tensor<S, D> {
  const srcs = [erase(x), ...(options.weight ? [erase(options.weight)] : [])];
  return composite(CompositeKind.RmsNorm, srcs, { eps: options.eps ?? 1e-6 }, erase(x));
}

/** GELU, exact (erf) by default or the tanh approximation.
 * @example const h = gelu(x);
 *          const g = gelu(x, 'tanh'); */
export function gelu<S extends Shape, D extends DType>(x: Tensor<S, D>, approximate: 'none' | 'tanh' = 'none'): Tensor<S, D> {
  return composite(CompositeKind.Gelu, [erase(x)], { approximate }, erase(x));
}

/** x·sigmoid(x). @example const c = silu(cond); */
export function silu<S extends Shape, D extends DType>(x: Tensor<S, D>): Tensor<S, D> {
  return composite(CompositeKind.Silu, [erase(x)], {}, erase(x));
}

/** silu(a)·b for x = [a | b] on the last axis (halves its width).
 * @example const h = swiglu(linear(x, w12, b12)); */
export function swiglu<S extends Shape, D extends DType>(x: Tensor<S, D>): Tensor<Shape, D> {
  return composite(CompositeKind.Swiglu, [erase(x)], {}, erase(x));
}

/** x @ weightᵀ + bias with torch's [out, in] weight layout.
 * @example const y = linear(x, w, b);   // [B, T, in] → [B, T, out] */
export function linear<S extends Shape, D extends DType>(x: Tensor<S, D>, weight: Tensor<Shape, D>, bias?: Tensor<Shape, D>): Tensor<Shape, D> {
  return composite(CompositeKind.Linear, [erase(x), erase(weight), ...(bias ? [erase(bias)] : [])], {}, erase(x));
}

/** adaLN modulate: x·(1+scale) + shift, shift/scale broadcast against x.
 * @example const h = modulate(layerNorm(x), shift.unsqueeze(1), scale.unsqueeze(1)); */
export function modulate<S extends Shape, D extends DType>(x: Tensor<S, D>, shift: Tensor<Shape, D>, scale: Tensor<Shape, D>): Tensor<S, D> {
  return composite(CompositeKind.Modulate, [erase(x), erase(shift), erase(scale)], {}, erase(x));
}

/** softmax((q·scale)·kᵀ)·v over the last two axes; scale defaults to d^(−1/2).
 * @example const o = attention(q, k, v);   // q, k, v: [B, heads, T, hd] */
export function attention<S extends Shape, D extends DType>(q: Tensor<S, D>, k: Tensor<Shape, D>, v: Tensor<Shape, D>, scale?: number): Tensor<Shape, D> {
  const d = q.shape[q.shape.length - 1] ?? 1;
  return composite(CompositeKind.Attention, [erase(q), erase(k), erase(v)], { scale: scale ?? 1 / Math.sqrt(d) }, erase(q));
}

/** Rotates interleaved pairs of the last axis by `angles` (…, T, hd/2), spec §1.6.
 * @example const qr = rope(q, rope1dAngles(ctx, T, hd)); */
export function rope<S extends Shape, D extends DType>(x: Tensor<S, D>, angles: Tensor<Shape, D>): Tensor<S, D> {
  return composite(CompositeKind.Rope, [erase(x), erase(angles)], {}, erase(x));
}

/** (B, C, H, W) → (B, N, C·P·P) in conv-weight order (ch, py, px).
 * @example const tokens = patchify(images, 16); */
export function patchify<S extends Shape, D extends DType>(x: Tensor<S, D>, patch: number): Tensor<Shape, D> {
  return composite(CompositeKind.Patchify, [erase(x)], { patch }, erase(x));
}

/** (B, gridH·gridW, P·P·C) read as (py, px, ch) → (B, C, gridH·P, gridW·P).
 * @example const img = unpatchify(tokens, { patch: 16, gridH: 16, gridW: 16 }); */
export function unpatchify<S extends Shape, D extends DType>(x: Tensor<S, D>, grid: { patch: number; gridH: number; gridW: number }): Tensor<Shape, D> {
  return composite(CompositeKind.Unpatchify, [erase(x)], grid, erase(x));
}

/** Rows of `table` at integer ids (out-of-range ids read zeros).
 * @example const y = embedding(table, labels);   // [V, D], [B] → [B, D] */
export function embedding<D extends DType>(table: Tensor<Shape, D>, ids: Tensor<Shape, DType.I32 | DType.U32>): Tensor<Shape, D> {
  return composite(CompositeKind.Embedding, [erase(table), erase(ids)], {}, erase(table));
}

/** DiT's sinusoidal timestep features [cos | sin] (spec §1.7).
 * @example const f = timestepEmbedding(t, 256);   // [B] → [B, 256] */
export function timestepEmbedding<D extends DType>(t: Tensor<Shape, D>, dim = 256, maxPeriod = 10000): Tensor<Shape, D> {
  return composite(CompositeKind.TimestepEmbedding, [erase(t)], { dim, maxPeriod }, erase(t));
}

/** Interleaved 1D sin-cos table (length, dim) (spec §1.5).
 * @example const pos = sincos1d(x, 128, 1152); */
export function sincos1d(like: Tensor, length: number, dim: number): Tensor<Shape, DType.F32> {
  return composite(CompositeKind.SinCos1d, [], { length, dim }, like);
}

/** 2D sin-cos table (gridH·gridW, dim): column half then row half (spec §1.5).
 * @example const pos = sincos2d(x, 16, 16, 768); */
export function sincos2d(like: Tensor, gridH: number, gridW: number, dim: number): Tensor<Shape, DType.F32> {
  return composite(CompositeKind.SinCos2d, [], { gridH, gridW, dim }, like);
}

/** Mean squared error over all elements. @example const loss = mse(pred, target); */
export function mse<S extends Shape, D extends DType>(a: Tensor<S, D>, b: Tensor<S, D>): Tensor<readonly [], D> {
  return composite(CompositeKind.Mse, [erase(a), erase(b)], {}, erase(a));
}

/** Cosine similarity along an axis, norms clamped at eps.
 * @example const cos = cosineSimilarity(pred, target);   // [B, N, F] → [B, N] */
export function cosineSimilarity<S extends Shape, D extends DType>(a: Tensor<S, D>, b: Tensor<S, D>, axis = -1, eps = 1e-8): Tensor<Shape, D> {
  return composite(CompositeKind.CosineSimilarity, [erase(a), erase(b)], { axis, eps }, erase(a));
}

/** Elementwise select with broadcasting. @example const y = where(mask, maskToken, x); */
export function where<D extends DType>(cond: Tensor<Shape, DType.Bool>, a: Tensor<Shape, D> | number, b: Tensor<Shape, D> | number): Tensor<Shape, D> {
  const builder = cond.owner.builder;
  return new Tensor(builder.where(cond.node, typeof a === 'number' ? a : a.node, typeof b === 'number' ? b : b.node), cond.owner);
}

/** Joins tensors along an axis. @example const seq = concat([cls, tokens, latents], 1); */
export function concat<D extends DType>(xs: readonly Tensor<Shape, D>[], axis: number): Tensor<Shape, D> {
  const first = xs[0];
  if (!first) throw new Error('concat: needs at least one tensor');
  return new Tensor(first.owner.builder.concat(xs.map((x) => x.node), axis), first.owner);
}

/** Rows of `table` along `axis` at integer indices. @example const picked = gather(x, idx, 1); */
export function gather<D extends DType>(table: Tensor<Shape, D>, indices: Tensor<Shape, DType.I32 | DType.U32>, axis = 0): Tensor<Shape, D> {
  return new Tensor(table.owner.builder.gather(table.node, indices.node, axis), table.owner);
}

/** The transpose of gather: sums rows into a zero tensor of length `size` on `axis`.
 * @example const grad = scatterAdd(rows, ids, 0, vocab); */
export function scatterAdd<D extends DType>(updates: Tensor<Shape, D>, indices: Tensor<Shape, DType.I32 | DType.U32>, axis: number, size: number): Tensor<Shape, D> {
  return new Tensor(updates.owner.builder.scatterAdd(updates.node, indices.node, axis, size), updates.owner);
}

/** General dot with explicit batch and contracting axes (XLA dot_general).
 * @example const s = dot(q, k, { batch: [[0, 1], [0, 1]], contract: [[3], [3]] }); */
export function dot<D extends DType>(a: Tensor<Shape, D>, b: Tensor<Shape, D>, dims: { batch: readonly [readonly number[], readonly number[]]; contract: readonly [readonly number[], readonly number[]] }): Tensor<Shape, D> {
  return new Tensor(a.owner.builder.dot(a.node, b.node, dims), a.owner);
}

/** Writes `value` into a parameter or input buffer when the program runs (in-place update).
 * @example assign(w, w.sub(g.mul(lr))); */
export function assign<S extends Shape, D extends DType>(target: Tensor<S, D>, value: Tensor<S, D>): Tensor<S, D> {
  return new Tensor(target.owner.builder.assign(target.node, value.node), target.owner);
}

/** Marks a value as constant for differentiation. @example const t = stopGradient(target); */
export function stopGradient<S extends Shape, D extends DType>(x: Tensor<S, D>): Tensor<S, D> {
  return x.stopGradient();
}

/** One-hot encoding of integer labels along a new last axis (out-of-range labels give all zeros).
 * @example const target = oneHot(labels, 10);   // [B] → [B, 10] */
export function oneHot(labels: Tensor<Shape, DType.I32 | DType.U32>, classes: number, dtype: DType = DType.F32): Tensor<Shape, DType.F32> {
  const b = labels.owner.builder;
  const shape = [...labels.shape, classes];
  const ids = b.iota(shape, -1, labels.dtype);
  const hit = b.eq(b.broadcastTo(b.reshape(labels.node, [...labels.shape, 1]), shape), ids);
  return new Tensor(b.cast(hit, dtype), labels.owner);
}
