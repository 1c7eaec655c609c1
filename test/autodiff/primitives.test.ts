// Autodiff · the VJP of every primitive, and of the Builder's derived math built
// on them, against central finite differences in float64 (test/support/gradcheck.ts)
// on random inputs drawn by fast-check. Inputs stay away from the points where an
// op is not differentiable: max/min operands and reduce-max fibres are distinct by
// construction, |x| and relu stay off 0, sqrt/log2/recip off 0, and trunc/mod off
// integer quotients. A failing case prints its joint forward+backward graph as IR.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DType, concat, dot, gather, grad, scatterAdd, trace, where, type Context, type Shape, type Tensor } from '../../dsl/index.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { MAX_SIZE, awayFromZeroArb, distinctArb, floatsArb, shapeArb, size } from '../support/grad-arbitraries.ts';
import { checkGradients } from '../support/gradcheck.ts';

type F32 = Tensor<Shape, DType.F32>;

const RUNS = 15;
/** Elements per differentiated input: finite differences cost two interpreter runs each. */


const distinctArbFD = (length: number) => distinctArb(length, 0.3);

// ---- arbitraries ---------------------------------------------------------------


/** x + k with x in [0.1, 0.9]: reals whose fractional part keeps clear of integer boundaries. */
function offIntegerArb(length: number, maxInt: number): fc.Arbitrary<number[]> {
  const v = fc.tuple(fc.integer({ min: -maxInt, max: maxInt }), fc.double({ min: 0.1, max: 0.9, noNaN: true })).map(([k, f]) => k + f);
  return fc.array(v, { minLength: length, maxLength: length });
}

/** A random permutation of 0…n−1. */
function permArb(n: number): fc.Arbitrary<number[]> {
  const axes = Array.from({ length: n }, (_, i) => i);
  return fc.shuffledSubarray(axes, { minLength: n, maxLength: n });
}

/** Every shape whose product is n, of rank 1…maxRank. */
function factorizations(n: number, maxRank: number): number[][] {
  if (maxRank === 1) return [[n]];
  const out: number[][] = [[n]];
  for (let d = 1; d <= n; d++) {
    if (n % d !== 0) continue;
    for (const rest of factorizations(n / d, maxRank - 1)) out.push([d, ...rest]);
  }
  return out;
}

/** For each element of broadcast(a, b), the flat indices into a and into b. */
function broadcastPairs(a: readonly number[], b: readonly number[]): [number, number][] {
  const rank = Math.max(a.length, b.length);
  const pa = [...new Array<number>(rank - a.length).fill(1), ...a];
  const pb = [...new Array<number>(rank - b.length).fill(1), ...b];
  const out = pa.map((d, i) => Math.max(d, pb[i]!));
  const flat = (shape: readonly number[], index: readonly number[]) => shape.reduce((acc, d, i) => acc * d + (d === 1 ? 0 : index[i]!), 0);
  const pairs: [number, number][] = [];
  for (let k = 0; k < size(out); k++) {
    const index: number[] = [];
    let r = k;
    for (let i = rank - 1; i >= 0; i--) {
      index[i] = r % out[i]!;
      r = Math.floor(r / out[i]!);
    }
    pairs.push([flat(pa, index), flat(pb, index)]);
  }
  return pairs;
}

/** Checks fn's gradient wrt one input x of the given shape and values. */
function checkUnary(shape: readonly number[], values: readonly number[], fn: (x: F32, ctx: Context) => Tensor<Shape, DType>): void {
  checkGradients({ inputs: { x: { shape, values } }, fn: (ctx, { x }) => fn(x!, ctx) });
}

/** The analytic gradients of a scalar loss, evaluated on the interpreter. */
function gradientsAt(build: (ctx: Context) => { loss: Tensor<Shape, DType>; wrt: readonly F32[] }, inputs: Readonly<Record<string, ArrayLike<number>>>): Float64Array[] {
  let count = 0;
  const t = trace((ctx) => {
    const { loss, wrt } = build(ctx);
    count = wrt.length;
    const grads = grad(loss, wrt);
    return Object.fromEntries(grads.map((g, i) => [`g${i}`, g]));
  });
  const outputs = interpret(t.graph, { inputs }).outputs;
  return Array.from({ length: count }, (_, i) => outputs[`g${i}`]!.data);
}

// ---- unary ---------------------------------------------------------------------

interface UnaryCase {
  readonly name: string;
  /** Values of a given length in the op's differentiable domain. */
  readonly values: (n: number) => fc.Arbitrary<number[]>;
  readonly fn: (x: F32) => F32;
}

