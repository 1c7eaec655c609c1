// MAETok's adversarial training (spec §2.7): DiffAugment, the spectral-norm
// discriminator on a frozen backbone, hinge/LeCAM/consistency losses, the
// adaptive generator weight and the two alternating train steps. Oracles: finite
// differences (float64 interpreter), hand-computed values, a host Jacobi
// eigensolver for singular values, and geometric properties of the augmentations.

import { describe, expect, it } from 'vitest';
import { DType, STEP_INPUT, constantLr, foldIn, grad, init, initParams, spec, trace, trainStep, type Context, type Shape, type Tensor } from '../../dsl/index.ts';
import {
  adaptiveWeight,
  discriminatorLoss,
  discriminatorTrainStep,
  generatorAdversarialLoss,
  generatorTrainable,
  hingeDiscriminatorLoss,
  hingeGeneratorLoss,
  lecamRegularizer,
  type AdversarialOptions,
} from '../../models/adversarial.ts';
import { MAETOK_TINY } from '../../models/configs.ts';
import { DIFF_AUGMENT, STRONG_DIFF_AUGMENT, diffAugment, randBrightness, randContrast, randCutout, randSaturation, randTranslation } from '../../models/diffaug.ts';
import { featureDiscriminator, isDiscriminatorParam, spectralNorm, teacherBackbone, type FeatureBackbone } from '../../models/discriminator.ts';
import { imageTokens, maetokDecode, maetokEncoder, maetokStage1Loss, maetokStage2Loss, perceptualLoss, pixelHeadWeight, sampleMask, stage2Trainable } from '../../models/maetok.ts';
import { patchTeacher } from '../../models/teacher.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { runStep } from '../../runtime/cpu/step.ts';
import { checkGradients, wave } from '../support/gradcheck.ts';

type F32 = Tensor<Shape, DType.F32>;

const pixelsOf = (batch: number, channels: number, side: number, seed = 1) =>
  Array.from({ length: batch * channels * side * side }, (_, i) => 1 + Math.abs(Math.sin(i * 0.37 + seed)) + i / 1000);

/** Runs a one-input augmentation on the interpreter. */
function augmentOnce(fn: (ctx: Context, x: F32) => F32, shape: readonly [number, number, number, number], x: readonly number[], rng: readonly [number, number]): Float64Array {
  const t = trace((ctx, { x: input }) => fn(ctx, input), { x: spec(shape) });
  return interpret(t.graph, { inputs: { x, rng } }).outputs.out!.data;
}

// ---- host linear algebra (the oracle for spectral norms) --------------------------------

/** Eigenvalues and eigenvectors (columns of `vectors`, row-major n×n) of a symmetric matrix by cyclic Jacobi rotations. */
function symmetricEigen(matrix: readonly number[], n: number): { values: number[]; vectors: number[] } {
  const a = [...matrix];
  const v: number[] = Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Array.from({ length: n }, (_, i) => a[i * n + i]!), vectors: v };
}

/** W·Wᵀ of a row-major rows×cols matrix. */
function gramRows(w: readonly number[], rows: number, cols: number): number[] {
  return Array.from({ length: rows * rows }, (_, idx) => {
    const i = Math.floor(idx / rows);
    const j = idx % rows;
    let acc = 0;
    for (let k = 0; k < cols; k++) acc += w[i * cols + k]! * w[j * cols + k]!;
    return acc;
  });
}

/** Largest singular value and its left singular vector. */
function topSingular(w: readonly number[], rows: number, cols: number): { sigma: number; u: number[] } {
  const { values, vectors } = symmetricEigen(gramRows(w, rows, cols), rows);
  const best = values.indexOf(Math.max(...values));
  return { sigma: Math.sqrt(values[best]!), u: Array.from({ length: rows }, (_, k) => vectors[k * rows + best]!) };
}

// ---- DiffAugment -------------------------------------------------------------------------

