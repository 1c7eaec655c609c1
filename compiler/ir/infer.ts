// Graph IR · type inference: the one rule book for every primitive's output dtype
// and shape. The builder calls it before interning a node; the verifier calls it
// again on finished graphs (including hand-built ones) and compares.

import { DType, byteSize, isFloat, isInt } from './dtype.ts';
import { ShapeError, formatShape, type Shape } from './errors.ts';
import { COMPARE_OPS, FLOAT_ONLY_OPS, INTEGER_ONLY_OPS, Op } from './op.ts';
import type { OpArgs, TypeOf } from './node.ts';
import { size } from './node.ts';

function fail(op: Op, srcs: readonly TypeOf[], detail: string): never {
  throw new ShapeError(op, srcs.map((s) => s.shape), detail);
}

function arity(op: Op, srcs: readonly TypeOf[], n: number): void {
  if (srcs.length !== n) fail(op, srcs, `expects ${n} operand(s), got ${srcs.length}`);
}

function checkAxes(op: Op, srcs: readonly TypeOf[], axes: readonly number[], rank: number, what = 'axes'): void {
  const seen = new Set<number>();
  for (const a of axes) {
    if (!Number.isInteger(a) || a < 0 || a >= rank) fail(op, srcs, `${what} ${formatShape(axes)} out of range for rank ${rank}`);
    if (seen.has(a)) fail(op, srcs, `${what} ${formatShape(axes)} repeat axis ${a}`);
    seen.add(a);
  }
}