const everywhere = (lo: number, hi: number) => (n: number) => floatsArb(n, lo, hi);
/** sigmoid/tanh/exact 0: see the dedicated test below; here every other point. */
const exceptZero = (lo: number, hi: number) => (n: number) => floatsArb(n, lo, hi).map((xs) => xs.map((x) => (x === 0 ? 0.5 : x)));
const positive = (lo: number, hi: number) => (n: number) => floatsArb(n, lo, hi);
const awayFromZero = (floor: number, hi: number) => (n: number) => awayFromZeroArb(n, floor, hi);

const UNARY: readonly UnaryCase[] = [
  // Builder primitives
  { name: 'neg', values: everywhere(-3, 3), fn: (x) => x.neg() },
  { name: 'recip', values: awayFromZero(0.4, 3), fn: (x) => x.recip() },
  { name: 'sqrt', values: positive(0.2, 4), fn: (x) => x.sqrt() },
  { name: 'exp2', values: everywhere(-3, 3), fn: (x) => x.exp2() },
  { name: 'log2', values: positive(0.2, 4), fn: (x) => x.log2() },
  { name: 'sin', values: everywhere(-4, 4), fn: (x) => x.sin() },
  { name: 'erf', values: everywhere(-2, 2), fn: (x) => x.erf() },
  // derived in the Builder
  { name: 'exp', values: everywhere(-3, 3), fn: (x) => x.exp() },
  { name: 'log', values: positive(0.2, 4), fn: (x) => x.log() },
  { name: 'cos', values: everywhere(-4, 4), fn: (x) => x.cos() },
  { name: 'tanh', values: exceptZero(-3, 3), fn: (x) => x.tanh() },
  { name: 'sigmoid', values: exceptZero(-4, 4), fn: (x) => x.sigmoid() },
  { name: 'abs', values: awayFromZero(0.05, 3), fn: (x) => x.abs() },
  { name: 'pow(3)', values: positive(0.3, 2), fn: (x) => x.pow(3) },
  { name: 'pow(-1.5)', values: positive(0.3, 2), fn: (x) => x.pow(-1.5) },
  { name: 'rsqrt', values: positive(0.2, 4), fn: (x) => x.rsqrt() },
  { name: 'square', values: everywhere(-3, 3), fn: (x) => x.square() },
  { name: 'relu', values: awayFromZero(0.05, 3), fn: (x) => x.relu() },
  // d/dx trunc(x)·x = trunc(x) off the integers: trunc itself passes no gradient
  { name: 'trunc', values: (n) => offIntegerArb(n, 3), fn: (x) => x.trunc().mul(x) },
  // float casts keep values in f64 mode and pass the cotangent through; an int round trip blocks it
  { name: 'cast f16↔f32', values: everywhere(-3, 3), fn: (x) => x.cast(DType.F16).cast(DType.F32).mul(x) },
  { name: 'cast bf16↔f32', values: everywhere(-3, 3), fn: (x) => x.cast(DType.BF16).square().cast(DType.F32) },
  { name: 'cast i32 (no gradient)', values: (n) => offIntegerArb(n, 3), fn: (x) => x.cast(DType.I32).cast(DType.F32).mul(x) },
];

describe('unary ops: the VJP matches finite differences', () => {
  for (const c of UNARY) {
    it(`${c.name}`, () => {
      const arb = shapeArb(0, 3).chain((shape) => c.values(size(shape)).map((values) => ({ shape, values })));
      fc.assert(fc.property(arb, ({ shape, values }) => checkUnary(shape, values, c.fn)), { numRuns: RUNS });
    });
  }

  // sigmoid is built as where(x<0, e·p, p) over e = exp(−|x|), and |x| = max(x, −x) splits
  // its gradient at a tie, so d|x|/dx = 0 at exactly 0; the true derivatives there are
  // σ'(0) = 1/4 and tanh'(0) = 1. Zero inputs are common (zero-initialised activations).
  it('sigmoid and tanh have their true derivative at exactly 0', () => {
    const [gs, gt] = gradientsAt((ctx) => {
      const x = ctx.input('x', [2] as const);
      const y = ctx.input('y', [2] as const);
      return { loss: x.sigmoid().sum().add(y.tanh().sum()), wrt: [x, y] };
    }, { x: [0, -0], y: [0, -0] });
    for (const g of gs!) expect(g).toBeCloseTo(0.25, 12);
    for (const g of gt!) expect(g).toBeCloseTo(1, 12);
  });
});

// ---- binary, with broadcasting ------------------------------------------------------

