// Models · SiT on MAETok's 1D latents (spec §3): x_embedder Linear(C→D) + fixed
// interleaved 1D sin-cos positions, adaLN-Zero blocks conditioned on
// c = t_emb + y_emb, a zero-initialised final layer → velocity (B, L, C).
// LightningDiT (models/lightningdit.ts) is the same backbone with RMSNorm,
// SwiGLU and 1D RoPE. Time follows kiln's convention: t = 1 is noise (spec §3.2).

import { DType, Linear, bernoulli, concat, init, mse, normal, spec, uniform, where, type Context, type InputSpec, type Shape, type Tensor } from '../dsl/index.ts';
import { finalLayer, labelEmbedder, timestepEmbedder } from './embedders.ts';
import { ditBlock, type RopeOption } from './vit.ts';
import { patchify, rope1dAngles, rope2dAngles, unpatchify } from '../dsl/index.ts';

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
  /**
   * Image-space input (official SiT/DiT/LightningDiT): x (B, C, size, size) patchified by a
   * conv of kernel = stride = patch, 2D sin-cos positions (and 2D RoPE for LightningDiT).
   * Without it the input is MAETok's 1D latent (B, L, C) with patch 1.
   */
  readonly image?: { readonly size: number; readonly patch: number };
  /** Output 2C channels and use the first C (the official models' vestigial learn_sigma). */
  readonly learnSigma?: boolean;
}

/** Tokens the transformer sees: L latents, or (size / patch)² image patches. */
export function sequenceLength(config: DiTConfig): number {
  return config.image ? (config.image.size / config.image.patch) ** 2 : config.tokens;
}

/**
 * The velocity v̂(x, t, y) for x (B, L, C), t (B) in [0, 1] (1 = noise), y (B) class ids
 * (id `classes` = the null class).
 */
export function ditVelocity(ctx: Context, x: F32, t: F32, y: I32, config: DiTConfig): F32 {
  const { width, channels, image } = config;
  const lightning = config.variant === 'lightning';
  const tokens = sequenceLength(config);
  const outChannels = config.learnSigma ? 2 * channels : channels;
  const grid = image ? image.size / image.patch : 0;
  // The fixed sin-cos table is a frozen parameter, as in the reference state dict.
  const pos = ctx.frozenParam('pos_embed', [1, tokens, width], image ? init.sincos2d(grid, grid) : init.sincos1d());
  let h: F32;
  if (image) {
    const proj = ctx.child('x_embedder').child('proj');
    const weight = proj.param('weight', [width, channels, image.patch, image.patch], init.xavierUniform());
    const bias = proj.param('bias', [width], init.zeros());
    h = patchify(x, image.patch).matmul(weight.reshape([width, -1]).transpose()).add(bias).add(pos) as F32;
  } else {
    h = Linear(ctx, 'x_embedder', x, width, { weightInit: init.xavierUniform() }).add(pos);
  }
  const c = timestepEmbedder(ctx, t, width, config.frequencyDim).add(labelEmbedder(ctx, y, width, config.classes));
  const hd = width / config.heads;
  const angles = lightning ? (image ? rope2dAngles(ctx, grid, grid, hd) : rope1dAngles(ctx, tokens, hd)) : undefined;
  const rope: RopeOption | undefined = angles ? { angles, start: 0 } : undefined;
  for (let i = 0; i < config.depth; i++) {
    h = ditBlock(ctx.child(`blocks.${i}`), h, c, { heads: config.heads, norm: lightning ? 'rms' : 'layer', mlp: lightning ? 'swiglu' : 'gelu', ...(rope ? { rope } : {}) });
  }
  const p = image?.patch ?? 1;
  const out = finalLayer(ctx.child('final_layer'), h, c, p * p * outChannels, lightning ? 'rms' : 'layer');
  const velocity = image ? (unpatchify(out, { patch: p, gridH: grid, gridW: grid }) as F32) : out;
  return config.learnSigma ? (velocity.slice(image ? 1 : -1, 0, channels) as F32) : velocity;
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
  const tb = t.reshape([batch, ...x0.shape.slice(1).map(() => 1)]);
  const xt = x0.mul(tb.neg().add(1)).add(noise.mul(tb));
  const target = noise.sub(x0);
  const v = ditVelocity(ctx, xt, t, dropLabels(ctx, labels, config.classes, config.labelDropout), config);
  const error = mse(v, target as F32);
  if (!(options.cosineLoss ?? config.variant === 'lightning')) return { loss: error, mse: error };
  // along the channel axis, per token (1D latents) or per pixel location (images)
  const axis = config.image ? 1 : -1;
  const dot = v.mul(target).sum(axis);
  const norms = v.square().sum(axis).sqrt().maximum(1e-8).mul(target.square().sum(axis).sqrt().maximum(1e-8));
  return { loss: error.add(dot.div(norms).neg().add(1).mean()), mse: error };
}

