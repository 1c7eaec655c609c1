// Elementwise Graph IR primitives (unary, binary, where) against the naive
// definitions in test/support/naive.ts, over random shapes and values. Integer
// results are compared exactly against BigInt arithmetic wrapped to 32 bits.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Builder, type Operand } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import type { Node } from '../../compiler/ir/node.ts';
import { Op, type BinaryOp, type UnaryOp } from '../../compiler/ir/op.ts';
import { describeBackends, runOne, type Backend } from '../support/backend.ts';
import {
  I32_MAX,
  I32_MIN,
  U32_MAX,
  boolArb,
  broadcastVariantArb,
  expectClose,
  expectExact,
  floatArb,
  i32Arb,
  map,
  readBroadcast,
  shapeArb,
  shiftAmount,
  tabulate,
  broadcastShape,
  tensorArb,
  tensorOf,
  u32Arb,
  wrapInt,
  zipBroadcast,
  type NaiveTensor,
} from '../support/naive.ts';

const RUNS = 40;
const REL = 1e-12;

type Check = 'exact' | 'close';

function trunc(x: number): number {
  return x < 0 ? Math.ceil(x) : Math.floor(x);
}

/** Runs op(x) on a raw primitive node. */
function runUnary(backend: Backend, op: UnaryOp, dtype: DType, x: NaiveTensor) {
  const b = new Builder();
  return runOne(backend, b.node(op, [b.input('x', x.shape, dtype)], null), { x: x.data });
}

/** Runs op(x, y) on a raw primitive node (equal shapes). */
function runBinary(backend: Backend, op: BinaryOp, dtype: DType, x: NaiveTensor, y: NaiveTensor) {
  const b = new Builder();
  const node = b.node(op, [b.input('x', x.shape, dtype), b.input('y', y.shape, dtype)], null);
  return runOne(backend, node, { x: x.data, y: y.data });
}

/** op on two 1-D tensors given as plain lists, for hand-picked values. */
function binaryValues(backend: Backend, op: BinaryOp, dtype: DType, xs: readonly number[], ys: readonly number[]): number[] {
  const { out } = runBinary(backend, op, dtype, { shape: [xs.length], data: Float64Array.from(xs) }, { shape: [ys.length], data: Float64Array.from(ys) });
  return Array.from(out.data);
}

function unaryValues(backend: Backend, op: UnaryOp, dtype: DType, xs: readonly number[]): number[] {
  return Array.from(runUnary(backend, op, dtype, { shape: [xs.length], data: Float64Array.from(xs) }).out.data);
}

const anyShape = shapeArb({ maxRank: 3, maxDim: 5 });

// ---- unary ---------------------------------------------------------------------

interface UnaryCase {
  readonly op: UnaryOp;
  readonly dtype: DType;
  readonly rule: string;
  readonly values: fc.Arbitrary<number>;
  readonly naive: (x: number) => number;
  readonly check: Check;
}

const UNARY_CASES: readonly UnaryCase[] = [
  { op: Op.Neg, dtype: DType.F32, rule: '-x', values: floatArb(1e6), naive: (x) => -x, check: 'close' },
  { op: Op.Neg, dtype: DType.I32, rule: '-x wrapped (−INT_MIN = INT_MIN)', values: i32Arb, naive: (x) => wrapInt(-BigInt(x), DType.I32), check: 'exact' },
  { op: Op.Recip, dtype: DType.F32, rule: '1/x', values: floatArb(1e3), naive: (x) => 1 / x, check: 'close' },
  { op: Op.Sqrt, dtype: DType.F32, rule: '√x on x ≥ 0', values: fc.double({ min: 0, max: 1e6, noNaN: true }), naive: Math.sqrt, check: 'close' },
  { op: Op.Exp2, dtype: DType.F32, rule: '2^x', values: fc.double({ min: -60, max: 60, noNaN: true }), naive: (x) => Math.pow(2, x), check: 'close' },
  { op: Op.Log2, dtype: DType.F32, rule: 'log2 x on x > 0', values: fc.double({ min: 1e-6, max: 1e6, noNaN: true }), naive: Math.log2, check: 'close' },
  { op: Op.Sin, dtype: DType.F32, rule: 'sin x', values: floatArb(100), naive: Math.sin, check: 'close' },
  { op: Op.Trunc, dtype: DType.F32, rule: 'rounds toward zero', values: fc.oneof(floatArb(1e3), fc.integer({ min: -8, max: 8 }).map((k) => k / 4)), naive: trunc, check: 'exact' },
  { op: Op.Not, dtype: DType.Bool, rule: 'logical not', values: boolArb, naive: (x) => (x === 0 ? 1 : 0), check: 'exact' },
  { op: Op.Not, dtype: DType.I32, rule: 'bitwise complement', values: i32Arb, naive: (x) => wrapInt(~BigInt(x), DType.I32), check: 'exact' },
  { op: Op.Not, dtype: DType.U32, rule: 'bitwise complement', values: u32Arb, naive: (x) => wrapInt(~BigInt(x), DType.U32), check: 'exact' },
];

