// DSL · typed tensor handles. A Tensor<S, D> is a symbolic value during tracing:
// it wraps one Graph IR node plus the tracer that owns the builder. Shapes are
// literal tuples where known (checked by tsc), and every op is checked again at
// trace time, throwing a ShapeError that names the op, the shapes and the
// user's source line.

import type { CheckpointRegion } from '../compiler/autodiff/backward.ts';
import type { Builder, Operand } from '../compiler/ir/builder.ts';
import { DType } from '../compiler/ir/dtype.ts';
import { ShapeError } from '../compiler/ir/errors.ts';
import type { Node } from '../compiler/ir/node.ts';
import type { Broadcast, BroadcastCheck, MatmulCheck, MatmulShape, Permuted, Shape } from './shape.ts';

/** What a tensor needs from its tracer: the builder its nodes are interned in, and its checkpointed regions. */
export interface TensorOwner {
  readonly builder: Builder;
  readonly regions: Map<number, CheckpointRegion>;
  /** How many keys ctx.rng() has handed out; a recomputed region replays the same ones. */
  rngCount: number;
}

type Other<B extends Shape, D extends DType> = Tensor<B, D> | number;
type Bool = DType.Bool;

export class Tensor<S extends Shape = Shape, D extends DType = DType> {
  constructor(
    readonly node: Node,
    readonly owner: TensorOwner,
  ) {}

  get shape(): S {
    return this.node.shape as unknown as S;
  }

  get dtype(): D {
    return this.node.dtype as D;
  }

  get rank(): number {
    return this.node.shape.length;
  }

  private get b(): Builder {
    return this.owner.builder;
  }

  private wrap<S2 extends Shape = Shape, D2 extends DType = D>(node: Node): Tensor<S2, D2> {
    return new Tensor<S2, D2>(node, this.owner);
  }

  private static operand(x: { readonly node: Node } | number): Operand {
    return typeof x === 'number' ? x : x.node;
  }

  toString(): string {
    return `Tensor<${this.dtype}[${this.shape.join(',')}]>`;
  }

  // ---- elementwise arithmetic (numpy broadcasting) ---------------------------

