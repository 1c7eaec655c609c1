// Test support · running traced graphs on the reference interpreter and comparing
// against naive host oracles (plain loops written independently of the
// composites' decompositions).

import fc from 'fast-check';
import type { Traced } from '../../dsl/index.ts';
import type { HostTensor } from '../../runtime/cpu/host-tensor.ts';
import { interpret, type HostValue } from '../../runtime/cpu/interpret.ts';

export type Values = Readonly<Record<string, HostValue>>;

/** Runs a traced graph in float64 and returns every output. */
export function runAll(t: Traced, inputs: Values = {}, params: Values = {}): Record<string, HostTensor> {
  return interpret(t.graph, { inputs, params }).outputs;
}

/** Runs a traced graph in float64 and returns its `out` output. */
export function run(t: Traced, inputs: Values = {}, params: Values = {}): HostTensor {
  const out = runAll(t, inputs, params).out;
  if (!out) throw new Error('run: the graph has no output named "out"');
  return out;
}

export interface Tolerance {
  /** Relative tolerance (default 1e-12). */
  readonly rtol?: number;
  /** Absolute tolerance (default 1e-12). */
  readonly atol?: number;
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, with matching lengths.
 * `context` (e.g. the graph IR) is appended to the failure message.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = {}, context?: string | (() => string)): void {
  const rtol = tol.rtol ?? 1e-12;
  const atol = tol.atol ?? 1e-12;
  const suffix = () => (context === undefined ? '' : `\n${typeof context === 'string' ? context : context()}`);
  if (actual.length !== expected.length) {
    throw new Error(`expectClose: length ${actual.length} ≠ expected length ${expected.length}${suffix()}`);
  }
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= atol + rtol * Math.abs(e) : Object.is(a, e);
    if (!ok) {
      throw new Error(`expectClose: element ${i}: got ${a}, expected ${e} (|Δ| = ${Math.abs(a - e)}, atol ${atol}, rtol ${rtol})${suffix()}`);
    }
  }
}

export function expectShape(t: HostTensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`expectShape: got [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
}

export const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides of a shape. */
export function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) out[i] = out[i + 1]! * shape[i + 1]!;
  return out;
}

/** Float64 values of a given length in [min, max] (no NaN/∞). */
export function valuesArb(length: number, min = -3, max = 3): fc.Arbitrary<Float64Array> {
  return fc.float64Array({ min, max, noNaN: true, noDefaultInfinity: true, minLength: length, maxLength: length });
}

/** A shape drawn by `shapeArb` together with data filling it. */
export function shapedArb(shapeArb: fc.Arbitrary<readonly number[]>, min = -3, max = 3): fc.Arbitrary<{ shape: readonly number[]; data: Float64Array }> {
  return shapeArb.chain((shape) => valuesArb(product(shape), min, max).map((data) => ({ shape, data })));
}

/** Deterministic uniform values in [lo, hi) (mulberry32), for fixed-size fixtures. */
export function seeded(seed: number, length: number, lo = -1, hi = 1): Float64Array {
  let a = seed >>> 0;
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

// ---- naive oracles -------------------------------------------------------------

/** Applies `fn` to every 1-D fibre of `data` (shape) along `axis`, writing the results in place of the fibre. */
export function alongAxis(data: ArrayLike<number>, shape: readonly number[], axis: number, fn: (fibre: number[]) => number[]): Float64Array {
  const a = axis < 0 ? axis + shape.length : axis;
  const st = strides(shape);
  const len = shape[a]!;
  const step = st[a]!;
  const out = new Float64Array(data.length);
  for (let base = 0; base < data.length; base++) {
    // a fibre starts where the index along `axis` is 0
    if (Math.floor(base / step) % len !== 0) continue;
    const fibre = Array.from({ length: len }, (_, i) => data[base + i * step]!);
    const mapped = fn(fibre);
    mapped.forEach((v, i) => (out[base + i * step] = v));
  }
  return out;
}

/** Reduces every fibre along `axis` to one number; the result has `axis` removed. */
export function reduceAxis(data: ArrayLike<number>, shape: readonly number[], axis: number, fn: (fibre: number[]) => number): Float64Array {
  const a = axis < 0 ? axis + shape.length : axis;
  const outer = product(shape.slice(0, a));
  const len = shape[a]!;
  const inner = product(shape.slice(a + 1));
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const fibre = Array.from({ length: len }, (_, k) => data[(o * len + k) * inner + i]!);
      out[o * inner + i] = fn(fibre);
    }
  }
  return out;
}

export function naiveSoftmax(row: readonly number[]): number[] {
  const e = row.map((v) => Math.exp(v));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** x (rows × inDim) · wᵀ (w is [out, in]) + bias. */
export function naiveLinear(x: ArrayLike<number>, rows: number, inDim: number, w: ArrayLike<number>, outDim: number, bias?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = bias ? bias[o]! : 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i]! * w[o * inDim + i]!;
      out[r * outDim + o] = acc;
    }
  }
  return out;
}

/** softmax(q kᵀ·scale) v for one (Tq × d), (Tk × d), (Tk × dv) problem. */
export function naiveAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, tq: number, tk: number, d: number, dv: number, scale: number): Float64Array {
  const out = new Float64Array(tq * dv);
  for (let i = 0; i < tq; i++) {
    const scores: number[] = [];
    for (let j = 0; j < tk; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += q[i * d + c]! * k[j * d + c]!;
      scores.push(s * scale);
    }
    const max = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - max));
    const z = e.reduce((a, b) => a + b, 0);
    for (let c = 0; c < dv; c++) {
      let acc = 0;
      for (let j = 0; j < tk; j++) acc += (e[j]! / z) * v[j * dv + c]!;
      out[i * dv + c] = acc;
    }
  }
  return out;
}

/** Rotates the interleaved pairs (2j, 2j+1) of one head vector by angles φ_j (spec §1.6). */
export function naiveRotate(x: ArrayLike<number>, angles: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let j = 0; j < x.length / 2; j++) {
    const a = x[2 * j]!;
    const b = x[2 * j + 1]!;
    const c = Math.cos(angles[j]!);
    const s = Math.sin(angles[j]!);
    out[2 * j] = a * c - b * s;
    out[2 * j + 1] = b * c + a * s;
  }
  return out;
}

export function dotProduct(a: ArrayLike<number>, b: ArrayLike<number>, aOffset = 0, bOffset = 0, length = a.length): number {
  let s = 0;
  for (let i = 0; i < length; i++) s += a[aOffset + i]! * b[bOffset + i]!;
  return s;
}

/** `vector` repeated `times` times (one copy per token). */
export function tile(vector: ArrayLike<number>, times: number): Float64Array {
  const out = new Float64Array(vector.length * times);
  for (let t = 0; t < times; t++) out.set(Array.from(vector), t * vector.length);
  return out;
}