describe('DiffAugment', () => {
  const shape = [6, 2, 16, 16] as const;
  const x = pixelsOf(6, 2, 16);

  it('is the identity when p = 0, for every group and any rng', () => {
    for (const rng of [[1, 2], [3, 4], [99, 5]] as const) {
      const out = augmentOnce((ctx, input) => diffAugment(ctx.rng(), input, { ...STRONG_DIFF_AUGMENT, p: 0 }), shape, x, rng);
      expect(Array.from(out)).toEqual(x);
    }
  });

  it('translates each image by one integer shift within round(size/8), zero-filling what moves in', () => {
    const limit = Math.trunc(16 * 0.125 + 0.5); // 2
    const shifts: string[] = [];
    for (const rng of [[1, 2], [7, 3]] as const) {
      const out = augmentOnce((ctx, input) => randTranslation(ctx.rng(), input, 0.125), shape, x, rng);
      for (let b = 0; b < shape[0]; b++) {
        const matching: string[] = [];
        for (let dy = -limit; dy <= limit; dy++) {
          for (let dx = -limit; dx <= limit; dx++) {
            let ok = true;
            for (let c = 0; c < 2 && ok; c++) {
              for (let i = 0; i < 16 && ok; i++) {
                for (let j = 0; j < 16 && ok; j++) {
                  const [si, sj] = [i + dy, j + dx];
                  const expected = si >= 0 && si < 16 && sj >= 0 && sj < 16 ? x[((b * 2 + c) * 16 + si) * 16 + sj]! : 0;
                  ok = out[((b * 2 + c) * 16 + i) * 16 + j] === expected;
                }
              }
            }
            if (ok) matching.push(`${dy},${dx}`);
          }
        }
        expect(matching, `image ${b}`).toHaveLength(1);
        shifts.push(matching[0]!);
      }
    }
    // content really moves (and by different amounts): more than one distinct shift, not all zero
    expect(new Set(shifts).size).toBeGreaterThan(1);
    expect(shifts.some((s) => s !== '0,0')).toBe(true);
  });

  it('cuts out one square of round(ratio·size) per image (clipped only at the border), the same on every channel', () => {
    const side = 28;
    const cutShape = [16, 2, side, side] as const;
    const input = pixelsOf(16, 2, side);
    const size = Math.trunc(side * 0.2 + 0.5); // 6
    const out = augmentOnce((ctx, v) => randCutout(ctx.rng(), v, 0.2), cutShape, input, [5, 6]);
    let interior = 0;
    for (let b = 0; b < 16; b++) {
      const zeroRows = new Set<number>();
      const zeroCols = new Set<number>();
      for (let i = 0; i < side; i++) {
        for (let j = 0; j < side; j++) {
          const at = (c: number) => ((b * 2 + c) * side + i) * side + j;
          const zero = out[at(0)] === 0;
          expect(out[at(1)] === 0).toBe(zero);
          if (zero) {
            zeroRows.add(i);
            zeroCols.add(j);
          } else {
            expect(out[at(0)]).toBe(input[at(0)]);
            expect(out[at(1)]).toBe(input[at(1)]);
          }
        }
      }
      const rows = [...zeroRows].sort((p, q) => p - q);
      const cols = [...zeroCols].sort((p, q) => p - q);
      // the zeros fill exactly the rectangle rows × cols, each a contiguous run
      let zeros = 0;
      for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) if (out[((b * 2) * side + i) * side + j] === 0) zeros++;
      expect(zeros).toBe(rows.length * cols.length);
      expect(rows.at(-1)! - rows[0]! + 1).toBe(rows.length);
      expect(cols.at(-1)! - cols[0]! + 1).toBe(cols.length);
      // side s away from the border; clipped (at least s − s/2) where it touches it
      for (const run of [rows, cols]) {
        if (run[0]! > 0 && run.at(-1)! < side - 1) expect(run.length).toBe(size);
        else expect(run.length).toBeGreaterThanOrEqual(size - size / 2);
        expect(run.length).toBeLessThanOrEqual(size);
      }
      if (rows.length === size && cols.length === size) interior++;
    }
    expect(interior).toBeGreaterThan(4);
  });

  it('brightness adds one constant in [−½, ½) per image', () => {
    const out = augmentOnce((ctx, input) => randBrightness(ctx.rng(), input), shape, x, [2, 9]);
    const per = 2 * 16 * 16;
    const offsets = Array.from({ length: 6 }, (_, b) => out[b * per]! - x[b * per]!);
    for (let i = 0; i < out.length; i++) expect(out[i]! - x[i]!).toBeCloseTo(offsets[Math.floor(i / per)]!, 12);
    for (const o of offsets) {
      expect(o).toBeGreaterThanOrEqual(-0.5);
      expect(o).toBeLessThan(0.5);
    }
    expect(new Set(offsets.map((o) => o.toFixed(9))).size).toBe(6);
  });

  it('saturation keeps the channel mean of every pixel; contrast keeps the image mean and scales deviations by one factor in [½, 3/2)', () => {
    const sat = augmentOnce((ctx, input) => randSaturation(ctx.rng(), input), shape, x, [4, 4]);
    const plane = 16 * 16;
    for (let b = 0; b < 6; b++) {
      for (let p = 0; p < plane; p++) {
        const at = (c: number) => (b * 2 + c) * plane + p;
        expect((sat[at(0)]! + sat[at(1)]!) / 2).toBeCloseTo((x[at(0)]! + x[at(1)]!) / 2, 12);
      }
    }
    const con = augmentOnce((ctx, input) => randContrast(ctx.rng(), input), shape, x, [4, 4]);
    const per = 2 * plane;
    for (let b = 0; b < 6; b++) {
      const slice = (v: ArrayLike<number>) => Array.from({ length: per }, (_, k) => v[b * per + k]!);
      const [before, after] = [slice(x), slice(con)];
      const mean = before.reduce((s, v) => s + v, 0) / per;
      expect(after.reduce((s, v) => s + v, 0) / per).toBeCloseTo(mean, 10);
      const factor = (after[0]! - mean) / (before[0]! - mean);
      expect(factor).toBeGreaterThanOrEqual(0.5);
      expect(factor).toBeLessThan(1.5);
      before.forEach((v, k) => expect(after[k]! - mean).toBeCloseTo((v - mean) * factor, 10));
    }
  });

  it('tosses one coin per group per call: with p = ½ a call changes all images or none, and both happen', () => {
    const t = trace((ctx, { x: input }) => diffAugment(ctx.rng(), input, { ...DIFF_AUGMENT, policy: ['color'] }), { x: spec(shape) });
    let applied = 0;
    const calls = 32;
    for (let seed = 0; seed < calls; seed++) {
      const out = interpret(t.graph, { inputs: { x, rng: [seed, 1] } }).outputs.out!.data;
      const per = out.length / 6;
      const changed = Array.from({ length: 6 }, (_, b) => out.slice(b * per, (b + 1) * per).some((v, k) => v !== x[b * per + k]));
      expect(new Set(changed).size, `call ${seed}`).toBe(1);
      if (changed[0]) applied++;
    }
    // Binomial(32, ½): outside [6, 26] with probability < 1e-4 (and the seeds are fixed)
    expect(applied).toBeGreaterThanOrEqual(6);
    expect(applied).toBeLessThanOrEqual(26);
  });
});

