// Reductions, views, contractions and indexing primitives against naive loops over
// multi-indices (test/support/naive.ts), on random shapes, axes and arguments.
// Views and indexing are compared exactly; sums within 1e-10 of Σ|terms|.

import fc from 'fast-check';
import { expect, it } from 'vitest';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import type { Node, OpArgs } from '../../compiler/ir/node.ts';
import { Op } from '../../compiler/ir/op.ts';
import { describeBackends, runMany, runOne } from '../support/backend.ts';
import * as naive from '../support/naive.ts';
import {
  axesSubsetArb,
  expectClose,
  expectExact,
  floatArb,
  i32Arb,
  numel,
  permutationArb,
  shapeArb,
  tensorOf,
  u32Arb,
  wrapInt,
  type NaiveTensor,
} from '../support/naive.ts';

const RUNS = 40;
const SUM_REL = 1e-10;

/** A shape of rank min..max and a tensor of random floats on it. */
const floats = (options: naive.ShapeOptions = {}, values: fc.Arbitrary<number> = floatArb()): fc.Arbitrary<NaiveTensor> =>
  naive.tensorArb(shapeArb(options), values);

// ---- reductions -----------------------------------------------------------------------

describeBackends('reductions on the $name', (backend) => {
  const cases = (values: fc.Arbitrary<number>) =>
    floats({ minRank: 1, maxRank: 4 }, values).chain((x) => fc.tuple(fc.constant(x), axesSubsetArb(x.shape.length, 1)));

  it.each([Op.ReduceSum, Op.ReduceMax] as const)('%s over any non-empty axis subset keeps those axes as size 1', (op) => {
    fc.assert(
      fc.property(cases(floatArb()), ([x, axes]) => {
        const b = new Builder();
        const { out, ir } = runOne(backend, b.node(op, [b.input('x', x.shape)], { axes }), { x: x.data });
        const want = naive.reduce(x, axes, op === Op.ReduceSum ? 'sum' : 'max');
        if (op === Op.ReduceSum) expectClose(out, want.value, SUM_REL, ir, want.scale);
        else expectExact(out, want.value, ir);
      }),
      { numRuns: RUNS },
    );
  });

  it.each([DType.I32, DType.U32])('reduceSum on %s wraps mod 2^32; reduceMax is exact', (dtype) => {
    fc.assert(
      fc.property(cases(dtype === DType.I32 ? i32Arb : u32Arb), ([x, axes]) => {
        const b = new Builder();
        const input = b.input('x', x.shape, dtype);
        const { outs, ir } = runMany(backend, { sum: b.node(Op.ReduceSum, [input], { axes }), max: b.node(Op.ReduceMax, [input], { axes }) }, { x: x.data });
        const outShape = x.shape.map((d, k) => (axes.includes(k) ? 1 : d));
        const sum = naive.tabulate(outShape, (out) => {
          let acc = 0n;
          for (const idx of naive.allIndices(x.shape)) if (idx.every((v, k) => axes.includes(k) || v === out[k])) acc += BigInt(naive.read(x, idx));
          return wrapInt(acc, dtype);
        });
        expectExact(outs.sum!, sum, ir);
        expectExact(outs.max!, naive.reduce(x, axes, 'max').value, ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('reducing over no axes is the identity', () => {
    fc.assert(
      fc.property(floats({ maxRank: 3 }), (x) => {
        const b = new Builder();
        const { out, ir } = runOne(backend, b.node(Op.ReduceSum, [b.input('x', x.shape)], { axes: [] }), { x: x.data });
        expectExact(out, x, ir);
      }),
      { numRuns: 20 },
    );
  });
});

// ---- views ---------------------------------------------------------------------------------

type ViewStep =
  | { readonly op: Op.Reshape; readonly arg: OpArgs[Op.Reshape] }
  | { readonly op: Op.Permute; readonly arg: OpArgs[Op.Permute] }
  | { readonly op: Op.Expand; readonly arg: OpArgs[Op.Expand] }
  | { readonly op: Op.Pad; readonly arg: OpArgs[Op.Pad] }
  | { readonly op: Op.Shrink; readonly arg: OpArgs[Op.Shrink] }
  | { readonly op: Op.Flip; readonly arg: OpArgs[Op.Flip] };

function applyNaive(t: NaiveTensor, step: ViewStep): NaiveTensor {
  switch (step.op) {
    case Op.Reshape: return naive.reshape(t, step.arg.shape);
    case Op.Permute: return naive.permute(t, step.arg.perm);
    case Op.Expand: return naive.expand(t, step.arg.shape);
    case Op.Pad: return naive.pad(t, step.arg.pads, step.arg.value);
    case Op.Shrink: return naive.shrink(t, step.arg.ranges);
    case Op.Flip: return naive.flip(t, step.arg.axes);
    default: return step satisfies never;
  }
}

function applyNode(b: Builder, x: Node, step: ViewStep): Node {
  switch (step.op) {
    case Op.Reshape: return b.node(Op.Reshape, [x], step.arg);
    case Op.Permute: return b.node(Op.Permute, [x], step.arg);
    case Op.Expand: return b.node(Op.Expand, [x], step.arg);
    case Op.Pad: return b.node(Op.Pad, [x], step.arg);
    case Op.Shrink: return b.node(Op.Shrink, [x], step.arg);
    case Op.Flip: return b.node(Op.Flip, [x], step.arg);
    default: return step satisfies never;
  }
}

function primeFactors(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; n > 1; p++) {
    while (n % p === 0) {
      out.push(p);
      n /= p;
    }
  }
  return out;
}

/** Random view arguments valid for `shape` (all shapes here have dims ≥ 1 except where shrink empties an axis). */
const stepArb = {
  [Op.Reshape]: (shape: readonly number[]): fc.Arbitrary<ViewStep> => {
    const n = numel(shape);
    const factors = primeFactors(n);
    if (n === 0) return fc.constant({ op: Op.Reshape, arg: { shape: [0, ...shape.filter((d) => d !== 0)] } });
    return fc
      .tuple(fc.integer({ min: factors.length === 0 ? 0 : 1, max: 4 }), fc.array(fc.nat(), { minLength: factors.length, maxLength: factors.length }))
      .map(([rank, buckets]) => {
        const target = new Array<number>(rank).fill(1);
        factors.forEach((f, i) => {
          target[buckets[i]! % rank] = target[buckets[i]! % rank]! * f;
        });
        return { op: Op.Reshape, arg: { shape: target } };
      });
  },
  [Op.Permute]: (shape: readonly number[]): fc.Arbitrary<ViewStep> => permutationArb(shape.length).map((perm) => ({ op: Op.Permute, arg: { perm } })),
  [Op.Expand]: (shape: readonly number[]): fc.Arbitrary<ViewStep> =>
    fc.array(fc.integer({ min: 1, max: 4 }), { minLength: shape.length, maxLength: shape.length }).map((sizes) => {
      const target = shape.map((d, k) => (d === 1 ? sizes[k]! : d));
      // keep expanded tensors small (never below the input's own size)
      while (numel(target) > Math.max(200, numel(shape))) {
        const k = target.findIndex((d, j) => shape[j] === 1 && d > 1);
        target[k] = 1;
      }
      return { op: Op.Expand, arg: { shape: target } };
    }),
  [Op.Pad]: (shape: readonly number[]): fc.Arbitrary<ViewStep> =>
    fc
      .tuple(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), { minLength: shape.length, maxLength: shape.length }),
        fc.double({ min: -10, max: 10, noNaN: true }),
      )
      .map(([pads, value]) => {
        while (numel(shape.map((d, k) => d + pads[k]![0] + pads[k]![1])) > Math.max(300, numel(shape))) {
          const k = pads.findIndex(([lo, hi]) => lo + hi > 0);
          pads[k] = [0, 0];
        }
        return { op: Op.Pad, arg: { pads, value } };
      }),
  [Op.Shrink]: (shape: readonly number[]): fc.Arbitrary<ViewStep> =>
    fc.tuple(...shape.map((d) => fc.tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d })))).map((pairs) => ({
      op: Op.Shrink,
      arg: { ranges: pairs.map(([p, q]): [number, number] => [Math.min(p, q), Math.max(p, q)]) },
    })),
  [Op.Flip]: (shape: readonly number[]): fc.Arbitrary<ViewStep> => axesSubsetArb(shape.length).map((axes) => ({ op: Op.Flip, arg: { axes } })),
} as const;

