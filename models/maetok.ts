// Models · the MAETok tokenizer (spec §2): a ViT encoder over [cls | image tokens
// | learnable latent tokens] with a learned APE, LayerScale and RoPE-mixed on the
// image tokens, mask modeling at its input; the latent-modulated pixel decoder
// over [mask-token queries | latent rows]; auxiliary shallow decoders predicting
// HOG and teacher features on the masked tokens. The reference's state-dict
// names are kept (`encoder.model.blocks.3.attn.qkv.weight`, `decoder_hog.…`).

import {
  DType,
  LayerNorm,
  Linear,
  concat,
  cosineSimilarity,
  foldIn,
  init,
  layerNorm,
  mse,
  patchify,
  ropeMixedAngles,
  silu,
  uniform,
  unpatchify,
  where,
  type Context,
  type Key,
  type Shape,
  type Tensor,
} from '../dsl/index.ts';
import { RECONSTRUCTION_OUTPUT, generatorAdversarialTerm, type AdversarialOptions } from './adversarial.ts';
import { hogFeatures, type HogConfig } from './hog.ts';
import { modulatedBlock, vitBlock } from './vit.ts';

type F32 = Tensor<Shape, DType.F32>;

export interface VitSize {
  readonly width: number;
  readonly depth: number;
  readonly heads: number;
}

export interface AuxTarget {
  /** 'hog' (computed from the image) or a teacher's name ('dino', 'clip', or any frozen DSL model). */
  readonly name: string;
  readonly dim: number;
}

export interface MAETokConfig {
  readonly name: string;
  readonly imageSize: number;
  readonly imageChannels: number;
  readonly patch: number;
  readonly latentTokens: number;
  readonly latentChannels: number;
  readonly encoder: VitSize;
  readonly decoder: VitSize;
  readonly aux: VitSize;
  readonly auxTargets: readonly AuxTarget[];
  readonly hog: HogConfig;
  /** LayerScale init in the encoder (1e-5; a knob because it slows very short runs). */
  readonly layerScale: number;
  readonly ropeTheta: number;
  /** Pixel-decoder stochastic depth, linear from 0 to this over depth. */
  readonly decoderDropPath: number;
  /** Mask ratio r ~ N(mean, std) truncated to [min, max] (spec §2.3). */
  readonly mask: { readonly min: number; readonly max: number; readonly mean: number; readonly std: number };
  /** 'modulated' (the code's MoVQ blocks, default) or 'plain' (the paper's ViT decoder on [e; h]). */
  readonly decoderBlock: 'modulated' | 'plain';
}

export function gridSize(config: MAETokConfig): number {
  return config.imageSize / config.patch;
}

export function imageTokens(config: MAETokConfig): number {
  return gridSize(config) ** 2;
}

// ---- mask sampling ----------------------------------------------------------------

/**
 * r ~ N(mean, std²) truncated to [min, max] by inverting its CDF on a fine table (built
 * here, a constant of the graph): one ratio per step, shared by the batch.
 */
export function sampleMaskRatio(key: Key, mask: MAETokConfig['mask']): F32 {
  const grid = 256;
  const density = Array.from({ length: grid }, (_, i) => Math.exp(-0.5 * ((mask.min + ((i + 0.5) / grid) * (mask.max - mask.min) - mask.mean) / mask.std) ** 2));
  const total = density.reduce((a, b) => a + b, 0);
  let acc = 0;
  const cdf = density.map((d) => (acc += d / total));
  const u = uniform(key, [1] as const);
  // r = min + (max − min)·(number of table cells whose CDF is below u) / grid
  const below = cdf.map((c) => u.lt(c).not().cast(DType.F32)).reduce((a, b) => a.add(b));
  return below.mul((mask.max - mask.min) / grid).add(mask.min).reshape([]) as F32;
}

/**
 * Per sample a uniformly random set of exactly k = ceil(N·r) masked tokens (the first k of a
 * random permutation): token n is masked when fewer than k tokens have a smaller random score.
 * Returns M (B, N) in {0, 1}.
 */