// ---- losses on fixed logits ------------------------------------------------------------------

describe('hinge and LeCAM on fixed logits', () => {
  const real = [0.5, -2, 1.5, 3];
  const fake = [-0.5, 0.2, -1.5, 2];

  it('match hand-computed values', () => {
    const t = trace(
      (_, { r, f, er, ef }) => ({ d: hingeDiscriminatorLoss(r, f), g: hingeGeneratorLoss(f), lecam: lecamRegularizer(r, f, er, ef) }),
      { r: spec([2, 2] as const), f: spec([2, 2] as const), er: spec([] as const), ef: spec([] as const) },
    );
    const out = interpret(t.graph, { inputs: { r: real, f: fake, er: 0.3, ef: -0.2 } }).outputs;
    // ½(mean[0.5, 3, 0, 0] + mean[0.5, 1.2, 0, 3]) = ½(0.875 + 1.175)
    expect(out.d!.data[0]).toBeCloseTo(1.025, 14);
    // −mean(fake) = −0.2/4
    expect(out.g!.data[0]).toBeCloseTo(-0.05, 14);
    // mean([0.7, 0, 1.7, 3.2]²) + mean([0.8, 0.1, 1.8, 0]²) = 13.62/4 + 3.89/4
    expect(out.lecam!.data[0]).toBeCloseTo(4.3775, 13);
  });

  it('discriminatorLoss combines them as spec §2.7 says, updating the LeCAM EMAs first and gating by the step', () => {
    // A stand-in discriminator whose four calls return the pixels scaled by 1, 1.1, 1.2, 1.3
    // (real, fake, strong real, strong fake); no augmentation, so every logit is known.
    const scales = [1, 1.1, 1.2, 1.3];
    const loss = (step: number, ema: { real: number; fake: number }) => {
      const t = trace(
        (ctx, { x, y }) => {
          let call = 0;
          const D = (_: Context, images: F32) => images.reshape([2, 2]).mul(scales[call++]!) as F32;
          const noAugment = { ...STRONG_DIFF_AUGMENT, policy: [] };
          return discriminatorLoss(ctx, x, y, D, { start: 10, weight: 0.4, augment: false, strongAugment: noAugment });
        },
        { x: spec([2, 1, 1, 2] as const), y: spec([2, 1, 1, 2] as const) },
      );
      const params = { 'lecam_ema.logits_real_ema': [ema.real], 'lecam_ema.logits_fake_ema': [ema.fake] };
      return interpret(t.graph, { inputs: { x: real, y: fake, [STEP_INPUT]: step, rng: [0, 0] }, params }).outputs;
    };
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const relu = (v: number) => Math.max(v, 0);
    const ema = { real: 0.05, fake: -0.02 };
    const fakeLogits = fake.map((v) => 1.1 * v);
    const emaReal = 0.999 * ema.real + 0.001 * mean(real);
    const emaFake = 0.999 * ema.fake + 0.001 * mean(fakeLogits);
    const hinge = 0.5 * (mean(real.map((v) => relu(1 - v))) + mean(fakeLogits.map((v) => relu(1 + v))));
    const lecam = mean(real.map((v) => relu(v - emaFake) ** 2)) + mean(fakeLogits.map((v) => relu(emaReal - v) ** 2));
    const cr = mean([...real.map((v) => (v - 1.2 * v) ** 2), ...fake.map((v) => (1.1 * v - 1.3 * v) ** 2)]);
    const on = loss(10, ema);
    expect(on['assign:lecam_ema.logits_real_ema']!.data[0]).toBeCloseTo(emaReal, 14);
    expect(on['assign:lecam_ema.logits_fake_ema']!.data[0]).toBeCloseTo(emaFake, 14);
    expect(on.hinge!.data[0]).toBeCloseTo(hinge, 13);
    expect(on.lecam!.data[0]).toBeCloseTo(lecam, 13);
    expect(on.consistency!.data[0]).toBeCloseTo(cr, 13);
    expect(on.loss!.data[0]).toBeCloseTo(0.4 * (hinge + 0.001 * lecam) + 4 * cr, 12);
    // before disc_start every term is off, but the EMAs still move
    const off = loss(9, ema);
    expect(off.loss!.data[0]).toBe(0);
    expect(off['assign:lecam_ema.logits_real_ema']!.data[0]).toBeCloseTo(emaReal, 14);
  });
});