const VIEW_OPS = [Op.Reshape, Op.Permute, Op.Expand, Op.Pad, Op.Shrink, Op.Flip] as const;

/** Inputs with some size-1 axes, so expand has something to do. */
const viewInput = floats({ maxRank: 4, maxDim: 4, maxSize: 120 }, floatArb(50));

describeBackends('view primitives on the $name', (backend) => {
  it.each(VIEW_OPS)('%s with random arguments moves exactly the elements the naive index map says', (op) => {
    const cases = viewInput.chain((x) => fc.tuple(fc.constant(x), stepArb[op](x.shape)));
    fc.assert(
      fc.property(cases, ([x, step]) => {
        const b = new Builder();
        const { out, ir } = runOne(backend, applyNode(b, b.input('x', x.shape), step), { x: x.data });
        expectExact(out, applyNaive(x, step), ir);
      }),
      { numRuns: 60 },
    );
  });

  it('chains of up to six random views compose like the naive index maps', () => {
    const chain = (x: NaiveTensor, depth: number): fc.Arbitrary<ViewStep[]> => {
      if (depth === 0) return fc.constant([]);
      return fc
        .constantFrom(...VIEW_OPS)
        .chain((op) => stepArb[op](x.shape))
        .chain((step) => chain(applyNaive(x, step), depth - 1).map((rest) => [step, ...rest]));
    };
    const cases = fc.tuple(viewInput, fc.integer({ min: 2, max: 6 })).chain(([x, depth]) => fc.tuple(fc.constant(x), chain(x, depth)));
    fc.assert(
      fc.property(cases, ([x, steps]) => {
        const b = new Builder();
        let node: Node = b.input('x', x.shape);
        let want = x;
        for (const step of steps) {
          node = applyNode(b, node, step);
          want = applyNaive(want, step);
        }
        const { out, ir } = runOne(backend, node, { x: x.data });
        expectExact(out, want, ir);
      }),
      { numRuns: 60 },
    );
  });

  it('views keep integer values bit-exact', () => {
    const cases = floats({ maxRank: 3 }, i32Arb).chain((x) => fc.tuple(fc.constant(x), stepArb[Op.Permute](x.shape), stepArb[Op.Flip](x.shape)));
    fc.assert(
      fc.property(cases, ([x, perm, flip]) => {
        const b = new Builder();
        const node = applyNode(b, applyNode(b, b.input('x', x.shape, DType.I32), flip), perm);
        const { out, ir } = runOne(backend, node, { x: x.data });
        expect(out.dtype).toBe(DType.I32);
        expectExact(out, applyNaive(applyNaive(x, flip), perm), ir);
      }),
      { numRuns: 20 },
    );
  });
});

