// Test support · naive reference semantics for the Graph IR primitives. Every
// function here is written from the op's definition with plain loops over
// multi-indices (no strides, no odometers, nothing from runtime/cpu), so it is an
// oracle independent of the interpreter it checks. Integer arithmetic goes through
// BigInt, so wrap-around is computed exactly rather than with JS's int32 tricks.

import fc from 'fast-check';
import { expect } from 'vitest';
import { DType } from '../../compiler/ir/dtype.ts';
import type { Shape } from '../../compiler/ir/errors.ts';

export interface NaiveTensor {
  readonly shape: Shape;
  readonly data: Float64Array;
}

// ---- multi-indices -----------------------------------------------------------

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Every multi-index of `shape`, in row-major order (the last axis varies fastest). */
export function allIndices(shape: Shape): number[][] {
  const out: number[][] = [];
  const idx = new Array<number>(shape.length).fill(0);
  const visit = (axis: number): void => {
    if (axis === shape.length) {
      out.push([...idx]);
      return;
    }
    for (let i = 0; i < shape[axis]!; i++) {
      idx[axis] = i;
      visit(axis + 1);
    }
  };
  visit(0);
  return out;
}

/** Row-major position of a multi-index (Horner's rule over the axes). */
export function flatIndex(shape: Shape, idx: readonly number[]): number {
  let flat = 0;
  for (let k = 0; k < shape.length; k++) flat = flat * shape[k]! + idx[k]!;
  return flat;
}

export function read(t: NaiveTensor, idx: readonly number[]): number {
  return t.data[flatIndex(t.shape, idx)]!;
}

/** A tensor whose element at each multi-index is f(index). */
export function tabulate(shape: Shape, f: (idx: readonly number[]) => number): NaiveTensor {
  const data = new Float64Array(numel(shape));
  allIndices(shape).forEach((idx, i) => {
    data[i] = f(idx);
  });
  return { shape: [...shape], data };
}

export function map(t: NaiveTensor, f: (x: number) => number): NaiveTensor {
  return { shape: t.shape, data: t.data.map(f) };
}

// ---- integer semantics (exact, through BigInt) -------------------------------

export const I32_MIN = -2147483648;
export const I32_MAX = 2147483647;
export const U32_MAX = 4294967295;

/** Wraps an exact integer into the value set of an integer dtype (two's complement, mod 2^32). */
export function wrapInt(x: bigint, dtype: DType): number {
  if (dtype === DType.I32) return Number(BigInt.asIntN(32, x));
  if (dtype === DType.U32) return Number(BigInt.asUintN(32, x));
  throw new Error(`wrapInt: ${dtype} is not an integer dtype`);
}

/** The shift amount modulo 32 (the low five bits, for negative amounts too). */
export function shiftAmount(b: number): bigint {
  return BigInt(((b % 32) + 32) % 32);
}

// ---- broadcasting (numpy rules) ---------------------------------------------

export function broadcastShape(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)]! : 1;
    const db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)]! : 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`naive: ${a} and ${b} do not broadcast`);
    out.push(Math.max(da, db));
  }
  return out;
}

/** The element of t that broadcasting places at `idx` of a larger shape: align right, read index 0 on size-1 axes. */
export function readBroadcast(t: NaiveTensor, idx: readonly number[]): number {
  const lead = idx.length - t.shape.length;
  return read(t, t.shape.map((d, k) => (d === 1 ? 0 : idx[lead + k]!)));
}

export function zipBroadcast(a: NaiveTensor, b: NaiveTensor, f: (x: number, y: number) => number): NaiveTensor {
  return tabulate(broadcastShape(a.shape, b.shape), (idx) => f(readBroadcast(a, idx), readBroadcast(b, idx)));
}

// ---- reductions ----------------------------------------------------------------

export interface Summed {
  readonly value: NaiveTensor;
  /** Σ|term| per output element: the yardstick for summation-order rounding. */
  readonly scale: Float64Array;
}