describeBackends('unary primitives on the $name', (backend) => {
  it.each(UNARY_CASES)('$op on $dtype is $rule, elementwise', (c) => {
    fc.assert(
      fc.property(tensorArb(anyShape, c.values), (x) => {
        const { out, ir } = runUnary(backend, c.op, c.dtype, x);
        expect(out.dtype).toBe(c.dtype);
        const want = map(x, c.naive);
        if (c.check === 'exact') expectExact(out, want, ir);
        else expectClose(out, want, REL, ir);
      }),
      { numRuns: RUNS },
    );
  });

  describe('erf', () => {
    const erfOf = (xs: readonly number[]): number[] => unaryValues(backend, Op.Erf, DType.F32, xs);

    it('matches tabulated values to 1e-14', () => {
      const table: readonly [number, number][] = [
        [0, 0],
        [0.5, 0.5204998778130465],
        [1, 0.8427007929497149],
        [2, 0.9953222650189527],
        [3, 0.9999779095030014],
        [-1, -0.8427007929497149],
      ];
      const got = erfOf(table.map(([x]) => x));
      table.forEach(([x, want], i) => {
        expect(Math.abs(got[i]! - want), `erf(${x}) = ${got[i]}, want ${want}`).toBeLessThanOrEqual(1e-14);
      });
    });

    it('is odd: erf(−x) = −erf(x) exactly', () => {
      fc.assert(
        fc.property(fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: 1, maxLength: 20 }), (xs) => {
          const pos = erfOf(xs);
          const neg = erfOf(xs.map((x) => -x));
          pos.forEach((p, i) => expect(neg[i] === -p, `erf(${-xs[i]!}) = ${neg[i]}, erf(${xs[i]}) = ${p}`).toBe(true));
        }),
        { numRuns: RUNS },
      );
    });

    it('equals 2/√π ∫₀ˣ e^(−t²) dt (Simpson, 4000 panels) to 1e-10', () => {
      const integral = (x: number): number => {
        const n = 4000;
        const h = x / n;
        let s = 1 + Math.exp(-x * x);
        for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * Math.exp(-(i * h) * (i * h));
        return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
      };
      fc.assert(
        fc.property(fc.array(fc.double({ min: -4.5, max: 4.5, noNaN: true }), { minLength: 1, maxLength: 8 }), (xs) => {
          const got = erfOf(xs);
          xs.forEach((x, i) => expect(Math.abs(got[i]! - integral(x)), `erf(${x}) = ${got[i]}`).toBeLessThanOrEqual(1e-10));
        }),
        { numRuns: 30 },
      );
    });

    it('is non-decreasing and bounded by ±1', () => {
      const xs = Array.from({ length: 241 }, (_, i) => -6 + i * 0.05);
      const got = erfOf(xs);
      for (let i = 0; i < got.length; i++) {
        expect(Math.abs(got[i]!)).toBeLessThanOrEqual(1);
        if (i > 0) expect(got[i]!, `erf(${xs[i]}) < erf(${xs[i - 1]})`).toBeGreaterThanOrEqual(got[i - 1]!);
      }
    });
  });
});

// ---- binary, equal shapes ------------------------------------------------------------

interface BinaryCase {
  readonly op: BinaryOp;
  readonly dtype: DType;
  readonly rule: string;
  readonly left: fc.Arbitrary<number>;
  readonly right: fc.Arbitrary<number>;
  readonly naive: (a: number, b: number) => number;
  readonly check: Check;
}

