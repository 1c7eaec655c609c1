// CLI pipeline · the project's own Fashion-MNIST classifier. In: an image set.
// Out: trained weights, whose token features are the minis' teacher (spec §6:
// DINOv2/SigLIP cannot be downloaded here) and whose pooled features are the
// space of the Fréchet distance reported as "gFD (kiln classifier)", not FID.

import { DType, initParams, spec, trainStep, warmupCosine } from '../../dsl/index.ts';
import { CLASSIFIER_MINI, classifierHead, classifierLogits, classifierTokens, crossEntropy, type ClassifierConfig } from '../../models/classifier.ts';
import { batchIndices } from '../../runtime/data/order.ts';
import { trainLoop } from '../../runtime/train/loop.ts';
import { createStepRunner, type StepDevice } from '../../runtime/train/step-runner.ts';
import { cachedForward, forwardProgram, gatherImages, gatherLabels, readParams, type ImageSet } from './common.ts';

export interface ClassifierRun {
  readonly config?: ClassifierConfig;
  readonly steps: number;
  readonly batch: number;
  readonly learningRate?: number;
  readonly seed: number;
  readonly device: StepDevice;
  readonly jsonl?: string;
}

export interface TrainedClassifier {
  readonly config: ClassifierConfig;
  readonly params: Record<string, Float64Array>;
  readonly shapes: Record<string, readonly number[]>;
  readonly losses: number[];
  readonly accuracies: number[];
}

export async function trainClassifier(data: ImageSet, run: ClassifierRun): Promise<TrainedClassifier> {
  const config = run.config ?? CLASSIFIER_MINI;
  const step = trainStep(
    (ctx, { images, labels }) => crossEntropy(classifierLogits(ctx, images, config), labels),
    { images: spec([run.batch, data.channels, data.size, data.size]), labels: spec([run.batch], DType.I32) },
    { schedule: warmupCosine({ base: run.learningRate ?? 3e-3, warmupSteps: Math.min(20, run.steps), totalSteps: run.steps, final: 1e-4 }), clip: 1.0, adamw: { beta1: 0.9, beta2: 0.95, weightDecay: 1e-4 } },
  );
  const runner = await createStepRunner(run.device, step.graph, initParams(step.params, run.seed));
  const result = await trainLoop({
    label: 'classifier',
    runner,
    totalSteps: run.steps,
    seed: run.seed,
    batch: (s) => {
      const indices = batchIndices(data.count, run.batch, run.seed, s);
      return { images: gatherImages(data, indices, { seed: run.seed, step: s }), labels: gatherLabels(data, indices) };
    },
    ...(run.jsonl ? { jsonl: run.jsonl } : {}),
  });
  const params = await readParams(runner, (name) => !name.startsWith('optim.'));
  const shapes: Record<string, readonly number[]> = { ...runner.paramShapes };
  runner.dispose();
  return {
    config,
    params,
    shapes,
    losses: result.history.map((r) => r.values.loss!),
    accuracies: result.history.map((r) => r.values.accuracy!),
  };
}

/** Pooled features (count, width) and test accuracy of a trained classifier over a set. */
export async function classifierFeatures(classifier: TrainedClassifier, data: ImageSet, images: Float32Array | Float64Array, count: number, device: StepDevice, batch = 256): Promise<{ features: Float64Array; logits: Float64Array }> {
  const { config } = classifier;
  const program = await cachedForward(classifier.params, `features ${batch} ${device}`, () => forwardProgram(device, (ctx, { x }) => {
    const tokens = classifierTokens(ctx, x, config);
    return { features: tokens.mean(1), logits: classifierHead(ctx, tokens, config) };
  }, { x: spec([batch, data.channels, data.size, data.size]) }, classifier.params, batch));
  const per = data.channels * data.size * data.size;
  const out = await program.map(count, (start, n) => ({ x: images.subarray(start * per, (start + n) * per) }), ['features', 'logits']);
  return { features: out.features!, logits: out.logits! };
}

export function accuracy(logits: Float64Array, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
    if (best === labels[i]) correct++;
  }
  return correct / labels.length;
}
