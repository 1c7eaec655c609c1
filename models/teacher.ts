// Models · frozen per-token feature networks standing in for DINOv2/SigLIP on
// the minis (spec §6: the real teachers cannot be downloaded here). Any frozen DSL
// model mapping images to (B, N, F) token features can be a MAETok teacher; this
// one is a frozen two-layer patch MLP (random features unless trained weights are
// loaded into its `teacher_<name>.*` parameters).

import { DType, gelu, init, patchify, type Context, type Shape, type Tensor } from '../dsl/index.ts';
import type { Teacher } from './maetok.ts';
import { classifierTokens, type ClassifierConfig } from './classifier.ts';

type F32 = Tensor<Shape, DType.F32>;

/** A frozen patch MLP teacher with `dim` features per token on the MAETok patch grid. */
export function patchTeacher(name: string, patch: number, dim: number): Teacher {
  return (ctx: Context, images: F32) => {
    const scope = ctx.child(`teacher_${name}`);
    const patches = patchify(images, patch);
    const inDim = patches.shape[2]!;
    const w1 = scope.child('fc1').frozenParam('weight', [2 * dim, inDim], init.xavierUniform());
    const w2 = scope.child('fc2').frozenParam('weight', [dim, 2 * dim], init.xavierUniform());
    return gelu(patches.matmul(w1.transpose())).matmul(w2.transpose()) as F32;
  };
}

/**
 * Precomputed teacher features fed as a graph input `features_<name>` (B, N, dim): for users who
 * have real DINOv2/SigLIP features on disk, loaded by the data pipeline next to the images.
 */
export function featureInputTeacher(name: string, tokens: number, dim: number): Teacher {
  return (ctx: Context, images: F32) => ctx.input(`features_${name}`, [images.shape[0]!, tokens, dim]);
}

/**
 * A trained classifier's token features as the teacher (spec §6: "a small frozen teacher trained
 * on Fashion-MNIST labels"), its weights under `teacher_<name>.*`. Exclude them from training
 * with `isTeacherParam`.
 */
export function classifierTeacher(name: string, config: ClassifierConfig): Teacher {
  return (ctx: Context, images: F32) => classifierTokens(ctx.child(`teacher_${name}`), images, config);
}

export function isTeacherParam(name: string): boolean {
  return name.startsWith('teacher_');
}
