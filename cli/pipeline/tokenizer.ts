// CLI pipeline · tokenizer training. In: an image set, a MAETok config, a
// trained classifier as the teacher. Out: tokenizer weights (EMA where trained)
// and the loss history. Stage 1: mask modeling with the pixel decoder and the
// auxiliary decoders (HOG + teacher features) and the teacher perceptual loss,
// warmed up over the first third (spec §2.7, §6); optionally the adversarial
// loss with its own discriminator step. Stage 2: the encoder frozen, the pixel
// decoder fine-tuned while the mask ratio anneals to 0 (spec §2.10). The plain
// autoencoder baseline is the same program without masking and aux decoders.

import { initParams, spec, trainStep, warmupCosine, constantLr, type Context, type InputSpec, type Shape, type Tensor, type DType } from '../../dsl/index.ts';
import { discriminatorTrainStep, generatorTrainable, RECONSTRUCTION_OUTPUT } from '../../models/adversarial.ts';
import { teacherBackbone } from '../../models/discriminator.ts';
import { maetokStage1Loss, maetokStage2Loss, stage2Trainable, type MAETokConfig, type Teacher } from '../../models/maetok.ts';
import { classifierTeacher, featureInputTeacher, isTeacherParam } from '../../models/teacher.ts';
import { batchIndices } from '../../runtime/data/order.ts';
import { trainLoop, type StepRecord } from '../../runtime/train/loop.ts';
import { createStepRunner, type StepDevice, type StepRunner } from '../../runtime/train/step-runner.ts';
import type { TrainedClassifier } from './classifier.ts';
import { gatherImages, inferenceWeights, readParams, withPrefix, type ImageSet } from './common.ts';

type F32 = Tensor<Shape, DType.F32>;

export type TokenizerVariant = 'maetok' | 'plain-ae';

export interface TokenizerRun {
  readonly config: MAETokConfig;
  /** 'plain-ae': no masking, no auxiliary decoders (the paper's AE baseline). */
  readonly variant: TokenizerVariant;
  readonly steps: number;
  readonly batch: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly device: StepDevice;
  /** The teacher of the feature targets and the perceptual loss (required when the config has a non-HOG target). */
  readonly teacher?: TrainedClassifier;
  /**
   * Precomputed teacher features by aux-target name, (count, N, dim) in dataset order (e.g. real
   * DINOv2/SigLIP features read with readFeatureFile): fed as inputs instead of running a teacher.
   */
  readonly features?: Readonly<Record<string, Float32Array>>;
  /** Weight of the teacher perceptual loss, warmed up linearly over the first third of stage 1 (0: off). */
  readonly perceptualWeight: number;
  /** Adversarial loss from this step on (spec §6: about half the run), with its discriminator step. */
  readonly adversarialStart?: number;
  /** Stage-2 decoder fine-tuning steps (0: none); the mask ratio anneals over the first half. */
  readonly stage2Steps: number;
  readonly ema: number;
  readonly checkpointDir?: string;
  readonly checkpointEvery?: number;
  readonly resume?: boolean;
  readonly jsonl?: string;
}

export interface TrainedTokenizer {
  readonly config: MAETokConfig;
  readonly variant: TokenizerVariant;
  /** Inference weights under their plain names: the EMA of every trained tensor, the rest as trained. */
  readonly params: Record<string, Float64Array>;
  readonly shapes: Record<string, readonly number[]>;
  readonly stage1: StepRecord[];
  readonly stage2: StepRecord[];
}

export const MASK_RATIO_INPUT = 'mask_ratio';

/** The config a variant trains: the plain AE has no auxiliary decoders. */
export function variantConfig(config: MAETokConfig, variant: TokenizerVariant): MAETokConfig {
  return variant === 'plain-ae' ? { ...config, name: `${config.name} (plain AE)`, auxTargets: [] } : config;
}

function teachers(config: MAETokConfig, features: Readonly<Record<string, Float32Array>>, teacher: TrainedClassifier | undefined): Record<string, Teacher> {
  const n = (config.imageSize / config.patch) ** 2;
  const teacherOf = (name: string): Teacher => {
    if (features[name]) return featureInputTeacher(name, n, config.auxTargets.find((t) => t.name === name)!.dim);
    if (!teacher) throw new Error(`train-tokenizer: the aux target "${name}" needs a teacher; train the classifier first (kiln train-classifier, or kiln demo does) or pass precomputed features`);
    return classifierTeacher(name, teacher.config);
  };
  return Object.fromEntries(config.auxTargets.filter((t) => t.name !== 'hog').map((t) => [t.name, teacherOf(t.name)]));
}

