// Models · a small ViT classifier for 28×28 grayscale images (Fashion-MNIST):
// patchify → linear patch embedding + learned positions → pre-norm ViT blocks →
// final LayerNorm → mean pool → linear head. The first training example, and the
// shape of the feature network later used for Fréchet distances on the minis.

import { DType, LayerNorm, Linear, init, logSoftmax, oneHot, patchify, type Context, type Shape, type Tensor } from '../dsl/index.ts';
import { vitBlock } from './vit.ts';

type F32 = Tensor<Shape, DType.F32>;

export interface ClassifierConfig {
  readonly imageSize: number;
  readonly channels: number;
  readonly patch: number;
  readonly width: number;
  readonly depth: number;
  readonly heads: number;
  readonly classes: number;
}

/** Two blocks, width 32: trains on the interpreter in seconds. */
export const CLASSIFIER_TINY: ClassifierConfig = { imageSize: 28, channels: 1, patch: 7, width: 32, depth: 2, heads: 2, classes: 10 };

/**
 * The demo's feature network: patch 4 puts its 7×7 token grid on MAETok-Mini's, so once trained
 * on the labels its tokens are the teacher features of the aux decoder (spec §6) and its pooled
 * features the space of the Fréchet distance.
 */
export const CLASSIFIER_MINI: ClassifierConfig = { imageSize: 28, channels: 1, patch: 4, width: 32, depth: 2, heads: 2, classes: 10 };

/** Normalised token features (B, N, width) for images (B, C, H, W) in [−1, 1]. */
export function classifierTokens(ctx: Context, images: F32, config: ClassifierConfig): F32 {
  const tokens = (config.imageSize / config.patch) ** 2;
  let x = Linear(ctx.child('patch_embed'), 'proj', patchify(images, config.patch), config.width, { weightInit: init.xavierUniform() });
  x = x.add(ctx.param('pos_embed', [1, tokens, config.width], init.truncNormal(0.02)));
  for (let i = 0; i < config.depth; i++) x = vitBlock(ctx.child(`blocks.${i}`), x, { heads: config.heads, layerScale: 1e-1 });
  return LayerNorm(ctx, 'norm', x, { eps: 1e-6 });
}

/** Class logits (B, classes) for images (B, C, H, W) in [−1, 1]. */
export function classifierLogits(ctx: Context, images: F32, config: ClassifierConfig): F32 {
  return classifierHead(ctx, classifierTokens(ctx, images, config), config);
}

/** Logits from token features: mean pool → linear head. */
export function classifierHead(ctx: Context, tokens: F32, config: ClassifierConfig): F32 {
  return Linear(ctx, 'head', tokens.mean(1), config.classes, { weightInit: init.truncNormal(0.02) });
}

/** Mean cross-entropy of the logits against integer labels, and the batch accuracy. */
export function crossEntropy(logits: F32, labels: Tensor<Shape, DType.I32>): { loss: F32; accuracy: F32 } {
  const target = oneHot(labels, logits.shape[1]!);
  const loss = logSoftmax(logits).mul(target).sum(1).mean().neg();
  const correct = logits.ge(logits.max(1, true)).cast(DType.F32).mul(target).sum(1);
  return { loss, accuracy: correct.mean() };
}
