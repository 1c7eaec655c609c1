// Models · the transformer blocks shared by MAETok, SiT and LightningDiT
// (spec MODELS.md §1–§2.4), written in the DSL with the reference state-dict
// names. Each block takes its scope as `ctx` (e.g. ctx.child(`blocks.${i}`)).

import {
  DType,
  LayerNorm,
  Linear,
  Mlp,
  MultiHeadAttention,
  RMSNorm,
  bernoulli,
  foldIn,
  type Key,
  concat,
  init,
  layerNorm,
  modulate,
  silu,
  swiglu,
  type Context,
  type Init,
  type Shape,
  type Tensor,
} from '../dsl/index.ts';

type F32 = Tensor<Shape, DType.F32>;
export type RopeOption = { readonly angles: F32; readonly start: number };

export interface VitBlockOptions {
  readonly heads: number;
  readonly eps?: number;
  /** LayerScale init (1e-5 in MAETok); omit for no LayerScale. */
  readonly layerScale?: number;
  readonly rope?: RopeOption;
  readonly linearInit?: Init;
  readonly mlpRatio?: number;
}

/**
 * Pre-norm ViT block with LayerScale (MAETok encoder, spec §2.2 step 5):
 * x += γ1⊙Attn(LN1(x)); x += γ2⊙MLP(LN2(x)), GELU exact, LN with affine.
 */
export function vitBlock(ctx: Context, x: F32, options: VitBlockOptions): F32 {
  const width = x.shape[x.shape.length - 1]!;
  const eps = options.eps ?? 1e-6;
  const linearInit = options.linearInit ?? init.truncNormal(0.02);
  const scaled = (name: string, y: F32): F32 => (options.layerScale === undefined ? y : y.mul(ctx.param(name, [width], init.constant(options.layerScale))));
  const attended = MultiHeadAttention(ctx.child('attn'), LayerNorm(ctx, 'norm1', x, { eps }), {
    heads: options.heads,
    linearInit,
    ...(options.rope ? { rope: options.rope } : {}),
  });
  const h = x.add(scaled('ls1.gamma', attended));
  const mlp = Mlp(ctx.child('mlp'), LayerNorm(ctx, 'norm2', h, { eps }), (options.mlpRatio ?? 4) * width, 'none', linearInit);
  return h.add(scaled('ls2.gamma', mlp));
}

export interface DitBlockOptions {
  readonly heads: number;
  /** LayerNorm without affine (SiT/DiT) or RMSNorm with a learnable weight (LightningDiT). */
  readonly norm?: 'layer' | 'rms';
  /** GELU-tanh MLP (SiT/DiT) or SwiGLU (LightningDiT). */
  readonly mlp?: 'gelu' | 'swiglu';
  readonly rope?: RopeOption;
  readonly qkNorm?: boolean;
  /** Weight init for the zero-initialised adaLN Linear; only tests override it (the identity at init hides gradients). */
  readonly modulationInit?: Init;
}

/** SwiGLU hidden width floor(2/3 · 4D) (spec §1.2). */
export function swigluHidden(width: number): number {
  return Math.floor((2 / 3) * 4 * width);
}

function blockNorm(ctx: Context, name: string, x: F32, norm: 'layer' | 'rms'): F32 {
  return norm === 'rms' ? RMSNorm(ctx, name, x, 1e-6) : layerNorm(x, { eps: 1e-6 });
}

/**
 * adaLN-Zero block (spec §1.8): `adaLN_modulation.1` = Linear(D→6D) on SiLU(c), chunks
 * shift/scale/gate for attention then MLP; the zero init makes the block the identity.
 */
export function ditBlock(ctx: Context, x: F32, c: F32, options: DitBlockOptions): F32 {
  const width = x.shape[x.shape.length - 1]!;
  const norm = options.norm ?? 'layer';
  const zero = options.modulationInit ?? init.zeros();
  const mod = Linear(ctx.child('adaLN_modulation'), '1', silu(c), 6 * width, { weightInit: zero, biasInit: options.modulationInit ?? init.zeros() });
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = mod.chunk(6, -1).map((t) => t.unsqueeze(1)) as [F32, F32, F32, F32, F32, F32];
  const attnIn = modulate(blockNorm(ctx, 'norm1', x, norm), shiftMsa, scaleMsa);
  const attended = MultiHeadAttention(ctx.child('attn'), attnIn, {
    heads: options.heads,
    linearInit: init.xavierUniform(),
    ...(options.rope ? { rope: options.rope } : {}),
    ...(options.qkNorm ? { qkNorm: norm === 'rms' ? ('rms' as const) : ('layer' as const) } : {}),
  });
  const h = x.add(gateMsa.mul(attended));
  const mlpIn = modulate(blockNorm(ctx, 'norm2', h, norm), shiftMlp, scaleMlp);
  const mlpOut = options.mlp === 'swiglu' ? swigluMlp(ctx.child('mlp'), mlpIn) : Mlp(ctx.child('mlp'), mlpIn, 4 * width, 'tanh', init.xavierUniform());
  return h.add(gateMlp.mul(mlpOut));
}

