import { DType, initParams, spec, trainStep, warmupCosine } from './dsl/index.ts';
import { CLASSIFIER_TINY, classifierLogits, crossEntropy } from './models/classifier.ts';
import { createStepRunner } from './runtime/train/step-runner.ts';
const batch = 8;
const step = trainStep((ctx, { images, labels }) => crossEntropy(classifierLogits(ctx, images, CLASSIFIER_TINY), labels),
  { images: spec([batch, 1, 28, 28] as const), labels: spec([batch] as const, DType.I32) },
  { schedule: warmupCosine({ base: 1e-2, warmupSteps: 10, totalSteps: 12, final: 3e-4 }), clip: 1.0, adamw: { beta1: 0.9, beta2: 0.95, weightDecay: 1e-4 } });
const init = initParams(step.params, 3);
const gpu = await createStepRunner('webgpu', step.graph, init);
const cpu = await createStepRunner('cpu', step.graph, init, { precision: 'f32' });
const images = Float64Array.from({ length: batch * 784 }, (_, i) => Math.sin(i * 0.37));
const labels = Float64Array.from({ length: batch }, (_, i) => i % 10);
const a = await gpu.run({ images, labels, step: 1 }); const b = await cpu.run({ images, labels, step: 1 });
for (const k of Object.keys(a)) console.log(k, a[k]![0], b[k]![0]);
for (const p of step.params) {
  const x = await gpu.readParam(p.name), y = await cpu.readParam(p.name);
  const err = Math.max(...x.map((v, i) => Math.abs(v - y[i]!)));
  if (err > 1e-4) console.log('param', p.name, err.toExponential(2), x.slice(0, 3), y.slice(0, 3));
}