// ---- spectral norm ---------------------------------------------------------------------------

describe('spectral norm', () => {
  const [rows, cols] = [5, 7];
  const w = wave(rows * cols, 3);

  it('converges to the largest singular value (host Jacobi on WWᵀ), from below, with a persistent u that changes every step', () => {
    const t = trace((ctx) => {
      const weight = ctx.param('w', [rows, cols] as const, init.zeros()) as F32;
      const { weight: normalized, sigma } = spectralNorm(ctx.child('sn'), weight);
      return { sigma, normalized };
    });
    const state: Record<string, Float64Array> = { ...initParams(t.params, 0), w: Float64Array.from(w) };
    const { sigma: exact } = topSingular(w, rows, cols);
    const sigmas: number[] = [];
    const us: number[][] = [];
    let normalized: Float64Array = new Float64Array();
    for (let step = 0; step < 80; step++) {
      const out = runStep(t.graph, state, {});
      sigmas.push(out.sigma!.data[0]!);
      us.push(Array.from(state['sn.weight_u']!));
      normalized = out.normalized!.data;
    }
    expect(Math.abs(sigmas.at(-1)! - exact) / exact).toBeLessThan(1e-10);
    sigmas.forEach((s, k) => {
      expect(s).toBeLessThanOrEqual(exact * (1 + 1e-12));
      if (k > 0) expect(s).toBeGreaterThanOrEqual(sigmas[k - 1]! * (1 - 1e-12));
    });
    expect(us[1]).not.toEqual(us[0]);
    expect(us[2]).not.toEqual(us[1]);
    expect(topSingular(Array.from(normalized), rows, cols).sigma).toBeCloseTo(1, 9);
  });

  it('does one power iteration per call: two calls in one trace leave u where two steps of one call do', () => {
    const once = trace((ctx) => spectralNorm(ctx.child('sn'), ctx.param('w', [rows, cols] as const, init.zeros()) as F32).sigma);
    const twice = trace((ctx) => {
      const weight = ctx.param('w', [rows, cols] as const, init.zeros()) as F32;
      spectralNorm(ctx.child('sn'), weight);
      return spectralNorm(ctx.child('sn'), weight).sigma;
    });
    const start: Record<string, Float64Array> = { ...initParams(once.params, 4), w: Float64Array.from(w) };
    const a = { ...start };
    runStep(once.graph, a, {});
    const secondSigma = runStep(once.graph, a, {}).out!.data[0];
    const b = { ...start };
    const sigma = runStep(twice.graph, b, {}).out!.data[0];
    expect(Array.from(b['sn.weight_u']!)).toEqual(Array.from(a['sn.weight_u']!));
    expect(Array.from(b['sn.weight_v']!)).toEqual(Array.from(a['sn.weight_v']!));
    expect(sigma).toBe(secondSigma);
  });
});

// ---- the discriminator ------------------------------------------------------------------------

const twoTaps: FeatureBackbone = (ctx, images) => [patchTeacher('a', 4, 6)(ctx, images), patchTeacher('b', 4, 4)(ctx, images)];