export function sampleMask(key: Key, batch: number, tokens: number, ratio: F32): F32 {
  const scores = uniform(foldIn(key, 0), [batch, tokens] as const);
  const rank = scores.unsqueeze(1).lt(scores.unsqueeze(2)).cast(DType.F32).sum(2);
  const count = ratio.mul(tokens).sub(1e-6).add(1).trunc().maximum(0);
  return rank.lt(count).cast(DType.F32) as F32;
}

// ---- encoder ----------------------------------------------------------------------

/** One layer's RoPE-mixed angles from the ViT's (2, depth, heads·hd/2) frequencies. */
function layerAngles(ctx: Context, freqs: F32, layer: number, grid: number, heads: number): F32 {
  return ropeMixedAngles(ctx, freqs.slice(1, layer, layer + 1).squeeze(1), grid, grid, heads);
}

/**
 * Encoder E (spec §2.2): images (B, C, H, W) in [−1, 1] → latents h (B, L, C_latent).
 * With `mask` (B, N) the masked image tokens are replaced by `encoder.mask_token` before the
 * positions are added (so mask tokens get positions too, as in the reference).
 */
/** Patch embedding (a conv with kernel = stride = P, as a Linear on patchify) with masked rows replaced by `encoder.mask_token`. */
export function embedPatches(ctx: Context, images: F32, config: MAETokConfig, mask?: F32): F32 {
  const width = config.encoder.width;
  const enc = ctx.child('encoder');
  const proj = enc.child('model').child('patch_embed').child('proj');
  const convWeight = proj.param('weight', [width, config.imageChannels, config.patch, config.patch], init.fanInUniform());
  const convBias = proj.param('bias', [width], init.fanInUniform());
  const tokens = patchify(images, config.patch).matmul(convWeight.reshape([width, -1]).transpose()).add(convBias) as F32;
  const maskToken = enc.param('mask_token', [width], init.normal(0.02));
  return mask ? (where(mask.unsqueeze(2).gt(0.5), maskToken, tokens) as F32) : tokens;
}

export function maetokEncoder(ctx: Context, images: F32, config: MAETokConfig, mask?: F32): F32 {
  const { width, depth, heads } = config.encoder;
  const enc = ctx.child('encoder');
  const model = enc.child('model');
  const batch = images.shape[0]!;
  const n = imageTokens(config);
  const grid = gridSize(config);
  const L = config.latentTokens;
  const tokens = embedPatches(ctx, images, config, mask);
  const cls = model.param('cls_token', [1, 1, width], init.normal(1e-6)).expand([batch, 1, width]);
  const pos = model.param('pos_embed', [1, 1 + n, width], init.truncNormal(0.02));
  const latents = enc.param('latent_tokens', [1, L, width], init.normal(0.02)).add(enc.param('latent_pos_embed', [1, L, width], init.truncNormal(0.02)));
  let x = concat([concat([cls, tokens], 1).add(pos) as F32, latents.expand([batch, L, width])], 1) as F32;
  const freqs = enc.param('freqs', [2, depth, (width / 2)], init.ropeMixed(heads, config.ropeTheta));
  for (let i = 0; i < depth; i++) {
    x = vitBlock(model.child(`blocks.${i}`), x, { heads, layerScale: config.layerScale, rope: { angles: layerAngles(ctx, freqs, i, grid, heads), start: 1 } });
  }
  x = LayerNorm(model, 'norm', x, { eps: 1e-6 });
  const latent = x.slice(1, 1 + n, 1 + n + L) as F32;
  return Linear(ctx, 'quant_conv', latent, config.latentChannels, { weightInit: init.fanInUniform(), biasInit: init.fanInUniform() });
}

// ---- decoders ---------------------------------------------------------------------

export interface DecoderOptions {
  /** Parameter scope: 'decoder' for the pixel decoder, 'decoder_hog' etc. for the auxiliary ones. */
  readonly scope: string;
  readonly size: VitSize;
  /** Name of the latent projection: 'post_quant_conv' or 'post_quant_conv_hog' …. */
  readonly postQuant: string;
  /** A learnable cls token in front of the queries (the auxiliary decoders). */
  readonly cls: boolean;
  readonly dropPath?: { readonly rate: number; readonly key: Key };
}