/** Reduction over `axes`, keeping them as size 1: for each output index, visit every input index that agrees off the axes. */
export function reduce(t: NaiveTensor, axes: readonly number[], kind: 'sum' | 'max'): Summed {
  const outShape = t.shape.map((d, k) => (axes.includes(k) ? 1 : d));
  const scale = new Float64Array(numel(outShape));
  const inputs = allIndices(t.shape);
  const value = tabulate(outShape, (out) => {
    let acc = kind === 'sum' ? 0 : -Infinity;
    let abs = 0;
    for (const idx of inputs) {
      if (!idx.every((v, k) => axes.includes(k) || v === out[k])) continue;
      const x = read(t, idx);
      acc = kind === 'sum' ? acc + x : Math.max(acc, x);
      abs += Math.abs(x);
    }
    scale[flatIndex(outShape, out)] = abs;
    return acc;
  });
  return { value, scale };
}

// ---- views ---------------------------------------------------------------------

export function reshape(t: NaiveTensor, shape: Shape): NaiveTensor {
  if (numel(shape) !== numel(t.shape)) throw new Error('naive reshape: sizes differ');
  return { shape: [...shape], data: Float64Array.from(t.data) };
}

/** out[i_0, …] = t[j] where j[perm[k]] = i_k. */
export function permute(t: NaiveTensor, perm: readonly number[]): NaiveTensor {
  return tabulate(
    perm.map((p) => t.shape[p]!),
    (idx) => {
      const src = new Array<number>(t.shape.length);
      perm.forEach((p, k) => {
        src[p] = idx[k]!;
      });
      return read(t, src);
    },
  );
}

export function expand(t: NaiveTensor, shape: Shape): NaiveTensor {
  return tabulate(shape, (idx) => read(t, idx.map((v, k) => (t.shape[k] === 1 ? 0 : v))));
}

export function pad(t: NaiveTensor, pads: readonly (readonly [number, number])[], value: number): NaiveTensor {
  const shape = t.shape.map((d, k) => d + pads[k]![0] + pads[k]![1]);
  return tabulate(shape, (idx) => {
    const src = idx.map((v, k) => v - pads[k]![0]);
    return src.every((v, k) => v >= 0 && v < t.shape[k]!) ? read(t, src) : value;
  });
}

export function shrink(t: NaiveTensor, ranges: readonly (readonly [number, number])[]): NaiveTensor {
  return tabulate(
    ranges.map(([s, e]) => e - s),
    (idx) => read(t, idx.map((v, k) => v + ranges[k]![0])),
  );
}

export function flip(t: NaiveTensor, axes: readonly number[]): NaiveTensor {
  return tabulate(t.shape, (idx) => read(t, idx.map((v, k) => (axes.includes(k) ? t.shape[k]! - 1 - v : v))));
}

// ---- contraction ---------------------------------------------------------------

export interface DotAxes {
  readonly batch: readonly [readonly number[], readonly number[]];
  readonly contract: readonly [readonly number[], readonly number[]];
}

/**
 * Walks a general dot: output = batch dims, then a's free dims in a's axis order, then b's free
 * dims in b's axis order. For every output index, `visit` receives the operand index pairs
 * (reused arrays) of each contracted position in turn.
 */
function walkDot(a: NaiveTensor, b: NaiveTensor, dims: DotAxes, begin: () => void, visit: (ia: number[], ib: number[]) => void, end: () => number): NaiveTensor {
  const [batchA, batchB] = dims.batch;
  const [contractA, contractB] = dims.contract;
  const freeA = a.shape.map((_, k) => k).filter((k) => !batchA.includes(k) && !contractA.includes(k));
  const freeB = b.shape.map((_, k) => k).filter((k) => !batchB.includes(k) && !contractB.includes(k));
  const outShape = [...batchA.map((k) => a.shape[k]!), ...freeA.map((k) => a.shape[k]!), ...freeB.map((k) => b.shape[k]!)];
  const contracted = allIndices(contractA.map((k) => a.shape[k]!));
  return tabulate(outShape, (out) => {
    const ia = new Array<number>(a.shape.length);
    const ib = new Array<number>(b.shape.length);
    batchA.forEach((k, i) => {
      ia[k] = out[i]!;
      ib[batchB[i]!] = out[i]!;
    });
    freeA.forEach((k, i) => {
      ia[k] = out[batchA.length + i]!;
    });
    freeB.forEach((k, i) => {
      ib[k] = out[batchA.length + freeA.length + i]!;
    });
    begin();
    for (const c of contracted) {
      contractA.forEach((k, i) => {
        ia[k] = c[i]!;
      });
      contractB.forEach((k, i) => {
        ib[k] = c[i]!;
      });
      visit(ia, ib);
    }
    return end();
  });
}