describe('feature discriminator', () => {
  it('has one head per backbone tap under the reference names, frozen states for u and v, and logits (B, taps·N)', () => {
    const t = trace((ctx, { x }) => featureDiscriminator({ backbone: twoTaps })(ctx, x), { x: spec([2, 1, 28, 28] as const) });
    expect(t.graph.outputs.find((o) => o.name === 'out')!.node.shape).toEqual([2, 2 * 49]);
    const heads = t.params.filter((p) => isDiscriminatorParam(p.name));
    expect(heads.map((p) => `${p.name}${p.frozen ? ' (state)' : ''} [${p.shape.join(',')}]`)).toEqual(
      [['0', 6], ['1', 4]].flatMap(([h, f]) => [
        `discriminator.heads.${h}.0.0.weight_orig [${f},${f},1]`,
        `discriminator.heads.${h}.0.0.bias [${f}]`,
        `discriminator.heads.${h}.0.0.weight_u (state) [${f}]`,
        `discriminator.heads.${h}.0.0.weight_v (state) [${f}]`,
        `discriminator.heads.${h}.0.1.weight [${f}]`,
        `discriminator.heads.${h}.0.1.bias [${f}]`,
        `discriminator.heads.${h}.1.fn.0.weight_orig [${f},${f},9]`,
        `discriminator.heads.${h}.1.fn.0.bias [${f}]`,
        `discriminator.heads.${h}.1.fn.0.weight_u (state) [${f}]`,
        `discriminator.heads.${h}.1.fn.0.weight_v (state) [${9 * Number(f)}]`,
        `discriminator.heads.${h}.1.fn.1.weight [${f}]`,
        `discriminator.heads.${h}.1.fn.1.bias [${f}]`,
        `discriminator.heads.${h}.2.weight_orig [1,${f},1]`,
        `discriminator.heads.${h}.2.bias [1]`,
        `discriminator.heads.${h}.2.weight_u (state) [1]`,
        `discriminator.heads.${h}.2.weight_v (state) [${f}]`,
      ]),
    );
    // the backbone is frozen
    expect(t.params.filter((p) => !isDiscriminatorParam(p.name)).every((p) => p.frozen)).toBe(true);
  });

  it('a head equals a host re-implementation of the reference Sequential (circular Conv1d, SN with one power iteration, batch-stat BN, LeakyReLU, residual)', () => {
    const [B, N, F, k] = [2, 5, 3, 3];
    const features: FeatureBackbone = (ctx) => [ctx.input('features', [B, N, F] as const)];
    const t = trace((ctx) => featureDiscriminator({ backbone: features, kernel: k })(ctx, ctx.full([B, 1, 4, 4] as const, 0) as F32));
    const params = initParams(t.params, 2);
    for (const name of Object.keys(params)) if (name.endsWith('1.weight') || name.endsWith('1.bias')) params[name] = Float64Array.from(wave(params[name]!.length, name.length).map((v) => 1 + v * 0.5));
    const f = wave(B * N * F, 6);
    const out = interpret(t.graph, { inputs: { features: f }, params }).outputs.out!.data;

    type Map3 = number[][][]; // [b][n][c]
    const normalize = (v: number[]) => {
      const n = Math.max(Math.sqrt(v.reduce((a, e) => a + e * e, 0)), 1e-12);
      return v.map((e) => e / n);
    };
    const conv = (x: Map3, prefix: string, out: number, kernel: number): Map3 => {
      const inDim = x[0]![0]!.length;
      const w = Array.from(params[`${prefix}.weight_orig`]!);
      const cols = inDim * kernel;
      const row = (o: number) => w.slice(o * cols, (o + 1) * cols);
      const u = Array.from(params[`${prefix}.weight_u`]!);
      const v = normalize(Array.from({ length: cols }, (_, j) => u.reduce((a, ui, o) => a + ui * row(o)[j]!, 0)));
      const wv = Array.from({ length: out }, (_, o) => row(o).reduce((a, e, j) => a + e * v[j]!, 0));
      const sigma = normalize(wv).reduce((a, e, o) => a + e * wv[o]!, 0);
      const bias = params[`${prefix}.bias`]!;
      return x.map((seq) => seq.map((_, n) => Array.from({ length: out }, (_, o) => {
        let acc = bias[o]!;
        for (let c = 0; c < inDim; c++) for (let kk = 0; kk < kernel; kk++) acc += (row(o)[c * kernel + kk]! / sigma) * seq[(((n + kk - Math.floor(kernel / 2)) % N) + N) % N]![c]!;
        return acc;
      })));
    };
    const bnLrelu = (x: Map3, prefix: string): Map3 => {
      const channels = x[0]![0]!.length;
      const stats = Array.from({ length: channels }, (_, c) => {
        const values = x.flatMap((seq) => seq.map((p) => p[c]!));
        const mean = values.reduce((a, e) => a + e, 0) / values.length;
        return { mean, variance: values.reduce((a, e) => a + (e - mean) ** 2, 0) / values.length };
      });
      return x.map((seq) => seq.map((p) => p.map((e, c) => {
        const y = ((e - stats[c]!.mean) / Math.sqrt(stats[c]!.variance + 1e-6)) * params[`${prefix}.weight`]![c]! + params[`${prefix}.bias`]![c]!;
        return y > 0 ? y : 0.2 * y;
      })));
    };
    const input: Map3 = Array.from({ length: B }, (_, b) => Array.from({ length: N }, (_, n) => Array.from({ length: F }, (_, c) => f[(b * N + n) * F + c]!)));
    const h = 'discriminator.heads.0';
    const x1 = bnLrelu(conv(input, `${h}.0.0`, F, 1), `${h}.0.1`);
    const y = bnLrelu(conv(x1, `${h}.1.fn.0`, F, k), `${h}.1.fn.1`);
    const residual = y.map((seq, b) => seq.map((p, n) => p.map((e, c) => (e + x1[b]![n]![c]!) / Math.SQRT2)));
    const logits = conv(residual, `${h}.2`, 1, 1).flatMap((seq) => seq.map((p) => p[0]!));
    expect(out.length).toBe(B * N);
    logits.forEach((value, i) => expect(out[i]).toBeCloseTo(value, 12));
  });

  it('discriminator loss: gradients w.r.t. head parameters match finite differences (u at its fixed point, where torch’s detached σ is exact)', () => {
    const headParams = [['0', 6], ['1', 4]] as const;
    const params: Record<string, number[]> = {};
    headParams.forEach(([h, f], k) => {
      for (const [conv, out, inDim] of [['0.0', f, f], ['1.fn.0', f, 9 * f], ['2', 1, f]] as const) {
        const weight = wave(out * inDim, 20 + k * 3 + conv.length).map((v) => v * 0.5);
        params[`discriminator.heads.${h}.${conv}.weight_orig`] = weight;
        params[`discriminator.heads.${h}.${conv}.weight_u`] = topSingular(weight, out, inDim).u;
      }
    });
    checkGradients({
      inputs: {},
      constants: {
        images: { shape: [2, 1, 28, 28], values: wave(2 * 784, 7), dtype: DType.F32 },
        fake: { shape: [2, 1, 28, 28], values: wave(2 * 784, 8), dtype: DType.F32 },
        step: { shape: [], values: [5], dtype: DType.F32 },
        rng: { shape: [2], values: [3, 1], dtype: DType.U32 },
      },
      // LeCAM's EMAs are detached (torch takes .item() of the means); with decay 1 they are
      // also constants for the finite differences, while the regulariser stays on.
      fn: (ctx, _, { images, fake }) => discriminatorLoss(ctx, images as F32, fake as F32, { backbone: twoTaps }, { start: 2, augment: DIFF_AUGMENT, lecamDecay: 1 }).loss,
      params,
      randomParams: 0.5,
      maxElements: 10,
      wrtParams: [
        'discriminator.heads.0.0.0.weight_orig',
        'discriminator.heads.0.0.1.weight',
        'discriminator.heads.0.0.1.bias',
        'discriminator.heads.0.1.fn.0.weight_orig',
        'discriminator.heads.0.1.fn.0.bias',
        'discriminator.heads.0.1.fn.1.weight',
        'discriminator.heads.0.2.weight_orig',
        'discriminator.heads.1.1.fn.0.weight_orig',
        'discriminator.heads.1.2.weight_orig',
        'discriminator.heads.1.2.bias',
      ],
    });
  }, 120_000);

  it('generator adversarial loss: the gradient w.r.t. the image (through DiffAugment and the frozen backbone) matches finite differences', () => {
    checkGradients(
      {
        inputs: { image: { shape: [2, 1, 28, 28], values: wave(2 * 784, 9) } },
        constants: { rng: { shape: [2], values: [8, 2], dtype: DType.U32 } },
        fn: (ctx, { image }) => generatorAdversarialLoss(ctx, image!, { discriminator: { backbone: twoTaps }, start: 1, augment: STRONG_DIFF_AUGMENT }),
        randomParams: 0.5,
        maxElements: 24,
      },
    );
  }, 120_000);
});