function checkShape(op: Op, srcs: readonly TypeOf[], shape: Shape): void {
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(op, srcs, `invalid dimension ${d} in ${formatShape(shape)}`);
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function elementwise(op: Op, srcs: readonly TypeOf[]): void {
  const first = srcs[0];
  if (!first) return;
  for (const s of srcs.slice(1)) {
    if (!sameShape(s.shape, first.shape)) fail(op, srcs, 'operand shapes differ (broadcast first with expand)');
  }
}

/** Output type of a primitive node. Composites are typed by their decomposition (compiler/composite). */
export function inferType<O extends Op>(op: O, srcs: readonly TypeOf[], arg: OpArgs[O]): TypeOf {
  const a = arg as OpArgs[Op];
  const x = srcs[0];
  const o: Op = op;
  switch (o) {
    case Op.Neg: case Op.Recip: case Op.Sqrt: case Op.Exp2: case Op.Log2:
    case Op.Sin: case Op.Trunc: case Op.Erf: case Op.Not: {
      arity(op, srcs, 1);
      const dtype = srcs[0]!.dtype;
      if (FLOAT_ONLY_OPS.has(op) && !isFloat(dtype)) fail(op, srcs, `needs a float operand, got ${dtype}`);
      if (INTEGER_ONLY_OPS.has(op) && !isInt(dtype) && dtype !== DType.Bool) fail(op, srcs, `needs an integer or bool operand, got ${dtype}`);
      if (op === Op.Neg && (dtype === DType.Bool || dtype === DType.U32)) fail(op, srcs, `cannot negate ${dtype}`);
      return { dtype, shape: srcs[0]!.shape };
    }
    case Op.Add: case Op.Mul: case Op.Max: case Op.CmpLt: case Op.CmpNe: case Op.IDiv:
    case Op.Mod: case Op.And: case Op.Or: case Op.Xor: case Op.Shl: case Op.Shr: {
      arity(op, srcs, 2);
      elementwise(op, srcs);
      const [l, r] = srcs as [TypeOf, TypeOf];
      if (l.dtype !== r.dtype) fail(op, srcs, `operand dtypes differ (${l.dtype} vs ${r.dtype}); cast one first`);
      const logical = op === Op.And || op === Op.Or || op === Op.Xor || op === Op.CmpNe;
      if (INTEGER_ONLY_OPS.has(op) && !isInt(l.dtype) && !(logical && l.dtype === DType.Bool)) {
        fail(op, srcs, `needs integer operands${logical ? ' or bool' : ''}, got ${l.dtype}`);
      }
      if (l.dtype === DType.Bool && !logical) fail(op, srcs, 'is not defined on bool; cast to a number type first');
      return { dtype: COMPARE_OPS.has(op) ? DType.Bool : l.dtype, shape: l.shape };
    }
    case Op.Const: {
      const c = a as OpArgs[Op.Const];
      arity(op, srcs, 0);
      checkShape(op, srcs, c.shape);
      if (!Number.isFinite(c.value)) fail(op, srcs, `constant ${c.value} is not finite (kiln never relies on NaN/Inf)`);
      return { dtype: c.dtype, shape: c.shape };
    }
    case Op.Iota: {
      const c = a as OpArgs[Op.Iota];
      arity(op, srcs, 0);
      checkShape(op, srcs, c.shape);
      checkAxes(op, srcs, [c.axis], c.shape.length);
      if (c.dtype === DType.Bool) fail(op, srcs, 'iota cannot be bool');
      return { dtype: c.dtype, shape: c.shape };
    }
    case Op.Input:
    case Op.Param: {
      const c = a as OpArgs[Op.Input];
      arity(op, srcs, 0);
      checkShape(op, srcs, c.shape);
      if (!c.name) fail(op, srcs, 'needs a name');
      return { dtype: c.dtype, shape: c.shape };
    }
    case Op.RandomBits: {
      const c = a as OpArgs[Op.RandomBits];
      arity(op, srcs, 1);
      if (x!.dtype !== DType.U32 || !sameShape(x!.shape, [2])) fail(op, srcs, `key must be u32[2], got ${x!.dtype}${formatShape(x!.shape)}`);
      checkShape(op, srcs, c.shape);
      return { dtype: DType.U32, shape: c.shape };
    }
    case Op.Where: {
      arity(op, srcs, 3);
      elementwise(op, srcs);
      const [c, t, f] = srcs as [TypeOf, TypeOf, TypeOf];
      if (c.dtype !== DType.Bool) fail(op, srcs, `condition must be bool, got ${c.dtype}`);
      if (t.dtype !== f.dtype) fail(op, srcs, `branch dtypes differ (${t.dtype} vs ${f.dtype})`);
      return { dtype: t.dtype, shape: t.shape };
    }
    case Op.Cast:
      arity(op, srcs, 1);
      return { dtype: (a as OpArgs[Op.Cast]).dtype, shape: x!.shape };
    case Op.Bitcast: {
      arity(op, srcs, 1);
      const to = (a as OpArgs[Op.Bitcast]).dtype;
      if (to === DType.Bool || x!.dtype === DType.Bool || byteSize(to) !== byteSize(x!.dtype)) {
        fail(op, srcs, `cannot bitcast ${x!.dtype} to ${to} (sizes must match, no bool)`);
      }
      return { dtype: to, shape: x!.shape };
    }
    case Op.ReduceSum:
    case Op.ReduceMax: {
      arity(op, srcs, 1);
      const axes = (a as OpArgs[Op.ReduceSum]).axes;
      checkAxes(op, srcs, axes, x!.shape.length);
      if (x!.dtype === DType.Bool) fail(op, srcs, 'cannot reduce bool; cast first');
      return { dtype: x!.dtype, shape: x!.shape.map((d, i) => (axes.includes(i) ? 1 : d)) };
    }
    case Op.Reshape: {
      arity(op, srcs, 1);
      const shape = (a as OpArgs[Op.Reshape]).shape;
      checkShape(op, srcs, shape);
      if (size(shape) !== size(x!.shape)) fail(op, [...srcs, { dtype: x!.dtype, shape }], `cannot reshape ${size(x!.shape)} elements into ${formatShape(shape)}`);
      return { dtype: x!.dtype, shape };
    }
    case Op.Permute: {
      arity(op, srcs, 1);
      const perm = (a as OpArgs[Op.Permute]).perm;
      if (perm.length !== x!.shape.length) fail(op, srcs, `permutation ${formatShape(perm)} has wrong length`);
      checkAxes(op, srcs, perm, x!.shape.length, 'permutation');
      return { dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) };
    }
    case Op.Expand: {
      arity(op, srcs, 1);
      const shape = (a as OpArgs[Op.Expand]).shape;
      checkShape(op, srcs, shape);
      if (shape.length !== x!.shape.length || x!.shape.some((d, i) => d !== shape[i] && d !== 1)) {
        fail(op, [...srcs, { dtype: x!.dtype, shape }], 'can only expand axes of size 1 (same rank)');
      }
      return { dtype: x!.dtype, shape };
    }
    case Op.Pad: {
      arity(op, srcs, 1);
      const { pads, value } = a as OpArgs[Op.Pad];
      if (pads.length !== x!.shape.length) fail(op, srcs, `needs one [before, after] pair per axis, got ${pads.length}`);
      if (pads.some(([lo, hi]) => !Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < 0)) fail(op, srcs, 'pads must be non-negative integers');
      if (!Number.isFinite(value)) fail(op, srcs, 'pad value must be finite');
      return { dtype: x!.dtype, shape: x!.shape.map((d, i) => d + pads[i]![0] + pads[i]![1]) };
    }
    case Op.Shrink: {
      arity(op, srcs, 1);
      const ranges = (a as OpArgs[Op.Shrink]).ranges;
      if (ranges.length !== x!.shape.length) fail(op, srcs, `needs one [start, end) per axis, got ${ranges.length}`);
      ranges.forEach(([s, e], i) => {
        if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e < s || e > x!.shape[i]!) fail(op, srcs, `range [${s}, ${e}) out of bounds on axis ${i}`);
      });
      return { dtype: x!.dtype, shape: ranges.map(([s, e]) => e - s) };
    }
    case Op.Flip:
      arity(op, srcs, 1);
      checkAxes(op, srcs, (a as OpArgs[Op.Flip]).axes, x!.shape.length);
      return { dtype: x!.dtype, shape: x!.shape };
    case Op.Dot: {
      arity(op, srcs, 2);
      const [l, r] = srcs as [TypeOf, TypeOf];
      const dims = a as OpArgs[Op.Dot];
      if (l.dtype !== r.dtype) fail(op, srcs, `operand dtypes differ (${l.dtype} vs ${r.dtype})`);
      if (l.dtype === DType.Bool) fail(op, srcs, 'is not defined on bool');
      const [ba, bb] = dims.batch;
      const [ca, cb] = dims.contract;
      if (ba.length !== bb.length || ca.length !== cb.length) fail(op, srcs, 'batch/contract axis lists must pair up');
      checkAxes(op, srcs, [...ba, ...ca], l.shape.length);
      checkAxes(op, srcs, [...bb, ...cb], r.shape.length);
      ba.forEach((ax, i) => {
        if (l.shape[ax] !== r.shape[bb[i]!]) fail(op, srcs, `batch axis ${ax} (${l.shape[ax]}) does not match axis ${bb[i]} (${r.shape[bb[i]!]})`);
      });
      ca.forEach((ax, i) => {
        if (l.shape[ax] !== r.shape[cb[i]!]) fail(op, srcs, `contracted axis ${ax} (${l.shape[ax]}) does not match axis ${cb[i]} (${r.shape[cb[i]!]})`);
      });
      const freeL = l.shape.filter((_, i) => !ba.includes(i) && !ca.includes(i));
      const freeR = r.shape.filter((_, i) => !bb.includes(i) && !cb.includes(i));
      return { dtype: l.dtype, shape: [...ba.map((ax) => l.shape[ax]!), ...freeL, ...freeR] };
    }
    case Op.Gather: {
      arity(op, srcs, 2);
      const [table, idx] = srcs as [TypeOf, TypeOf];
      const { axis } = a as OpArgs[Op.Gather];
      checkAxes(op, srcs, [axis], table.shape.length);
      if (!isInt(idx.dtype)) fail(op, srcs, `indices must be i32 or u32, got ${idx.dtype}`);
      return { dtype: table.dtype, shape: [...table.shape.slice(0, axis), ...idx.shape, ...table.shape.slice(axis + 1)] };
    }
    case Op.ScatterAdd: {
      arity(op, srcs, 2);
      const [updates, idx] = srcs as [TypeOf, TypeOf];
      const { axis, size: length } = a as OpArgs[Op.ScatterAdd];
      if (!isInt(idx.dtype)) fail(op, srcs, `indices must be i32 or u32, got ${idx.dtype}`);
      if (updates.dtype === DType.Bool) fail(op, srcs, 'cannot scatter-add bool');
      if (!Number.isInteger(length) || length < 0) fail(op, srcs, `invalid size ${length}`);
      const idxEnd = axis + idx.shape.length;
      if (axis < 0 || idxEnd > updates.shape.length || !sameShape(updates.shape.slice(axis, idxEnd), idx.shape)) {
        fail(op, srcs, `updates must hold the indices' shape at axis ${axis}`);
      }
      return { dtype: updates.dtype, shape: [...updates.shape.slice(0, axis), length, ...updates.shape.slice(idxEnd)] };
    }
    case Op.Assign: {
      arity(op, srcs, 2);
      elementwise(op, srcs);
      if (srcs[0]!.dtype !== srcs[1]!.dtype) fail(op, srcs, `value dtype ${srcs[1]!.dtype} differs from target ${srcs[0]!.dtype}`);
      return srcs[1]!;
    }
    case Op.StopGradient:
    case Op.Barrier:
      arity(op, srcs, 1);
      return x!;
    case Op.Composite:
      throw new Error('inferType: composites are typed by their decomposition (compiler/composite/registry.ts)');
    default:
      return o satisfies never;
  }
}