const intCases = (dtype: DType.I32 | DType.U32): BinaryCase[] => {
  const values = dtype === DType.I32 ? i32Arb : u32Arb;
  const divisors = fc.oneof(fc.constant(0), values);
  const shifts = dtype === DType.I32 ? fc.oneof(fc.integer({ min: -70, max: 70 }), i32Arb) : fc.oneof(fc.integer({ min: 0, max: 100 }), u32Arb);
  const w = (x: bigint): number => wrapInt(x, dtype);
  const exact = (op: BinaryOp, rule: string, naive: (a: number, b: number) => number, right = values): BinaryCase => ({
    op, dtype, rule, left: values, right, naive, check: 'exact',
  });
  return [
    exact(Op.Add, 'a + b wrapped mod 2^32', (a, b) => w(BigInt(a) + BigInt(b))),
    exact(Op.Mul, 'a · b wrapped mod 2^32', (a, b) => w(BigInt(a) * BigInt(b))),
    exact(Op.Max, 'the larger', (a, b) => (a > b ? a : b)),
    exact(Op.CmpLt, 'a < b', (a, b) => (a < b ? 1 : 0)),
    exact(Op.CmpNe, 'a ≠ b', (a, b) => (a !== b ? 1 : 0), fc.oneof(values, fc.integer({ min: 0, max: 3 }))),
    exact(Op.IDiv, 'a / b truncated toward zero, 0 when b = 0', (a, b) => (b === 0 ? 0 : w(BigInt(a) / BigInt(b))), divisors),
    exact(Op.Mod, 'the remainder with the sign of a, 0 when b = 0', (a, b) => (b === 0 ? 0 : w(BigInt(a) % BigInt(b))), divisors),
    exact(Op.And, 'bitwise and', (a, b) => w(BigInt(a) & BigInt(b))),
    exact(Op.Or, 'bitwise or', (a, b) => w(BigInt(a) | BigInt(b))),
    exact(Op.Xor, 'bitwise xor', (a, b) => w(BigInt(a) ^ BigInt(b))),
    exact(Op.Shl, 'a << (b mod 32) wrapped', (a, b) => w(BigInt(a) << shiftAmount(b)), shifts),
    exact(
      Op.Shr,
      dtype === DType.I32 ? 'arithmetic a >> (b mod 32)' : 'logical a >> (b mod 32)',
      (a, b) => w(BigInt(a) >> shiftAmount(b)),
      shifts,
    ),
  ];
};

/** Multiples of 1/8 so the float remainder has an exact integer reference. */
const eighths = fc.integer({ min: -4000, max: 4000 }).map((p) => p / 8);
const nonZeroEighths = fc.tuple(fc.integer({ min: 1, max: 400 }), fc.boolean()).map(([q, neg]) => (neg ? -q : q) / 8);
const fewFloats = fc.oneof(floatArb(1e3), fc.integer({ min: -2, max: 2 }));

const BINARY_CASES: readonly BinaryCase[] = [
  { op: Op.Add, dtype: DType.F32, rule: 'a + b', left: fewFloats, right: fewFloats, naive: (a, b) => a + b, check: 'close' },
  { op: Op.Mul, dtype: DType.F32, rule: 'a · b', left: fewFloats, right: fewFloats, naive: (a, b) => a * b, check: 'close' },
  { op: Op.Max, dtype: DType.F32, rule: 'the larger', left: fewFloats, right: fewFloats, naive: (a, b) => Math.max(a, b), check: 'exact' },
  { op: Op.CmpLt, dtype: DType.F32, rule: 'a < b', left: fewFloats, right: fewFloats, naive: (a, b) => (a < b ? 1 : 0), check: 'exact' },
  { op: Op.CmpNe, dtype: DType.F32, rule: 'a ≠ b', left: fewFloats, right: fewFloats, naive: (a, b) => (a !== b ? 1 : 0), check: 'exact' },
  {
    op: Op.Mod, dtype: DType.F32, rule: 'the remainder with the sign of a (C fmod)', left: eighths, right: nonZeroEighths,
    naive: (a, b) => Number(BigInt(a * 8) % BigInt(b * 8)) / 8, check: 'exact',
  },
  ...intCases(DType.I32),
  ...intCases(DType.U32),
  { op: Op.CmpNe, dtype: DType.Bool, rule: 'a ≠ b', left: boolArb, right: boolArb, naive: (a, b) => (a !== b ? 1 : 0), check: 'exact' },
  { op: Op.And, dtype: DType.Bool, rule: 'logical and', left: boolArb, right: boolArb, naive: (a, b) => (a === 1 && b === 1 ? 1 : 0), check: 'exact' },
  { op: Op.Or, dtype: DType.Bool, rule: 'logical or', left: boolArb, right: boolArb, naive: (a, b) => (a === 1 || b === 1 ? 1 : 0), check: 'exact' },
  { op: Op.Xor, dtype: DType.Bool, rule: 'logical xor', left: boolArb, right: boolArb, naive: (a, b) => (a !== b ? 1 : 0), check: 'exact' },
];

