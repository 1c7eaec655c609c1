// Models · SiT on MAETok's 1D latents (spec §3): x_embedder Linear(C→D) + fixed
// interleaved 1D sin-cos positions, adaLN-Zero blocks conditioned on
// c = t_emb + y_emb, a zero-initialised final layer → velocity (B, L, C).
// LightningDiT (models/lightningdit.ts) is the same backbone with RMSNorm,
// SwiGLU and 1D RoPE. Time follows kiln's convention: t = 1 is noise (spec §3.2).

import { DType, Linear, bernoulli, init, mse, normal, spec, uniform, where, type Context, type InputSpec, type Shape, type Tensor } from '../dsl/index.ts';
import { finalLayer, labelEmbedder, timestepEmbedder } from './embedders.ts';
import { ditBlock, type RopeOption } from './vit.ts';
import { rope1dAngles } from '../dsl/index.ts';

type F32 = Tensor<Shape, DType.F32>;
type I32 = Tensor<Shape, DType.I32>;

export interface DiTConfig {
  readonly name: string;
  /** Latent tokens L and channels C of the 1D input (B, L, C). */
  readonly tokens: number;
  readonly channels: number;
  readonly width: number;
  readonly depth: number;
  readonly heads: number;
  readonly classes: number;
  /** Timestep frequency-feature size F (256 in the reference). */
  readonly frequencyDim: number;
  /** 'sit': LayerNorm + GELU-tanh MLP; 'lightning': RMSNorm + SwiGLU + 1D RoPE (spec §4.1). */
  readonly variant: 'sit' | 'lightning';
  /** Label dropout probability in training (class_dropout_prob). */
  readonly labelDropout: number;
}

/**
 * The velocity v̂(x, t, y) for x (B, L, C), t (B) in [0, 1] (1 = noise), y (B) class ids
 * (id `classes` = the null class).
 */
export function ditVelocity(ctx: Context, x: F32, t: F32, y: I32, config: DiTConfig): F32 {
  const { width, tokens } = config;
  const lightning = config.variant === 'lightning';
  // The fixed 1D sin-cos table is a frozen parameter, as in the reference state dict.
  const pos = ctx.frozenParam('pos_embed', [1, tokens, width], init.sincos1d());
  let h = Linear(ctx, 'x_embedder', x, width, { weightInit: init.xavierUniform() }).add(pos);
  const c = timestepEmbedder(ctx, t, width, config.frequencyDim).add(labelEmbedder(ctx, y, width, config.classes));
  const rope: RopeOption | undefined = lightning ? { angles: rope1dAngles(ctx, tokens, width / config.heads), start: 0 } : undefined;
  for (let i = 0; i < config.depth; i++) {
    h = ditBlock(ctx.child(`blocks.${i}`), h, c, { heads: config.heads, norm: lightning ? 'rms' : 'layer', mlp: lightning ? 'swiglu' : 'gelu', ...(rope ? { rope } : {}) });
  }
  return finalLayer(ctx.child('final_layer'), h, c, config.channels, lightning ? 'rms' : 'layer');
}

export type TimeSampling = 'uniform' | 'logitNormal';

/** t ~ U(0, 1), or logit-normal: t = sigmoid(n), n ~ N(0, 1) (spec §3.3, §4.2). */
export function sampleTimes(ctx: Context, batch: number, sampling: TimeSampling): F32 {
  return sampling === 'uniform' ? uniform(ctx.rng(), [batch] as const) : normal(ctx.rng(), [batch] as const).sigmoid();
}

/** Replaces each label by the null id with probability p (independently). */
export function dropLabels(ctx: Context, labels: I32, classes: number, p: number): I32 {
  if (p <= 0) return labels;
  return where(bernoulli(ctx.rng(), p, labels.shape), classes, labels) as I32;
}

export interface DiffusionLossOptions {
  readonly timeSampling?: TimeSampling;
  /** Add LightningDiT's cosine loss 1 − cos(v̂, v) along the channel axis (spec §4.2). */
  readonly cosineLoss?: boolean;
}

/**
 * The velocity-matching loss on the linear path: x_t = (1−t)·x0 + t·ε, v = ε − x0,
 * loss = mean (v̂ − v)² (+ mean(1 − cos(v̂, v)) for LightningDiT).
 */
export function diffusionLoss(ctx: Context, x0: F32, labels: I32, config: DiTConfig, options: DiffusionLossOptions = {}): { loss: F32; mse: F32 } {
  const batch = x0.shape[0]!;
  const t = sampleTimes(ctx, batch, options.timeSampling ?? (config.variant === 'lightning' ? 'logitNormal' : 'uniform'));
  const noise = normal(ctx.rng(), x0.shape);
  const tb = t.reshape([batch, 1, 1]);
  const xt = x0.mul(tb.neg().add(1)).add(noise.mul(tb));
  const target = noise.sub(x0);
  const v = ditVelocity(ctx, xt, t, dropLabels(ctx, labels, config.classes, config.labelDropout), config);
  const error = mse(v, target as F32);
  if (!(options.cosineLoss ?? config.variant === 'lightning')) return { loss: error, mse: error };
  const dot = v.mul(target).sum(-1);
  const norms = v.square().sum(-1).sqrt().maximum(1e-8).mul(target.square().sum(-1).sqrt().maximum(1e-8));
  return { loss: error.add(dot.div(norms).neg().add(1).mean()), mse: error };
}

/** Input specs of a diffusion training step: latents (B, L, C) and labels (B). */
export function diffusionInputs(config: DiTConfig, batch: number): { latents: InputSpec<readonly number[], DType.F32>; labels: InputSpec<readonly number[], DType.I32> } {
  return { latents: spec([batch, config.tokens, config.channels]), labels: spec([batch], DType.I32) };
}
