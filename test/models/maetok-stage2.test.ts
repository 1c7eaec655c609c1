// MAETok stage 2 (spec §2.10), the teacher perceptual loss (spec §6) and latent
// normalisation (spec §2.11).

import { describe, expect, it } from 'vitest';
import { DType, STEP_INPUT, constantLr, initParams, spec, trace, trainStep } from '../../dsl/index.ts';
import { MAETOK_TINY } from '../../models/configs.ts';
import { annealedMaskRatio, denormalizeLatents, latentStats, maetokStage2Loss, normalizeLatents, perceptualLoss, stage2Trainable } from '../../models/maetok.ts';
import { patchTeacher } from '../../models/teacher.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { runStep } from '../../runtime/cpu/step.ts';

const images = (batch: number) => Array.from({ length: batch * 784 }, (_, i) => Math.sin(i * 0.21));

describe('stage 2', () => {
  it('anneals the mask ratio linearly from 0.6 to 0 over annealSteps, then keeps 0', () => {
    const t = trace((_, { step }) => annealedMaskRatio(step, 100), { step: spec([] as const) });
    const at = (s: number) => interpret(t.graph, { inputs: { step: s } }).outputs.out!.data[0]!;
    expect(at(0)).toBeCloseTo(0.6, 12);
    expect(at(50)).toBeCloseTo(0.3, 12);
    expect(at(100)).toBe(0);
    expect(at(400)).toBe(0);
  });

  it('trains only the pixel decoder and post_quant_conv; the encoder stays exactly as it was', () => {
    const step = trainStep(
      (ctx, { x }) => maetokStage2Loss(ctx, x, MAETOK_TINY, { step: ctx.input(STEP_INPUT, [] as const), annealSteps: 10 }),
      { x: spec([2, 1, 28, 28] as const) },
      { schedule: constantLr(1e-2), trainable: stage2Trainable },
    );
    expect(step.trained.length).toBeGreaterThan(0);
    expect(step.trained.every((p) => p.name.startsWith('decoder.') || p.name.startsWith('post_quant_conv.'))).toBe(true);
    const state = initParams(step.params, 0);
    const before = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, Float64Array.from(v)]));
    const out = runStep(step.graph, state, { x: images(2), step: 1, rng: [1, 2] });
    expect(out.ratio!.data[0]).toBeCloseTo(0.54, 6);
    for (const name of Object.keys(before).filter((n) => n.startsWith('encoder.') || n.startsWith('quant_conv.'))) {
      expect(Array.from(state[name]!), name).toEqual(Array.from(before[name]!));
    }
    expect(Array.from(state['decoder.to_pixel.model.bias']!)).not.toEqual(Array.from(before['decoder.to_pixel.model.bias']!));
  });
});

describe('perceptual loss', () => {
  const teacher = patchTeacher('lpips', 4, 8);
  const t = trace((ctx, { a, b }) => perceptualLoss(ctx, a, b, teacher), { a: spec([2, 1, 28, 28] as const), b: spec([2, 1, 28, 28] as const) });
  const params = initParams(t.params, 0);
  const run = (a: number[], b: number[]) => interpret(t.graph, { inputs: { a, b }, params }).outputs.out!.data[0]!;

  it('is 0 for identical images, positive otherwise, and at most 4 (unit vectors differ by at most 2)', () => {
    expect(run(images(2), images(2))).toBe(0);
    const other = images(2).map((v, i) => v * Math.cos(i));
    const value = run(images(2), other);
    expect(value).toBeGreaterThan(0);
    expect(value).toBeLessThanOrEqual(4);
  });

  it('barely moves for a 0.1% rescaling of the reconstruction and moves a lot for a real change', () => {
    // features are unit-normalised per token, so a small uniform scale mostly cancels
    const base = images(2);
    const scaled = base.map((v) => v * 1.001);
    const changed = base.map((v, i) => (i % 7 === 0 ? -v : v));
    expect(Math.abs(run(scaled, base))).toBeLessThan(run(changed, base) / 100);
  });
});

describe('latent normalisation', () => {
  it('uses the scalar mean and standard deviation over all latent elements and round-trips', () => {
    const latents = [1, 3, 5, 7];
    const stats = latentStats(latents);
    expect(stats).toEqual({ mean: 4, std: Math.sqrt(5) });
    const t = trace((_, { h }) => ({ x: normalizeLatents(h, stats), back: denormalizeLatents(normalizeLatents(h, stats), stats) }), { h: spec([4] as const, DType.F32) });
    const { x, back } = interpret(t.graph, { inputs: { h: latents } }).outputs;
    expect(latentStats(x!.data).mean).toBeCloseTo(0, 12);
    expect(latentStats(x!.data).std).toBeCloseTo(1, 12);
    Array.from(back!.data).forEach((v, i) => expect(v).toBeCloseTo(latents[i]!, 12));
  });
});

describe('teacher features from an input', () => {
  it('gives the same stage-1 loss as computing the same features in the graph', async () => {
    const { featureInputTeacher } = await import('../../models/teacher.ts');
    const { maetokStage1Loss } = await import('../../models/maetok.ts');
    const teacher = patchTeacher('dino', 4, 32);
    const inGraph = trace((ctx, { x }) => ({ loss: maetokStage1Loss(ctx, x, MAETOK_TINY, { teachers: { dino: teacher } }).loss, features: teacher(ctx, x) }), { x: spec([2, 1, 28, 28] as const) });
    const fromInput = trace((ctx, { x }) => maetokStage1Loss(ctx, x, MAETOK_TINY, { teachers: { dino: featureInputTeacher('dino', 49, 32) } }).loss, { x: spec([2, 1, 28, 28] as const) });
    const params = initParams(inGraph.params, 0);
    const env = { x: images(2), rng: [5, 6] };
    const reference = interpret(inGraph.graph, { inputs: env, params }).outputs;
    const loss = interpret(fromInput.graph, { inputs: { ...env, features_dino: reference.features!.data }, params }).outputs.out!.data[0]!;
    expect(loss).toBeCloseTo(reference.loss!.data[0]!, 12);
  });
});
