// The gradient graphs of the transformer blocks (pre-norm ViT with LayerScale and
// mixed RoPE, adaLN-Zero DiT, LightningDiT, MAETok's modulated decoder block),
// compiled to WGSL and run on WebGPU, match the interpreter in float32.

import { describe, it } from 'vitest';
import { rope1dAngles, ropeMixedAngles, trace, type Context, type DType, type Shape, type Tensor } from '../../dsl/index.ts';
import { ditBlock, modulatedBlock, vitBlock } from '../../models/vit.ts';
import { wave } from '../support/gradcheck.ts';
import { gradientTrace } from '../support/gradient-graph.ts';
import { expectGpuMatchesInterpreter } from '../support/webgpu.ts';

type F32 = Tensor<Shape, DType.F32>;
const WIDTH = 8;
const HEADS = 2;

function gradientGraph(inputs: Record<string, readonly number[]>, fn: (ctx: Context, xs: Record<string, F32>) => F32) {
  const t = gradientTrace(inputs, fn);
  const values = Object.fromEntries(Object.entries(inputs).map(([name, shape], k) => [name, wave(shape.reduce((a, b) => a * b, 1), k + 3)]));
  const params = Object.fromEntries(t.params.map((p, k) => [p.name, wave(p.shape.reduce((a, b) => a * b, 1), k + 11).map((v) => v * 0.5)]));
  return { graph: t.graph, values, params };
}

describe('block gradients on WebGPU match the interpreter', () => {
  it('pre-norm ViT block with LayerScale and mixed RoPE', async () => {
    const { graph, values, params } = gradientGraph({ x: [1, 6, WIDTH], freqs: [2, WIDTH / 2] }, (ctx, { x, freqs }) =>
      vitBlock(ctx.child('blocks.0'), x!, { heads: HEADS, layerScale: 0.5, rope: { angles: ropeMixedAngles(ctx, freqs!, 2, 2, HEADS), start: 1 } }));
    await expectGpuMatchesInterpreter(graph, values, params, 5e-4);
  });

  it('adaLN-Zero DiT block', async () => {
    const { graph, values, params } = gradientGraph({ x: [2, 3, WIDTH], c: [2, WIDTH] }, (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: HEADS }));
    await expectGpuMatchesInterpreter(graph, values, params, 5e-4);
  });

  it('LightningDiT block (RMSNorm, SwiGLU, 1D RoPE)', async () => {
    const { graph, values, params } = gradientGraph({ x: [1, 4, WIDTH], c: [1, WIDTH] }, (ctx, { x, c }) =>
      ditBlock(ctx.child('blocks.0'), x!, c!, { heads: HEADS, norm: 'rms', mlp: 'swiglu', rope: { angles: rope1dAngles(ctx, 4, WIDTH / HEADS), start: 0 } }));
    await expectGpuMatchesInterpreter(graph, values, params, 5e-4);
  });

  it('MAETok latent-modulated decoder block', async () => {
    const { graph, values, params } = gradientGraph({ x: [1, 6, WIDTH], h: [1, 2, 3] }, (ctx, { x, h }) => modulatedBlock(ctx.child('blocks.0'), x!, h!, { heads: HEADS, latentStart: 4 }));
    await expectGpuMatchesInterpreter(graph, values, params, 5e-4);
  });
});

describe('patch views on WebGPU', () => {
  it('patchify and unpatchify of 28×28 images in 7×7 patches match the interpreter exactly', async () => {
    const { patchify, unpatchify, spec: inputSpec } = await import('../../dsl/index.ts');
    const t = trace((_, { x }) => {
      const tokens = patchify(x, 7);
      return { tokens, back: unpatchify(tokens, { patch: 7, gridH: 4, gridW: 4 }) };
    }, { x: inputSpec([2, 3, 28, 28] as const) });
    await expectGpuMatchesInterpreter(t.graph, { x: Array.from({ length: 2 * 3 * 784 }, (_, i) => i) }, {}, 0);
  });
});
