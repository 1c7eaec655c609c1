// SiT / LightningDiT behaviour: adaLN-Zero blocks are exact identities at init;
// the image-space variant round-trips shapes; classifier-free guidance combines
// the conditional and null-class velocities inside the interval only.

import { describe, expect, it } from 'vitest';
import { DType, initParams, spec, trace } from '../../dsl/index.ts';
import { LIGHTNING_DIT_TINY, SIT_TINY } from '../../models/configs.ts';
import { ditVelocity, guidedVelocity, type DiTConfig } from '../../models/sit.ts';
import { ditBlock } from '../../models/vit.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

describe('adaLN-Zero', () => {
  it.each([['SiT', 'layer', 'gelu'], ['LightningDiT', 'rms', 'swiglu']] as const)('a %s block is the identity at init', (_, norm, mlp) => {
    const t = trace((ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x, c, { heads: 2, norm, mlp }), { x: spec([2, 3, 16] as const), c: spec([2, 16] as const) });
    const x = Array.from({ length: 96 }, (_, i) => Math.sin(i));
    const out = interpret(t.graph, { inputs: { x, c: Array.from({ length: 32 }, (_, i) => Math.cos(i)) }, params: initParams(t.params, 0) }).outputs.out!;
    expect(Array.from(out.data)).toEqual(x);
  });
});

describe('image-space variant', () => {
  const image: DiTConfig = { ...LIGHTNING_DIT_TINY, name: 'LightningDiT-Tiny/2 image', channels: 3, image: { size: 8, patch: 2 }, learnSigma: true };
  it('maps (B, C, H, W) to a velocity of the same shape (2D RoPE, 2D positions, learn_sigma dropped)', () => {
    const t = trace((ctx, { x, t: time, y }) => ditVelocity(ctx, x, time, y, image), { x: spec([2, 3, 8, 8] as const), t: spec([2] as const), y: spec([2] as const, DType.I32) });
    expect(t.graph.output('out').shape).toEqual([2, 3, 8, 8]);
    const names = t.params.map((p) => p.name);
    expect(names).toContain('x_embedder.proj.weight');
    expect(t.params.find((p) => p.name === 'final_layer.linear.weight')!.shape).toEqual([2 * 2 * 6, 64]);
  });
});

describe('classifier-free guidance', () => {
  const config = SIT_TINY;
  const inputs = { x: spec([2, 8, 4] as const), t: spec([2] as const), y: spec([2] as const, DType.I32) };
  const guided = trace((ctx, { x, t, y }) => guidedVelocity(ctx, x, t, y, config, { scale: 3, interval: [0, 0.75] }), inputs);
  const plain = trace((ctx, { x, t, y }) => ({ cond: ditVelocity(ctx, x, t, y, config), uncond: ditVelocity(ctx, x, t, y.mul(0).add(config.classes) as never, config) }), inputs);
  // non-zero final layer so velocities differ between labels
  const params = Object.fromEntries(Object.entries(initParams(guided.params, 1)).map(([k, v]) => [k, k.startsWith('final_layer') || k.includes('adaLN') ? v.map((_, i) => 0.05 * Math.sin(i + k.length)) : v]));

  it('is v∅ + w·(v_y − v∅) inside [0, 0.75] and v_y outside, on all channels', () => {
    const env = { inputs: { x: Array.from({ length: 64 }, (_, i) => Math.cos(i)), t: [0.5, 0.9], y: [2, 7] }, params };
    const g = interpret(guided.graph, env).outputs.out!.data;
    const { cond, uncond } = interpret(plain.graph, env).outputs;
    for (let i = 0; i < 64; i++) {
      const inside = i < 32; // sample 0 has t = 0.5 (guided), sample 1 has t = 0.9 (not)
      const expected = inside ? uncond!.data[i]! + 3 * (cond!.data[i]! - uncond!.data[i]!) : cond!.data[i]!;
      expect(g[i]).toBeCloseTo(expected, 12);
    }
    expect(Array.from(cond!.data.slice(0, 32))).not.toEqual(Array.from(uncond!.data.slice(0, 32)));
  });
});