/** General dot in float64, with Σ|a·b| per output element as the tolerance scale. */
export function dot(a: NaiveTensor, b: NaiveTensor, dims: DotAxes): Summed {
  let acc = 0;
  let abs = 0;
  const scales: number[] = [];
  const value = walkDot(
    a,
    b,
    dims,
    () => {
      acc = 0;
      abs = 0;
    },
    (ia, ib) => {
      const term = read(a, ia) * read(b, ib);
      acc += term;
      abs += Math.abs(term);
    },
    () => {
      scales.push(abs);
      return acc;
    },
  );
  return { value, scale: Float64Array.from(scales) };
}

/** The same contraction over integers, with products and sums wrapped to `dtype` exactly. */
export function dotInt(a: NaiveTensor, b: NaiveTensor, dims: DotAxes, dtype: DType): NaiveTensor {
  let acc = 0n;
  return walkDot(
    a,
    b,
    dims,
    () => {
      acc = 0n;
    },
    (ia, ib) => {
      acc += BigInt(read(a, ia)) * BigInt(read(b, ib));
    },
    () => wrapInt(acc, dtype),
  );
}

/** numpy matmul: [..., M, K] @ [..., K, N] with broadcast batch dims; a 1-D operand is a vector whose axis is dropped. */
export function matmul(a: NaiveTensor, b: NaiveTensor): Summed {
  const aVec = a.shape.length === 1;
  const bVec = b.shape.length === 1;
  const batchA = aVec ? [] : a.shape.slice(0, -2);
  const batchB = bVec ? [] : b.shape.slice(0, -2);
  const batch = broadcastShape(batchA, batchB);
  const k = a.shape[a.shape.length - 1]!;
  const m = aVec ? 1 : a.shape[a.shape.length - 2]!;
  const n = bVec ? 1 : b.shape[b.shape.length - 1]!;
  const outShape = [...batch, ...(aVec ? [] : [m]), ...(bVec ? [] : [n])];
  const scale = new Float64Array(numel(outShape));
  const align = (own: Shape, idx: readonly number[]): number[] =>
    own.map((d, j) => (d === 1 ? 0 : idx[idx.length - own.length + j]!));
  const value = tabulate(outShape, (out) => {
    const bi = out.slice(0, batch.length);
    const i = aVec ? 0 : out[batch.length]!;
    const j = bVec ? 0 : out[out.length - 1]!;
    let acc = 0;
    let abs = 0;
    for (let q = 0; q < k; q++) {
      const x = aVec ? read(a, [q]) : read(a, [...align(batchA, bi), i, q]);
      const y = bVec ? read(b, [q]) : read(b, [...align(batchB, bi), q, j]);
      acc += x * y;
      abs += Math.abs(x * y);
    }
    scale[flatIndex(outShape, out)] = abs;
    return acc;
  });
  return { value, scale };
}

// ---- indexing --------------------------------------------------------------------

