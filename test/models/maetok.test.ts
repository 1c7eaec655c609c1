// MAETok invariants (spec §6): the mask has exactly ceil(N·r) tokens per sample
// with r from the truncated normal on [0.4, 0.6]; masked encoder inputs equal the
// mask token; the encoder at eval uses no randomness; the zero-initialised
// decoder modulation makes the decoder output independent of the latent at init.

import { describe, expect, it } from 'vitest';
import { DType, foldIn, initParams, spec, trace } from '../../dsl/index.ts';
import { MAETOK_TINY } from '../../models/configs.ts';
import { embedPatches, imageTokens, maetokDecode, maetokEncoder, sampleMask, sampleMaskRatio } from '../../models/maetok.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

const config = MAETOK_TINY;
const N = imageTokens(config);
const image = (batch: number, seed = 1) => Array.from({ length: batch * 784 }, (_, i) => Math.sin(i * 0.13 + seed));

describe('mask sampling', () => {
  it.each([0.4, 0.45, 0.5, 0.6, 0.55])('masks exactly ceil(N·r) of the %f ratio in every sample, different tokens per sample', (r) => {
    const t = trace((ctx, { ratio }) => sampleMask(ctx.rng(), 4, N, ratio.reshape([])), { ratio: spec([1] as const) });
    const mask = interpret(t.graph, { inputs: { ratio: [r], rng: [3, 4] } }).outputs.out!;
    const rows = [0, 1, 2, 3].map((b) => Array.from(mask.data.slice(b * N, (b + 1) * N)));
    for (const row of rows) {
      expect(row.every((v) => v === 0 || v === 1)).toBe(true);
      expect(row.reduce((a, c) => a + c, 0)).toBe(Math.ceil(N * r));
    }
    expect(new Set(rows.map((row) => row.join(''))).size).toBe(4);
  });

  it('draws r from N(0.6, 0.25²) truncated to [0.4, 0.6] (mean 0.5052 by the truncated-normal formula)', () => {
    const t = trace((ctx) => ({ r: sampleMaskRatio(ctx.rng(), config.mask) }));
    const draws = Array.from({ length: 400 }, (_, k) => interpret(t.graph, { inputs: { rng: [k, 7] } }).outputs.r!.data[0]!);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0.4);
    expect(Math.max(...draws)).toBeLessThanOrEqual(0.6);
    // mean = μ − σ(φ(β) − φ(α))/(Φ(β) − Φ(α)), α = −0.8, β = 0: 0.6 − 0.25·0.10925/0.28814
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(Math.abs(mean - 0.5052)).toBeLessThan(0.006); // σ_r ≈ 0.057, 400 draws → se 0.003
  });
});

describe('encoder', () => {
  it('replaces masked patch embeddings by the mask token exactly and keeps the others', () => {
    const t = trace((ctx, { x, m }) => ({ masked: embedPatches(ctx, x, config, m), plain: embedPatches(ctx, x, config) }), { x: spec([2, 1, 28, 28] as const), m: spec([2, N] as const) });
    const params = initParams(t.params, 0);
    const mask = Array.from({ length: 2 * N }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    const { masked, plain } = interpret(t.graph, { inputs: { x: image(2), m: mask }, params }).outputs;
    const width = config.encoder.width;
    const token = params['encoder.mask_token']!;
    for (let row = 0; row < 2 * N; row++) {
      const got = Array.from(masked!.data.slice(row * width, (row + 1) * width));
      const expected = mask[row] ? Array.from(token) : Array.from(plain!.data.slice(row * width, (row + 1) * width));
      expect(got).toEqual(expected);
    }
  });

  it('uses no randomness at eval: its graph has no rng input, and masking makes it depend on one', () => {
    const evalGraph = trace((ctx, { x }) => maetokEncoder(ctx, x, config), { x: spec([1, 1, 28, 28] as const) });
    expect(evalGraph.graph.inputs.map((i) => i.arg.name)).toEqual(['x']);
    const train = trace((ctx, { x }) => {
      const key = ctx.rng();
      return maetokEncoder(ctx, x, config, sampleMask(foldIn(key, 1), 1, N, sampleMaskRatio(foldIn(key, 0), config.mask)));
    }, { x: spec([1, 1, 28, 28] as const) });
    expect(train.graph.inputs.some((i) => i.arg.name === 'rng' && i.dtype === DType.U32)).toBe(true);
  });
});

describe('pixel decoder at init', () => {
  it('does not depend on the latent: the zero-initialised modulation feeds the latent rows in as zeros', () => {
    const t = trace((ctx, { h }) => maetokDecode(ctx, h, config), { h: spec([1, config.latentTokens, config.latentChannels] as const) });
    const params = initParams(t.params, 0);
    const run = (h: number[]) => Array.from(interpret(t.graph, { inputs: { h }, params }).outputs.out!.data);
    const a = run(Array.from({ length: 32 }, (_, i) => Math.sin(i)));
    const b = run(Array.from({ length: 32 }, (_, i) => 3 * Math.cos(i)));
    expect(a).toEqual(b);
    // …while non-zero modulation weights make it depend on h
    const moved = { ...params, 'decoder.model.blocks.0.adaLN_modulation.1.weight': params['decoder.model.blocks.0.adaLN_modulation.1.weight']!.map((_, i) => Math.sin(i)) };
    const c = Array.from(interpret(t.graph, { inputs: { h: Array.from({ length: 32 }, (_, i) => Math.sin(i)) }, params: moved }).outputs.out!.data);
    const d = Array.from(interpret(t.graph, { inputs: { h: Array.from({ length: 32 }, (_, i) => 3 * Math.cos(i)) }, params: moved }).outputs.out!.data);
    expect(c).not.toEqual(d);
  });
});
