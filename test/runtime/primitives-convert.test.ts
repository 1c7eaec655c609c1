// Type conversion and source primitives (cast, bitcast, iota, const) against naive
// definitions, and the interpreter's float32 mode, which rounds every float result
// to its dtype after each op.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType, isFloat } from '../../compiler/ir/dtype.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import type { Node } from '../../compiler/ir/node.ts';
import { Op } from '../../compiler/ir/op.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { describeBackends, runOne, type Backend } from '../support/backend.ts';
import {
  I32_MAX,
  I32_MIN,
  U32_MAX,
  boolArb,
  expectExact,
  floatArb,
  i32Arb,
  map,
  nearestBf16,
  nearestF16,
  shapeArb,
  tabulate,
  tensorArb,
  u32Arb,
  valueArb,
  wrapInt,
  type NaiveTensor,
} from '../support/naive.ts';

const RUNS = 40;
const anyShape = shapeArb({ maxRank: 3, maxDim: 5 });

function convert(backend: Backend, op: Op.Cast | Op.Bitcast, from: DType, to: DType, x: NaiveTensor) {
  const b = new Builder();
  return runOne(backend, b.node(op, [b.input('x', x.shape, from)], { dtype: to }), { x: x.data });
}

function convertValues(backend: Backend, op: Op.Cast | Op.Bitcast, from: DType, to: DType, xs: readonly number[]): number[] {
  return Array.from(convert(backend, op, from, to, { shape: [xs.length], data: Float64Array.from(xs) }).out.data);
}

// ---- cast --------------------------------------------------------------------------

/** Float → int: truncate toward zero, then saturate to the target's range. */
function floatToInt(x: number, to: DType.I32 | DType.U32): number {
  const t = x < 0 ? Math.ceil(x) : Math.floor(x);
  const [lo, hi] = to === DType.I32 ? [I32_MIN, I32_MAX] : [0, U32_MAX];
  return t < lo ? lo : t > hi ? hi : t;
}

const wideFloats = fc.oneof(
  fc.double({ min: -5e9, max: 5e9, noNaN: true }),
  floatArb(10),
  fc.constantFrom(3e9, -3e9, 2147483647.5, -2147483648.5, 2147483648, 4294967295.5, 4294967296, -5.7, 5.7, -0.5, 0),
);

interface CastCase {
  readonly from: DType;
  readonly to: DType;
  readonly rule: string;
  readonly values: fc.Arbitrary<number>;
  readonly naive: (x: number) => number;
}

const CAST_CASES: readonly CastCase[] = [
  { from: DType.F32, to: DType.I32, rule: 'truncates toward zero and saturates', values: wideFloats, naive: (x) => floatToInt(x, DType.I32) },
  { from: DType.F32, to: DType.U32, rule: 'truncates toward zero and saturates', values: wideFloats, naive: (x) => floatToInt(x, DType.U32) },
  { from: DType.I32, to: DType.F32, rule: 'is exact', values: i32Arb, naive: (x) => x },
  { from: DType.U32, to: DType.F32, rule: 'is exact', values: u32Arb, naive: (x) => x },
  { from: DType.I32, to: DType.U32, rule: 'wraps mod 2^32', values: i32Arb, naive: (x) => wrapInt(BigInt(x), DType.U32) },
  { from: DType.U32, to: DType.I32, rule: 'wraps mod 2^32', values: u32Arb, naive: (x) => wrapInt(BigInt(x), DType.I32) },
  { from: DType.F32, to: DType.Bool, rule: 'is x ≠ 0', values: fc.oneof(floatArb(), fc.constant(-0)), naive: (x) => (x !== 0 ? 1 : 0) },
  { from: DType.I32, to: DType.Bool, rule: 'is x ≠ 0', values: i32Arb, naive: (x) => (x !== 0 ? 1 : 0) },
  { from: DType.U32, to: DType.Bool, rule: 'is x ≠ 0', values: u32Arb, naive: (x) => (x !== 0 ? 1 : 0) },
  { from: DType.Bool, to: DType.F32, rule: 'is 0 or 1', values: boolArb, naive: (x) => x },
  { from: DType.Bool, to: DType.I32, rule: 'is 0 or 1', values: boolArb, naive: (x) => x },
  { from: DType.Bool, to: DType.U32, rule: 'is 0 or 1', values: boolArb, naive: (x) => x },
];

