// RoPE (spec MODELS.md §1.6): the rope() rotation on interleaved pairs, the three
// angle tables (1D §1.6c, LightningDiT 2D §1.6b, MAETok axial/mixed §1.6a), the
// relative-position property of the resulting attention scores, init.ropeMixed,
// and MultiHeadAttention's partial rotation of tokens [start, start+count).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DType,
  MultiHeadAttention,
  ShapeError,
  init,
  initParams,
  initValues,
  rope,
  rope1dAngles,
  rope2dAngles,
  ropeAxialAngles,
  ropeMixedAngles,
  spec,
  trace,
  type Context,
  type Shape,
  type Tensor,
} from '../../dsl/index.ts';
import { Op } from '../../compiler/ir/op.ts';
import {
  dotProduct,
  expectClose,
  expectShape,
  naiveAttention,
  naiveLinear,
  naiveRotate,
  run,
  runAll,
  seeded,
  tile,
  valuesArb,
} from '../support/composite-helpers.ts';

const RUNS = { numRuns: 25 };
type F32 = Tensor<Shape, DType.F32>;

describe('rope rotation', () => {
  it('rotates interleaved pairs (2j, 2j+1): hd = 4, one token, angles [π/2, π/3]', () => {
    const t = trace((_c, i) => rope(i.x, i.a), { x: spec([1, 4]), a: spec([1, 2]) });
    const out = run(t, { x: [1, 2, 3, 4], a: [Math.PI / 2, Math.PI / 3] });
    // (1, 2) by π/2 → (−2, 1); (3, 4) by π/3 → (3·½ − 4·√3/2, 4·½ + 3·√3/2)
    expectClose(out.data, [-2, 1, 1.5 - 2 * Math.sqrt(3), 2 + 1.5 * Math.sqrt(3)], { atol: 1e-14 });
  });

  it('with zero angles is the identity', () => {
    const t = trace((_c, i) => rope(i.x, i.a), { x: spec([2, 6]), a: spec([2, 3]) });
    const x = seeded(1, 12);
    expectClose(run(t, { x, a: new Float64Array(6) }).data, x, { rtol: 0, atol: 1e-15 });
  });

  it('matches a naive per-vector rotation, with (T, hd/2) and (H, T, hd/2) angles broadcast over (B, H, T, hd)', () => {
    const arb = fc
      .record({ b: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 3 }), t: fc.integer({ min: 1, max: 4 }), pairs: fc.integer({ min: 1, max: 4 }), perHead: fc.boolean() })
      .chain((s) => fc.record({ s: fc.constant(s), x: valuesArb(s.b * s.h * s.t * 2 * s.pairs), a: valuesArb((s.perHead ? s.h : 1) * s.t * s.pairs, -7, 7) }));
    fc.assert(
      fc.property(arb, ({ s, x, a }) => {
        const hd = 2 * s.pairs;
        const angleShape = s.perHead ? [s.h, s.t, s.pairs] : [s.t, s.pairs];
        const t = trace((_c, i) => rope(i.x, i.a), { x: spec([s.b, s.h, s.t, hd]), a: spec(angleShape) });
        const expected = new Float64Array(x.length);
        for (let b = 0; b < s.b; b++) {
          for (let h = 0; h < s.h; h++) {
            for (let tok = 0; tok < s.t; tok++) {
              const row = ((b * s.h + h) * s.t + tok) * hd;
              const arow = ((s.perHead ? h * s.t : 0) + tok) * s.pairs;
              expected.set(naiveRotate(x.subarray(row, row + hd), a.subarray(arow, arow + s.pairs)), row);
            }
          }
        }
        const out = run(t, { x, a });
        expectShape(out, [s.b, s.h, s.t, hd]);
        expectClose(out.data, expected, { rtol: 1e-12, atol: 1e-14 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('traces to one rope node and rejects angles of the wrong width', () => {
    const t = trace((_c, i) => rope(i.x, i.a), { x: spec([3, 4]), a: spec([3, 2]) });
    expect(t.graph.toString()).toContain(' rope ');
    expect(t.graph.nodes.filter((n) => n.op === Op.Composite)).toHaveLength(1);
    expect(() => trace((_c, i) => rope(i.x, i.a), { x: spec([3, 4]), a: spec([3, 4]) })).toThrow(ShapeError);
  });
});

describe('angle tables', () => {
  it('rope1dAngles (§1.6c): angle[t, k] = t·10000^(−2k/hd)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 6 }), (length, pairs) => {
        const hd = 2 * pairs;
        const t = trace((ctx) => rope1dAngles(ctx, length, hd));
        const out = run(t);
        expectShape(out, [length, pairs]);
        const expected = Float64Array.from({ length: length * pairs }, (_, i) => Math.floor(i / pairs) * 10000 ** ((-2 * (i % pairs)) / hd));
        expectClose(out.data, expected, { rtol: 1e-12, atol: 0 });
      }),
      RUNS,
    );
  });

  it('rope1dAngles hand case: length 3, hd = 4 → rows [0, 0], [1, 0.01], [2, 0.02]', () => {
    expectClose(run(trace((ctx) => rope1dAngles(ctx, 3, 4))).data, [0, 0, 1, 0.01, 2, 0.02], { rtol: 1e-12, atol: 0 });
  });

  it('rope2dAngles (§1.6b) hand case: grid 2×3, hd = 8 → [row, row·0.01, col, col·0.01] per row-major token', () => {
    const out = run(trace((ctx) => rope2dAngles(ctx, 2, 3, 8)));
    expectShape(out, [6, 4]);
    // pair k < hd/4 turns by row·10000^(−4k/8); pair hd/4 + k by col·10000^(−4k/8)
    expectClose(out.data, [
      0, 0, 0, 0, //    token 0: row 0, col 0
      0, 0, 1, 0.01, // token 1: row 0, col 1
      0, 0, 2, 0.02, // token 2: row 0, col 2
      1, 0.01, 0, 0, // token 3: row 1, col 0
      1, 0.01, 1, 0.01,
      1, 0.01, 2, 0.02,
    ], { rtol: 1e-12, atol: 0 });
  });

  it('rope2dAngles matches the §1.6b formula on random grids', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (gridH, gridW, quarter) => {
        const hd = 4 * quarter;
        const out = run(trace((ctx) => rope2dAngles(ctx, gridH, gridW, hd)));
        const expected = new Float64Array(gridH * gridW * 2 * quarter);
        for (let n = 0; n < gridH * gridW; n++) {
          const row = Math.floor(n / gridW);
          const col = n % gridW;
          for (let k = 0; k < quarter; k++) {
            const f = 10000 ** ((-4 * k) / hd);
            expected[n * 2 * quarter + k] = row * f;
            expected[n * 2 * quarter + quarter + k] = col * f;
          }
        }
        expectClose(out.data, expected, { rtol: 1e-12, atol: 0 });
      }),
      RUNS,
    );
  });

  it('ropeAxialAngles (§1.6a with a = 0) hand case: grid 2×3, hd = 8, θ = 10 → [col, col/√10, row, row/√10]', () => {
    const out = run(trace((ctx) => ropeAxialAngles(ctx, 2, 3, 8, 10)));
    const s = 1 / Math.sqrt(10);
    expectClose(out.data, [
      0, 0, 0, 0,
      1, s, 0, 0,
      2, 2 * s, 0, 0,
      0, 0, 1, s,
      1, s, 1, s,
      2, 2 * s, 1, s,
    ], { rtol: 1e-12, atol: 0 });
  });

  it('ropeMixedAngles (§1.6a): φ[h, n, j] = col_n·Fx[h·pairs + j] + row_n·Fy[h·pairs + j] for hand-built freqs', () => {
    const arb = fc
      .record({ heads: fc.integer({ min: 1, max: 3 }), pairs: fc.integer({ min: 1, max: 4 }), gridH: fc.integer({ min: 1, max: 3 }), gridW: fc.integer({ min: 1, max: 4 }) })
      .chain((s) => {
        // small integer frequencies keep shrunk counterexamples readable and the expected angles exact
        const n = 2 * s.heads * s.pairs;
        return fc.record({ s: fc.constant(s), f: fc.array(fc.integer({ min: -3, max: 3 }), { minLength: n, maxLength: n }).map((a) => Float64Array.from(a)) });
      });
    fc.assert(
      fc.property(arb, ({ s, f }) => {
        const width = s.heads * s.pairs;
        const t = trace((ctx, i) => ropeMixedAngles(ctx, i.f, s.gridH, s.gridW, s.heads), { f: spec([2, width]) });
        const out = run(t, { f });
        const n = s.gridH * s.gridW;
        expectShape(out, [s.heads, n, s.pairs]);
        const expected = new Float64Array(s.heads * n * s.pairs);
        for (let h = 0; h < s.heads; h++) {
          for (let tok = 0; tok < n; tok++) {
            const row = Math.floor(tok / s.gridW);
            const col = tok % s.gridW;
            for (let j = 0; j < s.pairs; j++) expected[(h * n + tok) * s.pairs + j] = col * f[h * s.pairs + j]! + row * f[width + h * s.pairs + j]!;
          }
        }
        expectClose(out.data, expected, { rtol: 0, atol: 0 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('rejects head dims that do not split into the required pairs', () => {
    expect(() => trace((ctx) => rope1dAngles(ctx, 4, 5))).toThrow(ShapeError);
    expect(() => trace((ctx) => rope2dAngles(ctx, 2, 2, 6))).toThrow(ShapeError);
    expect(() => trace((ctx) => ropeAxialAngles(ctx, 2, 2, 6))).toThrow(ShapeError);
  });
});

describe('init.ropeMixed (§1.6a)', () => {
  const heads = 3;
  const hd = 8;
  const depth = 2;
  const width = heads * (hd / 2);
  const quarter = hd / 4;
  const magnitude = (j: number) => 10 ** ((-4 * j) / hd);

  it('draws magnitudes θ^(−4j/hd) at one angle a per (layer, head), a + π/2 for the second half', () => {
    const values = initValues({ name: 'encoder.freqs', shape: [2, depth, width], dtype: DType.F32, init: init.ropeMixed(heads, 10, false) }, 3);
    const angles: number[] = [];
    for (let layer = 0; layer < depth; layer++) {
      for (let h = 0; h < heads; h++) {
        const base = layer * width + h * (hd / 2);
        const a = Math.atan2(values[depth * width + base]!, values[base]!);
        angles.push(a);
        for (let j = 0; j < hd / 2; j++) {
          const m = magnitude(j % quarter);
          const phase = j < quarter ? a : a + Math.PI / 2;
          expectClose([values[base + j]!, values[depth * width + base + j]!], [m * Math.cos(phase), m * Math.sin(phase)], { rtol: 1e-12, atol: 1e-15 });
        }
      }
    }
    expect(new Set(angles.map((a) => a.toFixed(9))).size).toBe(depth * heads);
  });

  it('with zeroAngle gives Fx = m_j, Fy = 0 on the first half and Fx = 0, Fy = m_j on the second', () => {
    const values = initValues({ name: 'freqs', shape: [2, 1, width], dtype: DType.F32, init: init.ropeMixed(heads, 10, true) }, 0);
    const pairsPerHead = hd / 2;
    const fx = Array.from({ length: width }, (_, i) => ((i % pairsPerHead) < quarter ? magnitude(i % quarter) : 0));
    const fy = Array.from({ length: width }, (_, i) => ((i % pairsPerHead) < quarter ? 0 : magnitude(i % quarter)));
    expectClose(values, [...fx, ...fy], { rtol: 1e-12, atol: 1e-16 });
  });
});

/**
 * Score matrix S_h[m][n] = rope(q_h)_m · rope(k_h)_n from rotated (heads, N, hd) data, and a check that
 * S_h depends on (m, n) only through `offset(m, n)`: all pairs with the same offset agree.
 */
function expectScoresDependOnlyOn(rq: ArrayLike<number>, rk: ArrayLike<number>, heads: number, tokens: number, hd: number, offset: (m: number, n: number) => string, atol: number): void {
  for (let h = 0; h < heads; h++) {
    const seen = new Map<string, { value: number; m: number; n: number }>();
    for (let m = 0; m < tokens; m++) {
      for (let n = 0; n < tokens; n++) {
        const score = dotProduct(rq, rk, (h * tokens + m) * hd, (h * tokens + n) * hd, hd);
        const key = offset(m, n);
        const first = seen.get(key);
        if (!first) seen.set(key, { value: score, m, n });
        else if (Math.abs(first.value - score) > atol) {
          throw new Error(`head ${h}: score(${m}, ${n}) = ${score} but score(${first.m}, ${first.n}) = ${first.value} at the same offset ${key}`);
        }
      }
    }
  }
}

const offset1d = (m: number, n: number) => String(m - n);
const offset2d = (gridW: number) => (m: number, n: number) => `${Math.floor(m / gridW) - Math.floor(n / gridW)},${(m % gridW) - (n % gridW)}`;

/** One query and one key vector per head, placed at every token. */
const headVectorsArb = (heads: number, hd: number) => fc.record({ q: valuesArb(heads * hd, -1, 1), k: valuesArb(heads * hd, -1, 1) });

function tilePerHead(v: Float64Array, heads: number, hd: number, tokens: number): Float64Array {
  const out = new Float64Array(heads * tokens * hd);
  for (let h = 0; h < heads; h++) out.set(tile(v.subarray(h * hd, (h + 1) * hd), tokens), h * tokens * hd);
  return out;
}

describe('relative position: rotated scores depend only on the offset', () => {
  it('1D RoPE (rope1dAngles): q at m and k at n score the same for equal m − n', () => {
    const arb = fc.record({ tokens: fc.integer({ min: 2, max: 8 }), pairs: fc.integer({ min: 1, max: 4 }) }).chain((s) => fc.record({ s: fc.constant(s), v: headVectorsArb(1, 2 * s.pairs) }));
    fc.assert(
      fc.property(arb, ({ s, v }) => {
        const hd = 2 * s.pairs;
        const t = trace((ctx, i) => {
          const angles = rope1dAngles(ctx, s.tokens, hd);
          return { rq: rope(i.q, angles), rk: rope(i.k, angles) };
        }, { q: spec([s.tokens, hd]), k: spec([s.tokens, hd]) });
        const out = runAll(t, { q: tile(v.q, s.tokens), k: tile(v.k, s.tokens) });
        expectScoresDependOnlyOn(out.rq!.data, out.rk!.data, 1, s.tokens, hd, offset1d, 1e-12);
      }),
      RUNS,
    );
  });

  it('1D RoPE is not trivial: the score changes with the offset', () => {
    const hd = 4;
    const t = trace((ctx, i) => {
      const angles = rope1dAngles(ctx, 3, hd);
      return { rq: rope(i.q, angles), rk: rope(i.k, angles) };
    }, { q: spec([3, hd]), k: spec([3, hd]) });
    const q = [1, 0.5, -0.25, 2];
    const k = [0.3, -1, 0.7, 0.2];
    const out = runAll(t, { q: tile(q, 3), k: tile(k, 3) });
    const s00 = dotProduct(out.rq!.data, out.rk!.data, 0, 0, hd);
    const s10 = dotProduct(out.rq!.data, out.rk!.data, hd, 0, hd);
    // hand value: pair 0 turns by 1 rad, pair 1 by 0.01 rad; rotated q·k = Σ_j |q_j||k_j| cos(Δφ_j + θ_kj − θ_qj)
    const expected10 = [0, 1].reduce((acc, j) => {
      const [a, b, c, d] = [q[2 * j]!, q[2 * j + 1]!, k[2 * j]!, k[2 * j + 1]!];
      const phi = j === 0 ? 1 : 0.01;
      return acc + (a * c + b * d) * Math.cos(phi) + (a * d - b * c) * Math.sin(phi);
    }, 0);
    expectClose([s00], [dotProduct(q, k)], { atol: 1e-14 });
    expectClose([s10], [expected10], { atol: 1e-14 });
    expect(Math.abs(s10 - s00)).toBeGreaterThan(1e-2);
  });

  it('LightningDiT 2D RoPE (rope2dAngles): equal (Δrow, Δcol) give equal scores', () => {
    const arb = fc
      .record({ gridH: fc.integer({ min: 1, max: 3 }), gridW: fc.integer({ min: 2, max: 4 }), quarter: fc.integer({ min: 1, max: 2 }) })
      .chain((s) => fc.record({ s: fc.constant(s), v: headVectorsArb(1, 4 * s.quarter) }));
    fc.assert(
      fc.property(arb, ({ s, v }) => {
        const hd = 4 * s.quarter;
        const n = s.gridH * s.gridW;
        const t = trace((ctx, i) => {
          const angles = rope2dAngles(ctx, s.gridH, s.gridW, hd);
          return { rq: rope(i.q, angles), rk: rope(i.k, angles) };
        }, { q: spec([n, hd]), k: spec([n, hd]) });
        const out = runAll(t, { q: tile(v.q, n), k: tile(v.k, n) });
        expectScoresDependOnlyOn(out.rq!.data, out.rk!.data, 1, n, hd, offset2d(s.gridW), 1e-12);
      }),
      RUNS,
    );
  });

  it('LightningDiT 2D RoPE distinguishes a row step from a column step (not a 1D table in disguise)', () => {
    const hd = 4;
    const t = trace((ctx, i) => {
      const angles = rope2dAngles(ctx, 2, 2, hd);
      return { rq: rope(i.q, angles), rk: rope(i.k, angles) };
    }, { q: spec([4, hd]), k: spec([4, hd]) });
    const q = [1, 0.2, 0.3, -0.4];
    const k = [0.5, 0.6, -0.7, 0.8];
    const out = runAll(t, { q: tile(q, 4), k: tile(k, 4) });
    // token 2 is (row 1, col 0), token 1 is (row 0, col 1): rotated by a row step resp. a column step
    const rowStep = dotProduct(out.rq!.data, out.rk!.data, 2 * hd, 0, hd);
    const colStep = dotProduct(out.rq!.data, out.rk!.data, 1 * hd, 0, hd);
    // a row step turns dims [0, hd/2) by 1 rad; a column step turns dims [hd/2, hd) by 1 rad
    const turn = (a: number, b: number, c: number, d: number) => (a * c + b * d) * Math.cos(1) + (a * d - b * c) * Math.sin(1);
    expectClose([rowStep, colStep], [turn(1, 0.2, 0.5, 0.6) + (0.3 * -0.7 + -0.4 * 0.8), 1 * 0.5 + 0.2 * 0.6 + turn(0.3, -0.4, -0.7, 0.8)], { atol: 1e-14 });
  });

  it('MAETok mixed RoPE (random-angle init.ropeMixed freqs): equal (Δrow, Δcol) give equal scores per head', () => {
    const arb = fc
      .record({ heads: fc.integer({ min: 1, max: 3 }), gridH: fc.integer({ min: 1, max: 3 }), gridW: fc.integer({ min: 2, max: 3 }), quarter: fc.integer({ min: 1, max: 2 }), layer: fc.integer({ min: 0, max: 1 }), seed: fc.nat(1000) })
      .chain((s) => fc.record({ s: fc.constant(s), v: headVectorsArb(s.heads, 4 * s.quarter) }));
    fc.assert(
      fc.property(arb, ({ s, v }) => {
        const hd = 4 * s.quarter;
        const n = s.gridH * s.gridW;
        const depth = 2;
        const t = trace((ctx, i) => {
          const freqs = ctx.param('freqs', [2, depth, s.heads * (hd / 2)], init.ropeMixed(s.heads, 10, false));
          const angles = ropeMixedAngles(ctx, freqs.slice(1, s.layer, s.layer + 1).squeeze(1) as F32, s.gridH, s.gridW, s.heads);
          return { rq: rope(i.q, angles), rk: rope(i.k, angles) };
        }, { q: spec([s.heads, n, hd]), k: spec([s.heads, n, hd]) });
        const out = runAll(t, { q: tilePerHead(v.q, s.heads, hd, n), k: tilePerHead(v.k, s.heads, hd, n) }, initParams(t.params, s.seed));
        expectScoresDependOnlyOn(out.rq!.data, out.rk!.data, s.heads, n, hd, offset2d(s.gridW), 1e-12);
      }),
      RUNS,
    );
  });

  it('MAETok mixed RoPE angles from init.ropeMixed params are φ = col·Fx + row·Fy of the chosen layer', () => {
    const heads = 2;
    const hd = 8;
    const depth = 2;
    const layer = 1;
    const [gridH, gridW] = [3, 2];
    const n = gridH * gridW;
    const width = heads * (hd / 2);
    const t = trace((ctx) => {
      const freqs = ctx.param('freqs', [2, depth, width], init.ropeMixed(heads, 10, false));
      return ropeMixedAngles(ctx, freqs.slice(1, layer, layer + 1).squeeze(1) as F32, gridH, gridW, heads);
    });
    const params = initParams(t.params, 17);
    const f = params.freqs!;
    const expected = new Float64Array(heads * n * (hd / 2));
    for (let h = 0; h < heads; h++) {
      for (let tok = 0; tok < n; tok++) {
        for (let j = 0; j < hd / 2; j++) {
          const col = layer * width + h * (hd / 2) + j;
          expected[(h * n + tok) * (hd / 2) + j] = (tok % gridW) * f[col]! + Math.floor(tok / gridW) * f[depth * width + col]!;
        }
      }
    }
    const out = run(t, {}, params);
    expectShape(out, [heads, n, hd / 2]);
    expectClose(out.data, expected, { rtol: 1e-12, atol: 1e-14 });
  });
});

describe('mixed RoPE with zero angle is axial RoPE', () => {
  it('rope(x, ropeMixedAngles(zero-angle freqs)) equals rope(x, ropeAxialAngles(θ = 10))', () => {
    const arb = fc
      .record({ heads: fc.integer({ min: 1, max: 3 }), gridH: fc.integer({ min: 1, max: 4 }), gridW: fc.integer({ min: 1, max: 4 }), quarter: fc.integer({ min: 1, max: 3 }) })
      .chain((s) => fc.record({ s: fc.constant(s), x: valuesArb(s.heads * s.gridH * s.gridW * 4 * s.quarter) }));
    fc.assert(
      fc.property(arb, ({ s, x }) => {
        const hd = 4 * s.quarter;
        const n = s.gridH * s.gridW;
        const t = trace((ctx, i) => {
          const freqs = ctx.param('freqs', [2, 1, s.heads * (hd / 2)], init.ropeMixed(s.heads, 10, true));
          return {
            mixed: rope(i.x, ropeMixedAngles(ctx, freqs.squeeze(1) as F32, s.gridH, s.gridW, s.heads)),
            axial: rope(i.x, ropeAxialAngles(ctx, s.gridH, s.gridW, hd, 10)),
          };
        }, { x: spec([s.heads, n, hd]) });
        const out = runAll(t, { x }, initParams(t.params, 0));
        // equal up to rounding: cos(π/2)·m ≈ 6e-17·m in the init, and θ^(−4j/hd) computed two ways
        expectClose(out.mixed!.data, out.axial!.data, { rtol: 1e-12, atol: 1e-13 });
      }),
      RUNS,
    );
  });
});

describe('MultiHeadAttention with rope { angles, start }', () => {
  interface Case {
    readonly batch: number;
    readonly heads: number;
    readonly hd: number;
    readonly tokens: number;
    readonly start: number;
    readonly count: number;
    readonly perHead: boolean;
  }

  /** Spec §1.1 with naive loops: qkv Linear, (3, nh, hd) layout, RoPE on q and k for tokens [start, start+count), SDPA, proj. */
  function naiveMha(c: Case, x: Float64Array, p: Record<string, Float64Array>, angles: Float64Array): Float64Array {
    const d = c.heads * c.hd;
    const rows = c.batch * c.tokens;
    const qkv = naiveLinear(x, rows, d, p['attn.qkv.weight']!, 3 * d, p['attn.qkv.bias']!);
    const pick = (which: number, b: number, h: number, t: number) => {
      const base = (b * c.tokens + t) * 3 * d + which * d + h * c.hd;
      return qkv.subarray(base, base + c.hd);
    };
    const heads = new Float64Array(rows * d);
    for (let b = 0; b < c.batch; b++) {
      for (let h = 0; h < c.heads; h++) {
        const q = new Float64Array(c.tokens * c.hd);
        const k = new Float64Array(c.tokens * c.hd);
        const v = new Float64Array(c.tokens * c.hd);
        for (let t = 0; t < c.tokens; t++) {
          let qt: Float64Array = pick(0, b, h, t);
          let kt: Float64Array = pick(1, b, h, t);
          if (t >= c.start && t < c.start + c.count) {
            const row = ((c.perHead ? h * c.count : 0) + (t - c.start)) * (c.hd / 2);
            const phi = angles.subarray(row, row + c.hd / 2);
            qt = naiveRotate(qt, phi);
            kt = naiveRotate(kt, phi);
          }
          q.set(qt, t * c.hd);
          k.set(kt, t * c.hd);
          v.set(pick(2, b, h, t), t * c.hd);
        }
        const o = naiveAttention(q, k, v, c.tokens, c.tokens, c.hd, c.hd, 1 / Math.sqrt(c.hd));
        for (let t = 0; t < c.tokens; t++) heads.set(o.subarray(t * c.hd, (t + 1) * c.hd), (b * c.tokens + t) * d + h * c.hd);
      }
    }
    return naiveLinear(heads, rows, d, p['attn.proj.weight']!, d, p['attn.proj.bias']!);
  }

  function traceMha(c: Case, withRope = true) {
    const d = c.heads * c.hd;
    const angleShape = c.perHead ? [c.heads, c.count, c.hd / 2] : [c.count, c.hd / 2];
    return trace(
      (ctx: Context, i) => MultiHeadAttention(ctx.child('attn'), i.x as F32, { heads: c.heads, ...(withRope ? { rope: { angles: i.angles as F32, start: c.start } } : {}) }),
      { x: spec([c.batch, c.tokens, d]), angles: spec(angleShape) },
    );
  }

  function params(c: Case, seed: number): Record<string, Float64Array> {
    const d = c.heads * c.hd;
    return {
      'attn.qkv.weight': seeded(seed, 3 * d * d, -0.8, 0.8),
      'attn.qkv.bias': seeded(seed + 1, 3 * d, -0.5, 0.5),
      'attn.proj.weight': seeded(seed + 2, d * d, -0.8, 0.8),
      'attn.proj.bias': seeded(seed + 3, d, -0.5, 0.5),
    };
  }

  const caseArb: fc.Arbitrary<Case> = fc
    .record({ batch: fc.integer({ min: 1, max: 2 }), heads: fc.integer({ min: 1, max: 2 }), hd: fc.constantFrom(2, 4), tokens: fc.integer({ min: 1, max: 5 }), perHead: fc.boolean() })
    .chain((s) => fc.integer({ min: 0, max: s.tokens - 1 }).chain((start) => fc.integer({ min: 1, max: s.tokens - start }).map((count) => ({ ...s, start, count }))));

  it('rotates q and k of tokens [start, start+count) only, matching a naive implementation of §1.1', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(10_000), (c, seed) => {
        const t = traceMha(c);
        const x = seeded(seed + 10, c.batch * c.tokens * c.heads * c.hd, -1.5, 1.5);
        const angles = seeded(seed + 20, (c.perHead ? c.heads : 1) * c.count * (c.hd / 2), -4, 4);
        const p = params(c, seed);
        const out = run(t, { x, angles }, p);
        expectShape(out, [c.batch, c.tokens, c.heads * c.hd]);
        expectClose(out.data, naiveMha(c, x, p, angles), { rtol: 1e-11, atol: 1e-12 }, () => t.graph.toString());
      }),
      RUNS,
    );
  });

  it('cls at token 0 and a latent at token 4 stay unrotated around 3 image tokens (fixed case)', () => {
    const c: Case = { batch: 2, heads: 2, hd: 4, tokens: 5, start: 1, count: 3, perHead: false };
    const t = traceMha(c);
    const x = seeded(5, 2 * 5 * 8);
    const angles = seeded(6, 3 * 2, -3, 3);
    const p = params(c, 40);
    expectClose(run(t, { x, angles }, p).data, naiveMha(c, x, p, angles), { rtol: 1e-11, atol: 1e-12 });
    // a single rotated query/key changes the result, so the oracle is sensitive to the rotated range
    const unrotated = naiveMha({ ...c, count: 0 }, x, p, angles);
    const rotated = naiveMha(c, x, p, angles);
    expect(rotated.some((v, i) => Math.abs(v - unrotated[i]!) > 1e-6)).toBe(true);
  });

  it('with all-zero angles equals attention without rope', () => {
    const c: Case = { batch: 1, heads: 2, hd: 4, tokens: 4, start: 1, count: 2, perHead: false };
    const x = seeded(11, 4 * 8);
    const p = params(c, 12);
    const zeros = new Float64Array(2 * 2);
    expectClose(run(traceMha(c), { x, angles: zeros }, p).data, run(traceMha(c, false), { x, angles: zeros }, p).data, { rtol: 1e-12, atol: 1e-14 });
  });

  it('rejects a rotated range that runs past the sequence', () => {
    const c: Case = { batch: 1, heads: 1, hd: 4, tokens: 3, start: 2, count: 2, perHead: false };
    expect(() => traceMha(c)).toThrow(ShapeError);
  });
});