const BROADCAST_PAIRS: readonly (readonly [readonly number[], readonly number[]])[] = [
  [[2, 3], [3]],
  [[2, 1], [1, 3]],
  [[3], [2, 3]],
  [[2, 3], [2, 1]],
  [[4, 1, 2], [3, 1]],
  [[], [2, 2]],
  [[2, 2], [2, 2]],
];

function checkBinary(sx: readonly number[], x: readonly number[], sy: readonly number[], y: readonly number[], fn: (x: F32, y: F32) => Tensor<Shape, DType>): void {
  checkGradients({ inputs: { x: { shape: sx, values: x }, y: { shape: sy, values: y } }, fn: (_ctx, { x: a, y: b }) => fn(a!, b!) });
}

const plain = (sx: readonly number[], sy: readonly number[]) => fc.tuple(floatsArb(size(sx), -3, 3), floatsArb(size(sy), -3, 3));
/** Every value of x and y distinct, so no broadcast pair ties. */
const distinct = (sx: readonly number[], sy: readonly number[]) =>
  distinctArbFD(size(sx) + size(sy)).map((v): [number[], number[]] => [v.slice(0, size(sx)), v.slice(size(sx))]);
const nonzeroDivisor = (sx: readonly number[], sy: readonly number[]) => fc.tuple(floatsArb(size(sx), -3, 3), awayFromZeroArb(size(sy), 0.4, 3));
/**
 * Positive divisors y in [0.5, 2] and x = q·y with quotients q off the integers, so trunc(x/y)
 * is constant across the FD window. Needs x to have the broadcast shape (one y per x element).
 */
const modOperands = (sx: readonly number[], sy: readonly number[]) => {
  const pairs = broadcastPairs(sx, sy);
  if (pairs.length !== size(sx)) throw new Error(`mod operands: x ${JSON.stringify(sx)} must have the broadcast shape`);
  return fc.tuple(offIntegerArb(size(sx), 3), floatsArb(size(sy), 0.5, 2)).map(([q, y]): [number[], number[]] => [pairs.map(([i, j]) => q[i]! * y[j]!), y]);
};

interface BinaryCase {
  readonly name: string;
  /** Values for x (size nx) and y (size ny) in the op's differentiable domain. */
  readonly values: (sx: readonly number[], sy: readonly number[]) => fc.Arbitrary<[number[], number[]]>;
  readonly fn: (x: F32, y: F32) => F32;
  /** Shape pairs to draw from (default: BROADCAST_PAIRS). */
  readonly pairs?: readonly (readonly [readonly number[], readonly number[]])[];
}

const BINARY: readonly BinaryCase[] = [
  { name: 'add', values: plain, fn: (x, y) => x.add(y) },
  { name: 'sub', values: plain, fn: (x, y) => x.sub(y) },
  { name: 'mul', values: plain, fn: (x, y) => x.mul(y) },
  { name: 'div', values: nonzeroDivisor, fn: (x, y) => x.div(y) },
  { name: 'maximum', values: distinct, fn: (x, y) => x.maximum(y) },
  { name: 'minimum', values: distinct, fn: (x, y) => x.minimum(y) },
  {
    name: 'mod (float)',
    values: modOperands,
    fn: (x, y) => x.mod(y),
    pairs: [[[2, 3], [3]], [[2, 3], [2, 1]], [[2, 2], []], [[4, 3, 2], [3, 1]], [[2, 2], [2, 2]]],
  },
  // the same operand on both sides: cotangents from the two uses are summed
  { name: 'x·y + x/y (shared operands)', values: nonzeroDivisor, fn: (x, y) => x.mul(y).add(x.div(y)) },
];

describe('binary ops with broadcasting operands: the VJP matches finite differences', () => {
  for (const c of BINARY) {
    it(`${c.name}`, () => {
      const arb = fc.constantFrom(...(c.pairs ?? BROADCAST_PAIRS)).chain(([sx, sy]) => c.values(sx, sy).map(([x, y]) => ({ sx, sy, x, y })));
      fc.assert(fc.property(arb, ({ sx, sy, x, y }) => checkBinary(sx, x, sy, y, c.fn)), { numRuns: RUNS });
    });
  }

  it('maximum and minimum with a scalar constant (relu-like clamps)', () => {
    const arb = shapeArb(1, 3).chain((shape) => awayFromZeroArb(size(shape), 0.05, 3).map((values) => ({ shape, values })));
    fc.assert(
      fc.property(arb, ({ shape, values }) => checkUnary(shape, values, (x) => x.maximum(0).add(x.minimum(0).mul(3)))),
      { numRuns: RUNS },
    );
  });
});

