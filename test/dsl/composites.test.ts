// Composites (spec MODELS.md §0, §1.1–§1.3, §1.8): softmax, logSoftmax, layerNorm,
// rmsNorm, gelu, silu, swiglu, linear, modulate, attention, embedding, mse and
// cosineSimilarity, each checked on the float64 interpreter against hand values,
// naive loops or a property — never against its own decomposition.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DType,
  attention,
  cosineSimilarity,
  embedding,
  gelu,
  layerNorm,
  linear,
  logSoftmax,
  modulate,
  mse,
  rmsNorm,
  silu,
  softmax,
  spec,
  swiglu,
  trace,
} from '../../dsl/index.ts';
import { Op } from '../../compiler/ir/op.ts';
import {
  alongAxis,
  expectClose,
  expectShape,
  naiveAttention,
  naiveLinear,
  naiveSoftmax,
  product,
  reduceAxis,
  run,
  shapedArb,
  valuesArb,
} from '../support/composite-helpers.ts';

const RUNS = { numRuns: 30 };
const dim = (max = 5) => fc.integer({ min: 1, max });
const shapeArb = (minRank: number, maxRank: number, maxDim = 4) => fc.array(dim(maxDim), { minLength: minRank, maxLength: maxRank });

describe('softmax', () => {
  it('matches naive exp/sum along any axis, and every fibre sums to 1', () => {
    const arb = shapedArb(shapeArb(1, 3), -5, 5).chain((x) => fc.integer({ min: -x.shape.length, max: x.shape.length - 1 }).map((axis) => ({ ...x, axis })));
    fc.assert(
      fc.property(arb, ({ shape, data, axis }) => {
        const t = trace((_ctx, { x }) => softmax(x, axis), { x: spec(shape) });
        const out = run(t, { x: data });
        expectShape(out, shape);
        expectClose(out.data, alongAxis(data, shape, axis, naiveSoftmax), {}, () => t.graph.toString());
        expectClose(reduceAxis(out.data, shape, axis, (f) => f.reduce((a, b) => a + b, 0)), new Float64Array(product(shape) / shape.at(axis)!).fill(1));
      }),
      RUNS,
    );
  });

  it('is invariant to adding a constant to each row', () => {
    const arb = fc.tuple(dim(), dim()).chain(([rows, cols]) =>
      fc.record({ rows: fc.constant(rows), cols: fc.constant(cols), data: valuesArb(rows * cols), shifts: valuesArb(rows, -50, 50) }),
    );
    fc.assert(
      fc.property(arb, ({ rows, cols, data, shifts }) => {
        const t = trace((_ctx, { x }) => softmax(x, -1), { x: spec([rows, cols]) });
        const shifted = data.map((v, i) => v + shifts[Math.floor(i / cols)]!);
        expectClose(run(t, { x: shifted }).data, run(t, { x: data }).data, { rtol: 1e-11, atol: 1e-13 });
      }),
      RUNS,
    );
  });

  it('of [0, ln 2, ln 3] is [1/6, 2/6, 3/6]', () => {
    const t = trace((_ctx, { x }) => softmax(x), { x: spec([3]) });
    expectClose(run(t, { x: [0, Math.LN2, Math.log(3)] }).data, [1 / 6, 2 / 6, 3 / 6]);
  });

  it('stays finite for logits of ±1000', () => {
    const t = trace((_ctx, { x }) => softmax(x), { x: spec([3]) });
    expectClose(run(t, { x: [1000, 1000, -1000] }).data, [0.5, 0.5, 0]);
  });
});