/**
 * A MAETok decoder (spec §2.4/§2.5) over h (B, L, C): returns the N image-query rows (B, N, D),
 * before any output head.
 */
export function maetokDecoderTokens(ctx: Context, h: F32, config: MAETokConfig, options: DecoderOptions): F32 {
  const { width, depth, heads } = options.size;
  const dec = ctx.child(options.scope);
  const model = dec.child('model');
  const batch = h.shape[0]!;
  const n = imageTokens(config);
  const grid = gridSize(config);
  const L = config.latentTokens;
  const zl = Linear(ctx, options.postQuant, h, width, { weightInit: init.fanInUniform(), biasInit: init.fanInUniform() }).add(dec.param('latent_pos_embed', [1, L, width], init.truncNormal(0.02)));
  const queries = dec.param('mask_token', [width], init.normal(0.02)).expand([batch, n, width]);
  const prefix = options.cls ? [model.param('cls_token', [1, 1, width], init.normal(1e-6)).expand([batch, 1, width])] : [];
  let x = concat([...prefix, queries, zl], 1) as F32;
  const start = prefix.length;
  const freqs = dec.param('freqs', [2, depth, width / 2], init.ropeMixed(heads, config.ropeTheta));
  for (let i = 0; i < depth; i++) {
    const rope = { angles: layerAngles(ctx, freqs, i, grid, heads), start };
    const block = model.child(`blocks.${i}`);
    const rate = options.dropPath && depth > 1 ? (options.dropPath.rate * i) / (depth - 1) : 0;
    if (config.decoderBlock === 'plain') {
      x = vitBlock(block, x, { heads, rope });
    } else {
      x = modulatedBlock(block, x, h, {
        heads,
        latentStart: start + n,
        rope,
        ...(rate > 0 && options.dropPath ? { dropPath: { rate, key: foldIn(options.dropPath.key, i) } } : {}),
      });
    }
  }
  // MoVQNorm: LN without affine whose latent rows are modulated by SiLU(h) → Linear(C→2D).
  // Only the image rows leave the decoder, so that modulation never reaches an output; its
  // Linear is still declared, as the reference state dict (and parameter count) holds it.
  Linear(model.child('norm').child('adaLN_modulation'), '1', silu(h), 2 * width, { weightInit: init.zeros(), biasInit: init.zeros() });
  return layerNorm(x, { eps: 1e-6 }).slice(1, start, start + n) as F32;
}

/** Pixel decoder D: h (B, L, C) → x̂ (B, C_img, H, W) (no output activation). */
export function maetokDecode(ctx: Context, h: F32, config: MAETokConfig, dropPathKey?: Key): F32 {
  const tokens = maetokDecoderTokens(ctx, h, config, {
    scope: 'decoder',
    size: config.decoder,
    postQuant: 'post_quant_conv',
    cls: false,
    ...(dropPathKey && config.decoderDropPath > 0 ? { dropPath: { rate: config.decoderDropPath, key: dropPathKey } } : {}),
  });
  const pixels = Linear(ctx.child('decoder').child('to_pixel'), 'model', tokens, config.patch * config.patch * config.imageChannels, { weightInit: init.fanInUniform(), biasInit: init.fanInUniform() });
  const grid = gridSize(config);
  return unpatchify(pixels, { patch: config.patch, gridH: grid, gridW: grid }) as F32;
}

/** An auxiliary shallow decoder (spec §2.5): h → per-token predictions (B, N, target.dim). */
export function maetokAuxDecode(ctx: Context, h: F32, config: MAETokConfig, target: AuxTarget): F32 {
  const tokens = maetokDecoderTokens(ctx, h, config, { scope: `decoder_${target.name}`, size: config.aux, postQuant: `post_quant_conv_${target.name}`, cls: true });
  return Linear(ctx, `to_pixel_${target.name}`, tokens, target.dim, { weightInit: init.fanInUniform(), biasInit: init.fanInUniform() });
}