// ---- where -----------------------------------------------------------------------------

describe('where: the cotangent goes to the selected branch', () => {
  const shapes: readonly (readonly [readonly number[], readonly number[], readonly number[]])[] = [
    [[2, 3], [2, 3], [2, 3]],
    [[2, 1], [1, 3], [2, 3]],
    [[3], [2, 3], [1]],
    [[2, 3], [3], []],
  ];

  it('with a bool condition given as a constant input, broadcasting all three operands', () => {
    const arb = fc.constantFrom(...shapes).chain(([sc, sa, sb]) =>
      fc.record({
        sc: fc.constant(sc),
        sa: fc.constant(sa),
        sb: fc.constant(sb),
        cond: fc.array(fc.boolean(), { minLength: size(sc), maxLength: size(sc) }),
        a: floatsArb(size(sa), -3, 3),
        b: floatsArb(size(sb), -3, 3),
      }),
    );
    fc.assert(
      fc.property(arb, ({ sc, sa, sb, cond, a, b }) =>
        checkGradients({
          inputs: { a: { shape: sa, values: a }, b: { shape: sb, values: b } },
          constants: { cond: { shape: sc, values: cond.map(Number), dtype: DType.Bool } },
          fn: (_ctx, { a: ta, b: tb }, { cond: c }) => where(c as Tensor<Shape, DType.Bool>, ta!.square(), tb!.mul(2)),
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('with a condition computed from a separate input (x > 0) and a number branch', () => {
    const arb = shapeArb(1, 3).chain((shape) => fc.record({ shape: fc.constant(shape), c: floatsArb(size(shape), -1, 1), x: floatsArb(size(shape), -3, 3) }));
    fc.assert(
      fc.property(arb, ({ shape, c, x }) =>
        checkGradients({
          inputs: { x: { shape, values: x } },
          constants: { c: { shape, values: c, dtype: DType.F32 } },
          fn: (_ctx, { x: tx }, { c: tc }) => where((tc as F32).gt(0), tx!.sin(), 0.5),
        }),
      ),
      { numRuns: RUNS },
    );
  });
});

// ---- views -----------------------------------------------------------------------------

/** A shape with its values in [−3, 3]. */
const shapedArb = (minRank: number, maxRank: number, maxDim = 4) =>
  shapeArb(minRank, maxRank, maxDim).chain((shape) => floatsArb(size(shape), -3, 3).map((values) => ({ shape, values })));

/** One view step chosen by `kind`, its parameters derived from `seed` and x's shape; keeps outputs small. */
function viewStep(x: F32, kind: number, seed: number): F32 {
  let s = seed;
  const next = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n);
  };
  const shape = x.shape;
  const rank = shape.length;
  const big = size(shape) > 48;
  switch (kind) {
    case 0: {
      const options = factorizations(size(shape), 4);
      const target = options[next(options.length)]!;
      const inferred = next(2) === 0 ? -1 : next(target.length);
      return x.reshape(target.map((d, i) => (i === inferred ? -1 : d)));
    }
    case 1: {
      const perm = Array.from({ length: rank }, (_, i) => i);
      for (let i = rank - 1; i > 0; i--) {
        const j = next(i + 1);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      return x.permute(perm);
    }
    case 2: {
      if (big) return x;
      const target = [...(next(2) ? [2] : []), ...shape.map((d) => (d === 1 ? 1 + next(3) : d))];
      return x.expand(target);
    }
    case 3: {
      if (big || rank === 0) return x;
      return x.pad(shape.map((): [number, number] => [next(2), next(2)]), next(5) - 2);
    }
    case 4: {
      if (rank === 0) return x;
      return x.flip(shape.map((_, i) => i).filter(() => next(2) === 1));
    }
    case 5: {
      if (rank === 0) return x;
      const axis = next(rank);
      const d = shape[axis]!;
      const start = next(d);
      return x.slice(axis, start, start + 1 + next(d - start));
    }
    case 6:
      return rank >= 4 ? x.squeeze() : x.unsqueeze(next(rank + 1));
    default:
      return x.squeeze();
  }
}

describe('view ops: the VJP matches finite differences', () => {
  it('reshape to every factorisation (with an inferred −1)', () => {
    const arb = shapedArb(0, 3).chain(({ shape, values }) =>
      fc.record({ shape: fc.constant(shape), values: fc.constant(values), target: fc.constantFrom(...factorizations(size(shape), 4)), infer: fc.boolean() }),
    );
    fc.assert(
      fc.property(arb, ({ shape, values, target, infer }) =>
        checkUnary(shape, values, (x) => x.reshape(infer ? target.map((d, i) => (i === 0 ? -1 : d)) : target).mul(x.reshape(target))),
      ),
      { numRuns: RUNS },
    );
  });

  it('permute by a random permutation (and transpose)', () => {
    const arb = shapedArb(1, 4, 3).chain((v) => permArb(v.shape.length).map((perm) => ({ ...v, perm })));
    fc.assert(
      fc.property(arb, ({ shape, values, perm }) => checkUnary(shape, values, (x) => (x.rank >= 2 ? x.permute(perm).transpose(0, -1) : x.permute(perm)).sin())),
      { numRuns: RUNS },
    );
  });

  it('expand along size-1 axes and new leading axes', () => {
    const arb = fc
      .tuple(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 2 }))
      .chain(([full, ones, lead]) => {
        const shape = full.map((d, i) => (ones[i] ? 1 : d));
        const target = [...new Array<number>(lead).fill(2), ...full.map((d, i) => (ones[i] ? d + 1 : d))];
        return floatsArb(size(shape), -3, 3).map((values) => ({ shape, target, values }));
      });
    fc.assert(fc.property(arb, ({ shape, values, target }) => checkUnary(shape, values, (x) => x.expand(target).square())), { numRuns: RUNS });
  });

  it('pad with a value (the padding is constant)', () => {
    const arb = shapedArb(1, 3).chain((v) =>
      fc.record({
        shape: fc.constant(v.shape),
        values: fc.constant(v.values),
        pads: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), { minLength: v.shape.length, maxLength: v.shape.length }),
        value: fc.double({ min: -2, max: 2, noNaN: true }),
      }),
    );
    fc.assert(fc.property(arb, ({ shape, values, pads, value }) => checkUnary(shape, values, (x) => x.pad(pads, value).exp())), { numRuns: RUNS });
  });

  it('slice along one axis and shrink along all of them', () => {
    const rangeArb = (d: number) => fc.integer({ min: 0, max: d - 1 }).chain((start) => fc.integer({ min: start + 1, max: d }).map((end): [number, number] => [start, end]));
    const arb = shapedArb(1, 3).chain((v) =>
      fc.record({
        shape: fc.constant(v.shape),
        values: fc.constant(v.values),
        axis: fc.integer({ min: -v.shape.length, max: v.shape.length - 1 }),
        ranges: fc.tuple(...v.shape.map(rangeArb)),
      }),
    );
    fc.assert(
      fc.property(arb, ({ shape, values, axis, ranges }) =>
        checkUnary(shape, values, (x, ctx) => {
          const d = shape.at(axis)!;
          const sliced = x.slice(axis, d > 1 ? 1 : 0, d).square().sum();
          const shrunk = ctx.wrap<Shape, DType.F32>(ctx.builder.shrink(x.node, ranges)).exp().sum();
          return sliced.add(shrunk);
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('flip over a random set of axes', () => {
    const arb = shapedArb(1, 3).chain((v) => fc.subarray(v.shape.map((_, i) => i), { minLength: 1 }).map((axes) => ({ ...v, axes })));
    fc.assert(fc.property(arb, ({ shape, values, axes }) => checkUnary(shape, values, (x) => x.flip(axes).mul(x))), { numRuns: RUNS });
  });

  it('unsqueeze and squeeze', () => {
    const arb = shapedArb(0, 3).chain((v) => fc.integer({ min: -(v.shape.length + 1), max: v.shape.length }).map((axis) => ({ ...v, axis })));
    fc.assert(
      fc.property(arb, ({ shape, values, axis }) =>
        checkUnary(shape, values, (x) => {
          const u = x.unsqueeze(axis);
          return u.squeeze(axis).mul(u.squeeze().reshape(x.shape).sin());
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('concat of two or three pieces along a random axis', () => {
    const arb = fc
      .tuple(shapeArb(1, 3, 3), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 3 }), fc.nat())
      .chain(([base, lengths, pick]) => {
        const axis = pick % base.length;
        const shapes = lengths.map((len) => base.map((d, i) => (i === axis ? len : d)));
        return fc.tuple(...shapes.map((s) => floatsArb(size(s), -3, 3))).map((values) => ({ axis, shapes, values }));
      });
    fc.assert(
      fc.property(arb, ({ axis, shapes, values }) =>
        checkGradients({
          inputs: Object.fromEntries(shapes.map((shape, i) => [`x${i}`, { shape, values: values[i]! }])),
          fn: (_ctx, xs) => concat(Object.values(xs), axis - shapes[0]!.length).sin(),
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('random chains of views', () => {
    const arb = fc.record({
      x: shapedArb(1, 3),
      steps: fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.nat()), { minLength: 2, maxLength: 6 }),
    });
    fc.assert(
      fc.property(arb, ({ x: { shape, values }, steps }) => checkUnary(shape, values, (x) => steps.reduce((t, [kind, seed]) => viewStep(t, kind, seed), x).sin())),
      { numRuns: 15 },
    );
  });
});

// ---- reductions ------------------------------------------------------------------------

/** A shape with a random non-empty subset of its axes, some written negatively. */
const axesArb = (rank: number) =>
  fc.subarray(Array.from({ length: rank }, (_, i) => i), { minLength: 1 }).chain((axes) =>
    fc.array(fc.boolean(), { minLength: axes.length, maxLength: axes.length }).map((neg) => axes.map((a, i) => (neg[i] ? a - rank : a))),
  );

describe('reductions: the VJP matches finite differences', () => {
  const reductionArb = (values: (n: number) => fc.Arbitrary<number[]>) =>
    shapeArb(1, 3).chain((shape) => fc.record({ shape: fc.constant(shape), values: values(size(shape)), axes: axesArb(shape.length), keep: fc.boolean() }));

  it('sum over a random subset of axes', () => {
    fc.assert(
      fc.property(reductionArb((n) => floatsArb(n, -3, 3)), ({ shape, values, axes, keep }) => checkUnary(shape, values, (x) => x.sum(axes, keep).square())),
      { numRuns: RUNS },
    );
  });

  it('mean over a random subset of axes', () => {
    fc.assert(
      fc.property(reductionArb((n) => floatsArb(n, -3, 3)), ({ shape, values, axes, keep }) => checkUnary(shape, values, (x) => x.mean(axes, keep).sin())),
      { numRuns: RUNS },
    );
  });

  it('variance over a random subset of axes', () => {
    fc.assert(
      fc.property(reductionArb((n) => floatsArb(n, -3, 3)), ({ shape, values, axes, keep }) => checkUnary(shape, values, (x) => x.variance(axes, keep))),
      { numRuns: RUNS },
    );
  });

  it('max over a random subset of axes (distinct values)', () => {
    fc.assert(
      fc.property(reductionArb(distinctArb), ({ shape, values, axes, keep }) => checkUnary(shape, values, (x) => x.max(axes, keep).square())),
      { numRuns: RUNS },
    );
  });

  it('min over one axis (distinct values)', () => {
    const arb = shapeArb(1, 3).chain((shape) =>
      fc.record({ shape: fc.constant(shape), values: distinctArbFD(size(shape)), axis: fc.integer({ min: -shape.length, max: shape.length - 1 }) }),
    );
    fc.assert(fc.property(arb, ({ shape, values, axis }) => checkUnary(shape, values, (x) => x.min(axis).exp())), { numRuns: RUNS });
  });

  it('sum and max of everything to a scalar', () => {
    fc.assert(fc.property(shapedArb(0, 3).chain((v) => distinctArbFD(size(v.shape)).map((values) => ({ shape: v.shape, values }))), ({ shape, values }) =>
      checkUnary(shape, values, (x) => x.max().mul(x.sum())),
    ), { numRuns: RUNS });
  });
});

// ---- dot -----------------------------------------------------------------------------------

interface DotLayout {
  readonly aShape: number[];
  readonly bShape: number[];
  readonly batch: [number[], number[]];
  readonly contract: [number[], number[]];
}

type Role = readonly ['batch' | 'contract' | 'free', number];

/** Places batch, contracting and free axes at shuffled positions of each operand. */
function layout(batch: readonly number[], contract: readonly number[], freeA: readonly number[], freeB: readonly number[], orderA: readonly number[], orderB: readonly number[]): DotLayout {
  const rolesA: Role[] = [...batch.map((_, i) => ['batch', i] as const), ...contract.map((_, i) => ['contract', i] as const), ...freeA.map((_, i) => ['free', i] as const)];
  const rolesB: Role[] = [...batch.map((_, i) => ['batch', i] as const), ...contract.map((_, i) => ['contract', i] as const), ...freeB.map((_, i) => ['free', i] as const)];
  const place = (roles: Role[], order: readonly number[], free: readonly number[]) => {
    const placed = order.map((k) => roles[k]!);
    const dimOf = ([role, i]: Role) => (role === 'batch' ? batch[i]! : role === 'contract' ? contract[i]! : free[i]!);
    const positions = (role: Role[0], n: number) => Array.from({ length: n }, (_, i) => placed.findIndex(([r, j]) => r === role && j === i));
    return { shape: placed.map(dimOf), batch: positions('batch', batch.length), contract: positions('contract', contract.length) };
  };
  const a = place(rolesA, orderA, freeA);
  const b = place(rolesB, orderB, freeB);
  return { aShape: a.shape, bShape: b.shape, batch: [a.batch, b.batch], contract: [a.contract, b.contract] };
}

const dims = (min: number, max: number) => fc.array(fc.integer({ min: 1, max: 3 }), { minLength: min, maxLength: max });

const dotLayoutArb: fc.Arbitrary<DotLayout> = fc
  .tuple(dims(0, 2), dims(1, 2), dims(0, 2), dims(0, 1))
  .chain(([batch, contract, freeA, freeB]) =>
    fc.tuple(permArb(batch.length + contract.length + freeA.length), permArb(batch.length + contract.length + freeB.length)).map(([oa, ob]) => layout(batch, contract, freeA, freeB, oa, ob)),
  )
  .filter((l) => size(l.aShape) <= MAX_SIZE && size(l.bShape) <= MAX_SIZE && l.aShape.length <= 5);

function checkDot(l: DotLayout, a: readonly number[], b: readonly number[]): void {
  checkGradients({
    inputs: { a: { shape: l.aShape, values: a }, b: { shape: l.bShape, values: b } },
    fn: (_ctx, { a: ta, b: tb }) => dot(ta!, tb!, { batch: l.batch, contract: l.contract }),
  });
}

describe('dot and matmul: the VJP matches finite differences', () => {
  it('dot_general with batch and contracting axes at shuffled positions in both operands', () => {
    const arb = dotLayoutArb.chain((l) => fc.tuple(floatsArb(size(l.aShape), -2, 2), floatsArb(size(l.bShape), -2, 2)).map(([a, b]) => ({ l, a, b })));
    fc.assert(fc.property(arb, ({ l, a, b }) => checkDot(l, a, b)), { numRuns: 15 });
  });

  it('dot_general with interior batch axes and contracting pairs in opposite orders', () => {
    // a: [free 2, batch 2, contract 3, contract 2]; b: [contract 2, batch 2, free 2, contract 3]
    const l: DotLayout = { aShape: [2, 2, 3, 2], bShape: [2, 2, 2, 3], batch: [[1], [1]], contract: [[2, 3], [3, 0]] };
    fc.assert(fc.property(fc.tuple(floatsArb(24, -2, 2), floatsArb(24, -2, 2)), ([a, b]) => checkDot(l, a, b)), { numRuns: 3 });
  });

  const MATMULS: readonly (readonly [readonly number[], readonly number[]])[] = [
    [[2, 1, 3, 2], [3, 2, 2]], // broadcast batch on both sides
    [[2, 3], [3, 2]],
    [[3], [2, 3, 2]], // vector @ batched matrix
    [[2, 2, 3], [3]], // batched matrix @ vector
    [[3], [3]], // inner product
  ];
  for (const [sa, sb] of MATMULS) {
    it(`matmul [${sa.join(',')}] @ [${sb.join(',')}]`, () => {
      fc.assert(
        fc.property(fc.tuple(floatsArb(size(sa), -2, 2), floatsArb(size(sb), -2, 2)), ([a, b]) => checkBinary(sa, a, sb, b, (x, y) => x.matmul(y))),
        { numRuns: 4 },
      );
    });
  }
});

// ---- gather / scatter-add ------------------------------------------------------------------

/** Indices into [0, len) with at least one duplicate (the first repeated last). */
const indicesArb = (count: number, len: number) =>
  fc.array(fc.integer({ min: 0, max: len - 1 }), { minLength: count - 1, maxLength: count - 1 }).map((ids) => [...ids, ids[0]!]);

describe('gather and scatterAdd: the VJP matches finite differences', () => {
  it('gather rows (axis 0) with duplicate indices', () => {
    const arb = fc.record({ table: floatsArb(12, -3, 3), ids: indicesArb(5, 4) });
    fc.assert(
      fc.property(arb, ({ table, ids }) =>
        checkGradients({
          inputs: { table: { shape: [4, 3], values: table } },
          constants: { ids: { shape: [5], values: ids, dtype: DType.I32 } },
          fn: (_ctx, { table: t }, { ids: i }) => gather(t!, i as Tensor<Shape, DType.I32>, 0).square(),
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('gather along an interior axis with 2-D indices, duplicates and an out-of-range index (reads 0, gets no gradient)', () => {
    const arb = fc.record({ table: floatsArb(18, -3, 3), ids: indicesArb(3, 3) });
    fc.assert(
      fc.property(arb, ({ table, ids }) =>
        checkGradients({
          inputs: { table: { shape: [2, 3, 3], values: table } },
          constants: { ids: { shape: [2, 2], values: [...ids, 7], dtype: DType.I32 } },
          fn: (_ctx, { table: t }, { ids: i }) => gather(t!, i as Tensor<Shape, DType.I32>, 1).sin(),
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('scatterAdd along axis 1 with duplicate indices', () => {
    const arb = fc.record({ updates: floatsArb(20, -3, 3), ids: indicesArb(5, 4) });
    fc.assert(
      fc.property(arb, ({ updates, ids }) =>
        checkGradients({
          inputs: { updates: { shape: [2, 5, 2], values: updates } },
          constants: { ids: { shape: [5], values: ids, dtype: DType.I32 } },
          fn: (_ctx, { updates: u }, { ids: i }) => scatterAdd(u!, i as Tensor<Shape, DType.I32>, 1, 4).square(),
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('scatterAdd of a 2-D index block (axis 0)', () => {
    const arb = fc.record({ updates: floatsArb(12, -3, 3), ids: indicesArb(6, 3) });
    fc.assert(
      fc.property(arb, ({ updates, ids }) =>
        checkGradients({
          inputs: { updates: { shape: [2, 3, 2], values: updates } },
          constants: { ids: { shape: [2, 3], values: ids, dtype: DType.I32 } },
          fn: (_ctx, { updates: u }, { ids: i }) => scatterAdd(u!, i as Tensor<Shape, DType.I32>, 0, 3).exp(),
        }),
      ),
      { numRuns: RUNS },
    );
  });
});

// ---- stop-gradient, zero gradients, scalar losses ----------------------------------------------

describe('gradient plumbing', () => {
  it('stopGradient: d/dx Σ sg(x)·x is the stopped value x itself', () => {
    fc.assert(
      fc.property(shapedArb(1, 3), ({ shape, values }) => {
        const [g] = gradientsAt((ctx) => {
          const x = ctx.input('x', shape);
          return { loss: x.stopGradient().mul(x).sum(), wrt: [x] };
        }, { x: values });
        expect(Array.from(g!, (v) => v + 0)).toEqual(values.map((v) => v + 0));
      }),
      { numRuns: RUNS },
    );
  });

  it('an input the loss does not depend on (or only through a stop-gradient or a comparison) gets exact zeros', () => {
    const [gUnused, gStopped, gCompared, gUsed] = gradientsAt((ctx) => {
      const unused = ctx.input('unused', [2, 3] as const);
      const stopped = ctx.input('stopped', [3] as const);
      const compared = ctx.input('compared', [2, 3] as const);
      const used = ctx.input('used', [2, 3] as const);
      const mask = compared.gt(0).cast(DType.F32);
      const loss = used.mul(mask).add(stopped.stopGradient()).square().sum();
      return { loss, wrt: [unused, stopped, compared, used] };
    }, { unused: [1, 2, 3, 4, 5, 6], stopped: [0.5, 1, 2], compared: [1, -1, 1, -1, 1, -1], used: [1, 1, 1, 1, 1, 1] });
    expect(Array.from(gUnused!)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(gStopped!)).toEqual([0, 0, 0]);
    expect(Array.from(gCompared!)).toEqual([0, 0, 0, 0, 0, 0]);
    // the used input's gradient 2·(x·m + s)·m: m = 1 at even positions
    expect(Array.from(gUsed!)).toEqual([3, 0, 6, 0, 4, 0]);
  });

  it('ties split the gradient evenly (JAX convention): d max(x, x)/dx = 1, and tied maxima share the cotangent', () => {
    const [gPair, gReduce] = gradientsAt((ctx) => {
      const x = ctx.input('x', [3] as const);
      const y = ctx.input('y', [2, 3] as const);
      return { loss: x.maximum(x).sum().add(y.max(-1).sum()), wrt: [x, y] };
    }, { x: [-1, 0, 2], y: [1, 3, 3, 5, 5, 5] });
    expect(Array.from(gPair!)).toEqual([1, 1, 1]);
    expect(Array.from(gReduce!)).toEqual([0, 0.5, 0.5, 1 / 3, 1 / 3, 1 / 3]);
  });

  it('grad of a non-scalar loss throws, naming the scalar requirement', () => {
    expect(() =>
      trace((ctx) => {
        const x = ctx.input('x', [2, 3] as const);
        return grad(x.square().sum(-1), [x])[0];
      }),
    ).toThrow(/scalar/);
  });

});