// ---- the adaptive weight ---------------------------------------------------------------------

describe('adaptive generator weight', () => {
  const config = { ...MAETOK_TINY, auxTargets: [] };
  const teacher = patchTeacher('dino', 4, 32);
  const adversarial: AdversarialOptions = { discriminator: { backbone: teacherBackbone(teacher) }, start: 3, weight: 0.4 };
  const wp = 0.5;
  const images = { shape: [2, 1, 28, 28] as const };
  const checked = ['decoder.to_pixel.model.weight', 'decoder.to_pixel.model.bias', 'quant_conv.bias', 'encoder.latent_tokens'];

  // the generator step's loss, with its gradients
  const joint = trace((ctx, { x }) => {
    const losses = maetokStage1Loss(ctx, x, config, { maskRatio: ctx.full([] as const, 0.5), perceptual: { teacher, weight: wp }, adversarial });
    const declared = ctx.declaredParams();
    const grads = grad(losses.loss, checked.map((n) => declared.get(n)! as F32));
    return { loss: losses.loss, lambda: losses.lambda!, adv: losses.adv!, rec: losses.rec, ...Object.fromEntries(checked.map((n, i) => [`grad ${n}`, grads[i]!])) };
  }, { x: spec(images.shape) });

  // independently: the same x̂ (same rng keys, in the same order) and separate gradients of L_rec + w_p·L_per and of L_adv
  const separate = trace((ctx, { x }) => {
    const key = ctx.rng();
    const mask = sampleMask(foldIn(key, 1), 2, imageTokens(config), ctx.full([] as const, 0.5));
    const reconstruction = maetokDecode(ctx, maetokEncoder(ctx, x, config, mask), config, foldIn(key, 2));
    const nll = reconstruction.sub(x).square().mean().add(perceptualLoss(ctx, reconstruction, x, teacher).mul(wp)) as F32;
    const adv = generatorAdversarialLoss(ctx, reconstruction, adversarial);
    const declared = ctx.declaredParams();
    const wrt = checked.map((n) => declared.get(n)! as F32);
    const nllGrads = grad(nll, wrt);
    const advGrads = grad(adv, wrt);
    return { nll, adv, ...Object.fromEntries(checked.flatMap((n, i) => [[`nll ${n}`, nllGrads[i]!], [`adv ${n}`, advGrads[i]!]])) };
  }, { x: spec(images.shape) });

  const params = initParams(joint.params, 3);
  // zero-initialised modulation would make the decoder ignore the latents; give it values
  for (const name of Object.keys(params)) if (name.includes('adaLN_modulation')) params[name] = Float64Array.from(wave(params[name]!.length, 5).map((v) => v * 0.2));
  const x = pixelsOf(2, 1, 28).map((v) => v - 1.5);
  const run = (graph: typeof joint.graph, step: number) => interpret(graph, { inputs: { x, rng: [4, 2], [STEP_INPUT]: step }, params }).outputs;
  const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, e) => s + e * e, 0));

  it('λ = ‖∇_W(L_rec + w_p·L_per)‖ / (‖∇_W L_adv‖ + 1e-4) at W = the pixel decoder’s to_pixel weight', () => {
    const a = run(joint.graph, 3);
    const b = run(separate.graph, 3);
    const expected = norm(b['nll decoder.to_pixel.model.weight']!.data) / (norm(b['adv decoder.to_pixel.model.weight']!.data) + 1e-4);
    expect(expected).toBeGreaterThan(1e-3);
    expect(a.lambda!.data[0]).toBeCloseTo(expected, 10);
    expect(a.adv!.data[0]).toBeCloseTo(b.adv!.data[0]!, 12);
  });

  it('is detached: the step’s gradient is ∇(L_rec + w_p·L_per) + λ·w_d·∇L_adv with λ a constant, and w_d = 0 before disc_start', () => {
    for (const step of [3, 2]) {
      const a = run(joint.graph, step);
      const b = run(separate.graph, step);
      const lambda = a.lambda!.data[0]!;
      const wd = step >= 3 ? 0.4 : 0;
      expect(a.loss!.data[0]).toBeCloseTo(b.nll!.data[0]! + lambda * wd * b.adv!.data[0]!, 12);
      for (const name of checked) {
        const got = a[`grad ${name}`]!.data;
        const nll = b[`nll ${name}`]!.data;
        const adv = b[`adv ${name}`]!.data;
        const scale = Math.max(1e-8, ...Array.from(got, Math.abs));
        got.forEach((g, i) => expect(Math.abs(g - (nll[i]! + lambda * wd * adv[i]!)) / scale, `${name}[${i}] at step ${step}`).toBeLessThan(1e-10));
      }
    }
  });

  it('differs from the same weight left attached (so the detachment is what the previous check sees)', () => {
    const attached = trace((ctx, { x: input }) => {
      const key = ctx.rng();
      const mask = sampleMask(foldIn(key, 1), 2, imageTokens(config), ctx.full([] as const, 0.5));
      const reconstruction = maetokDecode(ctx, maetokEncoder(ctx, input, config, mask), config, foldIn(key, 2));
      const nll = reconstruction.sub(input).square().mean().add(perceptualLoss(ctx, reconstruction, input, teacher).mul(wp)) as F32;
      const adv = generatorAdversarialLoss(ctx, reconstruction, adversarial);
      const w = pixelHeadWeight(ctx, config);
      const [gn] = grad(nll, [w]);
      const [ga] = grad(adv, [w]);
      const lambda = (gn as F32).square().sum().sqrt().div((ga as F32).square().sum().sqrt().add(1e-4));
      const loss = nll.add(adv.mul(lambda).mul(0.4)) as F32;
      const [gBias] = grad(loss, [ctx.declaredParams().get('decoder.to_pixel.model.bias')! as F32]);
      return { lambda, gBias: gBias! };
    }, { x: spec(images.shape) });
    const a = run(joint.graph, 3);
    const c = run(attached.graph, 3);
    expect(c.lambda!.data[0]).toBeCloseTo(a.lambda!.data[0]!, 10);
    const diff = Array.from(c.gBias!.data).reduce((m, v, i) => Math.max(m, Math.abs(v - a['grad decoder.to_pixel.model.bias']!.data[i]!)), 0);
    expect(diff).toBeGreaterThan(1e-6);
  });

  it('adaptiveWeight clamps to [0, 1e4]', () => {
    const t = trace((ctx, { w }) => {
      const big = adaptiveWeight(w.square().sum().mul(1e9) as F32, w.sum().mul(1e-9) as F32, w);
      const zero = adaptiveWeight(w.mul(0).sum() as F32, w.sum() as F32, w);
      return { big, zero };
    }, { w: spec([3] as const) });
    const out = interpret(t.graph, { inputs: { w: [1, 2, 3] } }).outputs;
    expect(out.big!.data[0]).toBe(1e4);
    expect(out.zero!.data[0]).toBe(0);
  });
});