/** The pixel decoder's last layer W (`decoder.to_pixel.model.weight`), where the adaptive GAN weight is measured (spec §2.7). */
export function pixelHeadWeight(ctx: Context, config: MAETokConfig): F32 {
  const out = config.patch * config.patch * config.imageChannels;
  return ctx.child('decoder').child('to_pixel').child('model').param('weight', [out, config.decoder.width], init.fanInUniform());
}

// ---- stage-1 training loss ------------------------------------------------------------

/** A frozen feature network standing in for DINOv2 / SigLIP: images → (B, N, dim) per-token features. */
export type Teacher = (ctx: Context, images: F32) => F32;

export interface Stage1Options {
  /** Teachers by aux-target name (every non-'hog' target needs one). */
  readonly teachers?: Readonly<Record<string, Teacher>>;
  /** Overrides the sampled mask ratio. */
  readonly maskRatio?: F32;
  /** Perceptual term w·L_per on a teacher (spec §2.7 warms w up over the first steps; pass the current w). */
  readonly perceptual?: { readonly teacher: Teacher; readonly weight: F32 | number };
  /**
   * The adversarial term λ·w_d(s)·L_adv (models/adversarial.ts). Adds the metrics `adv` and
   * `lambda` and the output `reconstruction` (x̂, for the discriminator step). The step must
   * not train the discriminator: `trainable: generatorTrainable`.
   */
  readonly adversarial?: AdversarialOptions;
}

export interface Stage1Losses {
  readonly loss: F32;
  readonly rec: F32;
  readonly [target: string]: F32;
}

/**
 * MAETok stage-1 loss (spec §2.7):
 * L = mse(x̂, x) [+ w·L_per] [+ λ·w_d·L_adv] + Σ_targets masked aux loss — MSE over masked tokens for HOG,
 * negative cosine over masked tokens for teacher features. Targets use the unmasked image.
 */
export function maetokStage1Loss(ctx: Context, images: F32, config: MAETokConfig, options: Stage1Options = {}): Stage1Losses {
  const batch = images.shape[0]!;
  const n = imageTokens(config);
  const key = ctx.rng();
  const ratio = options.maskRatio ?? sampleMaskRatio(foldIn(key, 0), config.mask);
  const mask = sampleMask(foldIn(key, 1), batch, n, ratio);
  const h = maetokEncoder(ctx, images, config, mask);
  const reconstruction = maetokDecode(ctx, h, config, foldIn(key, 2));
  const rec: F32 = mse(reconstruction, images);
  const losses: Record<string, F32> = { rec };
  let total: F32 = rec;
  if (options.perceptual) {
    const perceptual = perceptualLoss(ctx, reconstruction, images, options.perceptual.teacher);
    losses.perceptual = perceptual;
    total = total.add(perceptual.mul(options.perceptual.weight));
  }
  if (options.adversarial) total = addAdversarial(ctx, losses, total, reconstruction, config, options.adversarial);
  const masked = mask.sum().maximum(1);
  for (const target of config.auxTargets) {
    const predicted = maetokAuxDecode(ctx, h, config, target);
    if (target.name === 'hog') {
      const y = hogFeatures(ctx, images, config.hog).stopGradient();
      const perToken = predicted.sub(y).square().sum(-1);
      losses[target.name] = perToken.mul(mask).sum().div(masked.mul(target.dim)) as F32;
    } else {
      const teacher = options.teachers?.[target.name];
      if (!teacher) throw new Error(`maetokStage1Loss: no teacher for aux target "${target.name}" (pass options.teachers.${target.name})`);
      const y = teacher(ctx, images).stopGradient();
      losses[target.name] = cosineSimilarity(predicted, y).mul(mask).sum().neg().div(masked) as F32;
    }
    total = total.add(losses[target.name]!);
  }
  return { ...losses, loss: total, rec };
}

/**
 * Adds λ·w_d·L_adv to `nll` (L_rec + w_p·L_per so far, which also sets λ) and records the
 * metrics `adv`, `lambda` and the `reconstruction` output.
 */
