// CLI pipeline · what every stage shares: an image set in [−1, 1] (Fashion-MNIST
// from the Debian package, or an image folder), batches gathered by index with
// the seeded flip, and forward programs (encode, decode, velocity, features)
// compiled once at a fixed batch and mapped over a whole set.

import { trace, type Context, type InputSpec, type ModelOutputs, type Tensor } from '../../dsl/index.ts';
import { augment } from '../../runtime/data/augment.ts';
import { loadFashionMnist } from '../../runtime/data/idx.ts';
import { readImageFolder } from '../../runtime/data/images.ts';
import { createStepRunner, type StepDevice, type StepRunner } from '../../runtime/train/step-runner.ts';

export interface ImageSet {
  /** (count, channels, size, size) in [−1, 1]. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  readonly channels: number;
  readonly size: number;
  readonly classes: number;
  readonly source: string;
}

/** Fashion-MNIST (the split's first `limit` images) scaled as spec §6: x/127.5 − 1. */
export function fashionMnist(split: 'train' | 't10k', limit = Infinity): ImageSet {
  const data = loadFashionMnist(split);
  const [total, size] = data.images.shape as [number, number, number];
  const count = Math.min(total, limit);
  const images = new Float32Array(count * size * size);
  for (let i = 0; i < images.length; i++) images[i] = data.images.data[i]! / 127.5 - 1;
  return { images, labels: Int32Array.from(data.labels.subarray(0, count)), count, channels: 1, size, classes: 10, source: `fashion-mnist ${split}` };
}

/** An ImageFolder-style directory (class sub-folders) at `size`², gray or RGB. */
export function imageFolder(dir: string, size: number, channels: 1 | 3): ImageSet {
  const folder = readImageFolder(dir, { size, channels, crop: 'center' });
  const count = folder.labels.length;
  return { images: folder.images, labels: folder.labels, count, channels, size, classes: Math.max(1, folder.classes.length), source: dir };
}

export function imageSize(set: ImageSet): number {
  return set.channels * set.size * set.size;
}

/** Images `indices` of the set as one batch (float64), optionally with the seeded random flip of step `step`. */
export function gatherImages(set: ImageSet, indices: ArrayLike<number>, flip?: { readonly seed: number; readonly step: number }): Float64Array {
  const per = imageSize(set);
  const out = new Float64Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) out.set(set.images.subarray(indices[i]! * per, (indices[i]! + 1) * per), i * per);
  return flip ? augment(out, indices.length, set.channels, set.size, set.size, { seed: flip.seed, step: flip.step, flip: 0.5 }) : out;
}

export function gatherLabels(set: ImageSet, indices: ArrayLike<number>): Float64Array {
  return Float64Array.from(indices, (i) => set.labels[i]!);
}

export interface ForwardProgram {
  readonly runner: StepRunner;
  readonly batch: number;
  /** Runs the program over `count` items in batches, padding the last; returns each output concatenated. */
  map(count: number, fill: (start: number, n: number) => Readonly<Record<string, ArrayLike<number> | number>>, outputs: readonly string[]): Promise<Record<string, Float64Array>>;
}

/**
 * Compiles a forward function at batch size `batch`. `params` holds every parameter it declares
 * (e.g. a tokenizer's EMA weights under their plain names).
 */
export async function forwardProgram<I extends Record<string, InputSpec>>(
  device: StepDevice,
  fn: (ctx: Context, inputs: { [K in keyof I]: Tensor<I[K]['shape'], I[K]['dtype']> }) => ModelOutputs,
  inputs: I,
  params: Readonly<Record<string, ArrayLike<number>>>,
  batch: number,
): Promise<ForwardProgram> {
  const traced = trace(fn, inputs);
  const runner = await createStepRunner(device, traced.graph, params);
  const sizes = Object.fromEntries(Object.entries(inputs).map(([name, s]) => [name, s.shape.slice(1).reduce((a, b) => a * b, 1)]));
  return {
    runner,
    batch,
    async map(count, fill, outputs) {
      const parts: Record<string, Float64Array[]> = Object.fromEntries(outputs.map((o) => [o, []]));
      for (let start = 0; start < count; start += batch) {
        const n = Math.min(batch, count - start);
        const given = fill(start, n);
        const padded: Record<string, ArrayLike<number> | number> = {};
        for (const [name, value] of Object.entries(given)) {
          const per = sizes[name];
          if (typeof value === 'number' || per === undefined || value.length === batch * per) padded[name] = value;
          else {
            const full = new Float64Array(batch * per);
            full.set(Array.from(value));
            padded[name] = full;
          }
        }
        const out = await runner.run(padded, outputs);
        for (const name of outputs) {
          const data = out[name]!;
          parts[name]!.push(data.subarray(0, (data.length / batch) * n));
        }
      }
      return Object.fromEntries(outputs.map((name) => {
        const list = parts[name]!;
        const all = new Float64Array(list.reduce((a, p) => a + p.length, 0));
        let at = 0;
        for (const p of list) {
          all.set(p, at);
          at += p.length;
        }
        return [name, all];
      }));
    },
  };
}

/** Parameters whose names start with `prefix`, renamed without it (e.g. EMA weights → plain names). */
export function stripPrefix(params: Readonly<Record<string, Float64Array>>, prefix: string): Record<string, Float64Array> {
  return Object.fromEntries(Object.entries(params).filter(([name]) => name.startsWith(prefix)).map(([name, v]) => [name.slice(prefix.length), v]));
}

/** `a` with `b`'s entries under `prefix` (e.g. a trained classifier as `teacher_dino.*`). */
export function withPrefix(params: Readonly<Record<string, Float64Array>>, prefix: string): Record<string, Float64Array> {
  return Object.fromEntries(Object.entries(params).map(([name, v]) => [`${prefix}${name}`, v]));
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/** Every parameter of a runner whose name passes `keep` (default all), read back to the host. */
export async function readParams(runner: StepRunner, keep: (name: string) => boolean = () => true): Promise<Record<string, Float64Array>> {
  const out: Record<string, Float64Array> = {};
  for (const name of runner.paramNames) if (keep(name)) out[name] = await runner.readParam(name);
  return out;
}

const cachedPrograms = new WeakMap<object, Map<string, Promise<ForwardProgram>>>();

/**
 * One compiled forward program per (weights, role, batch, device), kept for the process: the
 * demo encodes, decodes and scores with the same model several times, and a cold lavapipe
 * pays 20–60 s of shader JIT for each fresh program.
 */
export function cachedForward(weights: object, key: string, make: () => Promise<ForwardProgram>): Promise<ForwardProgram> {
  let table = cachedPrograms.get(weights);
  if (!table) cachedPrograms.set(weights, (table = new Map()));
  let program = table.get(key);
  if (!program) table.set(key, (program = make()));
  return program;
}

/**
 * Inference weights from a training state: the EMA value where the step kept one, the live
 * value elsewhere; optimiser moments, EMA copies and names `skip` rejects are left out.
 */
export function inferenceWeights(state: Readonly<Record<string, Float64Array>>, skip: (name: string) => boolean = () => false): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const [name, value] of Object.entries(state)) {
    if (name.startsWith('optim.') || name.startsWith('ema.') || skip(name)) continue;
    out[name] = state[`ema.${name}`] ?? value;
  }
  return out;
}
