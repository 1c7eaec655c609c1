// Reference interpreter · scalar semantics the interpreter defines for every
// backend: rounding to each dtype, integer wrap-around, casts, and erf (which JS
// lacks). Values live in float64 arrays; these functions put them back in range.

import { DType } from '../../compiler/ir/dtype.ts';

/** Round half to even onto the grid of multiples of `quantum` (a power of two, so exact). */
function roundToQuantum(x: number, quantum: number): number {
  const q = x / quantum;
  const floor = Math.floor(q);
  const diff = q - floor;
  const rounded = diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
  return rounded * quantum;
}

export function f16Round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const abs = Math.abs(x);
  if (abs >= 65520) return x > 0 ? Infinity : -Infinity;
  const exponent = Math.max(Math.floor(Math.log2(abs)), -14);
  return roundToQuantum(x, 2 ** (exponent - 10));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16Round(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000) return f32[0];
  u32[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f32[0];
}

export type Precision = 'f64' | 'f32';

/** Brings a raw float64 result back into `dtype`'s value set. */
export function normalizer(dtype: DType, precision: Precision): ((x: number) => number) | undefined {
  switch (dtype) {
    case DType.F32:
      return precision === 'f32' ? Math.fround : undefined;
    case DType.F16:
      return precision === 'f32' ? f16Round : undefined;
    case DType.BF16:
      return precision === 'f32' ? bf16Round : undefined;
    case DType.I32:
      return (x) => x | 0;
    case DType.U32:
      return (x) => x >>> 0;
    case DType.Bool:
      return (x) => (x !== 0 ? 1 : 0);
    default:
      return dtype satisfies never;
  }
}

const INT_RANGE: Record<DType.I32 | DType.U32, [number, number]> = {
  [DType.I32]: [-2147483648, 2147483647],
  [DType.U32]: [0, 4294967295],
};

/**
 * Value conversion: float → int truncates toward zero and saturates (WGSL's rule;
 * NaN becomes 0); int → int wraps; anything → bool is "non-zero".
 */
export function castValue(x: number, from: DType, to: DType): number {
  if (to === DType.Bool) return x !== 0 ? 1 : 0;
  if (to === DType.I32 || to === DType.U32) {
    if (from === DType.I32 || from === DType.U32 || from === DType.Bool) return to === DType.I32 ? x | 0 : x >>> 0;
    if (Number.isNaN(x)) return 0;
    const [lo, hi] = INT_RANGE[to];
    return Math.min(hi, Math.max(lo, Math.trunc(x)));
  }
  return x;
}

const ERF_SERIES_LIMIT = 2.5;

/** erf to ~1e-15: Maclaurin series for |x| < 2.5, Lentz continued fraction of erfc beyond. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  if (a < ERF_SERIES_LIMIT) {
    // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = a;
    let sum = a;
    const x2 = a * a;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  if (a > 6) return Math.sign(x);
  // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …)))))
  const tiny = 1e-300;
  let f = a;
  let c = a;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = a + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = a + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}
