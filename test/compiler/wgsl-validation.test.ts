// Every generated shader passes Dawn's WGSL compiler with zero errors and zero
// warnings: here for every kernel of the Fashion-MNIST train-step program (the
// executor also rejects any message for every kernel it loads in other tests).

import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { DType, spec, trainStep, warmupCosine } from '../../dsl/index.ts';
import { CLASSIFIER_TINY, classifierLogits, crossEntropy } from '../../models/classifier.ts';
import { formatWgslMessages, validateWgsl, webgpuDevice } from '../../runtime/webgpu/device.ts';

describe('WGSL validation', () => {
  it('validates every kernel of the classifier train step with zero messages', async () => {
    const step = trainStep(
      (ctx, { images, labels }) => crossEntropy(classifierLogits(ctx, images, CLASSIFIER_TINY), labels),
      { images: spec([4, 1, 28, 28] as const), labels: spec([4] as const, DType.I32) },
      { schedule: warmupCosine({ base: 1e-3, warmupSteps: 5, totalSteps: 50 }), clip: 1, ema: 0.99 },
    );
    const { program } = compile(step.graph, (await webgpuDevice()).compileOptions());
    expect(program.kernels.length).toBeGreaterThan(100);
    for (const kernel of program.kernels) {
      const messages = await validateWgsl(kernel.source);
      expect(messages, `${kernel.name}\n${formatWgslMessages(kernel.source, messages)}`).toEqual([]);
    }
  }, 120_000);
});
