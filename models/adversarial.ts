// Models · MAETok's adversarial training (spec §2.7): the hinge GAN losses on the
// DiffAugment'ed images, LeCAM regularisation, consistency regularisation and the
// adaptive generator weight. Two programs share the discriminator's buffers by name:
//  - the generator step (maetokStage1Loss / maetokStage2Loss with `adversarial`) adds
//    λ·w_d(s)·L_adv, L_adv = −mean D(Aug x̂), and outputs x̂ as `reconstruction`;
//    it must not train `discriminator.*` (trainStep's `trainable: generatorTrainable`);
//  - the discriminator step (`discriminatorTrainStep`, or trainStep over
//    `discriminatorLoss`) takes the same real images and that `reconstruction` as inputs
//    and trains `discriminator.*` only.
// A runtime runs them in this order every step (spec §2.8) on one parameter store:
// the generator step's `reconstruction` output is the discriminator step's input.
// Persistent non-trained state (spectral-norm u/v, LeCAM EMAs) lives in ctx.state and is
// written by assign outputs of whichever step updates it.

import { DType, STEP_INPUT, concat, grad, init, mse, spec, trainStep, where, type Context, type Shape, type Tensor, type TrainStep, type TrainStepOptions } from '../dsl/index.ts';
import { DIFF_AUGMENT, STRONG_DIFF_AUGMENT, diffAugment, type DiffAugmentOptions } from './diffaug.ts';
import { featureDiscriminator, isDiscriminatorParam, type Discriminator, type DiscriminatorConfig } from './discriminator.ts';

type F32 = Tensor<Shape, DType.F32>;

/** Name of the generator step's output holding x̂ (B, C, H, W), and of the discriminator step's input fed from it. */
export const RECONSTRUCTION_OUTPUT = 'reconstruction';
/** Name of the discriminator step's real-image input. */
export const REAL_IMAGES_INPUT = 'images';
/** Scope of the LeCAM EMAs (`lecam_ema.logits_real_ema`, `lecam_ema.logits_fake_ema`, the reference's attribute names). */
export const LECAM_SCOPE = 'lecam_ema';

export interface AdversarialOptions {
  /** The discriminator, or the configuration of MAETok's feature discriminator. */
  readonly discriminator: DiscriminatorConfig | Discriminator;
  /** w_d once active (`disc_weight` 0.4). */
  readonly weight?: number;
  /** First step (1-based) with the adversarial terms on (`disc_start` 30000; ~½ of the run on the minis). */
  readonly start: number;
  /** The 1-based step tensor; default the train step's `step` input. */
  readonly step?: F32;
  /** DiffAugment before every discriminator call (default DIFF_AUGMENT, p = 0.5); false: none. */
  readonly augment?: DiffAugmentOptions | false;
  /** LeCAM weight (0.001) and EMA decay (0.999). */
  readonly lecamWeight?: number;
  readonly lecamDecay?: number;
  /** Consistency-regularisation weight (`disc_cr_loss_weight` 4.0; 0 skips the two extra calls) and its augmentation. */
  readonly consistencyWeight?: number;
  readonly strongAugment?: DiffAugmentOptions;
}

const discriminatorOf = (d: AdversarialOptions['discriminator']): Discriminator => (typeof d === 'function' ? d : featureDiscriminator(d));
const stepOf = (ctx: Context, options: AdversarialOptions): F32 => options.step ?? ctx.input(STEP_INPUT, [] as const);

/** The generator step trains everything but the discriminator. */
export function generatorTrainable(name: string): boolean {
  return !isDiscriminatorParam(name);
}

/**
 * w_d(s) = weight if s ≥ start else 0 (the reference's `adopt_weight`).
 * @example const wd = adversarialWeight(ctx.input('step', []), 0.4, 30000);
 */
export function adversarialWeight(step: F32, weight: number, start: number): F32 {
  return where(step.ge(start), weight, 0) as F32;
}

/** Hinge generator loss −mean(D(fake)). @example const adv = hingeGeneratorLoss(D(ctx, fake)); */
export function hingeGeneratorLoss(fakeLogits: F32): F32 {
  return fakeLogits.mean().neg() as F32;
}

