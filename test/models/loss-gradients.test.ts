// The Tiny configs' full training losses pass the finite-difference gradient
// check (float64, interpreter): MAETok stage 1 (masked encoder, modulated pixel
// decoder, HOG and teacher aux decoders, teacher perceptual term), SiT (velocity MSE) and LightningDiT
// (MSE + cosine, logit-normal times). The rng input is fixed, so masks, times,
// noise and label dropout are constants of the check. Parameters get non-zero
// values (zero-initialised modulation would hide gradients) and a representative
// subset of tensors is checked at evenly spaced elements.

import { describe, it } from 'vitest';
import { DType } from '../../dsl/index.ts';
import { LIGHTNING_DIT_TINY, MAETOK_TINY, SIT_TINY } from '../../models/configs.ts';
import { lightningDitLoss } from '../../models/lightningdit.ts';
import { maetokStage1Loss } from '../../models/maetok.ts';
import { diffusionLoss } from '../../models/sit.ts';
import { patchTeacher } from '../../models/teacher.ts';
import { checkGradients, wave } from '../support/gradcheck.ts';

const rng = { shape: [2], values: [11, 12], dtype: DType.U32 } as const;

describe('Tiny training losses match finite differences', () => {
  it('MAETok-Tiny stage-1 loss', () => {
    checkGradients({
      inputs: {},
      constants: { images: { shape: [2, 1, 28, 28], values: wave(2 * 784, 5), dtype: DType.F32 }, rng },
      fn: (ctx, _, { images }) => maetokStage1Loss(ctx, images as never, MAETOK_TINY, { teachers: { dino: patchTeacher('dino', 4, 32) }, perceptual: { teacher: patchTeacher('dino', 4, 32), weight: 0.5 } }).loss,
      randomParams: 0.3,
      maxElements: 8,
      wrtParams: ['encoder.freqs', 'encoder.mask_token', 'encoder.latent_tokens', 'quant_conv.bias', 'decoder.model.blocks.0.adaLN_modulation.1.bias', 'decoder.freqs', 'to_pixel_hog.bias', 'post_quant_conv_dino.bias'],
    });
  }, 120_000);

  it('SiT-Tiny velocity loss', () => {
    checkGradients({
      inputs: {},
      constants: { latents: { shape: [2, 8, 4], values: wave(64, 3), dtype: DType.F32 }, labels: { shape: [2], values: [3, 7], dtype: DType.I32 }, rng },
      fn: (ctx, _, { latents, labels }) => diffusionLoss(ctx, latents as never, labels as never, SIT_TINY).loss,
      randomParams: 0.3,
      maxElements: 8,
      wrtParams: ['x_embedder.weight', 't_embedder.mlp.0.bias', 'y_embedder.embedding_table', 'blocks.1.adaLN_modulation.1.bias', 'final_layer.linear.weight'],
    });
  }, 120_000);

  it('LightningDiT-Tiny loss (MSE + cosine)', () => {
    checkGradients({
      inputs: {},
      constants: { latents: { shape: [2, 8, 4], values: wave(64, 4), dtype: DType.F32 }, labels: { shape: [2], values: [1, 10], dtype: DType.I32 }, rng },
      fn: (ctx, _, { latents, labels }) => lightningDitLoss(ctx, latents as never, labels as never, LIGHTNING_DIT_TINY).loss,
      randomParams: 0.3,
      maxElements: 8,
      wrtParams: ['x_embedder.bias', 'blocks.0.norm1.weight', 'blocks.0.mlp.w12.bias', 'final_layer.norm_final.weight', 'final_layer.linear.bias'],
    });
  }, 120_000);
});