const COMPARISONS: ReadonlySet<BinaryOp> = new Set([Op.CmpLt, Op.CmpNe]);

describeBackends('binary primitives on equal shapes on the $name', (backend) => {
  it.each(BINARY_CASES)('$op on $dtype is $rule, elementwise', (c) => {
    const pair = anyShape.chain((s) => fc.tuple(tensorOf(s, c.left), tensorOf(s, c.right)));
    fc.assert(
      fc.property(pair, ([x, y]) => {
        const { out, ir } = runBinary(backend, c.op, c.dtype, x, y);
        expect(out.dtype).toBe(COMPARISONS.has(c.op) ? DType.Bool : c.dtype);
        const want = { shape: x.shape, data: x.data.map((v, i) => c.naive(v, y.data[i]!)) };
        if (c.check === 'exact') expectExact(out, want, ir);
        else expectClose(out, want, REL, ir);
      }),
      { numRuns: RUNS },
    );
  });

  describe('integer semantics on hand-picked values', () => {
    it('i32 add and mul wrap like `|0` and Math.imul', () => {
      const a = [I32_MAX, I32_MIN, 65536, 123456789, -2, I32_MIN];
      const b = [1, -1, 65536, 987654321, I32_MAX, -1];
      expect(binaryValues(backend, Op.Add, DType.I32, a, b)).toEqual(a.map((x, i) => (x + b[i]!) | 0));
      expect(binaryValues(backend, Op.Mul, DType.I32, a, b)).toEqual(a.map((x, i) => Math.imul(x, b[i]!)));
      expect(binaryValues(backend, Op.Add, DType.I32, [I32_MAX], [1])).toEqual([I32_MIN]);
      expect(binaryValues(backend, Op.Mul, DType.I32, [65536], [65536])).toEqual([0]);
    });

    it('u32 add and mul wrap mod 2^32', () => {
      expect(binaryValues(backend, Op.Add, DType.U32, [U32_MAX, U32_MAX, 2 ** 31], [1, 2, 2 ** 31])).toEqual([0, 1, 0]);
      expect(binaryValues(backend, Op.Mul, DType.U32, [65537, U32_MAX], [65537, U32_MAX])).toEqual([131073, 1]);
    });

    it('idiv truncates toward zero and gives 0 on division by zero', () => {
      expect(binaryValues(backend, Op.IDiv, DType.I32, [7, -7, 7, -7, 7, 0, I32_MIN], [2, 2, -2, -2, 0, 0, -1])).toEqual([3, -3, -3, 3, 0, 0, I32_MIN]);
      expect(binaryValues(backend, Op.IDiv, DType.U32, [7, U32_MAX, U32_MAX], [2, 0, 2])).toEqual([3, 0, 2147483647]);
    });

    it('mod takes the sign of the dividend, for ints and floats', () => {
      expect(binaryValues(backend, Op.Mod, DType.I32, [7, -7, 7, -7, 5], [3, 3, -3, -3, 0])).toEqual([1, -1, 1, -1, 0]);
      expect(binaryValues(backend, Op.Mod, DType.F32, [7.5, -7.5, 7.5, -7.5, 1.25], [2, 2, -2, -2, 0.5])).toEqual([1.5, -1.5, 1.5, -1.5, 0.25]);
    });

    it('shr is arithmetic on i32 and logical on u32; shift amounts are taken mod 32', () => {
      expect(binaryValues(backend, Op.Shr, DType.I32, [-8, -8, -1, I32_MIN], [1, 33, 31, -1])).toEqual([-4, -4, -1, -1]);
      expect(binaryValues(backend, Op.Shr, DType.U32, [2 ** 31, U32_MAX, 8], [1, 31, 35])).toEqual([2 ** 30, 1, 1]);
      expect(binaryValues(backend, Op.Shl, DType.I32, [1, 1, 3], [31, 32, -1])).toEqual([I32_MIN, 1, I32_MIN]);
      expect(binaryValues(backend, Op.Shl, DType.U32, [1, 1, U32_MAX], [31, 33, 4])).toEqual([2 ** 31, 2, U32_MAX - 15]);
    });

    it('u32 compares as unsigned', () => {
      expect(binaryValues(backend, Op.CmpLt, DType.U32, [1, 2 ** 31, U32_MAX], [2 ** 31, 1, 0])).toEqual([1, 0, 0]);
      expect(binaryValues(backend, Op.Max, DType.U32, [1, U32_MAX], [2 ** 31, 0])).toEqual([2 ** 31, U32_MAX]);
    });

    it('not on ints is the bitwise complement', () => {
      expect(unaryValues(backend, Op.Not, DType.I32, [0, -1, I32_MAX])).toEqual([-1, 0, I32_MIN]);
      expect(unaryValues(backend, Op.Not, DType.U32, [0, U32_MAX, 1])).toEqual([U32_MAX, 0, U32_MAX - 1]);
    });
  });
});