/** Input specs of a diffusion training step: latents (B, L, C) and labels (B). */
export function diffusionInputs(config: DiTConfig, batch: number): { latents: InputSpec<readonly number[], DType.F32>; labels: InputSpec<readonly number[], DType.I32> } {
  const shape = config.image ? [batch, config.channels, config.image.size, config.image.size] : [batch, config.tokens, config.channels];
  return { latents: spec(shape), labels: spec([batch], DType.I32) };
}

export interface Guidance {
  /** CFG scale w (1 = no guidance). */
  readonly scale: number;
  /** Guide where low ≤ t ≤ high (kiln's t: 1 = noise), e.g. [0, 0.75]; the conditional velocity elsewhere. */
  readonly interval?: readonly [number, number];
}

/**
 * The velocity program the samplers call, batched for classifier-free guidance: one model
 * evaluation on [x | x] with labels [y | ∅], then v̂ = v∅ + w·(v_y − v∅) on every channel inside
 * the guidance interval, v_y outside it (spec §3.4).
 */
export function guidedVelocity(ctx: Context, x: F32, t: F32, y: I32, config: DiTConfig, guidance: Guidance): F32 {
  const batch = x.shape[0]!;
  if (guidance.scale === 1) return ditVelocity(ctx, x, t, y, config);
  const nullLabels = y.mul(0).add(config.classes) as I32;
  const both = ditVelocity(ctx, concat([x, x], 0) as F32, concat([t, t], 0) as F32, concat([y, nullLabels], 0) as I32, config);
  const conditional = both.slice(0, 0, batch) as F32;
  const unconditional = both.slice(0, batch, 2 * batch) as F32;
  const guided = unconditional.add(conditional.sub(unconditional).mul(guidance.scale));
  const [low, high] = guidance.interval ?? [0, 1];
  const inside = t.ge(low).and(t.le(high)).reshape([batch, ...x.shape.slice(1).map(() => 1)]);
  return where(inside, guided, conditional) as F32;
}

/**
 * The samplers' velocity program with the guidance scale as an input, so one compiled program
 * serves every step: a single evaluation on [x | x] with labels [y | ∅], then
 * v̂ = v∅ + scale·(v_y − v∅). The sampler passes scale = 1 outside the guidance interval (spec §3.4).
 * @example const v = scaledGuidanceVelocity(ctx, x, t, y, ctx.input('scale', []), SIT_MINI);
 */
export function scaledGuidanceVelocity(ctx: Context, x: F32, t: F32, y: I32, scale: F32, config: DiTConfig): F32 {
  const batch = x.shape[0]!;
  const nullLabels = y.mul(0).add(config.classes) as I32;
  const both = ditVelocity(ctx, concat([x, x], 0) as F32, concat([t, t], 0) as F32, concat([y, nullLabels], 0) as I32, config);
  const conditional = both.slice(0, 0, batch) as F32;
  const unconditional = both.slice(0, batch, 2 * batch) as F32;
  return unconditional.add(conditional.sub(unconditional).mul(scale)) as F32;
}