/** LightningDiT SwiGLU FFN: `w12` (D → 2Hf) → silu(a)⊙b → `w3` (Hf → D). */
export function swigluMlp(ctx: Context, x: F32): F32 {
  const width = x.shape[x.shape.length - 1]!;
  const hidden = swigluHidden(width);
  return Linear(ctx, 'w3', swiglu(Linear(ctx, 'w12', x, 2 * hidden, { weightInit: init.xavierUniform() })), width, { weightInit: init.xavierUniform() });
}

export interface ModulatedBlockOptions {
  readonly heads: number;
  /** Index of the first latent row (N, or 1+N when a cls token leads the sequence). */
  readonly latentStart: number;
  readonly rope?: RopeOption;
  readonly linearInit?: Init;
  readonly modulationInit?: Init;
  /** Stochastic depth in training: each sample's residual branch is dropped with this probability. */
  readonly dropPath?: { readonly rate: number; readonly key: Key };
}

/** timm DropPath: the branch times keep/(1−rate) with keep ~ Bernoulli(1−rate) per sample. */
export function dropPath(branch: F32, rate: number, key: Key): F32 {
  if (rate <= 0) return branch;
  const batch = branch.shape[0]!;
  const keep = bernoulli(key, 1 - rate, [batch] as const).cast(DType.F32).mul(1 / (1 - rate));
  return branch.mul(keep.reshape([batch, ...branch.shape.slice(1).map(() => 1)]));
}

/** Rows [start, end) of `x` become rows⊙scale + shift (no "1+"); the other rows pass unchanged. */
function modulateRows(x: F32, start: number, shift: F32, scale: F32): F32 {
  const tokens = x.shape[1]!;
  const head = x.slice(1, 0, start);
  const rows = x.slice(1, start, tokens).mul(scale).add(shift);
  return start === 0 ? rows : concat([head, rows], 1);
}

/**
 * MAETok's latent-modulated decoder block (MoVQBlockv2, spec §2.4): conditioned on the raw
 * latent h (B, L, C) through `adaLN_modulation.1` = Linear(C→4D) on SiLU(h), chunks
 * shift_msa, scale_msa, shift_mlp, scale_mlp (one vector per latent row); LN without
 * affine; only the latent rows are modulated; no LayerScale, no gates.
 */
export function modulatedBlock(ctx: Context, x: F32, h: F32, options: ModulatedBlockOptions): F32 {
  const width = x.shape[x.shape.length - 1]!;
  const linearInit = options.linearInit ?? init.truncNormal(0.02);
  const zero = options.modulationInit ?? init.zeros();
  const mod = Linear(ctx.child('adaLN_modulation'), '1', silu(h), 4 * width, { weightInit: zero, biasInit: options.modulationInit ?? init.zeros() });
  const [shiftMsa, scaleMsa, shiftMlp, scaleMlp] = mod.chunk(4, -1) as [F32, F32, F32, F32];
  const a = modulateRows(layerNorm(x, { eps: 1e-6 }), options.latentStart, shiftMsa, scaleMsa);
  const attended = MultiHeadAttention(ctx.child('attn'), a, { heads: options.heads, linearInit, ...(options.rope ? { rope: options.rope } : {}) });
  const drop = options.dropPath;
  const y = x.add(drop ? dropPath(attended, drop.rate, foldIn(drop.key, 0)) : attended);
  const m = modulateRows(layerNorm(y, { eps: 1e-6 }), options.latentStart, shiftMlp, scaleMlp);
  const mlp = Mlp(ctx.child('mlp'), m, 4 * width, 'none', linearInit);
  return y.add(drop ? dropPath(mlp, drop.rate, foldIn(drop.key, 1)) : mlp);
}
