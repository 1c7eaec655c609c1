// Graph IR · the builder: the only way nodes are made. Each method checks its
// operands through inferType (so a mistake throws a ShapeError at the user's
// line), applies numpy broadcasting by inserting reshape/expand views, and interns
// the node. The DSL's Tensor methods and every composite decomposition call these.

import { DType, isFloat } from './dtype.ts';
import { ShapeError, formatShape, type Shape } from './errors.ts';
import { inferType } from './infer.ts';
import { CompositeKind, NodeTable, type Attrs, type DotDims, type Node, type NodeWith, type OpArgs, type TypeOf } from './node.ts';
import { Op } from './op.ts';

export type Operand = Node | number;

/** Normalises a possibly negative axis against a rank; throws naming the op otherwise. */
export function normalizeAxis(op: string, axis: number, rank: number, shape: Shape = []): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(op, [shape], `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** numpy broadcasting of two shapes, or a ShapeError naming `op`. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Shape {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(op, [a, b], `shapes do not broadcast (axis ${i - rank}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

const LOG2E = Math.LOG2E;
const LN2 = Math.LN2;

export class Builder {
  constructor(private readonly table: NodeTable = new NodeTable()) {}

  /** Interns a primitive after checking it. */
  node<O extends Exclude<Op, Op.Composite>>(op: O, srcs: readonly Node[], arg: OpArgs[O]): NodeWith<O> {
    return this.table.intern(op, inferType(op, srcs, arg), srcs, arg);
  }

  /** Interns a composite whose output type its decomposition determined (compiler/composite/registry.ts). */
  compositeNode(kind: CompositeKind, srcs: readonly Node[], attrs: Attrs, type: TypeOf): NodeWith<Op.Composite> {
    return this.table.intern(Op.Composite, type, srcs, { kind, attrs });
  }

  // ---- sources -------------------------------------------------------------

  const(value: number, dtype: DType = DType.F32, shape: Shape = []): Node {
    return this.node(Op.Const, [], { value, dtype, shape });
  }

  iota(shape: Shape, axis: number, dtype: DType = DType.I32): Node {
    return this.node(Op.Iota, [], { axis: normalizeAxis('iota', axis, shape.length, shape), dtype, shape });
  }

  input(name: string, shape: Shape, dtype: DType = DType.F32): NodeWith<Op.Input> {
    return this.node(Op.Input, [], { name, dtype, shape });
  }

  param(name: string, shape: Shape, dtype: DType = DType.F32): NodeWith<Op.Param> {
    return this.node(Op.Param, [], { name, dtype, shape });
  }

  randomBits(key: Node, shape: Shape): Node {
    return this.node(Op.RandomBits, [key], { shape });
  }

  // ---- broadcasting ----------------------------------------------------------

  /** Broadcasts x to `shape` (numpy rules) with a reshape and an expand; no-op when equal. */
  broadcastTo(x: Node, shape: Shape, op = 'broadcastTo'): Node {
    if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
    const out = broadcastShapes(op, x.shape, shape);
    if (out.length !== shape.length || out.some((d, i) => d !== shape[i])) {
      throw new ShapeError(op, [x.shape, shape], `cannot broadcast to ${formatShape(shape)}`);
    }
    const padded = [...new Array<number>(shape.length - x.shape.length).fill(1), ...x.shape];
    const reshaped = padded.length === x.shape.length ? x : this.reshape(x, padded);
    return this.node(Op.Expand, [reshaped], { shape });
  }

  private operands(op: string, a: Operand, b: Operand): [Node, Node] {
    if (typeof a === 'number' && typeof b === 'number') throw new ShapeError(op, [], 'needs at least one tensor operand');
    if (typeof a === 'number') return [this.const(a, (b as Node).dtype, (b as Node).shape), b as Node];
    if (typeof b === 'number') return [a, this.const(b, a.dtype, a.shape)];
    const shape = broadcastShapes(op, a.shape, b.shape);
    return [this.broadcastTo(a, shape, op), this.broadcastTo(b, shape, op)];
  }

  private binary(op: Op.Add | Op.Mul | Op.Max | Op.CmpLt | Op.CmpNe | Op.IDiv | Op.Mod | Op.And | Op.Or | Op.Xor | Op.Shl | Op.Shr, a: Operand, b: Operand): Node {
    const [l, r] = this.operands(op, a, b);
    return this.node(op, [l, r], null);
  }

  // ---- elementwise primitives -----------------------------------------------

  neg(x: Node): Node { return this.node(Op.Neg, [x], null); }
  recip(x: Node): Node { return this.node(Op.Recip, [x], null); }
  sqrt(x: Node): Node { return this.node(Op.Sqrt, [x], null); }
  exp2(x: Node): Node { return this.node(Op.Exp2, [x], null); }
  log2(x: Node): Node { return this.node(Op.Log2, [x], null); }
  sin(x: Node): Node { return this.node(Op.Sin, [x], null); }
  trunc(x: Node): Node { return this.node(Op.Trunc, [x], null); }
  erf(x: Node): Node { return this.node(Op.Erf, [x], null); }
  not(x: Node): Node { return this.node(Op.Not, [x], null); }

  add(a: Operand, b: Operand): Node { return this.binary(Op.Add, a, b); }
  mul(a: Operand, b: Operand): Node { return this.binary(Op.Mul, a, b); }
  max(a: Operand, b: Operand): Node { return this.binary(Op.Max, a, b); }
  lt(a: Operand, b: Operand): Node { return this.binary(Op.CmpLt, a, b); }
  ne(a: Operand, b: Operand): Node { return this.binary(Op.CmpNe, a, b); }
  idiv(a: Operand, b: Operand): Node { return this.binary(Op.IDiv, a, b); }
  mod(a: Operand, b: Operand): Node { return this.binary(Op.Mod, a, b); }
  and(a: Operand, b: Operand): Node { return this.binary(Op.And, a, b); }
  or(a: Operand, b: Operand): Node { return this.binary(Op.Or, a, b); }
  xor(a: Operand, b: Operand): Node { return this.binary(Op.Xor, a, b); }
  shl(a: Operand, b: Operand): Node { return this.binary(Op.Shl, a, b); }
  shr(a: Operand, b: Operand): Node { return this.binary(Op.Shr, a, b); }

  where(cond: Node, a: Operand, b: Operand): Node {
    const dtype = typeof a === 'number' ? (typeof b === 'number' ? DType.F32 : b.dtype) : a.dtype;
    const ta = typeof a === 'number' ? this.const(a, dtype) : a;
    const tb = typeof b === 'number' ? this.const(b, dtype) : b;
    const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, ta.shape), tb.shape);
    return this.node(Op.Where, [this.broadcastTo(cond, shape, 'where'), this.broadcastTo(ta, shape, 'where'), this.broadcastTo(tb, shape, 'where')], null);
  }

  cast(x: Node, dtype: DType): Node {
    return x.dtype === dtype ? x : this.node(Op.Cast, [x], { dtype });
  }

  bitcast(x: Node, dtype: DType): Node {
    return this.node(Op.Bitcast, [x], { dtype });
  }

  // ---- derived elementwise math (decomposed here, once) ---------------------

  sub(a: Operand, b: Operand): Node {
    if (typeof b === 'number') return this.add(a, -b);
    const [l, r] = this.operands('sub', a, b);
    // u32 has no negation: −r ≡ r·(2³²−1) mod 2³², so the difference wraps like C's unsigned subtraction.
    return this.add(l, l.dtype === DType.U32 ? this.mul(r, 0xffffffff) : this.neg(r));
  }

  div(a: Operand, b: Operand): Node {
    const [l, r] = this.operands('div', a, b);
    if (!isFloat(l.dtype)) return this.idiv(l, r);
    return typeof b === 'number' ? this.mul(l, 1 / b) : this.mul(l, this.recip(r));
  }

  min(a: Operand, b: Operand): Node {
    const [l, r] = this.operands('min', a, b);
    return this.where(this.lt(r, l), r, l);
  }

  gt(a: Operand, b: Operand): Node { return this.lt(b, a); }
  ge(a: Operand, b: Operand): Node { return this.not(this.lt(a, b)); }
  le(a: Operand, b: Operand): Node { return this.not(this.lt(b, a)); }
  eq(a: Operand, b: Operand): Node { return this.not(this.ne(a, b)); }

  exp(x: Node): Node { return this.exp2(this.mul(x, LOG2E)); }
  log(x: Node): Node { return this.mul(this.log2(x), LN2); }
  cos(x: Node): Node { return this.sin(this.add(x, Math.PI / 2)); }
  square(x: Node): Node { return this.mul(x, x); }
  rsqrt(x: Node): Node { return this.recip(this.sqrt(x)); }
  abs(x: Node): Node { return x.dtype === DType.U32 ? x : this.max(x, this.neg(x)); }
  relu(x: Node): Node { return this.max(x, 0); }

  /** 1/(1+e^-x), written so no intermediate overflows for large |x|. */
  sigmoid(x: Node): Node {
    // −|x| as a select, not max(x, −x): the tie rule of max would zero the gradient at x = 0.
    const negAbs = this.where(this.lt(x, 0), x, this.neg(x));
    const e = this.exp(negAbs);
    const pos = this.recip(this.add(e, 1));
    return this.where(this.lt(x, 0), this.mul(e, pos), pos);
  }

  /** tanh(x) = 2·sigmoid(2x) − 1. */
  tanh(x: Node): Node {
    return this.sub(this.mul(this.sigmoid(this.mul(x, 2)), 2), 1);
  }

  /** x^p for a constant p: small integer powers become products, others exp2(p·log2 x) (x > 0). */
  pow(x: Node, p: number): Node {
    if (p === 1) return x;
    if (p === 2) return this.square(x);
    if (p === 0.5) return this.sqrt(x);
    if (p === -1) return this.recip(x);
    return this.exp2(this.mul(this.log2(x), p));
  }

  // ---- reductions ------------------------------------------------------------

  private axesOf(op: string, x: Node, axes: number | readonly number[] | undefined): number[] {
    if (axes === undefined) return x.shape.map((_, i) => i);
    const list = typeof axes === 'number' ? [axes] : axes;
    return [...new Set(list.map((a) => normalizeAxis(op, a, x.shape.length, x.shape)))].sort((p, q) => p - q);
  }

  private dropAxes(x: Node, axes: readonly number[], keepDims: boolean): Node {
    return keepDims ? x : this.reshape(x, x.shape.filter((_, i) => !axes.includes(i)));
  }

  sum(x: Node, axes?: number | readonly number[], keepDims = false): Node {
    const ax = this.axesOf('sum', x, axes);
    return this.dropAxes(this.node(Op.ReduceSum, [x], { axes: ax }), ax, keepDims);
  }

  reduceMax(x: Node, axes?: number | readonly number[], keepDims = false): Node {
    const ax = this.axesOf('max', x, axes);
    return this.dropAxes(this.node(Op.ReduceMax, [x], { axes: ax }), ax, keepDims);
  }

  reduceMin(x: Node, axes?: number | readonly number[], keepDims = false): Node {
    // Bitwise not reverses the order of i32 and u32 without overflowing at the extremes.
    if (!isFloat(x.dtype)) return this.not(this.reduceMax(this.not(x), axes, keepDims));
    return this.neg(this.reduceMax(this.neg(x), axes, keepDims));
  }

  mean(x: Node, axes?: number | readonly number[], keepDims = false): Node {
    const ax = this.axesOf('mean', x, axes);
    const count = ax.reduce((n, a) => n * x.shape[a]!, 1);
    return this.mul(this.sum(x, ax, keepDims), 1 / count);
  }

  /** Biased variance (divides by the count), as LayerNorm uses it. */
  variance(x: Node, axes?: number | readonly number[], keepDims = false): Node {
    const ax = this.axesOf('variance', x, axes);
    const centered = this.sub(x, this.mean(x, ax, true));
    return this.mean(this.square(centered), ax, keepDims);
  }

  // ---- views -----------------------------------------------------------------

  /** Reshape; one dimension may be -1 and is inferred. */
  reshape(x: Node, shape: Shape): Node {
    const unknown = shape.filter((d) => d === -1).length;
    let target = shape;
    if (unknown === 1) {
      const known = shape.reduce((n, d) => (d === -1 ? n : n * d), 1);
      const total = x.shape.reduce((n, d) => n * d, 1);
      if (known === 0 || total % known !== 0) throw new ShapeError('reshape', [x.shape, shape], `cannot infer -1 (${total} elements)`);
      target = shape.map((d) => (d === -1 ? total / known : d));
    } else if (unknown > 1) {
      throw new ShapeError('reshape', [x.shape, shape], 'at most one dimension may be -1');
    }
    if (target.length === x.shape.length && target.every((d, i) => d === x.shape[i])) return x;
    return this.node(Op.Reshape, [x], { shape: target });
  }

  permute(x: Node, perm: readonly number[]): Node {
    const p = perm.map((a) => normalizeAxis('permute', a, x.shape.length, x.shape));
    if (p.every((a, i) => a === i) && p.length === x.shape.length) return x;
    return this.node(Op.Permute, [x], { perm: p });
  }

  /** Swaps two axes. */
  transpose(x: Node, a = -2, b = -1): Node {
    const rank = x.shape.length;
    const perm = x.shape.map((_, i) => i);
    const i = normalizeAxis('transpose', a, rank, x.shape);
    const j = normalizeAxis('transpose', b, rank, x.shape);
    perm[i] = j;
    perm[j] = i;
    return this.permute(x, perm);
  }

  expand(x: Node, shape: Shape): Node {
    return this.broadcastTo(x, shape, 'expand');
  }

  pad(x: Node, pads: readonly (readonly [number, number])[], value = 0): Node {
    if (pads.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.node(Op.Pad, [x], { pads, value });
  }

  shrink(x: Node, ranges: readonly (readonly [number, number])[]): Node {
    if (ranges.every(([s, e], i) => s === 0 && e === x.shape[i])) return x;
    return this.node(Op.Shrink, [x], { ranges });
  }

  /** x[start:end] along one axis. */
  slice(x: Node, axis: number, start: number, end: number): Node {
    const a = normalizeAxis('slice', axis, x.shape.length, x.shape);
    return this.shrink(x, x.shape.map((d, i): [number, number] => (i === a ? [start, end] : [0, d])));
  }

  flip(x: Node, axes: number | readonly number[]): Node {
    const list = (typeof axes === 'number' ? [axes] : axes).map((a) => normalizeAxis('flip', a, x.shape.length, x.shape));
    return this.node(Op.Flip, [x], { axes: list });
  }

  /** Joins tensors along an axis: each piece is zero-padded into place and the pieces are summed. */
  concat(xs: readonly Node[], axis: number): Node {
    const first = xs[0];
    if (!first) throw new ShapeError('concat', [], 'needs at least one tensor');
    const a = normalizeAxis('concat', axis, first.shape.length, first.shape);
    for (const x of xs) {
      if (x.shape.length !== first.shape.length || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
        throw new ShapeError('concat', xs.map((t) => t.shape), `shapes differ off axis ${axis}`);
      }
    }
    if (xs.length === 1) return first;
    const total = xs.reduce((n, x) => n + x.shape[a]!, 0);
    let offset = 0;
    let acc: Node | undefined;
    for (const x of xs) {
      const len = x.shape[a]!;
      const placed = this.pad(x, x.shape.map((_, i): [number, number] => (i === a ? [offset, total - offset - len] : [0, 0])));
      acc = acc ? this.add(acc, placed) : placed;
      offset += len;
    }
    return acc!;
  }

  // ---- contraction and indexing ---------------------------------------------

  dot(a: Node, b: Node, dims: Omit<DotDims, 'accumulate'> & { accumulate?: DType }): Node {
    const accumulate = dims.accumulate ?? (isFloat(a.dtype) ? DType.F32 : a.dtype);
    return this.node(Op.Dot, [a, b], { batch: dims.batch, contract: dims.contract, accumulate });
  }

  /** numpy matmul: [..., M, K] @ [..., K, N] with broadcast batch dims; 1-D operands are vectors. */
  matmul(a: Node, b: Node): Node {
    if (a.shape.length === 0 || b.shape.length === 0) throw new ShapeError('matmul', [a.shape, b.shape], 'operands must have rank ≥ 1');
    const av = a.shape.length === 1 ? this.reshape(a, [1, a.shape[0]!]) : a;
    const bv = b.shape.length === 1 ? this.reshape(b, [b.shape[0]!, 1]) : b;
    const k = av.shape[av.shape.length - 1]!;
    const k2 = bv.shape[bv.shape.length - 2]!;
    if (k !== k2) throw new ShapeError('matmul', [a.shape, b.shape], `inner dimensions differ (${k} vs ${k2})`);
    const batch = broadcastShapes('matmul', av.shape.slice(0, -2), bv.shape.slice(0, -2));
    const la = this.broadcastTo(av, [...batch, ...av.shape.slice(-2)], 'matmul');
    const lb = this.broadcastTo(bv, [...batch, ...bv.shape.slice(-2)], 'matmul');
    const n = batch.length;
    const batchAxes = batch.map((_, i) => i);
    let out = this.dot(la, lb, { batch: [batchAxes, batchAxes], contract: [[n + 1], [n]] });
    if (a.shape.length === 1) out = this.reshape(out, [...batch, bv.shape[bv.shape.length - 1]!]);
    if (b.shape.length === 1) out = this.reshape(out, out.shape.slice(0, -1));
    return out;
  }

  gather(table: Node, indices: Node, axis = 0): Node {
    return this.node(Op.Gather, [table, indices], { axis: normalizeAxis('gather', axis, table.shape.length, table.shape) });
  }

  scatterAdd(updates: Node, indices: Node, axis: number, size: number): Node {
    return this.node(Op.ScatterAdd, [updates, indices], { axis, size });
  }

  // ---- structural ------------------------------------------------------------

  assign(target: Node, value: Node): Node {
    if (target.op !== Op.Param && target.op !== Op.Input) {
      throw new ShapeError('assign', [target.shape, value.shape], `target must be a param or input, got ${target.op}`);
    }
    return this.node(Op.Assign, [target, value], null);
  }

  stopGradient(x: Node): Node {
    return this.node(Op.StopGradient, [x], null);
  }

  barrier(x: Node): Node {
    return this.node(Op.Barrier, [x], null);
  }
}