/** Frozen teacher weights, one copy per teacher-feature target (and the perceptual teacher). */
function teacherParams(config: MAETokConfig, teacher: TrainedClassifier | undefined, perceptual: boolean, features: Readonly<Record<string, Float32Array>>): Record<string, Float64Array> {
  if (!teacher) return {};
  const names = new Set([...config.auxTargets.filter((t) => t.name !== 'hog' && !features[t.name]).map((t) => t.name), ...(perceptual ? ['perceptual'] : [])]);
  return Object.assign({}, ...[...names].map((name) => withPrefix(teacher.params, `teacher_${name}.`)));
}

/** Teachers are frozen inputs, `discriminator/…` belongs to the companion program: neither is part of the tokenizer. */
const notTokenizer = (name: string) => isTeacherParam(name) || name.includes('/');

export async function trainTokenizer(data: ImageSet, run: TokenizerRun): Promise<TrainedTokenizer> {
  const config = variantConfig(run.config, run.variant);
  const features = run.features ?? {};
  const tokens = (config.imageSize / config.patch) ** 2;
  for (const [name, values] of Object.entries(features)) {
    const target = config.auxTargets.find((t) => t.name === name);
    if (!target) throw new Error(`train-tokenizer: features for "${name}", which is not an aux target of ${config.name} (${config.auxTargets.map((t) => t.name).join(', ')})`);
    if (values.length !== data.count * tokens * target.dim) throw new Error(`train-tokenizer: features for "${name}" hold ${values.length} values, the ${data.count} images need ${data.count} × ${tokens} × ${target.dim}`);
  }
  const perceptualTeacher = run.teacher && run.perceptualWeight > 0 ? classifierTeacher('perceptual', run.teacher.config) : undefined;
  const imageShape = [run.batch, data.channels, data.size, data.size] as const;
  const warmup = Math.max(1, Math.round(run.steps / 3));
  const adversarial = run.adversarialStart !== undefined && perceptualTeacher
    ? { discriminator: { backbone: teacherBackbone(classifierTeacher('perceptual', run.teacher!.config)) }, start: run.adversarialStart }
    : undefined;
  const inputs: Record<string, InputSpec> = { images: spec(imageShape) };
  if (run.variant === 'plain-ae') inputs[MASK_RATIO_INPUT] = spec([] as const);
  for (const target of config.auxTargets) if (features[target.name]) inputs[`features_${target.name}`] = spec([run.batch, tokens, target.dim]);
  const schedule = warmupCosine({ base: run.learningRate, warmupSteps: Math.min(50, Math.ceil(run.steps / 10)), totalSteps: run.steps, final: run.learningRate / 10 });
  const trainable = (name: string) => !isTeacherParam(name) && generatorTrainable(name);
  const step = trainStep((ctx: Context, given) => {
    const stepTensor = ctx.input('step', [] as const);
    const ratio = (given as Record<string, F32>)[MASK_RATIO_INPUT];
    return maetokStage1Loss(ctx, given.images as F32, config, {
      teachers: teachers(config, features, run.teacher),
      ...(ratio ? { maskRatio: ratio } : {}),
      ...(perceptualTeacher ? { perceptual: { teacher: perceptualTeacher, weight: stepTensor.mul(run.perceptualWeight / warmup).minimum(run.perceptualWeight) as F32 } } : {}),
      ...(adversarial ? { adversarial } : {}),
    });
  }, inputs, { schedule, clip: 1.0, ema: run.ema, adamw: { beta1: 0.9, beta2: 0.95, weightDecay: 1e-4 }, trainable });
  const initial = { ...initParams(step.params, run.seed), ...teacherParams(config, run.teacher, perceptualTeacher !== undefined, features) };
  const runner = await createStepRunner(run.device, step.graph, initial);
  const companions: Record<string, StepRunner> = {};
  if (adversarial) {
    const disc = discriminatorTrainStep(imageShape, adversarial.discriminator, { start: adversarial.start }, { schedule: constantLr(run.learningRate), clip: 1.0, adamw: { beta1: 0.9, beta2: 0.95, weightDecay: 1e-4 } });
    companions.discriminator = await createStepRunner(run.device, disc.graph, { ...initParams(disc.params, run.seed + 1), ...initial });
  }
  const batchOf = (s: number, seed: number) => {
    const indices = batchIndices(data.count, run.batch, seed, s);
    // precomputed features describe the unflipped images, so no flip when they are fed
    const images = gatherImages(data, indices, Object.keys(features).length ? undefined : { seed, step: s });
    const batch: Record<string, Float64Array | number> = { images };
    if (run.variant === 'plain-ae') batch[MASK_RATIO_INPUT] = 0;
    for (const [name, values] of Object.entries(features)) {
      const per = values.length / data.count;
      const rows = new Float64Array(indices.length * per);
      indices.forEach((index, i) => rows.set(values.subarray(index * per, (index + 1) * per), i * per));
      batch[`features_${name}`] = rows;
    }
    return batch;
  };
  const stage1 = await trainLoop({
    label: run.variant === 'plain-ae' ? 'plain AE' : 'tokenizer stage 1',
    runner,
    companions,
    totalSteps: run.steps,
    seed: run.seed,
    batch: (s) => batchOf(s, run.seed),
    ...(adversarial ? { read: ['loss', 'rec', 'gradNorm', 'lr', RECONSTRUCTION_OUTPUT] } : {}),
    ...(adversarial ? {
      after: async (s: number, outputs: Readonly<Record<string, Float64Array>>) => {
        const out = await companions.discriminator!.run({ images: batchOf(s, run.seed).images!, [RECONSTRUCTION_OUTPUT]: outputs[RECONSTRUCTION_OUTPUT]!, step: s + 1, rng: new Uint32Array([run.seed, s]) }, ['loss']);
        return { discLoss: out.loss![0]! };
      },
    } : {}),
    ...(run.checkpointDir ? { checkpoint: { dir: `${run.checkpointDir}/stage1`, every: run.checkpointEvery ?? 100, config: { config, run: { ...run, teacher: undefined } }, dtype: run.device === 'cpu' ? 'F64' : 'F32' } } : {}),
    ...(run.resume ? { resume: true } : {}),
    ...(run.jsonl ? { jsonl: run.jsonl } : {}),
  });
  let state = await readParams(runner);
  const shapes: Record<string, readonly number[]> = { ...runner.paramShapes };
  runner.dispose();
  for (const r of Object.values(companions)) r.dispose();
  let stage2: StepRecord[] = [];
  if (run.stage2Steps > 0) {
    const anneal = Math.max(1, Math.round(run.stage2Steps / 2));
    const step2 = trainStep((ctx: Context, given) => maetokStage2Loss(ctx, given.images as F32, config, {
      step: ctx.input('step', [] as const),
      annealSteps: anneal,
      ...(perceptualTeacher ? { perceptual: { teacher: perceptualTeacher, weight: run.perceptualWeight } } : {}),
    }), { images: spec(imageShape) }, { schedule: constantLr(run.learningRate / 10), clip: 1.0, ema: run.ema, adamw: { beta1: 0.9, beta2: 0.95, weightDecay: 1e-4 }, trainable: stage2Trainable });
    // Stage 2 starts from the stage-1 EMA weights with fresh optimiser state.
    const start = { ...initParams(step2.params, run.seed), ...inferenceWeights(state, notTokenizer), ...teacherParams(config, run.teacher, perceptualTeacher !== undefined, features) };
    for (const p of step2.params) if (p.name.startsWith('ema.')) start[p.name] = Float64Array.from(start[p.name.slice(4)]!);
    const runner2 = await createStepRunner(run.device, step2.graph, start);
    const result = await trainLoop({
      label: 'tokenizer stage 2',
      runner: runner2,
      totalSteps: run.stage2Steps,
      seed: run.seed + 2,
      batch: (s) => ({ images: batchOf(s, run.seed + 2).images! }),
      ...(run.checkpointDir ? { checkpoint: { dir: `${run.checkpointDir}/stage2`, every: run.checkpointEvery ?? 100, config: { config, stage: 2 }, dtype: run.device === 'cpu' ? 'F64' : 'F32' } } : {}),
      ...(run.resume ? { resume: true } : {}),
      ...(run.jsonl ? { jsonl: run.jsonl.replace(/\.jsonl$/, '') + '-stage2.jsonl' } : {}),
    });
    stage2 = result.history;
    state = { ...state, ...(await readParams(runner2)) };
    runner2.dispose();
  }
  return { config, variant: run.variant, params: inferenceWeights(state, notTokenizer), shapes, stage1: stage1.history, stage2 };
}
