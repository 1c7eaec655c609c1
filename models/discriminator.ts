// Models · MAETok's discriminator (spec §2.7; the reference's `DinoDisc`): a FROZEN
// feature backbone giving one or more (B, N, F) token maps ("taps"), and per tap
// a small trainable head of spectral-normalised Conv1d layers over the tokens:
//   [Conv1d k1 (SN) → BatchNorm → LeakyReLU 0.2]
//   → residual [Conv1d k9, circular padding (SN) → BN → LReLU], (y + x)/√2
//   → Conv1d(F → 1, k1, SN)
// Images (B, C, H, W) in → logits (B, taps·N) out, the heads' outputs concatenated.
//
// Backbones. MAETok-B uses a frozen DINO (v1) ViT-S/16 at 224² with five taps — after
// patch-embed + pos and after blocks 2, 5, 8, 11, each patch token plus the cls token,
// (B, 196, 384) — so a DSL port of that ViT is a FeatureBackbone returning those five
// maps (its parameters declared with ctx.frozenParam, as the teachers' are). The minis
// (spec §6) use the frozen teacher's token features: `teacherBackbone(teacher)`, one tap.
//
// Parameter names follow the reference state dict under `discriminator.`:
// `discriminator.heads.{t}.0.0.weight_orig` (+ `weight_u`, `weight_v`, `bias`) for the k1
// conv, `heads.{t}.0.1.{weight,bias}` its BatchNorm, `heads.{t}.1.fn.0.*` / `.1.fn.1.*` the
// residual block, `heads.{t}.2.*` the output conv. Spectral norm is torch's
// (`n_power_iterations=1`, eps 1e-12): every call does one power iteration from the
// persistent `weight_u` and writes the new u and v back (ctx.state / ctx.setState), so u
// advances once per discriminator call, in the generator step too, as in torch's train mode.
// BatchNorm uses the batch statistics of each call (train mode; the reference's SyncBN
// running averages are never read in training and are not kept).

import { DType, concat, init, type Context, type Shape, type Tensor } from '../dsl/index.ts';
import type { Teacher } from './maetok.ts';

type F32 = Tensor<Shape, DType.F32>;

/** A frozen network mapping images to one or more (B, N, F) token feature maps. */
export type FeatureBackbone = (ctx: Context, images: F32) => readonly F32[];

/** Any discriminator: images (B, C, H, W) → logits (B, K). */
export type Discriminator = (ctx: Context, images: F32) => F32;

export interface DiscriminatorConfig {
  readonly backbone: FeatureBackbone;
  /** Kernel of the residual conv (9 in the reference); odd. */
  readonly kernel?: number;
  /** BatchNorm eps (1e-6). */
  readonly eps?: number;
  /** LeakyReLU negative slope (0.2). */
  readonly slope?: number;
  /** Spectral-normalise the convs (true in the reference). */
  readonly spectralNorm?: boolean;
}

/** The parameter scope of the discriminator: the generator step must not train what lives here. */
export const DISCRIMINATOR_SCOPE = 'discriminator';

/** The minis' backbone (spec §6): the frozen teacher's per-token features as the single tap. */
export function teacherBackbone(teacher: Teacher): FeatureBackbone {
  return (ctx, images) => [teacher(ctx, images)];
}

/**
 * Spectral normalisation of a weight matrix W (rows = output channels) with one power iteration
 * from the persistent u (state `weight_u`, torch's buffer): v = n(Wᵀu), u' = n(Wv) with
 * n(x) = x / max(‖x‖, 1e-12), σ = u'ᵀWv with u', v detached; returns W/σ and σ. u' and v are
 * written back as the states `weight_u`, `weight_v`.
 * @example const { weight } = spectralNorm(ctx.child('0'), w.reshape([out, -1]));
 *          const y = x.matmul(weight.transpose());
 */
export function spectralNorm(ctx: Context, weight: F32): { weight: F32; sigma: F32 } {
  if (weight.rank !== 2) throw new Error(`spectralNorm: expects a matrix, got [${weight.shape.join(',')}]`);
  const [rows, cols] = weight.shape as unknown as [number, number];
  const normalize = (x: F32) => x.div(x.square().sum().sqrt().maximum(1e-12)) as F32;
  const u = ctx.state('weight_u', [rows] as const, init.normal(1));
  ctx.state('weight_v', [cols] as const, init.normal(1));
  const w = weight.stopGradient();
  const v = normalize(u.unsqueeze(0).matmul(w).reshape([cols]) as F32);
  const next = normalize(w.matmul(v.unsqueeze(1)).reshape([rows]) as F32);
  ctx.setState('weight_u', next);
  ctx.setState('weight_v', v);
  const sigma = next.stopGradient().unsqueeze(0).matmul(weight).matmul(v.stopGradient().unsqueeze(1)).reshape([]) as F32;
  return { weight: weight.div(sigma) as F32, sigma };
}

