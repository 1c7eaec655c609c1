// Codegen · numeric literals shared by the C-style printers. In: a float64 value
// and a target float format. Out: the value rounded into the format, and the
// shortest decimal string that a shader compiler reads back as exactly that value.

export interface FloatFormat {
  readonly name: string;
  /** Significand bits including the implicit one. */
  readonly precision: number;
  /** Exponent of the smallest normal number; below it the spacing stays fixed (subnormals). */
  readonly minExponent: number;
  /** Largest finite value. */
  readonly max: number;
}

export const F32_FORMAT: FloatFormat = { name: 'f32', precision: 24, minExponent: -126, max: 3.4028234663852886e38 };
export const F16_FORMAT: FloatFormat = { name: 'f16', precision: 11, minExponent: -14, max: 65504 };

/** floor(log2(a)) for a > 0, exact even where Math.log2 rounds up just below a power of two. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return e;
}

/** Spacing of the format's values around |x| (a power of two, so x / quantum is exact). */
function quantum(a: number, format: FloatFormat): number {
  return 2 ** (Math.max(exponentOf(a), format.minExponent) - (format.precision - 1));
}

/** Rounds half to even into the format; ±Infinity beyond its range. */
export function roundToFormat(x: number, format: FloatFormat): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const q = quantum(a, format);
  const n = a / q;
  const floor = Math.floor(n);
  const diff = n - floor;
  const rounded = (diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor) * q;
  const limit = format.max + quantum(format.max, format) / 2;
  if (rounded >= limit) return x > 0 ? Infinity : -Infinity;
  return x > 0 ? rounded : -rounded;
}

/**
 * True when `d` lies exactly halfway between two values of the format. A decimal
 * string that parses (in float64) onto such a midpoint may round differently in a
 * compiler that converts decimal → format directly, so those strings are avoided.
 */
function isMidpoint(d: number, format: FloatFormat): boolean {
  if (d === 0) return false;
  const n = Math.abs(d) / quantum(Math.abs(d), format);
  return n - Math.floor(n) === 0.5;
}

/**
 * Shortest decimal (JavaScript number syntax: `0.1`, `1e-7`, `3`) that reads back
 * as `value`, which must already be a finite value of the format. Negative zero
 * prints as `-0.0`.
 */
export function shortestDecimal(value: number, format: FloatFormat): string {
  if (!Number.isFinite(value) || roundToFormat(value, format) !== value) {
    throw new Error(`shortestDecimal: ${value} is not a finite ${format.name} value`);
  }
  if (Object.is(value, -0)) return '-0.0';
  for (let digits = 1; digits <= 17; digits++) {
    const parsed = Number(value.toPrecision(digits));
    // Shader compilers reject a literal beyond the format's largest value even when it would round down to it.
    const inRange = Math.abs(parsed) <= format.max;
    if (inRange && roundToFormat(parsed, format) === value && !isMidpoint(parsed, format)) return String(parsed);
  }
  return String(value);
}