describe('logSoftmax', () => {
  it('equals the log of naive softmax along any axis', () => {
    const arb = shapedArb(shapeArb(1, 3), -5, 5).chain((x) => fc.integer({ min: -x.shape.length, max: x.shape.length - 1 }).map((axis) => ({ ...x, axis })));
    fc.assert(
      fc.property(arb, ({ shape, data, axis }) => {
        const t = trace((_ctx, { x }) => logSoftmax(x, axis), { x: spec(shape) });
        const expected = alongAxis(data, shape, axis, (f) => naiveSoftmax(f).map(Math.log));
        expectClose(run(t, { x: data }).data, expected, { rtol: 1e-12, atol: 1e-13 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('gives finite exact values for inputs of magnitude 1000', () => {
    const t = trace((_ctx, { x }) => logSoftmax(x), { x: spec([2, 3]) });
    const out = run(t, { x: [1000, 0, -1000, 1000, 1000, 1000] }).data;
    expect(out.every(Number.isFinite)).toBe(true);
    // row 0: log(1 + e^-1000 + e^-2000) underflows to 0, so [0, -1000, -2000]; row 1: all −ln 3
    expectClose(out, [0, -1000, -2000, -Math.log(3), -Math.log(3), -Math.log(3)]);
  });
});

describe('layerNorm', () => {
  it('without affine gives zero mean and unit biased variance per row', () => {
    const arb = shapedArb(fc.tuple(dim(3), fc.integer({ min: 2, max: 8 })), -4, 4);
    fc.assert(
      fc.property(arb, ({ shape, data }) => {
        const cols = shape[1]!;
        for (let r = 0; r < shape[0]!; r++) {
          const row = Array.from(data.subarray(r * cols, (r + 1) * cols));
          const m = row.reduce((a, b) => a + b, 0) / cols;
          fc.pre(row.reduce((a, b) => a + (b - m) ** 2, 0) / cols > 1e-3);
        }
        const t = trace((_ctx, { x }) => layerNorm(x, { eps: 1e-12 }), { x: spec(shape) });
        const out = run(t, { x: data });
        const means = reduceAxis(out.data, shape, -1, (f) => f.reduce((a, b) => a + b, 0) / f.length);
        const variances = reduceAxis(out.data, shape, -1, (f) => f.reduce((a, b) => a + b * b, 0) / f.length);
        expectClose(means, new Float64Array(shape[0]!), { atol: 1e-9 });
        expectClose(variances, new Float64Array(shape[0]!).fill(1), { rtol: 0, atol: 1e-9 });
      }),
      RUNS,
    );
  });

  it('with weight and bias equals (x − mean)/sqrt(var + eps)·w + b over the last axis', () => {
    const arb = shapedArb(shapeArb(1, 3), -4, 4).chain((x) => {
      const d = x.shape.at(-1)!;
      return fc.record({ x: fc.constant(x), w: valuesArb(d), b: valuesArb(d), eps: fc.constantFrom(1e-6, 1e-5, 0.1) });
    });
    fc.assert(
      fc.property(arb, ({ x: { shape, data }, w, b, eps }) => {
        const d = shape.at(-1)!;
        const t = trace((_ctx, i) => layerNorm(i.x, { eps, weight: i.w, bias: i.b }), { x: spec(shape), w: spec([d]), b: spec([d]) });
        const expected = alongAxis(data, shape, -1, (row) => {
          const m = row.reduce((p, q) => p + q, 0) / d;
          const v = row.reduce((p, q) => p + (q - m) ** 2, 0) / d;
          return row.map((q, i) => ((q - m) / Math.sqrt(v + eps)) * w[i]! + b[i]!);
        });
        expectClose(run(t, { x: data, w, b }).data, expected, { rtol: 1e-12, atol: 1e-12 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('uses eps 1e-5 by default: a row [1, -1] maps to ±1/sqrt(1 + 1e-5)', () => {
    const t = trace((_ctx, { x }) => layerNorm(x), { x: spec([1, 2]) });
    const v = 1 / Math.sqrt(1 + 1e-5);
    expectClose(run(t, { x: [1, -1] }).data, [v, -v]);
  });
});

describe('rmsNorm', () => {
  it('equals x·rsqrt(mean(x²) + eps)·w over the last axis', () => {
    const arb = shapedArb(shapeArb(1, 3), -4, 4).chain((x) => fc.record({ x: fc.constant(x), w: valuesArb(x.shape.at(-1)!) }));
    fc.assert(
      fc.property(arb, ({ x: { shape, data }, w }) => {
        const d = shape.at(-1)!;
        const t = trace((_ctx, i) => rmsNorm(i.x, { weight: i.w, eps: 1e-6 }), { x: spec(shape), w: spec([d]) });
        const expected = alongAxis(data, shape, -1, (row) => {
          const r = 1 / Math.sqrt(row.reduce((p, q) => p + q * q, 0) / d + 1e-6);
          return row.map((q, i) => q * r * w[i]!);
        });
        expectClose(run(t, { x: data, w }).data, expected, {}, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('without a weight and with default eps 1e-6: [3, 4] → [3, 4]/sqrt(12.5 + 1e-6)', () => {
    const t = trace((_ctx, { x }) => rmsNorm(x), { x: spec([2]) });
    const r = Math.sqrt(12.5 + 1e-6);
    expectClose(run(t, { x: [3, 4] }).data, [3 / r, 4 / r]);
  });
});

describe('activations', () => {
  it('gelu (exact) matches 0.5x(1+erf(x/√2)) at known points', () => {
    const t = trace((_ctx, { x }) => gelu(x), { x: spec([5]) });
    // erf(1/√2) = 0.6826894921370859, erf(√2) = 0.9544997361036416
    expectClose(run(t, { x: [1, -1, 2, 0, -2] }).data, [0.8413447460685429, -0.15865525393145707, 1.9544997361036416, 0, -0.04550026389635842], { rtol: 1e-12, atol: 1e-15 });
  });

  it('gelu (tanh) matches 0.5x(1+tanh(√(2/π)(x+0.044715x³))) with Math.tanh', () => {
    fc.assert(
      fc.property(valuesArb(6, -6, 6), (x) => {
        const t = trace((_ctx, i) => gelu(i.x, 'tanh'), { x: spec([6]) });
        const expected = x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
        expectClose(run(t, { x }).data, expected, { rtol: 1e-12, atol: 1e-14 });
      }),
      RUNS,
    );
  });

  it('gelu (tanh) differs from gelu (exact) — the approximation is really selected', () => {
    const exact = trace((_ctx, { x }) => gelu(x, 'none'), { x: spec([1]) });
    const approx = trace((_ctx, { x }) => gelu(x, 'tanh'), { x: spec([1]) });
    const a = run(exact, { x: [1.5] }).data[0]!;
    const b = run(approx, { x: [1.5] }).data[0]!;
    expect(Math.abs(a - b)).toBeGreaterThan(1e-5);
  });

  it('silu is x/(1+e^−x), including large |x|', () => {
    fc.assert(
      fc.property(valuesArb(6, -40, 40), (x) => {
        const t = trace((_ctx, i) => silu(i.x), { x: spec([6]) });
        expectClose(run(t, { x }).data, x.map((v) => v / (1 + Math.exp(-v))), { rtol: 1e-12, atol: 1e-300 });
      }),
      RUNS,
    );
  });

  it('swiglu is silu(a)·b with a the first half and b the second half of the last axis', () => {
    const arb = fc.tuple(dim(3), dim(3), dim(4)).chain(([r0, r1, h]) => shapedArb(fc.constant([r0, r1, 2 * h])));
    fc.assert(
      fc.property(arb, ({ shape, data }) => {
        const t = trace((_ctx, { x }) => swiglu(x), { x: spec(shape) });
        const h = shape[2]! / 2;
        const rows = shape[0]! * shape[1]!;
        const expected = new Float64Array(rows * h);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < h; j++) {
            const a = data[r * 2 * h + j]!;
            const b = data[r * 2 * h + h + j]!;
            expected[r * h + j] = (a / (1 + Math.exp(-a))) * b;
          }
        }
        const out = run(t, { x: data });
        expectShape(out, [shape[0]!, shape[1]!, h]);
        expectClose(out.data, expected, {}, () => t.graph.toString());
      }),
      RUNS,
    );
  });
});

describe('linear and modulate', () => {
  it('linear computes x·Wᵀ + b with W laid out [out, in], any leading axes', () => {
    const arb = fc
      .record({ lead: shapeArb(0, 2, 3), inDim: dim(5), outDim: dim(5), withBias: fc.boolean() })
      .chain(({ lead, inDim, outDim, withBias }) =>
        fc.record({
          lead: fc.constant(lead), inDim: fc.constant(inDim), outDim: fc.constant(outDim), withBias: fc.constant(withBias),
          x: valuesArb(product(lead) * inDim), w: valuesArb(outDim * inDim), b: valuesArb(outDim),
        }),
      );
    fc.assert(
      fc.property(arb, ({ lead, inDim, outDim, withBias, x, w, b }) => {
        const t = trace((_ctx, i) => linear(i.x, i.w, withBias ? i.b : undefined), { x: spec([...lead, inDim]), w: spec([outDim, inDim]), b: spec([outDim]) });
        const out = run(t, { x, w, b });
        expectShape(out, [...lead, outDim]);
        expectClose(out.data, naiveLinear(x, product(lead), inDim, w, outDim, withBias ? b : undefined), {}, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('linear on a hand case: [1, 2] with W = [[1, 0], [0, 1], [1, 1]] and b = [0, 10, 100] → [1, 12, 103]', () => {
    const t = trace((_ctx, i) => linear(i.x, i.w, i.b), { x: spec([1, 2]), w: spec([3, 2]), b: spec([3]) });
    expectClose(run(t, { x: [1, 2], w: [1, 0, 0, 1, 1, 1], b: [0, 10, 100] }).data, [1, 12, 103]);
  });

  it('modulate is x·(1+scale)+shift with (B,1,D) shift/scale broadcast over tokens', () => {
    const arb = fc.tuple(dim(3), dim(4), dim(4)).chain(([bsz, tokens, d]) =>
      fc.record({ dims: fc.constant([bsz, tokens, d] as const), x: valuesArb(bsz * tokens * d), shift: valuesArb(bsz * d), scale: valuesArb(bsz * d) }),
    );
    fc.assert(
      fc.property(arb, ({ dims: [bsz, tokens, d], x, shift, scale }) => {
        const t = trace((_ctx, i) => modulate(i.x, i.shift, i.scale), { x: spec([bsz, tokens, d]), shift: spec([bsz, 1, d]), scale: spec([bsz, 1, d]) });
        const expected = new Float64Array(bsz * tokens * d);
        for (let b = 0; b < bsz; b++) {
          for (let n = 0; n < tokens; n++) {
            for (let c = 0; c < d; c++) {
              const idx = (b * tokens + n) * d + c;
              expected[idx] = x[idx]! * (1 + scale[b * d + c]!) + shift[b * d + c]!;
            }
          }
        }
        const out = run(t, { x, shift, scale });
        expectShape(out, [bsz, tokens, d]);
        expectClose(out.data, expected);
      }),
      RUNS,
    );
  });

  it('modulate takes shift before scale: modulate(2, shift 1, scale 3) = 2·4 + 1 = 9', () => {
    const t = trace((_ctx, i) => modulate(i.x, i.shift, i.scale), { x: spec([1, 1, 1]), shift: spec([1, 1, 1]), scale: spec([1, 1, 1]) });
    expectClose(run(t, { x: [2], shift: [1], scale: [3] }).data, [9]);
  });
});

describe('attention', () => {
  const problem = fc
    .record({ b: dim(2), h: dim(3), tq: dim(4), tk: dim(4), d: dim(4), dv: dim(4) })
    .chain((s) =>
      fc.record({
        s: fc.constant(s),
        q: valuesArb(s.b * s.h * s.tq * s.d),
        k: valuesArb(s.b * s.h * s.tk * s.d),
        v: valuesArb(s.b * s.h * s.tk * s.dv),
      }),
    );

  function naiveBatched(s: { b: number; h: number; tq: number; tk: number; d: number; dv: number }, q: Float64Array, k: Float64Array, v: Float64Array, scale: number): Float64Array {
    const out = new Float64Array(s.b * s.h * s.tq * s.dv);
    for (let g = 0; g < s.b * s.h; g++) {
      const o = naiveAttention(
        q.subarray(g * s.tq * s.d, (g + 1) * s.tq * s.d),
        k.subarray(g * s.tk * s.d, (g + 1) * s.tk * s.d),
        v.subarray(g * s.tk * s.dv, (g + 1) * s.tk * s.dv),
        s.tq, s.tk, s.d, s.dv, scale,
      );
      out.set(o, g * s.tq * s.dv);
    }
    return out;
  }

  it('on [B, H, T, d] equals naive softmax(q·kᵀ·d^(−1/2))·v by default', () => {
    fc.assert(
      fc.property(problem, ({ s, q, k, v }) => {
        const t = trace((_ctx, i) => attention(i.q, i.k, i.v), { q: spec([s.b, s.h, s.tq, s.d]), k: spec([s.b, s.h, s.tk, s.d]), v: spec([s.b, s.h, s.tk, s.dv]) });
        const out = run(t, { q, k, v });
        expectShape(out, [s.b, s.h, s.tq, s.dv]);
        expectClose(out.data, naiveBatched(s, q, k, v, 1 / Math.sqrt(s.d)), {}, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('honours an explicit scale', () => {
    fc.assert(
      fc.property(problem, fc.double({ min: 0.05, max: 3, noNaN: true }), ({ s, q, k, v }, scale) => {
        const t = trace((_ctx, i) => attention(i.q, i.k, i.v, scale), { q: spec([s.b, s.h, s.tq, s.d]), k: spec([s.b, s.h, s.tk, s.d]), v: spec([s.b, s.h, s.tk, s.dv]) });
        expectClose(run(t, { q, k, v }).data, naiveBatched(s, q, k, v, scale));
      }),
      RUNS,
    );
  });

  it('with one key returns that key’s value for every query', () => {
    const t = trace((_ctx, i) => attention(i.q, i.k, i.v), { q: spec([1, 1, 3, 2]), k: spec([1, 1, 1, 2]), v: spec([1, 1, 1, 3]) });
    expectClose(run(t, { q: [1, 2, -3, 4, 5, 6], k: [7, -8], v: [1, 2, 3] }).data, [1, 2, 3, 1, 2, 3, 1, 2, 3]);
  });
});

describe('embedding', () => {
  it('gathers rows of the table at integer ids of any shape → (...ids, D)', () => {
    const arb = fc.record({ vocab: dim(6), d: dim(4), ids: shapeArb(1, 2, 3) }).chain(({ vocab, d, ids }) =>
      fc.record({
        vocab: fc.constant(vocab), d: fc.constant(d), idShape: fc.constant(ids),
        table: valuesArb(vocab * d),
        idData: fc.array(fc.integer({ min: 0, max: vocab - 1 }), { minLength: product(ids), maxLength: product(ids) }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ vocab, d, idShape, table, idData }) => {
        const t = trace((_ctx, i) => embedding(i.table, i.ids), { table: spec([vocab, d]), ids: spec(idShape, DType.I32) });
        const out = run(t, { table, ids: idData });
        expectShape(out, [...idShape, d]);
        expectClose(out.data, idData.flatMap((id) => Array.from(table.subarray(id * d, (id + 1) * d))), { rtol: 0, atol: 0 });
      }),
      RUNS,
    );
  });

  it('reads zeros for out-of-range ids (documented behaviour)', () => {
    const t = trace((_ctx, i) => embedding(i.table, i.ids), { table: spec([2, 2]), ids: spec([3], DType.I32) });
    expectClose(run(t, { table: [1, 2, 3, 4], ids: [1, 2, -1] }).data, [3, 4, 0, 0, 0, 0], { rtol: 0, atol: 0 });
  });
});

describe('losses', () => {
  it('mse of [1, 2, 3, 4] against [0, 2, 5, 4] is 5/4', () => {
    const t = trace((_ctx, i) => mse(i.a, i.b), { a: spec([2, 2]), b: spec([2, 2]) });
    const out = run(t, { a: [1, 2, 3, 4], b: [0, 2, 5, 4] });
    expectShape(out, []);
    expectClose(out.data, [1.25]);
  });

  it('mse equals the naive mean of squared differences', () => {
    fc.assert(
      fc.property(shapedArb(shapeArb(1, 3)).chain((a) => valuesArb(a.data.length).map((b) => ({ ...a, b }))), ({ shape, data, b }) => {
        const t = trace((_ctx, i) => mse(i.a, i.b), { a: spec(shape), b: spec(shape) });
        const expected = data.reduce((acc, v, i) => acc + (v - b[i]!) ** 2, 0) / data.length;
        expectClose(run(t, { a: data, b }).data, [expected]);
      }),
      RUNS,
    );
  });

  it('cosineSimilarity equals naive dot/(‖a‖‖b‖) along any axis', () => {
    const arb = shapedArb(shapeArb(1, 3)).chain((a) =>
      fc.record({ a: fc.constant(a), b: valuesArb(a.data.length), axis: fc.integer({ min: -a.shape.length, max: a.shape.length - 1 }) }),
    );
    fc.assert(
      fc.property(arb, ({ a: { shape, data }, b, axis }) => {
        const ax = axis < 0 ? axis + shape.length : axis;
        const outer = product(shape.slice(0, ax));
        const len = shape[ax]!;
        const inner = product(shape.slice(ax + 1));
        const expected = new Float64Array(outer * inner);
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let ab = 0;
            let aa = 0;
            let bb = 0;
            for (let k = 0; k < len; k++) {
              const idx = (o * len + k) * inner + i;
              ab += data[idx]! * b[idx]!;
              aa += data[idx]! ** 2;
              bb += b[idx]! ** 2;
            }
            fc.pre(aa > 1e-6 && bb > 1e-6);
            expected[o * inner + i] = ab / (Math.sqrt(aa) * Math.sqrt(bb));
          }
        }
        const t = trace((_ctx, i) => cosineSimilarity(i.a, i.b, axis), { a: spec(shape), b: spec(shape) });
        const out = run(t, { a: data, b });
        expectShape(out, shape.filter((_, i) => i !== ax));
        expectClose(out.data, expected, {}, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('cosineSimilarity on hand rows: [1,0]·[1,1] = 1/√2, [1,2]·[−2,1] = 0, [2,0]·[−3,0] = −1', () => {
    const t = trace((_ctx, i) => cosineSimilarity(i.a, i.b), { a: spec([3, 2]), b: spec([3, 2]) });
    expectClose(run(t, { a: [1, 0, 1, 2, 2, 0], b: [1, 1, -2, 1, -3, 0] }).data, [Math.SQRT1_2, 0, -1]);
  });

  it('cosineSimilarity with a zero vector is 0, not NaN', () => {
    const t = trace((_ctx, i) => cosineSimilarity(i.a, i.b), { a: spec([2, 3]), b: spec([2, 3]) });
    const out = run(t, { a: [0, 0, 0, 0, 0, 0], b: [1, 2, 3, 0, 0, 0] }).data;
    expect(Array.from(out)).toEqual([0, 0]);
  });
});

describe('structure: each composite is one named node in the traced graph', () => {
  const cases: { kind: string; build: () => ReturnType<typeof trace> }[] = [
    { kind: 'softmax', build: () => trace((_c, { x }) => softmax(x), { x: spec([2, 3]) }) },
    { kind: 'logSoftmax', build: () => trace((_c, { x }) => logSoftmax(x), { x: spec([2, 3]) }) },
    { kind: 'layerNorm', build: () => trace((_c, { x }) => layerNorm(x), { x: spec([2, 3]) }) },
    { kind: 'rmsNorm', build: () => trace((_c, { x }) => rmsNorm(x), { x: spec([2, 3]) }) },
    { kind: 'gelu', build: () => trace((_c, { x }) => gelu(x, 'tanh'), { x: spec([2, 3]) }) },
    { kind: 'silu', build: () => trace((_c, { x }) => silu(x), { x: spec([2, 3]) }) },
    { kind: 'swiglu', build: () => trace((_c, { x }) => swiglu(x), { x: spec([2, 4]) }) },
    { kind: 'linear', build: () => trace((_c, i) => linear(i.x, i.w, i.b), { x: spec([2, 3]), w: spec([4, 3]), b: spec([4]) }) },
    { kind: 'modulate', build: () => trace((_c, i) => modulate(i.x, i.s, i.c), { x: spec([1, 2, 3]), s: spec([1, 1, 3]), c: spec([1, 1, 3]) }) },
    { kind: 'attention', build: () => trace((_c, i) => attention(i.q, i.k, i.v), { q: spec([1, 2, 3, 4]), k: spec([1, 2, 3, 4]), v: spec([1, 2, 3, 4]) }) },
    { kind: 'embedding', build: () => trace((_c, i) => embedding(i.t, i.ids), { t: spec([5, 3]), ids: spec([2], DType.I32) }) },
    { kind: 'mse', build: () => trace((_c, i) => mse(i.a, i.b), { a: spec([2, 3]), b: spec([2, 3]) }) },
    { kind: 'cosineSimilarity', build: () => trace((_c, i) => cosineSimilarity(i.a, i.b), { a: spec([2, 3]), b: spec([2, 3]) }) },
  ];
  for (const { kind, build } of cases) {
    it(`${kind} traces to its inputs plus one '${kind}' node`, () => {
      const { graph } = build();
      const text = graph.toString();
      expect(text).toContain(` ${kind} `);
      expect(graph.nodes.length).toBe(graph.inputs.length + graph.params.length + 1);
      const composites = graph.nodes.filter((n) => n.op === Op.Composite);
      expect(composites.map((n) => (n.op === Op.Composite ? n.arg.kind : ''))).toEqual([kind]);
      expect(graph.outputs[0]!.node).toBe(composites[0]);
    });
  }

  it('shape errors name the composite (swiglu of an odd width)', () => {
    expect(() => trace((_c, { x }) => swiglu(x), { x: spec([2, 3]) })).toThrow(/swiglu/);
  });
});