// ---- broadcasting through the builder helpers ----------------------------------------------

interface BroadcastCase {
  readonly name: string;
  readonly dtype: DType;
  readonly outDtype: DType;
  readonly values: fc.Arbitrary<number>;
  readonly build: (b: Builder, x: Operand, y: Operand) => Node;
  readonly naive: (a: number, b: number) => number;
}

const BROADCAST_CASES: readonly BroadcastCase[] = [
  { name: 'add', dtype: DType.F32, outDtype: DType.F32, values: fewFloats, build: (b, x, y) => b.add(x, y), naive: (p, q) => p + q },
  { name: 'sub', dtype: DType.F32, outDtype: DType.F32, values: fewFloats, build: (b, x, y) => b.sub(x, y), naive: (p, q) => p - q },
  { name: 'mul', dtype: DType.F32, outDtype: DType.F32, values: fewFloats, build: (b, x, y) => b.mul(x, y), naive: (p, q) => p * q },
  { name: 'max', dtype: DType.F32, outDtype: DType.F32, values: fewFloats, build: (b, x, y) => b.max(x, y), naive: (p, q) => Math.max(p, q) },
  { name: 'lt', dtype: DType.F32, outDtype: DType.Bool, values: fewFloats, build: (b, x, y) => b.lt(x, y), naive: (p, q) => (p < q ? 1 : 0) },
  { name: 'ne', dtype: DType.F32, outDtype: DType.Bool, values: fc.integer({ min: -2, max: 2 }), build: (b, x, y) => b.ne(x, y), naive: (p, q) => (p !== q ? 1 : 0) },
  { name: 'xor', dtype: DType.I32, outDtype: DType.I32, values: i32Arb, build: (b, x, y) => b.xor(x, y), naive: (p, q) => wrapInt(BigInt(p) ^ BigInt(q), DType.I32) },
  {
    name: 'mul', dtype: DType.U32, outDtype: DType.U32, values: u32Arb, build: (b, x, y) => b.mul(x, y),
    naive: (p, q) => wrapInt(BigInt(p) * BigInt(q), DType.U32),
  },
];

/** A base shape and two (or three) shapes that broadcast to it under numpy rules. */
const broadcastShapes = (n: number): fc.Arbitrary<number[][]> =>
  shapeArb({ maxRank: 4, maxSize: 120 }).chain((base) => fc.tuple(...Array.from({ length: n }, () => broadcastVariantArb(base))));

