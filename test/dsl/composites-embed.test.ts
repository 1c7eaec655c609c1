// Embedding composites (spec MODELS.md §1.4, §1.5, §1.7): patchify / unpatchify,
// the timestep frequency embedding and the fixed sin-cos position tables, checked
// against hand values and naive index formulas written from the spec.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Op } from '../../compiler/ir/op.ts';
import { patchify, sincos1d, sincos2d, spec, timestepEmbedding, trace, unpatchify } from '../../dsl/index.ts';
import { expectClose, expectShape, run, valuesArb } from '../support/composite-helpers.ts';

const RUNS = { numRuns: 25 };
const small = (max: number) => fc.integer({ min: 1, max });

interface PatchGeometry {
  readonly batch: number;
  readonly channels: number;
  readonly patch: number;
  readonly gridH: number;
  readonly gridW: number;
}

const geometryArb: fc.Arbitrary<PatchGeometry> = fc.record({ batch: small(2), channels: small(3), patch: small(3), gridH: small(3), gridW: small(3) });

/** §1.4 patch embed input order: token n = r·Wp + c holds pixel (ch, r·P+py, c·P+px) at feature (ch·P + py)·P + px. */
function naivePatchify(img: ArrayLike<number>, g: PatchGeometry): Float64Array {
  const { batch, channels: C, patch: P, gridH, gridW } = g;
  const H = gridH * P;
  const W = gridW * P;
  const features = C * P * P;
  const out = new Float64Array(batch * gridH * gridW * features);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < gridH; r++) {
      for (let c = 0; c < gridW; c++) {
        const n = r * gridW + c;
        for (let ch = 0; ch < C; ch++) {
          for (let py = 0; py < P; py++) {
            for (let px = 0; px < P; px++) {
              const pixel = ((b * C + ch) * H + r * P + py) * W + c * P + px;
              out[(b * gridH * gridW + n) * features + (ch * P + py) * P + px] = img[pixel]!;
            }
          }
        }
      }
    }
  }
  return out;
}

/** §1.4 un-patchify: feature (py·P+px)·Cout+ch of token n = r·Wp + c → pixel (ch, r·P+py, c·P+px). */
function naiveUnpatchify(tokens: ArrayLike<number>, g: PatchGeometry): Float64Array {
  const { batch, channels: C, patch: P, gridH, gridW } = g;
  const H = gridH * P;
  const W = gridW * P;
  const features = C * P * P;
  const out = new Float64Array(batch * C * H * W);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < gridH; r++) {
      for (let c = 0; c < gridW; c++) {
        const n = r * gridW + c;
        for (let py = 0; py < P; py++) {
          for (let px = 0; px < P; px++) {
            for (let ch = 0; ch < C; ch++) {
              const feature = (py * P + px) * C + ch;
              out[((b * C + ch) * H + r * P + py) * W + c * P + px] = tokens[(b * gridH * gridW + n) * features + feature]!;
            }
          }
        }
      }
    }
  }
  return out;
}

const iota = (n: number) => Float64Array.from({ length: n }, (_, i) => i);

