// DSL · layers that declare their own parameters under the caller's scope, with
// the reference state-dict names (`<name>.weight`, `<name>.bias`, `attn.qkv`,
// `attn.proj`, `mlp.fc1` …) so checkpoints map one-to-one.

import { DType } from '../../compiler/ir/dtype.ts';
import { ShapeError } from '../../compiler/ir/errors.ts';
import type { Context } from '../context.ts';
import { init as inits, type Init } from '../init.ts';
import type { Shape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { attention, concat, gelu, layerNorm, linear, rmsNorm, rope } from './functional.ts';

type F32 = Tensor<Shape, DType.F32>;

export interface LinearOptions {
  readonly bias?: boolean;
  readonly weightInit?: Init;
  readonly biasInit?: Init;
}

/**
 * torch.nn.Linear under `name`: params `name.weight` [out, in] and `name.bias` [out].
 * @example const h = Linear(ctx, 'fc1', x, 4 * D);
 *          const y = Linear(ctx, 'proj', h, D, { weightInit: init.zeros() });
 */
export function Linear(ctx: Context, name: string, x: F32, outDim: number, options: LinearOptions = {}): F32 {
  const inDim = x.shape[x.shape.length - 1]!;
  const scope = ctx.child(name);
  const weight = scope.param('weight', [outDim, inDim], options.weightInit ?? inits.xavierUniform());
  const bias = options.bias === false ? undefined : scope.param('bias', [outDim], options.biasInit ?? inits.zeros());
  return linear(x, weight, bias);
}

/**
 * LayerNorm over the last axis; with `affine` it declares `name.weight` (1) and `name.bias` (0).
 * @example const h = LayerNorm(ctx, 'norm1', x, { eps: 1e-6 });
 *          const z = LayerNorm(ctx, 'norm', x, { eps: 1e-6, affine: false });
 */
export function LayerNorm(ctx: Context, name: string, x: F32, options: { eps?: number; affine?: boolean } = {}): F32 {
  const eps = options.eps ?? 1e-6;
  if (options.affine === false) return layerNorm(x, { eps });
  const dim = x.shape[x.shape.length - 1]!;
  const scope = ctx.child(name);
  return layerNorm(x, { eps, weight: scope.param('weight', [dim], inits.ones()), bias: scope.param('bias', [dim], inits.zeros()) });
}

/** RMSNorm with a learnable `name.weight` (init 1). @example const h = RMSNorm(ctx, 'norm1', x); */
export function RMSNorm(ctx: Context, name: string, x: F32, eps = 1e-6): F32 {
  const dim = x.shape[x.shape.length - 1]!;
  return rmsNorm(x, { eps, weight: ctx.child(name).param('weight', [dim], inits.ones()) });
}

export interface AttentionOptions {
  readonly heads: number;
  /** Per-head norm on q and k (`attn.q_norm`, `attn.k_norm`), off by default. */
  readonly qkNorm?: 'none' | 'layer' | 'rms';
  /**
   * RoPE on q and k: angles (…, T', hd/2) for tokens [start, start+T') of the sequence,
   * the others (cls, latent tokens) are not rotated.
   */
  readonly rope?: { readonly angles: F32; readonly start: number };
  readonly linearInit?: Init;
}

function rotateRange(x: F32, angles: F32, start: number): F32 {
  const tokens = x.shape[2]!;
  const count = angles.shape[angles.shape.length - 2]!;
  if (start < 0 || start + count > tokens) throw new ShapeError('attention rope', [x.shape, angles.shape], `rotated tokens [${start}, ${start + count}) exceed ${tokens}`);
  if (start === 0 && count === tokens) return rope(x, angles);
  const parts: F32[] = [];
  if (start > 0) parts.push(x.slice(2, 0, start));
  parts.push(rope(x.slice(2, start, start + count), angles));
  if (start + count < tokens) parts.push(x.slice(2, start + count, tokens));
  return concat(parts, 2);
}

/**
 * Multi-head self-attention (spec §1.1): `attn.qkv` (D → 3D, features laid out (3, heads, hd)),
 * optional q/k norm and RoPE, scaled dot-product attention, `attn.proj`.
 * @example const y = MultiHeadAttention(ctx.child('attn'), h, { heads: 12 });
 */
export function MultiHeadAttention(ctx: Context, x: F32, options: AttentionOptions): F32 {
  const [batch, tokens, width] = x.shape as [number, number, number];
  const heads = options.heads;
  if (x.rank !== 3 || width % heads !== 0) throw new ShapeError('MultiHeadAttention', [x.shape], `expects (B, T, D) with D divisible by ${heads} heads`);
  const hd = width / heads;
  const linearOptions = options.linearInit ? { weightInit: options.linearInit } : {};
  const qkv = Linear(ctx, 'qkv', x, 3 * width, linearOptions).reshape([batch, tokens, 3, heads, hd]).permute([2, 0, 3, 1, 4] as const);
  let q = qkv.slice(0, 0, 1).squeeze(0) as F32;
  let k = qkv.slice(0, 1, 2).squeeze(0) as F32;
  const v = qkv.slice(0, 2, 3).squeeze(0) as F32;
  if (options.qkNorm === 'layer') {
    q = LayerNorm(ctx, 'q_norm', q, { eps: 1e-5 });
    k = LayerNorm(ctx, 'k_norm', k, { eps: 1e-5 });
  } else if (options.qkNorm === 'rms') {
    q = RMSNorm(ctx, 'q_norm', q);
    k = RMSNorm(ctx, 'k_norm', k);
  }
  if (options.rope) {
    q = rotateRange(q, options.rope.angles, options.rope.start);
    k = rotateRange(k, options.rope.angles, options.rope.start);
  }
  const out = attention(q, k, v).permute([0, 2, 1, 3] as const).reshape([batch, tokens, width]);
  return Linear(ctx, 'proj', out, width, linearOptions);
}

/**
 * timm Mlp: `fc1` (D → hidden) → GELU → `fc2` (hidden → D).
 * @example const y = Mlp(ctx.child('mlp'), h, 4 * D, 'tanh');
 */
export function Mlp(ctx: Context, x: F32, hidden: number, approximate: 'none' | 'tanh' = 'none', linearInit?: Init): F32 {
  const width = x.shape[x.shape.length - 1]!;
  const options = linearInit ? { weightInit: linearInit } : {};
  return Linear(ctx, 'fc2', gelu(Linear(ctx, 'fc1', x, hidden, options), approximate), width, options);
}