/**
 * Hinge discriminator loss ½(mean relu(1 − D(real)) + mean relu(1 + D(fake))).
 * @example const d = hingeDiscriminatorLoss(D(ctx, x), D(ctx, xHat));
 */
export function hingeDiscriminatorLoss(realLogits: F32, fakeLogits: F32): F32 {
  return realLogits.neg().add(1).relu().mean().add(fakeLogits.add(1).relu().mean()).mul(0.5) as F32;
}

/**
 * LeCAM regulariser mean(relu(D(real) − ema_fake)²) + mean(relu(ema_real − D(fake))²).
 * @example const reg = lecamRegularizer(real, fake, ema.real, ema.fake);
 */
export function lecamRegularizer(realLogits: F32, fakeLogits: F32, emaReal: F32, emaFake: F32): F32 {
  return realLogits.sub(emaFake).relu().square().mean().add(emaReal.sub(fakeLogits).relu().square().mean()) as F32;
}

/**
 * Updates the LeCAM EMAs of the mean real and fake logits (states under `lecam_ema`, init 0)
 * and returns the new values: ema ← decay·ema + (1 − decay)·mean(logits), detached.
 * @example const ema = updateLecamEma(ctx, real, fake, 0.999);
 */
export function updateLecamEma(ctx: Context, realLogits: F32, fakeLogits: F32, decay: number): { real: F32; fake: F32 } {
  const scope = ctx.child(LECAM_SCOPE);
  const update = (name: string, logits: F32) => {
    const next = scope.state(name, [] as const, init.zeros()).mul(decay).add(logits.mean().stopGradient().mul(1 - decay)) as F32;
    scope.setState(name, next);
    return scope.state(name, [] as const, init.zeros()) as F32;
  };
  return { real: update('logits_real_ema', realLogits), fake: update('logits_fake_ema', fakeLogits) };
}

/**
 * The adaptive weight λ = clamp(‖∇_W nll‖ / (‖∇_W adv‖ + 1e-4), 0, 1e4), detached: both
 * gradients are traced into the same graph (grad inside the loss); stopGradient keeps the
 * step's backward pass from differentiating through them.
 * @example const lambda = adaptiveWeight(rec.add(per.mul(wp)), adv, toPixelWeight);
 */
export function adaptiveWeight(nll: F32, adv: F32, lastLayer: F32): F32 {
  const norm = (g: F32) => g.square().sum().sqrt();
  const [nllGrad] = grad(nll, [lastLayer]);
  const [advGrad] = grad(adv, [lastLayer]);
  return norm(nllGrad as F32).div(norm(advGrad as F32).add(1e-4)).maximum(0).minimum(1e4).stopGradient() as F32;
}

/**
 * L_adv = −mean(D(Aug(x̂))) with one ctx.rng() key for the augmentation.
 * @example const adv = generatorAdversarialLoss(ctx, reconstruction, options);
 */
export function generatorAdversarialLoss(ctx: Context, reconstruction: F32, options: AdversarialOptions): F32 {
  const key = ctx.rng();
  const augment = options.augment ?? DIFF_AUGMENT;
  const fake = augment ? diffAugment(key, reconstruction, augment) : reconstruction;
  return hingeGeneratorLoss(discriminatorOf(options.discriminator)(ctx, fake));
}

export interface GeneratorAdversarialTerm {
  /** λ·w_d(s)·L_adv, to add to the generator loss. */
  readonly term: F32;
  readonly adv: F32;
  readonly lambda: F32;
}

/**
 * The generator side of spec §2.7: L_adv on x̂, λ from the non-adversarial reconstruction
 * loss `nll` (L_rec + w_p·L_per) at the pixel decoder's last layer `lastLayer`, and w_d(s).
 * @example const { term } = generatorAdversarialTerm(ctx, xHat, rec, toPixelWeight, options);
 *          const loss = rec.add(term);
 */
export function generatorAdversarialTerm(ctx: Context, reconstruction: F32, nll: F32, lastLayer: F32, options: AdversarialOptions): GeneratorAdversarialTerm {
  const adv = generatorAdversarialLoss(ctx, reconstruction, options);
  const lambda = adaptiveWeight(nll, adv, lastLayer);
  const weight = adversarialWeight(stepOf(ctx, options), options.weight ?? 0.4, options.start);
  return { term: adv.mul(lambda).mul(weight) as F32, adv, lambda };
}

