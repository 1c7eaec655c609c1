// Example · trains a 2-block ViT classifier on real Fashion-MNIST (the Debian
// package's IDX files) with one compiled train step (forward + backward + clip +
// AdamW), on the reference interpreter or on WebGPU, and prints the falling loss.
// Run: npx tsx examples/train-fashion-mnist.ts [steps] [batch] [cpu|webgpu]

import { pathToFileURL } from 'node:url';
import { DType, initParams, spec, trainStep, warmupCosine } from '../dsl/index.ts';
import { permutation } from '../runtime/data/order.ts';
import { CLASSIFIER_TINY, classifierLogits, crossEntropy, type ClassifierConfig } from '../models/classifier.ts';
import { loadFashionMnist, type LabelledImages } from '../runtime/data/idx.ts';
import { createStepRunner, type StepDevice } from '../runtime/train/step-runner.ts';
import type { InterpretOptions } from '../runtime/cpu/interpret.ts';

// Re-exported from its new home so callers of the example keep working.
export { permutation };

export interface TrainOptions {
  readonly steps: number;
  readonly batch: number;
  readonly seed?: number;
  readonly learningRate?: number;
  readonly config?: ClassifierConfig;
  readonly data?: LabelledImages;
  readonly log?: (line: string) => void;
  readonly device?: StepDevice;
  /** Interpreter precision; 'f32' makes a cpu run comparable step for step with WebGPU. */
  readonly precision?: InterpretOptions['precision'];
}

export interface TrainResult {
  readonly losses: number[];
  readonly accuracies: number[];
}

export async function trainFashionMnist(options: TrainOptions): Promise<TrainResult> {
  const config = options.config ?? CLASSIFIER_TINY;
  const { batch, steps } = options;
  const seed = options.seed ?? 0;
  const data = options.data ?? loadFashionMnist('train');
  const [count, height, width] = data.images.shape as [number, number, number];
  const step = trainStep(
    (ctx, { images, labels }) => crossEntropy(classifierLogits(ctx, images, config), labels),
    { images: spec([batch, 1, height, width] as const), labels: spec([batch] as const, DType.I32) },
    { schedule: warmupCosine({ base: options.learningRate ?? 1e-2, warmupSteps: Math.min(10, steps), totalSteps: steps, final: 3e-4 }), clip: 1.0, adamw: { beta1: 0.9, beta2: 0.95, weightDecay: 1e-4 } },
  );
  const runner = await createStepRunner(options.device ?? 'cpu', step.graph, initParams(step.params, seed), options.precision ? { precision: options.precision } : {});
  const order = permutation(count, seed);
  const pixels = height * width;
  const images = new Float64Array(batch * pixels);
  const labels = new Float64Array(batch);
  const losses: number[] = [];
  const accuracies: number[] = [];
  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < batch; i++) {
      const index = order[(s * batch + i) % count]!;
      for (let p = 0; p < pixels; p++) images[i * pixels + p] = data.images.data[index * pixels + p]! / 127.5 - 1;
      labels[i] = data.labels[index]!;
    }
    const out = await runner.run({ images, labels, step: s + 1 });
    losses.push(out.loss![0]!);
    accuracies.push(out.accuracy![0]!);
    options.log?.(`step ${String(s + 1).padStart(4)}  loss ${losses[s]!.toFixed(4)}  acc ${accuracies[s]!.toFixed(3)}  |g| ${out.gradNorm![0]!.toFixed(3)}  lr ${out.lr![0]!.toExponential(2)}`);
  }
  return { losses, accuracies };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const steps = Number(process.argv[2] ?? 60);
  const batch = Number(process.argv[3] ?? 32);
  const device = (process.argv[4] ?? 'cpu') as StepDevice;
  if (device !== 'cpu' && device !== 'webgpu') throw new Error(`unknown device "${device}" (cpu or webgpu)`);
  const started = performance.now();
  const { losses } = await trainFashionMnist({ steps, batch, device, log: console.log });
  const window = Math.max(1, Math.floor(steps / 5));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`first ${window} steps mean loss ${mean(losses.slice(0, window)).toFixed(4)} → last ${window} ${mean(losses.slice(-window)).toFixed(4)} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