describeBackends('binary builder helpers broadcast with numpy rules on the $name', (backend) => {
  it.each(BROADCAST_CASES)('b.$name on $dtype equals the naive broadcast loop', (c) => {
    const operands = broadcastShapes(2).chain(([sa, sb]) => fc.tuple(tensorOf(sa!, c.values), tensorOf(sb!, c.values)));
    fc.assert(
      fc.property(operands, ([x, y]) => {
        const b = new Builder();
        const node = c.build(b, b.input('x', x.shape, c.dtype), b.input('y', y.shape, c.dtype));
        const { out, ir } = runOne(backend, node, { x: x.data, y: y.data });
        expect(out.dtype).toBe(c.outDtype);
        const want = zipBroadcast(x, y, c.naive);
        if (c.outDtype === DType.F32) expectClose(out, want, REL, ir);
        else expectExact(out, want, ir);
      }),
      { numRuns: RUNS },
    );
  });

  it.each(BROADCAST_CASES.filter((c) => c.dtype === DType.F32))('b.$name with a number operand on either side broadcasts the number', (c) => {
    fc.assert(
      fc.property(tensorArb(anyShape, c.values), fc.integer({ min: -3, max: 3 }), fc.boolean(), (x, k, numberFirst) => {
        const b = new Builder();
        const input = b.input('x', x.shape, c.dtype);
        const node = numberFirst ? c.build(b, k, input) : c.build(b, input, k);
        const { out, ir } = runOne(backend, node, { x: x.data });
        const want = map(x, (v) => (numberFirst ? c.naive(k, v) : c.naive(v, k)));
        expectClose(out, want, REL, ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('b.where(cond, x, y) broadcasts all three operands and picks x where cond holds', () => {
    const operands = broadcastShapes(3).chain(([sc, sx, sy]) =>
      fc.tuple(tensorOf(sc!, boolArb), tensorOf(sx!, floatArb()), tensorOf(sy!, floatArb())),
    );
    fc.assert(
      fc.property(operands, ([c, x, y]) => {
        const b = new Builder();
        const node = b.where(b.input('c', c.shape, DType.Bool), b.input('x', x.shape), b.input('y', y.shape));
        const { out, ir } = runOne(backend, node, { c: c.data, x: x.data, y: y.data });
        const shape = broadcastShape(broadcastShape(c.shape, x.shape), y.shape);
        const want = tabulate(shape, (idx) => (readBroadcast(c, idx) === 1 ? readBroadcast(x, idx) : readBroadcast(y, idx)));
        expectExact(out, want, ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('b.where with a number branch broadcasts the number', () => {
    const operands = broadcastShapes(2).chain(([sc, sx]) => fc.tuple(tensorOf(sc!, boolArb), tensorOf(sx!, floatArb())));
    fc.assert(
      fc.property(operands, fc.double({ min: -10, max: 10, noNaN: true }), fc.boolean(), ([c, x], k, numberFirst) => {
        const b = new Builder();
        const cond = b.input('c', c.shape, DType.Bool);
        const input = b.input('x', x.shape);
        const node = numberFirst ? b.where(cond, k, input) : b.where(cond, input, k);
        const { out, ir } = runOne(backend, node, { c: c.data, x: x.data });
        const want = tabulate(broadcastShape(c.shape, x.shape), (idx) => {
          const v = readBroadcast(x, idx);
          return readBroadcast(c, idx) === 1 ? (numberFirst ? k : v) : numberFirst ? v : k;
        });
        expectExact(out, want, ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('the raw where primitive selects elementwise on equal shapes', () => {
    const operands = anyShape.chain((s) => fc.tuple(tensorOf(s, boolArb), tensorOf(s, i32Arb), tensorOf(s, i32Arb)));
    fc.assert(
      fc.property(operands, ([c, x, y]) => {
        const b = new Builder();
        const node = b.node(Op.Where, [b.input('c', c.shape, DType.Bool), b.input('x', x.shape, DType.I32), b.input('y', y.shape, DType.I32)], null);
        const { out, ir } = runOne(backend, node, { c: c.data, x: x.data, y: y.data });
        expect(out.dtype).toBe(DType.I32);
        const want = { shape: c.shape, data: c.data.map((v, i) => (v === 1 ? x.data[i]! : y.data[i]!)) };
        expectExact(out, want, ir);
      }),
      { numRuns: RUNS },
    );
  });

  describe('derived integer helpers keep integer semantics', () => {
    it('b.div of an i32 tensor by a number divides with truncation (like idiv), not by multiplying with 1/n', () => {
      fc.assert(
        fc.property(tensorArb(anyShape, i32Arb), fc.integer({ min: 1, max: 9 }), (x, k) => {
          const b = new Builder();
          const { out, ir } = runOne(backend, b.div(b.input('x', x.shape, DType.I32), k), { x: x.data });
          expectExact(out, map(x, (v) => wrapInt(BigInt(v) / BigInt(k), DType.I32)), ir);
        }),
        { numRuns: RUNS },
      );
    });

    it('b.sub on u32 tensors wraps mod 2^32', () => {
      fc.assert(
        fc.property(anyShape.chain((s) => fc.tuple(tensorOf(s, u32Arb), tensorOf(s, u32Arb))), ([x, y]) => {
          const b = new Builder();
          const { out, ir } = runOne(backend, b.sub(b.input('x', x.shape, DType.U32), b.input('y', y.shape, DType.U32)), { x: x.data, y: y.data });
          expectExact(out, zipBroadcast(x, y, (p, q) => wrapInt(BigInt(p) - BigInt(q), DType.U32)), ir);
        }),
        { numRuns: RUNS },
      );
    });
  });
});
