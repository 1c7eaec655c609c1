// SiT and LightningDiT: parameter counts computed from the traced parameter specs
// (nothing runs) equal spec §5.1 / §6 exactly, state-dict names match the
// reference, and adaLN-Zero makes the model output exactly 0 at init.

import { describe, expect, it } from 'vitest';
import { DType, initParams, spec, trace } from '../../dsl/index.ts';
import * as configs from '../../models/configs.ts';
import { ditVelocity, type DiTConfig } from '../../models/sit.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

function traceVelocity(config: DiTConfig, batch = 2) {
  return trace((ctx, { x, t, y }) => ditVelocity(ctx, x, t, y, config), {
    x: spec(config.image ? [batch, config.channels, config.image.size, config.image.size] : [batch, config.tokens, config.channels]),
    t: spec([batch]),
    y: spec([batch], DType.I32),
  });
}

const count = (config: DiTConfig) => traceVelocity(config, 1).params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

describe('parameter counts (spec §5.1, §6)', () => {
  it.each([
    [configs.SIT_S.name, 32_920_352, configs.SIT_S],
    [configs.SIT_B.name, 130_426_400, configs.SIT_B],
    [configs.SIT_L.name, 457_988_128, configs.SIT_L],
    [configs.SIT_XL.name, 675_000_608, configs.SIT_XL],
    [configs.LIGHTNING_DIT_S.name, 32_936_096, configs.LIGHTNING_DIT_S],
    [configs.LIGHTNING_DIT_B.name, 130_457_888, configs.LIGHTNING_DIT_B],
    [configs.LIGHTNING_DIT_L.name, 458_021_888, configs.LIGHTNING_DIT_L],
    [configs.LIGHTNING_DIT_XL.name, 675_109_280, configs.LIGHTNING_DIT_XL],
    [configs.SIT_TINY.name, 167_812, configs.SIT_TINY],
    [configs.LIGHTNING_DIT_TINY.name, 168_044, configs.LIGHTNING_DIT_TINY],
    [configs.SIT_MINI.name, 1_275_400, configs.SIT_MINI],
    [configs.LIGHTNING_DIT_MINI.name, 1_276_720, configs.LIGHTNING_DIT_MINI],
    [configs.SIT_XL_2.name, 675_129_632, configs.SIT_XL_2],
  ] as const)('%s has %i parameters', (_, expected, config) => {
    expect(count(config)).toBe(expected);
  });
});

describe('state-dict names', () => {
  it('match the reference SiT names', () => {
    const names = traceVelocity(configs.SIT_TINY).params.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining([
      'pos_embed', 'x_embedder.weight', 'x_embedder.bias',
      't_embedder.mlp.0.weight', 't_embedder.mlp.2.bias', 'y_embedder.embedding_table',
      'blocks.1.adaLN_modulation.1.weight', 'blocks.1.attn.qkv.weight', 'blocks.1.attn.proj.bias',
      'blocks.1.mlp.fc1.weight', 'blocks.1.mlp.fc2.bias',
      'final_layer.adaLN_modulation.1.weight', 'final_layer.linear.weight', 'final_layer.linear.bias',
    ]));
    expect(names.filter((n) => n.includes('norm'))).toEqual([]);
  });

  it('match the reference LightningDiT names (RMSNorm weights, SwiGLU)', () => {
    const names = traceVelocity(configs.LIGHTNING_DIT_TINY).params.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining([
      'blocks.0.norm1.weight', 'blocks.0.norm2.weight', 'blocks.0.mlp.w12.weight', 'blocks.0.mlp.w3.bias', 'final_layer.norm_final.weight',
    ]));
    const w12 = traceVelocity(configs.LIGHTNING_DIT_MINI, 1).params.find((p) => p.name === 'blocks.0.mlp.w12.weight')!;
    expect(w12.shape).toEqual([2 * 341, 128]);
  });

  it('keeps pos_embed as a frozen parameter holding the 1D sin-cos table', () => {
    const p = traceVelocity(configs.SIT_TINY).params.find((q) => q.name === 'pos_embed')!;
    expect(p.frozen).toBe(true);
    const table = initParams([p], 0).pos_embed!;
    // spec §1.5: pe[pos, 2k] = sin(pos·10000^(−2k/D)), pe[pos, 2k+1] = cos(…); D = 64
    expect(table[3 * 64 + 2 * 5]).toBeCloseTo(Math.sin(3 * 10000 ** (-10 / 64)), 14);
    expect(table[3 * 64 + 2 * 5 + 1]).toBeCloseTo(Math.cos(3 * 10000 ** (-10 / 64)), 14);
  });
});

describe('adaLN-Zero at init', () => {
  it.each([configs.SIT_TINY, configs.LIGHTNING_DIT_TINY])('%s outputs exactly zero velocity at init', (config) => {
    const t = traceVelocity(config);
    const out = interpret(t.graph, {
      inputs: { x: Array.from({ length: 2 * config.tokens * config.channels }, (_, i) => Math.sin(i)), t: [0.3, 0.9], y: [1, config.classes] },
      params: initParams(t.params, 0),
    }).outputs.out!;
    expect(Array.from(out.data).every((v) => v === 0)).toBe(true);
  });
});