  /**
   * Elementwise sum with broadcasting.
   * @example const y = x.add(bias);   // [B, T, D] + [D] → [B, T, D]
   *          const z = x.add(1);
   */
  add<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.add(this.node, Tensor.operand(other)));
  }

  /** @example const r = x.sub(x.mean(-1, true));   // centre rows */
  sub<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.sub(this.node, Tensor.operand(other)));
  }

  /** @example const y = x.mul(gate);   // [B, T, D] * [B, 1, D] */
  mul<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.mul(this.node, Tensor.operand(other)));
  }

  /** Float division, or truncating division for integers. @example const p = e.div(e.sum(-1, true)); */
  div<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.div(this.node, Tensor.operand(other)));
  }

  /** Remainder with the dividend's sign. @example const col = idx.mod(width); */
  mod<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.mod(this.node, Tensor.operand(other)));
  }

  /** @example const relu = x.maximum(0); */
  maximum<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.max(this.node, Tensor.operand(other)));
  }

  /** @example const clipped = x.minimum(1); */
  minimum<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.min(this.node, Tensor.operand(other)));
  }

  /** Bitwise (or logical, on bool) and. @example const m = a.and(b); */
  and<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.and(this.node, Tensor.operand(other)));
  }

  /** @example const m = a.or(b); */
  or<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.or(this.node, Tensor.operand(other)));
  }

  /** @example const m = a.xor(b); */
  xor<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.xor(this.node, Tensor.operand(other)));
  }

  /** Shift left by (amount mod 32). @example const hi = bits.shl(16); */
  shl<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.shl(this.node, Tensor.operand(other)));
  }

  /** Shift right (logical for u32, arithmetic for i32). @example const mantissa = bits.shr(9); */
  shr<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, D> {
    return this.wrap(this.b.shr(this.node, Tensor.operand(other)));
  }

  // ---- comparisons (bool results) -------------------------------------------

  /** @example const neg = x.lt(0); */
  lt<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, Bool> {
    return this.wrap(this.b.lt(this.node, Tensor.operand(other)));
  }
  /** @example const pos = x.gt(0); */
  gt<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, Bool> {
    return this.wrap(this.b.gt(this.node, Tensor.operand(other)));
  }
  /** @example const inside = x.le(1); */
  le<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, Bool> {
    return this.wrap(this.b.le(this.node, Tensor.operand(other)));
  }
  /** @example const inside = x.ge(0); */
  ge<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, Bool> {
    return this.wrap(this.b.ge(this.node, Tensor.operand(other)));
  }
  /** @example const isNull = labels.eq(numClasses); */
  eq<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, Bool> {
    return this.wrap(this.b.eq(this.node, Tensor.operand(other)));
  }
  /** @example const changed = a.ne(b); */
  ne<B extends Shape = []>(other: Other<B, D>, ..._check: BroadcastCheck<S, B>): Tensor<Broadcast<S, B>, Bool> {
    return this.wrap(this.b.ne(this.node, Tensor.operand(other)));
  }

  // ---- unary math -------------------------------------------------------------

  /** @example const y = x.neg(); */
  neg(): Tensor<S, D> { return this.wrap(this.b.neg(this.node)); }
  /** @example const inv = x.recip(); */
  recip(): Tensor<S, D> { return this.wrap(this.b.recip(this.node)); }
  /** @example const r = x.sqrt(); */
  sqrt(): Tensor<S, D> { return this.wrap(this.b.sqrt(this.node)); }
  /** @example const r = variance.add(1e-6).rsqrt(); */
  rsqrt(): Tensor<S, D> { return this.wrap(this.b.rsqrt(this.node)); }
  /** @example const e = x.exp(); */
  exp(): Tensor<S, D> { return this.wrap(this.b.exp(this.node)); }
  /** @example const e = x.exp2(); */
  exp2(): Tensor<S, D> { return this.wrap(this.b.exp2(this.node)); }
  /** Natural log. @example const l = p.log(); */
  log(): Tensor<S, D> { return this.wrap(this.b.log(this.node)); }
  /** @example const l = p.log2(); */
  log2(): Tensor<S, D> { return this.wrap(this.b.log2(this.node)); }
  /** @example const s = angle.sin(); */
  sin(): Tensor<S, D> { return this.wrap(this.b.sin(this.node)); }
  /** @example const c = angle.cos(); */
  cos(): Tensor<S, D> { return this.wrap(this.b.cos(this.node)); }
  /** @example const t = x.tanh(); */
  tanh(): Tensor<S, D> { return this.wrap(this.b.tanh(this.node)); }
  /** @example const g = x.sigmoid(); */
  sigmoid(): Tensor<S, D> { return this.wrap(this.b.sigmoid(this.node)); }
  /** @example const e = x.erf(); */
  erf(): Tensor<S, D> { return this.wrap(this.b.erf(this.node)); }
  /** @example const a = x.abs(); */
  abs(): Tensor<S, D> { return this.wrap(this.b.abs(this.node)); }
  /** @example const sq = x.square(); */
  square(): Tensor<S, D> { return this.wrap(this.b.square(this.node)); }
  /** @example const r = x.relu(); */
  relu(): Tensor<S, D> { return this.wrap(this.b.relu(this.node)); }
  /** Rounds toward zero. @example const i = x.trunc(); */
  trunc(): Tensor<S, D> { return this.wrap(this.b.trunc(this.node)); }
  /** Bitwise not (logical on bool). @example const keep = mask.not(); */
  not(): Tensor<S, D> { return this.wrap(this.b.not(this.node)); }
  /** x^p for a constant p. @example const cube = x.pow(3); */
  pow(p: number): Tensor<S, D> { return this.wrap(this.b.pow(this.node, p)); }

  // ---- type conversion -----------------------------------------------------------

  /** @example const f = ids.cast(DType.F32); */
  cast<D2 extends DType>(dtype: D2): Tensor<S, D2> { return this.wrap(this.b.cast(this.node, dtype)); }
  /** Reinterprets the bits (same element size). @example const f = bits.bitcast(DType.F32); */
  bitcast<D2 extends DType>(dtype: D2): Tensor<S, D2> { return this.wrap(this.b.bitcast(this.node, dtype)); }

  // ---- reductions ----------------------------------------------------------------

  /** Sum over axes (all when omitted). @example const total = x.sum(); const rows = x.sum(-1, true); */
  sum(axes?: number | readonly number[], keepDims = false): Tensor<Shape, D> {
    return this.wrap(this.b.sum(this.node, axes, keepDims));
  }
  /** @example const mu = x.mean(-1, true); */
  mean(axes?: number | readonly number[], keepDims = false): Tensor<Shape, D> {
    return this.wrap(this.b.mean(this.node, axes, keepDims));
  }
  /** @example const m = x.max(-1, true); */
  max(axes?: number | readonly number[], keepDims = false): Tensor<Shape, D> {
    return this.wrap(this.b.reduceMax(this.node, axes, keepDims));
  }
  /** @example const m = x.min(-1); */
  min(axes?: number | readonly number[], keepDims = false): Tensor<Shape, D> {
    return this.wrap(this.b.reduceMin(this.node, axes, keepDims));
  }
  /** Biased variance. @example const v = x.variance(-1, true); */
  variance(axes?: number | readonly number[], keepDims = false): Tensor<Shape, D> {
    return this.wrap(this.b.variance(this.node, axes, keepDims));
  }

  // ---- views --------------------------------------------------------------------

  /** One dim may be -1. @example const heads = x.reshape([B, T, 4, 16] as const); */
  reshape<const T extends Shape>(shape: T): Tensor<T, D> { return this.wrap(this.b.reshape(this.node, shape)); }
  /** @example const y = x.permute([0, 2, 1, 3] as const); */
  permute<const P extends readonly number[]>(perm: P): Tensor<Permuted<S, P>, D> { return this.wrap(this.b.permute(this.node, perm)); }
  /** Swaps two axes (the last two by default). @example const kt = k.transpose(); */
  transpose(a = -2, b = -1): Tensor<Shape, D> { return this.wrap(this.b.transpose(this.node, a, b)); }
  /** Broadcasts to a shape (numpy rules). @example const y = bias.expand([B, T, D] as const); */
  expand<const T extends Shape>(shape: T): Tensor<T, D> { return this.wrap(this.b.expand(this.node, shape)); }
  /** Per-axis [before, after] padding. @example const y = x.pad([[0, 0], [1, 1]], 0); */
  pad(pads: readonly (readonly [number, number])[], value = 0): Tensor<Shape, D> { return this.wrap(this.b.pad(this.node, pads, value)); }
  /** x[start:end] along one axis. @example const latents = x.slice(1, N, N + L); */
  slice(axis: number, start: number, end: number): Tensor<Shape, D> { return this.wrap(this.b.slice(this.node, axis, start, end)); }
  /** @example const mirrored = img.flip(-1); */
  flip(axes: number | readonly number[]): Tensor<S, D> { return this.wrap(this.b.flip(this.node, axes)); }
  /** Inserts a size-1 axis. @example const c = cond.unsqueeze(1);   // [B, D] → [B, 1, D] */
  unsqueeze(axis: number): Tensor<Shape, D> {
    const rank = this.rank + 1;
    const a = axis < 0 ? axis + rank : axis;
    return this.wrap(this.b.reshape(this.node, [...this.shape.slice(0, a), 1, ...this.shape.slice(a)]));
  }
  /** Removes size-1 axes (all when omitted). @example const v = x.squeeze(0); */
  squeeze(axes?: number | readonly number[]): Tensor<Shape, D> {
    const list = axes === undefined ? this.shape.map((_, i) => i).filter((i) => this.shape[i] === 1) : typeof axes === 'number' ? [axes] : axes;
    const norm = list.map((a) => (a < 0 ? a + this.rank : a));
    return this.wrap(this.b.reshape(this.node, this.shape.filter((d, i) => !(norm.includes(i) && d === 1))));
  }
  /** Splits one axis into equal chunks. @example const [shift, scale, gate] = mod.chunk(3, -1); */
  chunk(count: number, axis = -1): Tensor<Shape, D>[] {
    const a = axis < 0 ? axis + this.rank : axis;
    const len = this.shape[a] ?? 0;
    if (len % count !== 0) throw new ShapeError('chunk', [this.shape], `axis ${axis} (${len}) does not split into ${count} equal chunks`);
    const step = len / count;
    return Array.from({ length: count }, (_, i) => this.slice(a, i * step, (i + 1) * step));
  }

  // ---- contraction ----------------------------------------------------------------

  /**
   * numpy matmul: [..., M, K] @ [..., K, N]; tsc rejects literal K mismatches.
   * @example const y = x.matmul(w);   // [B, T, 64] @ [64, 256] → [B, T, 256]
   */
  matmul<B extends Shape>(other: Tensor<B, D>, ..._check: MatmulCheck<S, B>): Tensor<MatmulShape<S, B>, D> {
    return this.wrap(this.b.matmul(this.node, other.node));
  }

  /** Identity forward, zero gradient. @example const target = teacher(x).stopGradient(); */
  stopGradient(): Tensor<S, D> { return this.wrap(this.b.stopGradient(this.node)); }
}
