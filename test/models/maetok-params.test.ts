// MAETok: parameter counts from the traced specs equal spec §2.12 / §6 exactly
// (full size is traced, never run), and state-dict names match the reference.

import { describe, expect, it } from 'vitest';
import { spec, trace, type ParamSpec } from '../../dsl/index.ts';
import { MAETOK_B, MAETOK_B_512, MAETOK_MINI, MAETOK_TINY } from '../../models/configs.ts';
import { maetokAuxDecode, maetokDecode, maetokEncoder, type MAETokConfig } from '../../models/maetok.ts';

function traceTokenizer(config: MAETokConfig) {
  return trace((ctx, { x }) => {
    const h = maetokEncoder(ctx, x, config);
    const out: Record<string, ReturnType<typeof maetokDecode>> = { recon: maetokDecode(ctx, h, config) };
    for (const target of config.auxTargets) out[target.name] = maetokAuxDecode(ctx, h, config, target);
    return out;
  }, { x: spec([1, config.imageChannels, config.imageSize, config.imageSize]) });
}

const count = (params: readonly ParamSpec[], keep: (name: string) => boolean = () => true) =>
  params.filter((p) => keep(p.name)).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

const isAux = (name: string) => /^(decoder_|post_quant_conv_|to_pixel_)/.test(name);
const auxOf = (target: string) => (name: string) => name.startsWith(`decoder_${target}.`) || name.startsWith(`post_quant_conv_${target}.`) || name.startsWith(`to_pixel_${target}.`);

describe('MAETok parameter counts (spec §2.12, §6)', () => {
  const b = traceTokenizer(MAETOK_B).params;

  it('MAETok-B encoder + decoder: 173,103,392 (encoder 86,069,760, decoder 86,983,680)', () => {
    expect(count(b, (n) => !isAux(n))).toBe(173_103_392);
    expect(count(b, (n) => n.startsWith('encoder.'))).toBe(86_069_760);
    expect(count(b, (n) => n.startsWith('decoder.'))).toBe(86_983_680);
    expect(count(b, (n) => n.startsWith('quant_conv.'))).toBe(24_608);
    expect(count(b, (n) => n.startsWith('post_quant_conv.'))).toBe(25_344);
    expect(count(b, (n) => n.startsWith('decoder.model.norm.'))).toBe(50_688);
  });

  it('MAETok-B auxiliary decoders: HOG 1,473,708, DINO 1,650,496, CLIP 1,675,200', () => {
    expect(count(b, auxOf('hog'))).toBe(1_473_708);
    expect(count(b, auxOf('dino'))).toBe(1_650_496);
    expect(count(b, auxOf('clip'))).toBe(1_675_200);
  });

  it('the 512² variant only grows the position table (1025 positions)', () => {
    const p512 = traceTokenizer(MAETOK_B_512).params;
    expect(count(p512, (n) => !isAux(n)) - count(b, (n) => !isAux(n))).toBe((1024 - 256) * 768);
  });

  it.each([
    [MAETOK_TINY.name, MAETOK_TINY, 30_260],
    [MAETOK_MINI.name, MAETOK_MINI, 420_056],
  ])('%s encoder + decoder: %i', (_, config, expected) => {
    expect(count(traceTokenizer(config).params, (n) => !isAux(n))).toBe(expected);
  });
});

describe('MAETok state-dict names', () => {
  it('match the reference paths', () => {
    const names = traceTokenizer(MAETOK_TINY).params.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining([
      'encoder.model.patch_embed.proj.weight', 'encoder.model.cls_token', 'encoder.model.pos_embed',
      'encoder.model.blocks.0.norm1.weight', 'encoder.model.blocks.0.attn.qkv.weight', 'encoder.model.blocks.0.ls1.gamma',
      'encoder.model.blocks.0.mlp.fc2.bias', 'encoder.model.norm.weight', 'encoder.latent_tokens', 'encoder.latent_pos_embed',
      'encoder.freqs', 'quant_conv.weight', 'post_quant_conv.weight', 'decoder.latent_pos_embed', 'decoder.mask_token', 'decoder.freqs',
      'decoder.model.blocks.0.adaLN_modulation.1.weight', 'decoder.model.blocks.0.attn.proj.weight', 'decoder.to_pixel.model.weight',
      'decoder_hog.model.cls_token', 'post_quant_conv_hog.weight', 'to_pixel_hog.weight', 'to_pixel_dino.bias',
    ]));
    const shapes = Object.fromEntries(traceTokenizer(MAETOK_TINY).params.map((p) => [p.name, p.shape]));
    expect(shapes['encoder.model.patch_embed.proj.weight']).toEqual([32, 1, 4, 4]);
    expect(shapes['encoder.freqs']).toEqual([2, 1, 16]);
  });
});
