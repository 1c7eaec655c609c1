// DSL · optimisers and training utilities as graph functions: AdamW with
// decoupled weight decay and bias correction (torch.optim.AdamW's arithmetic),
// global-norm gradient clipping (torch.nn.utils.clip_grad_norm_), EMA, and
// learning-rate schedules as functions of a step tensor, so one compiled
// program serves every step.

import { DType } from '../compiler/ir/dtype.ts';
import { where } from './nn/functional.ts';
import type { Shape } from './shape.ts';
import type { Tensor } from './tensor.ts';

type F32 = Tensor<Shape, DType.F32>;
type Scalar = Tensor<Shape, DType.F32>;

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

/**
 * The reference decay rule (spec §2.8): decay tensors with ndim ≥ 2 that are not biases,
 * so latent tokens, position tables, mask tokens and RoPE frequencies are decayed.
 * @example const decayed = specs.filter((p) => decaysByDefault(p.name, p.shape));
 */
export function decaysByDefault(name: string, shape: Shape): boolean {
  return shape.length >= 2 && !name.endsWith('.bias') && name !== 'bias';
}

/**
 * One AdamW update for one tensor; `step` is the 1-based step count (f32 scalar).
 * p ← p·(1 − lr·wd) − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps)
 * @example const { param, m, v } = adamw(w, g, mw, vw, step, lr, { weightDecay: 1e-4 });
 *          assign(w, param);
 */
export function adamw(param: F32, grad: F32, m: F32, v: F32, step: Scalar, lr: Scalar, options: AdamWOptions = {}): { param: F32; m: F32; v: F32 } {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const weightDecay = options.weightDecay ?? 0;
  const m2 = m.mul(beta1).add(grad.mul(1 - beta1));
  const v2 = v.mul(beta2).add(grad.square().mul(1 - beta2));
  const correction1 = step.mul(Math.log2(beta1)).exp2().neg().add(1);
  const correction2 = step.mul(Math.log2(beta2)).exp2().neg().add(1);
  const denom = v2.sqrt().div(correction2.sqrt()).add(eps);
  const decayed = weightDecay === 0 ? param : param.mul(lr.mul(-weightDecay).add(1));
  return { param: decayed.sub(m2.div(denom).mul(lr.div(correction1))), m: m2, v: v2 };
}

/**
 * Global L2 norm of all gradients and the gradients scaled so it is at most `maxNorm`
 * (coefficient min(1, maxNorm / (norm + 1e-6)), as torch computes it).
 * @example const { grads: clipped, norm } = clipGradNorm(grads, 1.0);
 */
export function clipGradNorm(grads: readonly F32[], maxNorm: number): { grads: F32[]; norm: Scalar } {
  const first = grads[0];
  if (!first) throw new Error('clipGradNorm: no gradients');
  const squares = grads.map((g) => g.square().sum() as Scalar);
  const norm = squares.reduce((acc, s) => acc.add(s)).sqrt();
  const coefficient = norm.add(1e-6).recip().mul(maxNorm).minimum(1);
  return { grads: grads.map((g) => g.mul(coefficient)), norm };
}

/** Global L2 norm of all gradients. @example const norm = globalNorm(grads); */
export function globalNorm(grads: readonly F32[]): Scalar {
  return grads.map((g) => g.square().sum() as Scalar).reduce((acc, s) => acc.add(s)).sqrt();
}

/**
 * ema ← decay·ema + (1 − decay)·param.
 * @example assign(emaW, emaUpdate(emaW, newW, 0.9999));
 */
export function emaUpdate(ema: F32, param: F32, decay: number): F32 {
  return ema.mul(decay).add(param.mul(1 - decay));
}

/** A learning rate as a function of the step tensor. */
export type Schedule = (step: Scalar) => Scalar;

/** @example const schedule = constantLr(1e-4); */
export function constantLr(lr: number): Schedule {
  return (step) => step.mul(0).add(lr);
}

export interface WarmupCosineOptions {
  readonly base: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  /** Learning rate at step 0 of the warm-up (default 0). */
  readonly warmupStart?: number;
  /** Learning rate the cosine ends at (default 0). */
  readonly final?: number;
}

/**
 * Linear warm-up from warmupStart to base over warmupSteps, then a cosine from base to
 * final at totalSteps (held there after).
 * @example const schedule = warmupCosine({ base: 2e-4, warmupSteps: 5000, totalSteps: 500000, final: 2e-5 });
 *          const lr = schedule(step);
 */
export function warmupCosine(options: WarmupCosineOptions): Schedule {
  const { base, warmupSteps, totalSteps } = options;
  const start = options.warmupStart ?? 0;
  const final = options.final ?? 0;
  return (step) => {
    const warm = step.mul((base - start) / Math.max(1, warmupSteps)).add(start);
    const progress = step.sub(warmupSteps).mul(1 / Math.max(1, totalSteps - warmupSteps)).maximum(0).minimum(1);
    const cosine = progress.mul(Math.PI).cos().add(1).mul(0.5 * (base - final)).add(final);
    return where(step.lt(warmupSteps), warm, cosine) as Scalar;
  };
}