// ---- stage 2 ------------------------------------------------------------------------------------

describe('stage 2 with the adversarial term', () => {
  it('adds λ·w_d·L_adv to L_rec with the stage’s own step, and its trainable set leaves the discriminator alone', () => {
    const teacher = patchTeacher('dino', 4, 32);
    const adversarial: AdversarialOptions = { discriminator: { backbone: teacherBackbone(teacher) }, start: 4, weight: 0.4 };
    const t = trace((ctx, { x, s }) => maetokStage2Loss(ctx, x, MAETOK_TINY, { step: s, annealSteps: 10, adversarial }), { x: spec([2, 1, 28, 28] as const), s: spec([] as const) });
    const params = initParams(t.params, 0);
    const x = pixelsOf(2, 1, 28).map((v) => v - 1.5);
    for (const [s, wd] of [[4, 0.4], [3, 0]] as const) {
      const out = interpret(t.graph, { inputs: { x, s, rng: [1, 1] }, params }).outputs;
      expect(out.reconstruction!.shape).toEqual([2, 1, 28, 28]);
      expect(out.loss!.data[0]).toBeCloseTo(out.rec!.data[0]! + out.lambda!.data[0]! * wd * out.adv!.data[0]!, 12);
    }
    expect(t.params.some((p) => isDiscriminatorParam(p.name) && stage2Trainable(p.name))).toBe(false);
  });
});