/** out[pre, i…, post] = table[pre, idx[i…], post], or 0 when idx[i…] is outside [0, len). */
export function gather(table: NaiveTensor, idx: NaiveTensor, axis: number): NaiveTensor {
  const len = table.shape[axis]!;
  const r = idx.shape.length;
  const shape = [...table.shape.slice(0, axis), ...idx.shape, ...table.shape.slice(axis + 1)];
  return tabulate(shape, (out) => {
    const v = read(idx, out.slice(axis, axis + r));
    if (v < 0 || v >= len) return 0;
    return read(table, [...out.slice(0, axis), v, ...out.slice(axis + r)]);
  });
}

/** The transpose of gather: zeros of the table's shape, each update added at its index; out-of-range indices dropped. */
export function scatterAdd(updates: NaiveTensor, idx: NaiveTensor, axis: number, size: number): Summed {
  const r = idx.shape.length;
  const shape = [...updates.shape.slice(0, axis), size, ...updates.shape.slice(axis + r)];
  const value = new Float64Array(numel(shape));
  const scale = new Float64Array(numel(shape));
  for (const u of allIndices(updates.shape)) {
    const v = read(idx, u.slice(axis, axis + r));
    if (v < 0 || v >= size) continue;
    const at = flatIndex(shape, [...u.slice(0, axis), v, ...u.slice(axis + r)]);
    const x = read(updates, u);
    value[at] = value[at]! + x;
    scale[at] = scale[at]! + Math.abs(x);
  }
  return { value: { shape, data: value }, scale };
}

// ---- low-precision float grids -----------------------------------------------------

let f16Table: Float64Array | undefined;

/** Every finite non-negative f16 value, ascending; entry i has bit pattern i. */
function f16Values(): Float64Array {
  if (!f16Table) {
    f16Table = new Float64Array(0x7c00);
    for (let bits = 0; bits < 0x7c00; bits++) {
      const e = bits >> 10;
      const m = bits & 0x3ff;
      f16Table[bits] = e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
    }
  }
  return f16Table;
}

/** Nearest f16 value, ties to the even bit pattern; magnitudes ≥ 65520 overflow to ±Infinity. */
export function nearestF16(x: number): number {
  const table = f16Values();
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  if (a >= table[table.length - 1]!) return Math.sign(x) * table[table.length - 1]!;
  let lo = 0;
  let hi = table.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (table[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - table[lo]!;
  const dHi = table[hi]! - a;
  const pick = dLo < dHi || (dLo === dHi && lo % 2 === 0) ? lo : hi;
  return Math.sign(x) * table[pick]!;
}

/** Nearest bfloat16 value of a float32 value, ties to the even bit pattern (finite inputs well inside range). */
export function nearestBf16(x: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  const bits = view.getUint32(0);
  const below = (bits & 0xffff0000) >>> 0;
  const above = below + 0x10000;
  view.setUint32(0, below);
  const vBelow = view.getFloat32(0);
  view.setUint32(0, above);
  const vAbove = view.getFloat32(0);
  const dBelow = Math.abs(x - vBelow);
  const dAbove = Math.abs(vAbove - x);
  if (dBelow < dAbove) return vBelow;
  if (dAbove < dBelow) return vAbove;
  return (below & 0x10000) === 0 ? vBelow : vAbove;
}

// ---- generators ------------------------------------------------------------------

export interface ShapeOptions {
  readonly minRank?: number;
  readonly maxRank?: number;
  readonly minDim?: number;
  readonly maxDim?: number;
  readonly maxSize?: number;
}

export function shapeArb(options: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4, minDim = 1, maxDim = 4, maxSize = 200 } = options;
  return fc
    .array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank })
    .filter((s) => numel(s) <= maxSize);
}

export const i32Arb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -20, max: 20 }),
  fc.integer({ min: I32_MIN, max: I32_MAX }),
  fc.constantFrom(I32_MIN, I32_MAX, -1, 0, 1, 1 << 30),
);

export const u32Arb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 0, max: U32_MAX }),
  fc.constantFrom(0, 1, 2 ** 31, 2 ** 31 - 1, U32_MAX),
);

export const boolArb: fc.Arbitrary<number> = fc.constantFrom(0, 1);