describe('patchify', () => {
  it('orders a 1×2×4×4 image (values = index, patch 2) as row-major tokens of (ch, py, px)', () => {
    const t = trace((_c, { x }) => patchify(x, 2), { x: spec([1, 2, 4, 4]) });
    const out = run(t, { x: iota(32) });
    expectShape(out, [1, 4, 8]);
    expect(Array.from(out.data)).toEqual([
      0, 1, 4, 5, 16, 17, 20, 21, // token 0: row 0, col 0
      2, 3, 6, 7, 18, 19, 22, 23, // token 1: row 0, col 1
      8, 9, 12, 13, 24, 25, 28, 29, // token 2: row 1, col 0
      10, 11, 14, 15, 26, 27, 30, 31, // token 3: row 1, col 1
    ]);
  });

  it('matches the naive (ch, py, px) index formula on random geometries', () => {
    fc.assert(
      fc.property(geometryArb, (g) => {
        const shape = [g.batch, g.channels, g.gridH * g.patch, g.gridW * g.patch];
        const img = iota(shape.reduce((a, b) => a * b, 1)).map((v) => v * 0.5 - 3);
        const t = trace((_c, { x }) => patchify(x, g.patch), { x: spec(shape) });
        const out = run(t, { x: img });
        expectShape(out, [g.batch, g.gridH * g.gridW, g.channels * g.patch * g.patch]);
        expectClose(out.data, naivePatchify(img, g), { rtol: 0, atol: 0 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('rejects an image that is not a multiple of the patch size', () => {
    expect(() => trace((_c, { x }) => patchify(x, 3), { x: spec([1, 1, 4, 6]) })).toThrow(/patchify/);
  });
});

describe('unpatchify', () => {
  it('reads one token of 8 features as (py, px, ch) for P = 2, C = 2', () => {
    const t = trace((_c, { x }) => unpatchify(x, { patch: 2, gridH: 1, gridW: 1 }), { x: spec([1, 1, 8]) });
    const out = run(t, { x: iota(8) });
    expectShape(out, [1, 2, 2, 2]);
    // channel 0 gets features 0, 2, 4, 6 (px fastest, then py); channel 1 gets 1, 3, 5, 7
    expect(Array.from(out.data)).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
  });

  it('places tokens row-major on a 2×3 grid (P = 1, C = 1)', () => {
    const t = trace((_c, { x }) => unpatchify(x, { patch: 1, gridH: 2, gridW: 3 }), { x: spec([1, 6, 1]) });
    const out = run(t, { x: iota(6) });
    expectShape(out, [1, 1, 2, 3]);
    expect(Array.from(out.data)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('matches the naive (py, px, ch) index formula on random geometries', () => {
    fc.assert(
      fc.property(geometryArb, (g) => {
        const features = g.channels * g.patch * g.patch;
        const n = g.batch * g.gridH * g.gridW * features;
        const tokens = iota(n).map((v) => v * 0.25 + 1);
        const t = trace((_c, { x }) => unpatchify(x, { patch: g.patch, gridH: g.gridH, gridW: g.gridW }), { x: spec([g.batch, g.gridH * g.gridW, features]) });
        const out = run(t, { x: tokens });
        expectShape(out, [g.batch, g.channels, g.gridH * g.patch, g.gridW * g.patch]);
        expectClose(out.data, naiveUnpatchify(tokens, g), { rtol: 0, atol: 0 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('inverts patchify when C = 1 (the two feature orders coincide)', () => {
    fc.assert(
      fc.property(geometryArb.map((g) => ({ ...g, channels: 1 })).chain((g) => valuesArb(g.batch * g.gridH * g.patch * g.gridW * g.patch).map((img) => ({ g, img }))), ({ g, img }) => {
        const grid = { patch: g.patch, gridH: g.gridH, gridW: g.gridW };
        const t = trace((_c, { x }) => unpatchify(patchify(x, g.patch), grid), { x: spec([g.batch, 1, g.gridH * g.patch, g.gridW * g.patch]) });
        expectClose(run(t, { x: img }).data, img, { rtol: 0, atol: 0 });
      }),
      RUNS,
    );
  });

  it('does not invert patchify when C > 1 and P > 1: (ch, py, px) ≠ (py, px, ch)', () => {
    const t = trace((_c, { x }) => unpatchify(patchify(x, 2), { patch: 2, gridH: 1, gridW: 1 }), { x: spec([1, 2, 2, 2]) });
    const img = iota(8);
    // patchify gives features [0..7] in (ch, py, px); reading them as (py, px, ch) interleaves the channels
    expect(Array.from(run(t, { x: img }).data)).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
  });
});

/** §1.7: [cos(t·f_0…f_{half−1}) | sin(…)], f_i = exp(−ln(10000)·i/half), a zero column when dim is odd. */
function naiveTimestep(ts: ArrayLike<number>, dim: number): Float64Array {
  const half = Math.floor(dim / 2);
  const out = new Float64Array(ts.length * dim);
  for (let b = 0; b < ts.length; b++) {
    for (let i = 0; i < half; i++) {
      const f = Math.exp((-Math.log(10000) * i) / half);
      out[b * dim + i] = Math.cos(ts[b]! * f);
      out[b * dim + half + i] = Math.sin(ts[b]! * f);
    }
  }
  return out;
}

describe('timestepEmbedding', () => {
  it('at dim 256 is [cos(t·f_i) | sin(t·f_i)] with f_i = exp(−ln(10000)·i/128), for t in [0, 1]', () => {
    fc.assert(
      fc.property(valuesArb(3, 0, 1), (ts) => {
        const t = trace((_c, { t: x }) => timestepEmbedding(x, 256), { t: spec([3]) });
        const out = run(t, { t: ts });
        expectShape(out, [3, 256]);
        expectClose(out.data, naiveTimestep(ts, 256), { rtol: 1e-12, atol: 1e-13 });
      }),
      RUNS,
    );
  });

  it('puts cos first: t = 0 gives 128 ones then 128 zeros', () => {
    const t = trace((_c, { t: x }) => timestepEmbedding(x), { t: spec([1]) });
    const out = run(t, { t: [0] }).data;
    expectClose(out, [...new Array<number>(128).fill(1), ...new Array<number>(128).fill(0)], { atol: 1e-15 });
  });

  it('has hand values at t = 1: column 0 is cos 1, column 128 is sin 1, column 1 is cos(10000^(−1/128))', () => {
    const t = trace((_c, { t: x }) => timestepEmbedding(x), { t: spec([1]) });
    const out = run(t, { t: [1] }).data;
    expectClose([out[0]!, out[128]!, out[1]!, out[255]!], [Math.cos(1), Math.sin(1), Math.cos(10000 ** (-1 / 128)), Math.sin(10000 ** (-127 / 128))], { atol: 1e-14 });
  });

  it('stays accurate for DiT-style integer steps up to 999', () => {
    const ts = [0, 1, 250, 999];
    const t = trace((_c, { t: x }) => timestepEmbedding(x, 256), { t: spec([4]) });
    expectClose(run(t, { t: ts }).data, naiveTimestep(ts, 256), { rtol: 0, atol: 1e-12 });
  });

  it('with an odd dim (7) gives half = 3 and a zero last column', () => {
    const ts = [0.3, 0.9];
    const t = trace((_c, { t: x }) => timestepEmbedding(x, 7), { t: spec([2]) });
    const out = run(t, { t: ts });
    expectShape(out, [2, 7]);
    expectClose(out.data, naiveTimestep(ts, 7), { atol: 1e-14 });
    expect([out.data[6], out.data[13]]).toEqual([0, 0]);
  });
});

describe('sincos1d (§1.5, interleaved)', () => {
  it('pe[pos, 2k] = sin(pos·ω_k), pe[pos, 2k+1] = cos(pos·ω_k), ω_k = 10000^(−2k/D)', () => {
    fc.assert(
      fc.property(small(12), fc.integer({ min: 1, max: 8 }).map((h) => 2 * h), (length, dim) => {
        const t = trace((_c, { x }) => sincos1d(x, length, dim), { x: spec([1]) });
        const out = run(t, { x: [0] });
        expectShape(out, [length, dim]);
        const expected = new Float64Array(length * dim);
        for (let pos = 0; pos < length; pos++) {
          for (let k = 0; k < dim / 2; k++) {
            const w = 10000 ** ((-2 * k) / dim);
            expected[pos * dim + 2 * k] = Math.sin(pos * w);
            expected[pos * dim + 2 * k + 1] = Math.cos(pos * w);
          }
        }
        expectClose(out.data, expected, { rtol: 1e-12, atol: 1e-13 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('hand case: length 2, D = 4 → rows [0,1,0,1] and [sin 1, cos 1, sin .01, cos .01]', () => {
    const t = trace((_c, { x }) => sincos1d(x, 2, 4), { x: spec([1]) });
    expectClose(run(t, { x: [0] }).data, [0, 1, 0, 1, Math.sin(1), Math.cos(1), Math.sin(0.01), Math.cos(0.01)], { atol: 1e-14 });
  });
});

describe('sincos2d (§1.5, column half then row half)', () => {
  /** token n = r·gridW + c: [sin(c·ω) | cos(c·ω) | sin(r·ω) | cos(r·ω)], ω_k = 10000^(−2k/E), E = D/2. */
  function naiveSincos2d(gridH: number, gridW: number, dim: number): Float64Array {
    const e = dim / 2;
    const out = new Float64Array(gridH * gridW * dim);
    for (let r = 0; r < gridH; r++) {
      for (let c = 0; c < gridW; c++) {
        const base = (r * gridW + c) * dim;
        for (let k = 0; k < e / 2; k++) {
          const w = 10000 ** ((-2 * k) / e);
          out[base + k] = Math.sin(c * w);
          out[base + e / 2 + k] = Math.cos(c * w);
          out[base + e + k] = Math.sin(r * w);
          out[base + e + e / 2 + k] = Math.cos(r * w);
        }
      }
    }
    return out;
  }

  it('matches the naive table on random non-square grids', () => {
    fc.assert(
      fc.property(small(4), small(5), fc.integer({ min: 1, max: 4 }).map((q) => 4 * q), (gridH, gridW, dim) => {
        const t = trace((_c, { x }) => sincos2d(x, gridH, gridW, dim), { x: spec([1]) });
        const out = run(t, { x: [0] });
        expectShape(out, [gridH * gridW, dim]);
        expectClose(out.data, naiveSincos2d(gridH, gridW, dim), { rtol: 1e-12, atol: 1e-13 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('hand case: grid 2×3, D = 4 — token 5 (row 1, col 2) is [sin 2, cos 2, sin 1, cos 1]', () => {
    const t = trace((_c, { x }) => sincos2d(x, 2, 3, 4), { x: spec([1]) });
    const out = run(t, { x: [0] }).data;
    expectClose(out.subarray(5 * 4, 6 * 4), [Math.sin(2), Math.cos(2), Math.sin(1), Math.cos(1)], { atol: 1e-14 });
    // token 1 (row 0, col 1): the column half moves, the row half is still at position 0
    expectClose(out.subarray(4, 8), [Math.sin(1), Math.cos(1), 0, 1], { atol: 1e-14 });
  });
});

describe('structure', () => {
  const cases: { kind: string; build: () => ReturnType<typeof trace> }[] = [
    { kind: 'patchify', build: () => trace((_c, { x }) => patchify(x, 2), { x: spec([1, 1, 4, 4]) }) },
    { kind: 'unpatchify', build: () => trace((_c, { x }) => unpatchify(x, { patch: 2, gridH: 2, gridW: 2 }), { x: spec([1, 4, 4]) }) },
    { kind: 'timestepEmbedding', build: () => trace((_c, { t }) => timestepEmbedding(t), { t: spec([2]) }) },
    { kind: 'sincos1d', build: () => trace((_c, { x }) => sincos1d(x, 4, 8), { x: spec([1]) }) },
    { kind: 'sincos2d', build: () => trace((_c, { x }) => sincos2d(x, 2, 2, 8), { x: spec([1]) }) },
  ];
  for (const { kind, build } of cases) {
    it(`${kind} traces to one '${kind}' node`, () => {
      const { graph } = build();
      expect(graph.toString()).toContain(` ${kind} `);
      const composites = graph.nodes.filter((n) => n.op === Op.Composite);
      expect(composites.map((n) => (n.op === Op.Composite ? n.arg.kind : ''))).toEqual([kind]);
      expect(graph.nodes.length).toBeLessThanOrEqual(graph.inputs.length + 1);
    });
  }
});