function addAdversarial(ctx: Context, losses: Record<string, F32>, nll: F32, reconstruction: F32, config: MAETokConfig, options: AdversarialOptions): F32 {
  const { term, adv, lambda } = generatorAdversarialTerm(ctx, reconstruction, nll, pixelHeadWeight(ctx, config), options);
  losses.adv = adv;
  losses.lambda = lambda;
  losses[RECONSTRUCTION_OUTPUT] = reconstruction;
  return nll.add(term) as F32;
}

// ---- perceptual loss, stage 2, latent normalisation ---------------------------------------

/**
 * LPIPS-style perceptual loss on a frozen feature network (spec §6: the minis replace LPIPS-VGG
 * by the teacher): features unit-normalised over channels, squared difference summed over
 * channels, averaged over tokens and the batch.
 */
export function perceptualLoss(ctx: Context, reconstruction: F32, images: F32, teacher: Teacher): F32 {
  const unit = (f: F32) => f.div(f.square().sum(-1, true).sqrt().maximum(1e-10)) as F32;
  const real = unit(teacher(ctx, images)).stopGradient();
  const fake = unit(teacher(ctx, reconstruction));
  return fake.sub(real).square().sum(-1).mean() as F32;
}

/** Stage-2 mask ratio r(s) = 0.6·max(0, 1 − s/annealSteps) of the step tensor (spec §2.10). */
export function annealedMaskRatio(step: F32, annealSteps: number, start = 0.6): F32 {
  return step.mul(-start / annealSteps).add(start).maximum(0) as F32;
}

/** Stage 2 trains the pixel decoder and its latent projection only; the encoder is frozen. */
export function stage2Trainable(name: string): boolean {
  return name.startsWith('decoder.') || name.startsWith('post_quant_conv.');
}

export interface Stage2Options {
  /** The 1-based step tensor (the train step's `step` input). */
  readonly step: F32;
  readonly annealSteps: number;
  readonly perceptual?: { readonly teacher: Teacher; readonly weight: number };
  /** The adversarial term, as in Stage1Options (its step defaults to `step` above). */
  readonly adversarial?: AdversarialOptions;
}

/**
 * MAETok stage 2 (spec §2.10): the frozen encoder still masks its input with the annealed ratio;
 * the pixel decoder learns L_rec (+ w·L_per). The auxiliary decoders are dropped.
 */
export function maetokStage2Loss(ctx: Context, images: F32, config: MAETokConfig, options: Stage2Options): { loss: F32; rec: F32; ratio: F32; readonly [metric: string]: F32 } {
  const batch = images.shape[0]!;
  const key = ctx.rng();
  const ratio = annealedMaskRatio(options.step, options.annealSteps);
  const h = maetokEncoder(ctx, images, config, sampleMask(foldIn(key, 1), batch, imageTokens(config), ratio));
  const reconstruction = maetokDecode(ctx, h, config, foldIn(key, 2));
  const rec: F32 = mse(reconstruction, images);
  const p = options.perceptual;
  const nll = p ? (rec.add(perceptualLoss(ctx, reconstruction, images, p.teacher).mul(p.weight)) as F32) : rec;
  const metrics: Record<string, F32> = {};
  const loss = options.adversarial ? addAdversarial(ctx, metrics, nll, reconstruction, config, { step: options.step, ...options.adversarial }) : nll;
  return { ...metrics, loss, rec, ratio };
}

/** Scalar latent statistics over a set of encoded latents (spec §2.11: kiln recomputes μ, σ). */
export function latentStats(latents: ArrayLike<number>): { mean: number; std: number } {
  let sum = 0;
  for (let i = 0; i < latents.length; i++) sum += latents[i]!;
  const mean = sum / latents.length;
  let squares = 0;
  for (let i = 0; i < latents.length; i++) squares += (latents[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(squares / latents.length) };
}

/** What the diffusion model sees: x = (h − μ)/σ. */
export function normalizeLatents(h: F32, stats: { mean: number; std: number }): F32 {
  return h.sub(stats.mean).mul(1 / stats.std) as F32;
}

/** Back to tokenizer latents before decoding: h = x·σ + μ. */
export function denormalizeLatents(x: F32, stats: { mean: number; std: number }): F32 {
  return x.mul(stats.std).add(stats.mean) as F32;
}