/** Finite doubles in [-range, range], with small integers mixed in so ties and exact zeros occur. */
export function floatArb(range = 100): fc.Arbitrary<number> {
  return fc.oneof(
    fc.double({ min: -range, max: range, noNaN: true }),
    fc.integer({ min: -3, max: 3 }),
  );
}

export function valueArb(dtype: DType): fc.Arbitrary<number> {
  switch (dtype) {
    case DType.I32: return i32Arb;
    case DType.U32: return u32Arb;
    case DType.Bool: return boolArb;
    default: return floatArb();
  }
}

export function dataArb(n: number, values: fc.Arbitrary<number>): fc.Arbitrary<Float64Array> {
  return fc.array(values, { minLength: n, maxLength: n }).map((xs) => Float64Array.from(xs));
}

export function tensorArb(shape: fc.Arbitrary<number[]>, values: fc.Arbitrary<number>): fc.Arbitrary<NaiveTensor> {
  return shape.chain((s) => dataArb(numel(s), values).map((data) => ({ shape: s, data })));
}

export function tensorOf(shape: Shape, values: fc.Arbitrary<number>): fc.Arbitrary<NaiveTensor> {
  return dataArb(numel(shape), values).map((data) => ({ shape, data }));
}

/** A shape that broadcasts against `base`: some leading axes dropped, some remaining axes set to 1. */
export function broadcastVariantArb(base: Shape): fc.Arbitrary<number[]> {
  return fc
    .tuple(fc.integer({ min: 0, max: base.length }), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }))
    .map(([drop, ones]) => base.slice(drop).map((d, k) => (ones[drop + k] ? 1 : d)));
}

/** A random ordering of 0..rank-1. */
export function permutationArb(rank: number): fc.Arbitrary<number[]> {
  const axes = Array.from({ length: rank }, (_, k) => k);
  return fc.shuffledSubarray(axes, { minLength: rank, maxLength: rank });
}

/** A random subset of 0..rank-1, in random order. */
export function axesSubsetArb(rank: number, minLength = 0): fc.Arbitrary<number[]> {
  const axes = Array.from({ length: rank }, (_, k) => k);
  return fc.shuffledSubarray(axes, { minLength, maxLength: rank });
}

// ---- comparison ---------------------------------------------------------------------

/** Equal as values: === (so 0 and -0 agree), and NaN equals NaN. */
export function sameValue(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

interface Tensorish {
  readonly shape: Shape;
  readonly data: ArrayLike<number>;
}

function describeMismatch(got: Tensorish, want: Tensorish, ok: (g: number, w: number, i: number) => boolean): string | undefined {
  if (got.shape.length !== want.shape.length || got.shape.some((d, k) => d !== want.shape[k])) {
    return `shape [${got.shape.join(',')}], want [${want.shape.join(',')}]`;
  }
  if (got.data.length !== want.data.length) return `${got.data.length} values, want ${want.data.length}`;
  const indices = allIndices(want.shape);
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!;
    const w = want.data[i]!;
    if (!ok(g, w, i)) return `at [${(indices[i] ?? []).join(',')}]: got ${g}, want ${w}`;
  }
  return undefined;
}

/** Same shape and exactly the same values; `context` (the graph's IR) is printed on failure. */
export function expectExact(got: Tensorish, want: Tensorish, context: string): void {
  expect(describeMismatch(got, want, sameValue), context).toBeUndefined();
}

/**
 * Same shape, values within rel·yardstick, where the yardstick is |want| by default or
 * the given per-element scale (Σ|term| for sums). Non-finite values must match exactly.
 */
export function expectClose(got: Tensorish, want: Tensorish, rel: number, context: string, scale?: ArrayLike<number>): void {
  const ok = (g: number, w: number, i: number): boolean => {
    if (sameValue(g, w)) return true;
    if (!Number.isFinite(w)) return false;
    const yard = scale ? scale[i]! : Math.abs(w);
    return Math.abs(g - w) <= rel * yard;
  };
  expect(describeMismatch(got, want, ok), context).toBeUndefined();
}