describeBackends('cast on the $name', (backend) => {
  it.each(CAST_CASES)('cast $from → $to $rule', (c) => {
    fc.assert(
      fc.property(tensorArb(anyShape, c.values), (x) => {
        const { out, ir } = convert(backend, Op.Cast, c.from, c.to, x);
        expect(out.dtype).toBe(c.to);
        expectExact(out, map(x, c.naive), ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('saturates and truncates on hand-picked values', () => {
    expect(convertValues(backend, Op.Cast, DType.F32, DType.I32, [3e9, -3e9, -5.7, 5.7, -0.5, 2147483647.9])).toEqual([I32_MAX, I32_MIN, -5, 5, 0, I32_MAX]);
    expect(convertValues(backend, Op.Cast, DType.F32, DType.U32, [-5.7, 5e9, 4294967295.5, 0.99])).toEqual([0, U32_MAX, U32_MAX, 0]);
    expect(convertValues(backend, Op.Cast, DType.I32, DType.U32, [-1, I32_MIN])).toEqual([U32_MAX, 2 ** 31]);
    expect(convertValues(backend, Op.Cast, DType.U32, DType.I32, [U32_MAX, 2 ** 31])).toEqual([-1, I32_MIN]);
  });

  it('NaN casts to integer 0 (WGSL rule)', () => {
    expect(convertValues(backend, Op.Cast, DType.F32, DType.I32, [NaN])).toEqual([0]);
    expect(convertValues(backend, Op.Cast, DType.F32, DType.U32, [NaN])).toEqual([0]);
  });
});

// ---- bitcast ----------------------------------------------------------------------

/** Reinterprets the 32-bit pattern of x (as `from`) as `to`, through a fresh DataView. */
function bits32(x: number, from: DType, to: DType): number {
  const view = new DataView(new ArrayBuffer(4));
  if (from === DType.F32) view.setFloat32(0, x);
  else if (from === DType.I32) view.setInt32(0, x);
  else view.setUint32(0, x);
  if (to === DType.F32) return view.getFloat32(0);
  if (to === DType.I32) return view.getInt32(0);
  return view.getUint32(0);
}

const f32Values = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -3e38, max: 3e38 }),
  floatArb(10),
  fc.constantFrom(0, -0, 1, -1, 2 ** -149, -(2 ** -126), 3.4028234663852886e38),
).map(Math.fround);

const BITCAST_CASES: readonly { from: DType; to: DType; values: fc.Arbitrary<number> }[] = [
  { from: DType.F32, to: DType.U32, values: f32Values },
  { from: DType.F32, to: DType.I32, values: f32Values },
  { from: DType.U32, to: DType.F32, values: u32Arb },
  { from: DType.I32, to: DType.F32, values: i32Arb },
  { from: DType.U32, to: DType.I32, values: u32Arb },
  { from: DType.I32, to: DType.U32, values: i32Arb },
];

describeBackends('bitcast on the $name', (backend) => {
  it.each(BITCAST_CASES)('bitcast $from → $to reinterprets the 32-bit pattern (DataView)', (c) => {
    fc.assert(
      fc.property(tensorArb(anyShape, c.values), (x) => {
        const { out, ir } = convert(backend, Op.Bitcast, c.from, c.to, x);
        expect(out.dtype).toBe(c.to);
        expectExact(out, map(x, (v) => bits32(v, c.from, c.to)), ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('f32 → u32 → f32 is the identity on finite float32 values', () => {
    fc.assert(
      fc.property(tensorArb(anyShape, f32Values), (x) => {
        const b = new Builder();
        const node = b.bitcast(b.bitcast(b.input('x', x.shape), DType.U32), DType.F32);
        const { out, ir } = runOne(backend, node, { x: x.data });
        expectExact(out, x, ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('known patterns: 1.0f = 0x3f800000, -2.0f = 0xc0000000, u32 0x7f800000 = +inf', () => {
    expect(convertValues(backend, Op.Bitcast, DType.F32, DType.U32, [1, -2, 0])).toEqual([0x3f800000, 0xc0000000, 0]);
    expect(convertValues(backend, Op.Bitcast, DType.F32, DType.I32, [-2])).toEqual([0xc0000000 | 0]);
    expect(convertValues(backend, Op.Bitcast, DType.U32, DType.F32, [0x7f800000, 0x3f000000])).toEqual([Infinity, 0.5]);
  });

  it('f16 ↔ bf16 reinterpret the 16-bit pattern', () => {
    // f16 1.0 = 0x3c00, which as bf16 is 2^-7; bf16 1.0 = 0x3f80, which as f16 is 1.875;
    // f16 0.5 = 0x3800 is bf16 2^-15; -2 is 0xc000 in both.
    expect(convertValues(backend, Op.Bitcast, DType.F16, DType.BF16, [1, 0.5, -2])).toEqual([2 ** -7, 2 ** -15, -2]);
    expect(convertValues(backend, Op.Bitcast, DType.BF16, DType.F16, [1, -2])).toEqual([1.875, -2]);
  });
});

// ---- iota and const -------------------------------------------------------------------

describeBackends('sources on the $name', (backend) => {
  it('iota holds each element’s coordinate along its axis', () => {
    const cases = shapeArb({ minRank: 1, maxRank: 4, minDim: 0, maxDim: 5 }).chain((shape) =>
      fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 }), fc.constantFrom(DType.I32, DType.U32, DType.F32)),
    );
    fc.assert(
      fc.property(cases, ([shape, axis, dtype]) => {
        const b = new Builder();
        const { out, ir } = runOne(backend, b.node(Op.Iota, [], { axis, dtype, shape }), {});
        expect(out.dtype).toBe(dtype);
        expectExact(out, tabulate(shape, (idx) => idx[axis]!), ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('const fills its shape with its value', () => {
    const cases = fc.constantFrom(DType.F32, DType.I32, DType.U32, DType.Bool).chain((dtype) =>
      fc.tuple(fc.constant(dtype), shapeArb({ maxRank: 3, minDim: 0 }), valueArb(dtype)),
    );
    fc.assert(
      fc.property(cases, ([dtype, shape, value]) => {
        const b = new Builder();
        const { out, ir } = runOne(backend, b.node(Op.Const, [], { value, dtype, shape }), {});
        expect(out.dtype).toBe(dtype);
        expectExact(out, tabulate(shape, () => value), ir);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- float32 mode (interpreter option) ---------------------------------------------------

const f32 = (graph: Graph, inputs: Readonly<Record<string, ArrayLike<number>>>) => interpret(graph, { inputs }, { precision: 'f32' }).outputs;
const single = (node: Node): Graph => new Graph([{ name: 'out', node }]);

describe('interpreter float32 mode', () => {
  it('add of 0.1 and 0.2 is the float32 sum', () => {
    const b = new Builder();
    const g = single(b.add(b.input('x', [1]), b.input('y', [1])));
    const got = f32(g, { x: [0.1], y: [0.2] }).out!.data[0];
    expect(got).toBe(Math.fround(Math.fround(0.1) + Math.fround(0.2)));
    expect(got).not.toBe(0.1 + 0.2);
  });

  it('rounds inputs and every float op’s result with Math.fround', () => {
    // out = sqrt(max((x + y) · z, 0)) + exp2(recip(w)) · sin(x)
    const values = fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 4, maxLength: 4 });
    fc.assert(
      fc.property(shapeArb({ maxRank: 2, maxDim: 4 }).chain((s) => fc.tuple(fc.constant(s), fc.array(values, { minLength: 1, maxLength: 16 }))), ([shape, rows]) => {
        const n = shape.reduce((p, d) => p * d, 1);
        const pick = (k: number): Float64Array => Float64Array.from({ length: n }, (_, i) => rows[i % rows.length]![k]! + 0.01);
        const [x, y, z, w] = [pick(0), pick(1), pick(2), pick(3)];
        const b = new Builder();
        const [bx, by, bz, bw] = ['x', 'y', 'z', 'w'].map((name) => b.input(name, shape)) as [Node, Node, Node, Node];
        const node = b.add(
          b.sqrt(b.max(b.mul(b.add(bx, by), bz), 0)),
          b.mul(b.exp2(b.recip(bw)), b.sin(bx)),
        );
        const g = single(node);
        const got = f32(g, { x, y, z, w }).out!;
        const r = Math.fround;
        const want = Float64Array.from({ length: n }, (_, i) => {
          const [xi, yi, zi, wi] = [r(x[i]!), r(y[i]!), r(z[i]!), r(w[i]!)];
          const left = r(Math.sqrt(r(Math.max(r(r(xi + yi) * zi), 0))));
          const right = r(r(2 ** r(1 / wi)) * r(Math.sin(xi)));
          return r(left + right);
        });
        expectExact(got, { shape, data: want }, g.toString());
      }),
      { numRuns: RUNS },
    );
  });

  it('leaves integer arithmetic exact (no float32 rounding of i32/u32)', () => {
    const b = new Builder();
    const g = new Graph([
      { name: 'i', node: b.add(b.input('a', [2], DType.I32), b.input('b', [2], DType.I32)) },
      { name: 'u', node: b.mul(b.input('c', [1], DType.U32), b.input('d', [1], DType.U32)) },
    ]);
    const out = f32(g, { a: [2147483000, I32_MAX], b: [601, 1], c: [16777217], d: [3] });
    expect(Array.from(out.i!.data)).toEqual([2147483601, I32_MIN]);
    expect(Array.from(out.u!.data)).toEqual([50331651]);
  });

  it('cast f32 → f16 rounds to the nearest f16 (ties to even, ≥ 65520 overflows to ∞)', () => {
    const values = fc.oneof(
      fc.double({ min: -70000, max: 70000, noNaN: true }),
      fc.double({ min: -1e-3, max: 1e-3, noNaN: true }),
      fc.double({ min: -1e-6, max: 1e-6, noNaN: true }),
      fc.constantFrom(1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65519.99, 65520, 2 ** -25, 3 * 2 ** -26, 2 ** -24),
    );
    fc.assert(
      fc.property(tensorArb(anyShape, values), (x) => {
        const b = new Builder();
        const g = single(b.cast(b.input('x', x.shape), DType.F16));
        expectExact(f32(g, { x: x.data }).out!, map(x, (v) => nearestF16(Math.fround(v))), g.toString());
      }),
      { numRuns: RUNS },
    );
  });

  it('cast f32 → bf16 rounds to the nearest bf16 (ties to even)', () => {
    const values = fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8)));
    fc.assert(
      fc.property(tensorArb(anyShape, values), (x) => {
        const b = new Builder();
        const g = single(b.cast(b.input('x', x.shape), DType.BF16));
        expectExact(f32(g, { x: x.data }).out!, map(x, (v) => nearestBf16(Math.fround(v))), g.toString());
      }),
      { numRuns: RUNS },
    );
  });

  it('every output value lies in its dtype’s value set, pad fill values included', () => {
    // A pad's fill value is stored in the padded tensor, so it must be representable
    // in that tensor's dtype (or the pad must be rejected when the graph is built).
    const cases: readonly { dtype: DType; value: number }[] = [
      { dtype: DType.F32, value: 0.1 },
      { dtype: DType.F16, value: 0.1 },
      { dtype: DType.I32, value: 2.5 },
      { dtype: DType.U32, value: -1 },
      { dtype: DType.Bool, value: 0.5 },
    ];
    const inSet = (dtype: DType, v: number): boolean => {
      switch (dtype) {
        case DType.F32: return Math.fround(v) === v;
        case DType.F16: return nearestF16(v) === v;
        case DType.BF16: return nearestBf16(v) === v;
        case DType.I32: return Number.isInteger(v) && v >= I32_MIN && v <= I32_MAX;
        case DType.U32: return Number.isInteger(v) && v >= 0 && v <= U32_MAX;
        case DType.Bool: return v === 0 || v === 1;
        default: return dtype satisfies never;
      }
    };
    const problems: string[] = [];
    for (const { dtype, value } of cases) {
      const b = new Builder();
      let node: Node;
      try {
        node = b.node(Op.Pad, [b.input('x', [1], dtype)], { pads: [[1, 1]], value });
      } catch {
        continue; // rejecting the unrepresentable fill at build time is also correct
      }
      const out = f32(single(node), { x: [isFloat(dtype) ? 0.5 : 1] }).out!;
      const bad = Array.from(out.data).filter((v) => !inSet(dtype, v));
      if (bad.length > 0) problems.push(`pad ${dtype} value=${value} produced ${bad.join(', ')}`);
    }
    expect(problems).toEqual([]);
  });
});
