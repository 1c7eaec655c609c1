// Models · LightningDiT (spec §4): the SiT backbone with RMSNorm (learnable
// weights, also in the final layer), SwiGLU (Hf = floor(2/3·4D)) and 1D RoPE on
// MAETok's latent tokens, the 1D sin-cos table still added; trained with
// logit-normal times and velocity MSE + cosine loss along the channel axis.

import type { DType, Context, Shape, Tensor } from '../dsl/index.ts';
import { diffusionLoss, ditVelocity, type DiTConfig, type DiffusionLossOptions } from './sit.ts';

type F32 = Tensor<Shape, DType.F32>;
type I32 = Tensor<Shape, DType.I32>;

function checkVariant(config: DiTConfig): void {
  if (config.variant !== 'lightning') throw new Error(`${config.name} is a ${config.variant} config; LightningDiT needs variant 'lightning'`);
}

/** v̂(x, t, y) of a LightningDiT config. */
export function lightningDitVelocity(ctx: Context, x: F32, t: F32, y: I32, config: DiTConfig): F32 {
  checkVariant(config);
  return ditVelocity(ctx, x, t, y, config);
}

/** Logit-normal times, MSE + cosine loss (the reference's defaults for LightningDiT). */
export function lightningDitLoss(ctx: Context, x0: F32, labels: I32, config: DiTConfig, options: DiffusionLossOptions = {}): { loss: F32; mse: F32 } {
  checkVariant(config);
  return diffusionLoss(ctx, x0, labels, config, { timeSampling: 'logitNormal', cosineLoss: true, ...options });
}
