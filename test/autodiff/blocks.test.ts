// Whole blocks pass the finite-difference gradient check (float64, relative
// error < 1e-6) with respect to their input and every parameter: the pre-norm
// ViT block with LayerScale (MAETok encoder), the adaLN-Zero DiT block (SiT,
// spec §1.8), the LightningDiT block (RMSNorm, SwiGLU, 1D RoPE) and MAETok's
// latent-modulated decoder block (spec §2.4). Zero-initialised modulation would
// make parts of the gradient trivially zero, so parameters get non-zero values.

import { describe, it } from 'vitest';
import { ditBlock, modulatedBlock, vitBlock } from '../../models/vit.ts';
import { rope1dAngles, ropeMixedAngles } from '../../dsl/index.ts';
import { checkGradients, wave } from '../support/gradcheck.ts';

const WIDTH = 8;
const HEADS = 2;

describe('block gradients match finite differences', () => {
  it('pre-norm ViT block with LayerScale and mixed RoPE on the image tokens', () => {
    checkGradients({
      inputs: {
        x: { shape: [1, 6, WIDTH], values: wave(6 * WIDTH, 3) },
        freqs: { shape: [2, WIDTH / 2], values: wave(WIDTH, 5) },
      },
      fn: (ctx, { x, freqs }) => {
        // tokens: [cls | 2×2 image grid | 1 latent]; RoPE on positions 1…4 only
        const angles = ropeMixedAngles(ctx, freqs!, 2, 2, HEADS);
        return vitBlock(ctx.child('blocks.0'), x!, { heads: HEADS, layerScale: 0.5, rope: { angles, start: 1 } });
      },
      randomParams: 0.5,
      wrtParams: 'all',
    });
  });

  it('adaLN-Zero DiT block (LayerNorm without affine, GELU-tanh MLP)', () => {
    checkGradients({
      inputs: { x: { shape: [2, 3, WIDTH], values: wave(2 * 3 * WIDTH, 7) }, c: { shape: [2, WIDTH], values: wave(2 * WIDTH, 8) } },
      fn: (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: HEADS }),
      randomParams: 0.5,
      wrtParams: 'all',
    });
  });

  it('LightningDiT block (RMSNorm, SwiGLU, 1D RoPE)', () => {
    checkGradients({
      inputs: { x: { shape: [1, 4, WIDTH], values: wave(4 * WIDTH, 9) }, c: { shape: [1, WIDTH], values: wave(WIDTH, 10) } },
      fn: (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: HEADS, norm: 'rms', mlp: 'swiglu', rope: { angles: rope1dAngles(ctx, 4, WIDTH / HEADS), start: 0 } }),
      randomParams: 0.5,
      wrtParams: 'all',
    });
  });

  it('MAETok latent-modulated decoder block', () => {
    const latents = 2;
    const channels = 3;
    checkGradients({
      inputs: { x: { shape: [1, 4 + latents, WIDTH], values: wave((4 + latents) * WIDTH, 11) }, h: { shape: [1, latents, channels], values: wave(latents * channels, 12) } },
      fn: (ctx, { x, h }) => modulatedBlock(ctx.child('blocks.0'), x!, h!, { heads: HEADS, latentStart: 4 }),
      randomParams: 0.5,
      wrtParams: 'all',
    });
  });
});