interface ConvOptions {
  readonly kernel: number;
  readonly spectralNorm: boolean;
}

/**
 * torch's Conv1d over the token axis of x (B, N, Cin) → (B, N, Cout), padding kernel//2 in
 * circular mode; weight (Cout, Cin, k) as `weight_orig` under spectral norm, else `weight`.
 */
function conv1d(ctx: Context, x: F32, out: number, options: ConvOptions): F32 {
  const [, tokens, channels] = x.shape as unknown as [number, number, number];
  const k = options.kernel;
  const raw = ctx.param(options.spectralNorm ? 'weight_orig' : 'weight', [out, channels, k] as const, init.fanInUniform());
  const bias = ctx.param('bias', [out] as const, init.fanInUniform());
  const matrix = raw.reshape([out, channels * k]) as F32;
  const weight = options.spectralNorm ? spectralNorm(ctx, matrix).weight : matrix;
  let columns: F32 = x;
  if (k > 1) {
    // Unfold (B, N, Cin, k) with column kk reading token (n + kk − k//2) mod N, in the weight's (Cin, k) order.
    const half = Math.floor(k / 2);
    const wrapped = concat([x.slice(1, tokens - half, tokens), x, x.slice(1, 0, half)], 1);
    const taps = Array.from({ length: k }, (_, kk) => wrapped.slice(1, kk, kk + tokens).unsqueeze(3));
    columns = concat(taps, 3).reshape([x.shape[0]!, tokens, channels * k]) as F32;
  }
  return columns.matmul(weight.transpose()).add(bias) as F32;
}

/** Train-mode BatchNorm over the (B, N) positions of each channel of x (B, N, C), biased variance. */
function batchNorm(ctx: Context, x: F32, eps: number): F32 {
  const channels = x.shape[2]!;
  const mean = x.mean([0, 1], true);
  const normalized = x.sub(mean).div(x.variance([0, 1], true).add(eps).sqrt());
  return normalized.mul(ctx.param('weight', [channels] as const, init.ones())).add(ctx.param('bias', [channels] as const, init.zeros())) as F32;
}

function leakyRelu(x: F32, slope: number): F32 {
  return x.maximum(x.mul(slope)) as F32;
}

/** conv → BN → LeakyReLU, the reference's `make_block`, as the Sequential at `ctx`. */
function block(ctx: Context, x: F32, kernel: number, config: Required<Omit<DiscriminatorConfig, 'backbone'>>): F32 {
  const y = conv1d(ctx.child(0), x, x.shape[2]!, { kernel, spectralNorm: config.spectralNorm });
  return leakyRelu(batchNorm(ctx.child(1), y, config.eps), config.slope);
}

/** One head on a (B, N, F) tap → (B, N) logits. */
function head(ctx: Context, features: F32, config: Required<Omit<DiscriminatorConfig, 'backbone'>>): F32 {
  const x = block(ctx.child(0), features, 1, config);
  const y = block(ctx.child(1).child('fn'), x, config.kernel, config);
  const residual = y.add(x).mul(Math.SQRT1_2) as F32;
  return conv1d(ctx.child(2), residual, 1, { kernel: 1, spectralNorm: config.spectralNorm }).squeeze(2) as F32;
}

/**
 * The MAETok discriminator on a frozen backbone: logits (B, taps·N), heads' outputs concatenated.
 * @example const D = featureDiscriminator({ backbone: teacherBackbone(patchTeacher('dino', 4, 32)) });
 *          const logits = D(ctx, images);
 */
export function featureDiscriminator(config: DiscriminatorConfig): Discriminator {
  const resolved = { kernel: config.kernel ?? 9, eps: config.eps ?? 1e-6, slope: config.slope ?? 0.2, spectralNorm: config.spectralNorm ?? true };
  if (resolved.kernel % 2 !== 1) throw new Error(`featureDiscriminator: the kernel must be odd, got ${resolved.kernel}`);
  return (ctx, images) => {
    const taps = config.backbone(ctx, images);
    const heads = ctx.child(DISCRIMINATOR_SCOPE).child('heads');
    return concat(taps.map((features, t) => head(heads.child(t), features, resolved)), 1) as F32;
  };
}

/** Discriminator parameters (and states) by name: what the discriminator step trains. */
export function isDiscriminatorParam(name: string): boolean {
  return name.startsWith(`${DISCRIMINATOR_SCOPE}.`);
}
