// Runtime · the training loop around compiled step programs. In: step runners
// (the trained program plus any programs that share its checkpoint, e.g. a
// discriminator), a batch function of the step number, a seed. Out: a history
// of the step outputs, a JSONL log, a progress bar, periodic evaluations and
// checkpoints. Everything a step consumes is a function of (seed, step): the
// batch, and the RNG key fed to the program's `rng` input. So the state to save
// is the parameters (with optimiser moments and EMA) and the step number, and a
// resumed run reproduces the uninterrupted one exactly.

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { threefry2x32 } from '../../compiler/ir/random.ts';
import { RNG_INPUT, STEP_INPUT } from '../../dsl/index.ts';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../io/checkpoint.ts';
import { Progress } from './progress.ts';
import type { StepRunner } from './step-runner.ts';

/** The u32[2] key of 0-based step `step` of a run seeded with `seed`. */
export function stepKey(seed: number, step: number): Uint32Array {
  return Uint32Array.from(threefry2x32(seed >>> 0, 0x6b696c6e, step >>> 0, Math.floor(step / 2 ** 32)));
}

export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';
  constructor(readonly step: number, readonly output: string, readonly value: number, readonly lastCheckpoint: string | undefined) {
    super(`step ${step}: ${output} is ${value}; training stopped. ${lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint} (resume from it with a lower learning rate or stronger clipping)` : 'No checkpoint was written yet (lower the learning rate or enable clipping)'}`);
  }
}

export interface StepRecord {
  /** 1-based step number (the value the program saw as `step`). */
  readonly step: number;
  readonly values: Readonly<Record<string, number>>;
}

export interface CheckpointOptions {
  readonly dir: string;
  /** Save every this many steps (and always at the end). */
  readonly every: number;
  /** Stored with the checkpoint (the model and run settings), so a checkpoint describes itself. */
  readonly config: unknown;
  /** Storage precision: F32 for GPU runs (exact: the device holds f32), F64 for the interpreter. */
  readonly dtype: 'F32' | 'F64';
}

export interface TrainLoopOptions {
  /** Shown in the progress bar and the log. */
  readonly label: string;
  readonly runner: StepRunner;
  /** Programs whose parameters belong to the same checkpoint, by prefix (e.g. { discriminator: runner }). */
  readonly companions?: Readonly<Record<string, StepRunner>>;
  readonly totalSteps: number;
  readonly seed: number;
  /** Inputs of 0-based step s besides `step` and `rng` (which the loop adds). */
  readonly batch: (step: number) => Readonly<Record<string, ArrayLike<number> | number>>;
  /** Outputs to read back each step (default: every reported output); scalars are logged. */
  readonly read?: readonly string[];
  /** Runs after each step with its outputs (e.g. the discriminator's step on the reconstruction). */
  readonly after?: (step: number, outputs: Readonly<Record<string, Float64Array>>) => Promise<Record<string, number> | void>;
  /** Stops with TrainingDivergedError when one of these outputs is not finite (default ['loss']). */
  readonly finite?: readonly string[];
  readonly checkpoint?: CheckpointOptions;
  /** Continue from the newest checkpoint in checkpoint.dir when there is one. */
  readonly resume?: boolean;
  /** One JSON object per step (appended on resume). */
  readonly jsonl?: string;
  readonly evaluate?: { readonly every: number; readonly run: (step: number) => Promise<Record<string, number>> };
  readonly progress?: Progress | null;
}

export interface TrainLoopResult {
  /** The steps this call ran (after the resumed-from step). */
  readonly history: StepRecord[];
  readonly evaluations: StepRecord[];
  /** The step the run continued from (0 for a fresh run). */
  readonly resumedFrom: number;
  readonly lastCheckpoint: string | undefined;
}

export function checkpointPath(dir: string, step: number): string {
  return join(dir, `step-${String(step).padStart(7, '0')}.safetensors`);
}

function owners(options: TrainLoopOptions): [string, StepRunner][] {
  return [['', options.runner], ...Object.entries(options.companions ?? {}).map(([prefix, r]): [string, StepRunner] => [`${prefix}/`, r])];
}

/** Writes every parameter of the runners (weights, optimiser state, EMA) at `step`. */
export async function writeTrainingCheckpoint(options: TrainLoopOptions, step: number): Promise<string> {
  const { checkpoint } = options;
  if (!checkpoint) throw new Error('writeTrainingCheckpoint: no checkpoint options');
  const tensors: Record<string, Float64Array> = {};
  const shapes: Record<string, readonly number[]> = {};
  for (const [prefix, runner] of owners(options)) {
    for (const name of runner.paramNames) {
      tensors[prefix + name] = await runner.readParam(name);
      shapes[prefix + name] = runner.paramShapes[name]!;
    }
  }
  const path = checkpointPath(checkpoint.dir, step);
  mkdirSync(checkpoint.dir, { recursive: true });
  saveCheckpoint(path, { tensors, shapes, dtype: checkpoint.dtype, step, rng: { seed: options.seed }, config: checkpoint.config });
  return path;
}

/** Loads a checkpoint into the runners; returns its step. Every tensor must match a param exactly. */
export function restoreTrainingCheckpoint(options: TrainLoopOptions, path: string): number {
  const saved = loadCheckpoint(path);
  if (saved.rng.seed !== options.seed) throw new Error(`${path}: written by a run with seed ${saved.rng.seed}, this run has seed ${options.seed} (pass the same seed to resume exactly)`);
  for (const [prefix, runner] of owners(options)) {
    for (const name of runner.paramNames) {
      const values = saved.tensors[prefix + name];
      if (!values) throw new Error(`${path}: no tensor "${prefix + name}" (the checkpoint is from a different model or run)`);
      runner.writeParam(name, values);
    }
  }
  return saved.step;
}

export async function trainLoop(options: TrainLoopOptions): Promise<TrainLoopResult> {
  const { runner, totalSteps, seed, checkpoint } = options;
  let start = 0;
  let lastCheckpoint: string | undefined;
  if (options.resume && checkpoint) {
    const found = latestCheckpoint(checkpoint.dir);
    if (found) {
      start = restoreTrainingCheckpoint(options, found);
      lastCheckpoint = found;
    }
  }
  if (options.jsonl) {
    mkdirSync(dirname(options.jsonl), { recursive: true });
    if (start === 0) writeFileSync(options.jsonl, '');
  }
  const progress = options.progress === undefined ? new Progress({ label: options.label, total: totalSteps }) : options.progress;
  if (start > 0) progress?.note(`${options.label}: resumed from ${lastCheckpoint} at step ${start}`);
  const finite = options.finite ?? ['loss'];
  const takes = new Set(runner.inputNames);
  const history: StepRecord[] = [];
  const evaluations: StepRecord[] = [];
  for (let s = start; s < totalSteps; s++) {
    const step = s + 1;
    const inputs: Record<string, ArrayLike<number> | number> = { ...options.batch(s) };
    if (takes.has(STEP_INPUT)) inputs[STEP_INPUT] = step;
    if (takes.has(RNG_INPUT)) inputs[RNG_INPUT] = stepKey(seed, s);
    const outputs = await runner.run(inputs, options.read);
    const values: Record<string, number> = {};
    for (const [name, data] of Object.entries(outputs)) if (data.length === 1) values[name] = data[0]!;
    for (const name of finite) {
      const value = values[name];
      if (value !== undefined && !Number.isFinite(value)) throw new TrainingDivergedError(step, name, value, lastCheckpoint);
    }
    const extra = await options.after?.(s, outputs);
    if (extra) Object.assign(values, extra);
    history.push({ step, values });
    if (options.jsonl) appendFileSync(options.jsonl, `${JSON.stringify({ step, ...values })}\n`);
    progress?.update(step, values);
    if (options.evaluate && (step % options.evaluate.every === 0 || step === totalSteps)) {
      const metrics = await options.evaluate.run(step);
      evaluations.push({ step, values: metrics });
      if (options.jsonl) appendFileSync(options.jsonl, `${JSON.stringify({ step, eval: metrics })}\n`);
      progress?.note(`${options.label} eval @ ${step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join('  ')}`);
    }
    if (checkpoint && (step % checkpoint.every === 0 || step === totalSteps)) lastCheckpoint = await writeTrainingCheckpoint(options, step);
  }
  return { history, evaluations, resumedFrom: start, lastCheckpoint };
}