// ---- dot -----------------------------------------------------------------------------------------

type Role = { readonly kind: 'batch' | 'contract' | 'free'; readonly i: number };

interface DotCase {
  readonly a: NaiveTensor;
  readonly b: NaiveTensor;
  readonly dims: naive.DotAxes;
}

/**
 * Random batch (0–2), contract (0–2) and free (0–2 per side) dims, each operand's axes
 * in a random order, so batch and contract axes sit anywhere in both operands.
 */
function dotCaseArb(values: fc.Arbitrary<number>): fc.Arbitrary<DotCase> {
  const size = fc.integer({ min: 1, max: 3 });
  const sizes = (n: number) => fc.array(size, { minLength: n, maxLength: n });
  return fc
    .record({
      batch: fc.integer({ min: 0, max: 2 }).chain(sizes),
      contract: fc.integer({ min: 0, max: 2 }).chain(sizes),
      freeA: fc.integer({ min: 0, max: 2 }).chain(sizes),
      freeB: fc.integer({ min: 0, max: 2 }).chain(sizes),
    })
    .chain((s) => {
      const shared: Role[] = [
        ...s.batch.map((_, i): Role => ({ kind: 'batch', i })),
        ...s.contract.map((_, i): Role => ({ kind: 'contract', i })),
      ];
      const rolesA = [...shared, ...s.freeA.map((_, i): Role => ({ kind: 'free', i }))];
      const rolesB = [...shared, ...s.freeB.map((_, i): Role => ({ kind: 'free', i }))];
      const order = (roles: Role[]) => fc.shuffledSubarray(roles, { minLength: roles.length, maxLength: roles.length });
      return fc.tuple(fc.constant(s), order(rolesA), order(rolesB));
    })
    .map(([s, rolesA, rolesB]) => {
      const dimOf = (free: readonly number[]) => (r: Role): number =>
        r.kind === 'batch' ? s.batch[r.i]! : r.kind === 'contract' ? s.contract[r.i]! : free[r.i]!;
      const axesOf = (roles: Role[], kind: Role['kind'], n: number) =>
        Array.from({ length: n }, (_, i) => roles.findIndex((r) => r.kind === kind && r.i === i));
      return {
        shapeA: rolesA.map(dimOf(s.freeA)),
        shapeB: rolesB.map(dimOf(s.freeB)),
        dims: {
          batch: [axesOf(rolesA, 'batch', s.batch.length), axesOf(rolesB, 'batch', s.batch.length)],
          contract: [axesOf(rolesA, 'contract', s.contract.length), axesOf(rolesB, 'contract', s.contract.length)],
        } satisfies naive.DotAxes,
      };
    })
    .filter(({ shapeA, shapeB }) => numel(shapeA) <= 200 && numel(shapeB) <= 200)
    .chain(({ shapeA, shapeB, dims }) => fc.tuple(tensorOf(shapeA, values), tensorOf(shapeB, values)).map(([a, b]) => ({ a, b, dims })));
}

