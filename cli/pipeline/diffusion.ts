// CLI pipeline · diffusion training on a latent dataset and class-conditional
// sampling. In: latents with their μ, σ (spec §2.11), a SiT or LightningDiT
// config. Out: EMA weights and the loss history; samples drawn with Euler or
// Euler–Maruyama and classifier-free guidance inside an interval (spec §3.4),
// returned as tokenizer latents (denormalised) ready to decode.

import { DType, initParams, spec, trainStep, constantLr } from '../../dsl/index.ts';
import { diffusionLoss, ditVelocity, scaledGuidanceVelocity, type DiTConfig } from '../../models/sit.ts';
import { augmentDecisions } from '../../runtime/data/augment.ts';
import type { LatentDataset } from '../../runtime/data/latents.ts';
import { batchIndices } from '../../runtime/data/order.ts';
import { sampleEuler, sampleEulerMaruyama, sampleHeun, type Guidance } from '../../runtime/sample/samplers.ts';
import { trainLoop, type StepRecord } from '../../runtime/train/loop.ts';
import { createStepRunner, type StepDevice } from '../../runtime/train/step-runner.ts';
import { InputError } from '../flags.ts';
import { cachedForward, forwardProgram, inferenceWeights, readParams } from './common.ts';

const compiledVelocity = new WeakMap<object, Set<string>>();

export interface DiffusionRun {
  readonly config: DiTConfig;
  readonly steps: number;
  readonly batch: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly device: StepDevice;
  readonly ema: number;
  readonly checkpointDir?: string;
  readonly checkpointEvery?: number;
  readonly resume?: boolean;
  readonly jsonl?: string;
}

export interface TrainedDiffusion {
  readonly config: DiTConfig;
  /** EMA weights under plain names (plus the frozen position table). */
  readonly params: Record<string, Float64Array>;
  readonly shapes: Record<string, readonly number[]>;
  readonly history: StepRecord[];
  readonly mean: number;
  readonly std: number;
}

/** Normalised latents of a batch: each sample's latent or, with probability ½, its mirror image's (spec §2.11). */
export function latentBatch(set: LatentDataset, indices: ArrayLike<number>, seed: number, step: number): Float64Array {
  const per = set.tokens * set.channels;
  const out = new Float64Array(indices.length * per);
  const inv = 1 / set.std;
  for (let i = 0; i < indices.length; i++) {
    const source = augmentDecisions(seed, step, i, { flip: 0.5 }).flip ? set.flipped : set.latents;
    const from = indices[i]! * per;
    for (let j = 0; j < per; j++) out[i * per + j] = (source[from + j]! - set.mean) * inv;
  }
  return out;
}

export async function trainDiffusion(set: LatentDataset, run: DiffusionRun): Promise<TrainedDiffusion> {
  const { config } = run;
  if (set.tokens !== config.tokens || set.channels !== config.channels) {
    throw new InputError(`train-diffusion: the latents are ${set.tokens}×${set.channels}, ${config.name} expects ${config.tokens}×${config.channels} (pick the config that matches the tokenizer)`);
  }
  const step = trainStep(
    (ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, config),
    { latents: spec([run.batch, config.tokens, config.channels]), labels: spec([run.batch], DType.I32) },
    { schedule: constantLr(run.learningRate), clip: 1.0, ema: run.ema, adamw: config.variant === 'lightning' ? { beta1: 0.9, beta2: 0.95 } : { beta1: 0.9, beta2: 0.999 } },
  );
  const runner = await createStepRunner(run.device, step.graph, initParams(step.params, run.seed));
  const result = await trainLoop({
    label: config.name,
    runner,
    totalSteps: run.steps,
    seed: run.seed,
    batch: (s) => {
      const indices = batchIndices(set.count, run.batch, run.seed, s);
      return { latents: latentBatch(set, indices, run.seed, s), labels: Float64Array.from(indices, (i) => set.labels[i]!) };
    },
    ...(run.checkpointDir ? { checkpoint: { dir: run.checkpointDir, every: run.checkpointEvery ?? 200, config: { config, mean: set.mean, std: set.std }, dtype: run.device === 'cpu' ? 'F64' : 'F32' } } : {}),
    ...(run.resume ? { resume: true } : {}),
    ...(run.jsonl ? { jsonl: run.jsonl } : {}),
  });
  const state = await readParams(runner);
  const shapes: Record<string, readonly number[]> = { ...runner.paramShapes };
  runner.dispose();
  const params = inferenceWeights(state);
  return { config, params, shapes, history: result.history, mean: set.mean, std: set.std };
}

export type SamplerKind = 'euler' | 'heun' | 'euler-maruyama';

export interface SampleRun {
  readonly labels: ArrayLike<number>;
  readonly sampler: SamplerKind;
  readonly steps: number;
  readonly guidance: Guidance;
  /** LightningDiT's timestep shift for the ODE samplers (spec §4.3); 1 = none. */
  readonly shift?: number;
  readonly seed: number;
  readonly device: StepDevice;
}

/** Samples one latent per label; returns tokenizer latents (h = x·σ + μ), (count, L, C). */
export async function sampleLatents(model: TrainedDiffusion, run: SampleRun): Promise<Float64Array> {
  const { config } = model;
  const batch = run.labels.length;
  // The guided program (scale as an input) also serves unguided runs of the same batch when it
  // exists already: a cold lavapipe compile costs more than the doubled batch.
  const guidedKey = `velocity cfg ${batch} ${run.device}`;
  const guided = run.guidance.scale !== 1 || compiledVelocity.get(model.params)?.has(guidedKey) === true;
  const program = await cachedForward(model.params, guided ? guidedKey : `velocity ${batch} ${run.device}`, () => forwardProgram(run.device, (ctx, { x, t, y, scale }) => ({
    v: guided ? scaledGuidanceVelocity(ctx, x, t, y, scale, config) : ditVelocity(ctx, x, t, y, config),
  }), { x: spec([batch, config.tokens, config.channels]), t: spec([batch]), y: spec([batch], DType.I32), scale: spec([] as const) }, model.params, batch));
  compiledVelocity.set(model.params, (compiledVelocity.get(model.params) ?? new Set()).add(guided ? guidedKey : ''));
  const runner = program.runner;
  const labels = Float64Array.from(run.labels);
  const velocity = async (x: Float64Array, t: number, scale: number) => {
    const given: Record<string, ArrayLike<number> | number> = { x, t: new Float64Array(batch).fill(t), y: labels };
    if (guided) given.scale = scale;
    return (await runner.run(given, ['v'])).v!;
  };
  const options = { shape: [config.tokens, config.channels], batch, steps: run.steps, seed: run.seed, guidance: run.guidance };
  const x = run.sampler === 'euler-maruyama' ? await sampleEulerMaruyama(velocity, options)
    : run.sampler === 'heun' ? await sampleHeun(velocity, { ...options, shift: run.shift ?? 1 })
    : await sampleEuler(velocity, { ...options, shift: run.shift ?? 1 });
  return x.map((v) => v * model.std + model.mean);
}
