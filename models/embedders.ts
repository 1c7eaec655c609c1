// Models · conditioning for the diffusion transformers (spec §1.7–§1.8): the
// timestep embedder (frequency features → MLP), the label embedder with its null
// class, and the adaLN-Zero final layer.

import { DType, LayerNorm, Linear, RMSNorm, embedding, init, modulate, silu, timestepEmbedding, type Context, type Shape, type Tensor } from '../dsl/index.ts';

type F32 = Tensor<Shape, DType.F32>;

/** `t_embedder.mlp.0` Linear(F→D) → SiLU → `t_embedder.mlp.2` Linear(D→D) on [cos | sin] features of raw t. */
export function timestepEmbedder(ctx: Context, t: F32, width: number, frequencyDim: number): F32 {
  const mlp = ctx.child('t_embedder').child('mlp');
  const features = timestepEmbedding(t, frequencyDim);
  const hidden = silu(Linear(mlp, '0', features, width, { weightInit: init.normal(0.02) }));
  return Linear(mlp, '2', hidden, width, { weightInit: init.normal(0.02) });
}

/** `y_embedder.embedding_table` ((classes + 1) × D): row `classes` is the null class used by CFG and label dropout. */
export function labelEmbedder(ctx: Context, labels: Tensor<Shape, DType.I32>, width: number, classes: number): F32 {
  const table = ctx.child('y_embedder').param('embedding_table', [classes + 1, width], init.normal(0.02));
  return embedding(table, labels);
}

/**
 * `final_layer`: Norm(x) modulated by SiLU(c) → `adaLN_modulation.1` Linear(D→2D) (shift, scale), then
 * `linear` Linear(D→out). Both Linears are zero-initialised, so the model outputs 0 at init.
 */
export function finalLayer(ctx: Context, x: F32, c: F32, outDim: number, norm: 'layer' | 'rms'): F32 {
  const width = x.shape[x.shape.length - 1]!;
  const zero = { weightInit: init.zeros(), biasInit: init.zeros() };
  const [shift, scale] = Linear(ctx.child('adaLN_modulation'), '1', silu(c), 2 * width, zero).chunk(2, -1) as [F32, F32];
  const normed = norm === 'rms' ? RMSNorm(ctx, 'norm_final', x, 1e-6) : LayerNorm(ctx, 'norm_final', x, { eps: 1e-6, affine: false });
  return Linear(ctx, 'linear', modulate(normed, shift.unsqueeze(1), scale.unsqueeze(1)), outDim, zero);
}