describeBackends('dot on the $name', (backend) => {
  it('contracts random batch/contract axis positions; output is batch, a’s free, b’s free', () => {
    fc.assert(
      fc.property(dotCaseArb(floatArb(10)), ({ a, b: bt, dims }) => {
        const b = new Builder();
        const node = b.node(Op.Dot, [b.input('a', a.shape), b.input('b', bt.shape)], { ...dims, accumulate: DType.F32 });
        const { out, ir } = runOne(backend, node, { a: a.data, b: bt.data });
        const want = naive.dot(a, bt, dims);
        expectClose(out, want.value, SUM_REL, ir, want.scale);
      }),
      { numRuns: 60 },
    );
  });

  it('i32 dot wraps products and sums mod 2^32 like i32 arithmetic', () => {
    fc.assert(
      fc.property(dotCaseArb(i32Arb), ({ a, b: bt, dims }) => {
        const b = new Builder();
        const node = b.node(Op.Dot, [b.input('a', a.shape, DType.I32), b.input('b', bt.shape, DType.I32)], { ...dims, accumulate: DType.I32 });
        const { out, ir } = runOne(backend, node, { a: a.data, b: bt.data });
        expectExact(out, naive.dotInt(a, bt, dims, DType.I32), ir);
      }),
      { numRuns: RUNS },
    );
  });

  it('a contraction over an empty axis is all zeros', () => {
    const b = new Builder();
    const node = b.node(Op.Dot, [b.input('a', [2, 0]), b.input('b', [0, 3])], { batch: [[], []], contract: [[1], [0]], accumulate: DType.F32 });
    const { out, ir } = runOne(backend, node, { a: [], b: [] });
    expectExact(out, { shape: [2, 3], data: new Float64Array(6) }, ir);
  });

  it('b.matmul follows numpy: broadcast batch dims, 1-D operands as vectors', () => {
    const cases = fc
      .record({
        batch: shapeArb({ maxRank: 2, maxDim: 3 }),
        m: fc.integer({ min: 1, max: 4 }),
        k: fc.integer({ min: 1, max: 4 }),
        n: fc.integer({ min: 1, max: 4 }),
        aVec: fc.boolean(),
        bVec: fc.boolean(),
      })
      .chain((s) => fc.tuple(fc.constant(s), naive.broadcastVariantArb(s.batch), naive.broadcastVariantArb(s.batch)))
      .chain(([s, ba, bb]) =>
        fc.tuple(
          tensorOf(s.aVec ? [s.k] : [...ba, s.m, s.k], floatArb(10)),
          tensorOf(s.bVec ? [s.k] : [...bb, s.k, s.n], floatArb(10)),
        ),
      );
    fc.assert(
      fc.property(cases, ([a, bt]) => {
        const b = new Builder();
        const node = b.matmul(b.input('a', a.shape), b.input('b', bt.shape));
        const { out, ir } = runOne(backend, node, { a: a.data, b: bt.data });
        const want = naive.matmul(a, bt);
        expectClose(out, want.value, SUM_REL, ir, want.scale);
      }),
      { numRuns: 60 },
    );
  });
});

// ---- gather and scatterAdd ---------------------------------------------------------------------

interface IndexCase {
  readonly table: NaiveTensor;
  readonly axis: number;
  readonly idx: NaiveTensor;
  /** A tensor of the gather output's shape (the updates for scatterAdd). */
  readonly updates: NaiveTensor;
}

/** Table of rank 1–3, a random axis, indices of rank 0–2 with values in [-2, len+1] (some out of range). */
function indexCaseArb(idxDtype: DType.I32 | DType.U32): fc.Arbitrary<IndexCase> {
  return shapeArb({ minRank: 1, maxRank: 3, maxSize: 60 })
    .chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 }), shapeArb({ maxRank: 2, maxDim: 3 })))
    .filter(([shape, axis, idxShape]) => (numel(shape) / shape[axis]!) * numel(idxShape) <= 200)
    .chain(([shape, axis, idxShape]) => {
      const len = shape[axis]!;
      const inRange = fc.integer({ min: 0, max: len - 1 });
      const outOfRange = idxDtype === DType.I32 ? fc.constantFrom(-2, -1, len, len + 1, -2147483648) : fc.constantFrom(len, len + 1, 4294967295, 2147483648);
      const indexValues = fc.oneof({ weight: 4, arbitrary: inRange }, { weight: 1, arbitrary: outOfRange });
      const outShape = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
      return fc.record({
        table: tensorOf(shape, floatArb(10)),
        axis: fc.constant(axis),
        idx: tensorOf(idxShape, indexValues),
        updates: tensorOf(outShape, floatArb(10)),
      });
    });
}