export interface DiscriminatorLosses {
  readonly loss: F32;
  readonly hinge: F32;
  readonly lecam: F32;
  readonly consistency: F32;
  readonly logitsReal: F32;
  readonly logitsFake: F32;
  readonly [metric: string]: F32;
}

/**
 * The discriminator loss of spec §2.7:
 * L_D = w_d(s)·[hinge(D(Aug x), D(Aug x̂)) + 0.001·LeCAM] + 1[s ≥ start]·4·MSE([D_real, D_fake], [D(Aug_s x), D(Aug_s x̂)]),
 * the LeCAM EMAs updated first. x̂ is detached. Four discriminator calls in this order (real,
 * fake, strong real, strong fake), each with its own augmentation key, BatchNorm statistics and
 * power iteration, as the reference's four forward passes.
 * @example const step = trainStep((ctx, { images, reconstruction }) => discriminatorLoss(ctx, images, reconstruction, config, { start: 1000 }),
 *                                 { images: spec(shape), reconstruction: spec(shape) }, { schedule, trainable: isDiscriminatorParam });
 */
export function discriminatorLoss(ctx: Context, images: F32, reconstruction: F32, discriminator: DiscriminatorConfig | Discriminator, options: Omit<AdversarialOptions, 'discriminator'>): DiscriminatorLosses {
  const D = discriminatorOf(discriminator);
  const augment = options.augment ?? DIFF_AUGMENT;
  const aug = (x: F32, policy: DiffAugmentOptions | false) => {
    const key = ctx.rng();
    return policy ? diffAugment(key, x, policy) : x;
  };
  const fakeImages = reconstruction.stopGradient();
  const real = D(ctx, aug(images, augment));
  const fake = D(ctx, aug(fakeImages, augment));
  const ema = updateLecamEma(ctx, real, fake, options.lecamDecay ?? 0.999);
  const lecam = lecamRegularizer(real, fake, ema.real, ema.fake);
  const hinge = hingeDiscriminatorLoss(real, fake);
  const step = options.step ?? ctx.input(STEP_INPUT, [] as const);
  let loss = hinge.add(lecam.mul(options.lecamWeight ?? 0.001)).mul(adversarialWeight(step, options.weight ?? 0.4, options.start)) as F32;
  let consistency = ctx.full([] as const, 0) as F32;
  const crWeight = options.consistencyWeight ?? 4;
  if (crWeight > 0) {
    const strong = options.strongAugment ?? STRONG_DIFF_AUGMENT;
    const realStrong = D(ctx, aug(images, strong));
    const fakeStrong = D(ctx, aug(fakeImages, strong));
    consistency = mse(concat([real, fake], 0), concat([realStrong, fakeStrong], 0)) as F32;
    loss = loss.add(consistency.mul(adversarialWeight(step, crWeight, options.start))) as F32;
  }
  return { loss, hinge, lecam, consistency, logitsReal: real.mean() as F32, logitsFake: fake.mean() as F32 };
}

/**
 * The discriminator's own training step: inputs `images` (real) and `reconstruction` (the
 * generator step's output of the same name), both `imageShape`; trains `discriminator.*` only.
 * @example const dStep = discriminatorTrainStep([B, 1, 28, 28], { backbone: teacherBackbone(teacher) },
 *                                               { start: 1000 }, { schedule: constantLr(2e-4), clip: 1 });
 */
export function discriminatorTrainStep(imageShape: readonly [number, number, number, number], discriminator: DiscriminatorConfig | Discriminator, options: Omit<AdversarialOptions, 'discriminator'>, stepOptions: TrainStepOptions): TrainStep {
  const trainable = stepOptions.trainable;
  return trainStep(
    (ctx, inputs) => discriminatorLoss(ctx, inputs[REAL_IMAGES_INPUT] as F32, inputs[RECONSTRUCTION_OUTPUT] as F32, discriminator, options),
    { [REAL_IMAGES_INPUT]: spec(imageShape), [RECONSTRUCTION_OUTPUT]: spec(imageShape) },
    { ...stepOptions, trainable: (name) => isDiscriminatorParam(name) && (trainable?.(name) ?? true) },
  );
}