// ---- the two train steps on MAETok-Tiny ------------------------------------------------------

describe('alternating generator and discriminator steps on MAETok-Tiny', () => {
  it('the generator feeds x̂ to the discriminator step; each trains only its own side; the D loss is finite and changes', () => {
    const shape = [2, 1, 28, 28] as const;
    const teacher = patchTeacher('dino', 4, 32);
    const discriminator = { backbone: teacherBackbone(teacher) };
    const generator = trainStep(
      (ctx, { images }) => maetokStage1Loss(ctx, images, MAETOK_TINY, { teachers: { dino: teacher }, perceptual: { teacher, weight: 0.5 }, adversarial: { discriminator, start: 2 } }),
      { images: spec(shape) },
      { schedule: constantLr(1e-3), trainable: generatorTrainable },
    );
    const disc = discriminatorTrainStep(shape, discriminator, { start: 2 }, { schedule: constantLr(1e-2), clip: 1 });
    expect(generator.trained.some((p) => isDiscriminatorParam(p.name))).toBe(false);
    expect(disc.trained.length).toBe(10);
    expect(disc.trained.every((p) => isDiscriminatorParam(p.name) && !p.name.endsWith('weight_u') && !p.name.endsWith('weight_v'))).toBe(true);

    const state = { ...initParams(generator.params, 1), ...initParams(disc.params, 1) };
    const snapshot = () => Object.fromEntries(Object.entries(state).map(([k, v]) => [k, Array.from(v)]));
    const images = pixelsOf(2, 1, 28).map((v) => v - 1.5);
    const losses: number[] = [];
    let previousU = Array.from(state['discriminator.heads.0.1.fn.0.weight_u']!);
    for (let step = 1; step <= 3; step++) {
      const beforeGenerator = snapshot();
      const g = runStep(generator.graph, state, { images, [STEP_INPUT]: step, rng: [step, 1] });
      expect(Number.isFinite(g.loss!.data[0]!)).toBe(true);
      expect(g.lambda!.data[0]).toBeGreaterThan(0);
      expect(g.reconstruction!.shape).toEqual([...shape]);
      for (const p of disc.trained) expect(Array.from(state[p.name]!), `generator step changed ${p.name}`).toEqual(beforeGenerator[p.name]);
      const beforeDisc = snapshot();
      const d = runStep(disc.graph, state, { images, reconstruction: g.reconstruction!.data, [STEP_INPUT]: step, rng: [step, 2] });
      losses.push(d.loss!.data[0]!);
      for (const p of generator.trained) expect(Array.from(state[p.name]!), `discriminator step changed ${p.name}`).toEqual(beforeDisc[p.name]);
      if (step === 1) expect(state['lecam_ema.logits_real_ema']![0]).toBeCloseTo(0.001 * d.logitsReal!.data[0]!, 14);
      const u = Array.from(state['discriminator.heads.0.1.fn.0.weight_u']!);
      expect(u).not.toEqual(previousU);
      previousU = u;
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(new Set(losses).size).toBe(3);
    expect(losses[0]).toBe(0); // before disc_start: w_d = 0 and no consistency term
    expect(Array.from(state['discriminator.heads.0.2.weight_orig']!)).not.toEqual(Array.from(initParams(disc.params, 1)['discriminator.heads.0.2.weight_orig']!));
  }, 120_000);
});