describeBackends('gather and scatterAdd on the $name', (backend) => {
  it.each([DType.I32, DType.U32] as const)('gather with %s indices reads table[…, idx, …], 0 out of range', (idxDtype) => {
    fc.assert(
      fc.property(indexCaseArb(idxDtype), ({ table, axis, idx }) => {
        const b = new Builder();
        const node = b.node(Op.Gather, [b.input('t', table.shape), b.input('i', idx.shape, idxDtype)], { axis });
        const { out, ir } = runOne(backend, node, { t: table.data, i: idx.data });
        expectExact(out, naive.gather(table, idx, axis), ir);
      }),
      { numRuns: 60 },
    );
  });

  it.each([DType.I32, DType.U32] as const)('scatterAdd with %s indices sums duplicates and drops out-of-range indices', (idxDtype) => {
    fc.assert(
      fc.property(indexCaseArb(idxDtype), ({ table, axis, idx, updates }) => {
        const b = new Builder();
        const size = table.shape[axis]!;
        const node = b.node(Op.ScatterAdd, [b.input('u', updates.shape), b.input('i', idx.shape, idxDtype)], { axis, size });
        const { out, ir } = runOne(backend, node, { u: updates.data, i: idx.data });
        const want = naive.scatterAdd(updates, idx, axis, size);
        expectClose(out, want.value, SUM_REL, ir, want.scale);
      }),
      { numRuns: 60 },
    );
  });

  it('scatterAdd is the adjoint of gather: ⟨gather(T, idx), U⟩ = ⟨T, scatterAdd(U, idx)⟩', () => {
    fc.assert(
      fc.property(indexCaseArb(DType.I32), ({ table, axis, idx, updates }) => {
        const b = new Builder();
        const indices = b.input('i', idx.shape, DType.I32);
        const { outs, ir } = runMany(
          backend,
          {
            gathered: b.node(Op.Gather, [b.input('t', table.shape), indices], { axis }),
            scattered: b.node(Op.ScatterAdd, [b.input('u', updates.shape), indices], { axis, size: table.shape[axis]! }),
          },
          { t: table.data, u: updates.data, i: idx.data },
        );
        const g = outs.gathered!.data;
        const s = outs.scattered!.data;
        let left = 0;
        let scale = 0;
        for (let i = 0; i < g.length; i++) {
          left += g[i]! * updates.data[i]!;
          scale += Math.abs(g[i]! * updates.data[i]!);
        }
        let right = 0;
        for (let j = 0; j < s.length; j++) right += table.data[j]! * s[j]!;
        expect(Math.abs(left - right), ir).toBeLessThanOrEqual(SUM_REL * scale);
      }),
      { numRuns: 60 },
    );
  });

  it('scatterAdd of integer updates wraps mod 2^32', () => {
    const b = new Builder();
    const node = b.node(Op.ScatterAdd, [b.input('u', [3], DType.I32), b.input('i', [3], DType.I32)], { axis: 0, size: 2 });
    const { out, ir } = runOne(backend, node, { u: [2147483647, 1, 5], i: [1, 1, 0] });
    expectExact(out, { shape: [2], data: Float64Array.from([5, -2147483648]) }, ir);
  });

  it('gather on u32 indices keeps table values exact for integer tables', () => {
    fc.assert(
      fc.property(indexCaseArb(DType.U32), fc.array(u32Arb, { minLength: 1, maxLength: 1 }), ({ table, axis, idx }, [shift]) => {
        const t = { shape: table.shape, data: table.data.map((v, i) => wrapInt(BigInt(Math.round(v * 1000)) + BigInt(shift!) + BigInt(i), DType.U32)) };
        const b = new Builder();
        const node = b.node(Op.Gather, [b.input('t', t.shape, DType.U32), b.input('i', idx.shape, DType.U32)], { axis });
        const { out, ir } = runOne(backend, node, { t: t.data, i: idx.data });
        expectExact(out, naive.gather(t, idx, axis), ir);
      }),
      { numRuns: 20 },
    );
  });
});
