// The host samplers against targets whose exact velocity is known in closed form.
//
// For x0 ~ N(μ, s²), ε ~ N(0, 1), x_t = (1−t)·x0 + t·ε (kiln: t = 1 noise):
//   x_t ~ N(m_t, V_t), m_t = (1−t)μ, V_t = (1−t)²s² + t², Cov(x_t, ε) = t, Cov(x_t, x0) = (1−t)s²,
//   E[ε | x_t] = t/V_t·(x_t − m_t),  E[x0 | x_t] = μ + (1−t)s²/V_t·(x_t − m_t),
//   v(x, t) = E[ε − x0 | x_t] = (t − (1−t)s²)/V_t·(x − m_t) − μ.
// The probability-flow ODE then moves each point along x_t = m_t + √V_t·z, so the exact
// flow from t = 1 to t = 0 maps z to μ + s·z: an oracle per sample, not only per moment.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  combineGuidance, eulerGrid, eulerMaruyamaGrid, guidanceScale, sampleEuler, sampleEulerMaruyama, sampleHeun, seededNormal,
  type Velocity,
} from '../../runtime/sample/samplers.ts';

interface Gaussian { readonly mean: number; readonly std: number }

function gaussianVelocity(x: number, t: number, { mean, std }: Gaussian): number {
  const variance = (1 - t) ** 2 * std * std + t * t;
  return ((t - (1 - t) * std * std) / variance) * (x - (1 - t) * mean) - mean;
}

/** Element k of a sample follows targets[k mod targets.length], independently. */
function independentGaussians(targets: readonly Gaussian[]): Velocity {
  return async (x, t) => x.map((value, k) => gaussianVelocity(value, t, targets[k % targets.length]!));
}

/** Per-dimension sample mean and (n − 1) variance of a batch-major array. */
function columnMoments(x: Float64Array, size: number): { mean: number; variance: number }[] {
  const n = x.length / size;
  return Array.from({ length: size }, (_, j) => {
    let mean = 0;
    for (let b = 0; b < n; b++) mean += x[b * size + j]!;
    mean /= n;
    let variance = 0;
    for (let b = 0; b < n; b++) variance += (x[b * size + j]! - mean) ** 2;
    return { mean, variance: variance / (n - 1) };
  });
}

/** max over samples of |x − (μ + s·z)| / (1 + |z|): the ODE's error against the exact flow. */
function flowError(x: Float64Array, noise: Float64Array, targets: readonly Gaussian[]): number {
  let worst = 0;
  for (let k = 0; k < x.length; k++) {
    const { mean, std } = targets[k % targets.length]!;
    worst = Math.max(worst, Math.abs(x[k]! - (mean + std * noise[k]!)) / (1 + Math.abs(noise[k]!)));
  }
  return worst;
}

const targets: readonly Gaussian[] = [{ mean: 1.5, std: 0.5 }, { mean: -0.5, std: 2 }];
const batch = 8000;

describe('grids', () => {
  it('the Euler grid is t_i = 1 − i/K', () => {
    expect(Array.from(eulerGrid(4))).toEqual([1, 0.75, 0.5, 0.25, 0]);
  });

  it('the shifted grid matches τ\' = sτ/(1+(s−1)τ) by hand: K = 2, s = 0.3 puts the midpoint at t = 10/13', () => {
    // τ = 1/2: 0.15 / (1 − 0.35) = 3/13, so t = 1 − 3/13.
    const grid = eulerGrid(2, 0.3);
    expect(grid[0]).toBe(1);
    expect(grid[1]).toBeCloseTo(10 / 13, 15);
    expect(grid[2]).toBe(0);
  });

  it('shifted grids run from 1 to 0, strictly decreasing, denser near noise for s < 1 and near data for s > 1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.double({ min: 0.05, max: 5, noNaN: true }), (steps, shift) => {
        const grid = eulerGrid(steps, shift);
        expect(grid.length).toBe(steps + 1);
        expect(grid[0]).toBe(1);
        expect(grid[steps]).toBe(0);
        for (let i = 0; i < steps; i++) expect(grid[i + 1]!).toBeLessThan(grid[i]!);
        const first = grid[0]! - grid[1]!;
        const last = grid[steps - 1]! - grid[steps]!;
        if (shift < 0.95) expect(first).toBeLessThan(last);
        if (shift > 1.05) expect(first).toBeGreaterThan(last);
      }),
    );
  });

  it('the Euler–Maruyama grid is linspace(1, 0.04, K) followed by 0', () => {
    const grid = eulerMaruyamaGrid(5);
    const expected = [1, 0.76, 0.52, 0.28, 0.04, 0];
    expect(grid.length).toBe(6);
    expected.forEach((t, i) => expect(grid[i]).toBeCloseTo(t, 14));
    expect(grid[4]).toBe(0.04);
    expect(grid[5]).toBe(0);
  });
});

describe('seeded noise', () => {
  it('is standard normal: mean 0, variance 1, kurtosis 3 (within 5 standard errors on 200k draws)', () => {
    const n = 200_000;
    const z = seededNormal(123, 0, n);
    const mean = z.reduce((s, v) => s + v, 0) / n;
    const second = z.reduce((s, v) => s + v * v, 0) / n;
    const fourth = z.reduce((s, v) => s + v ** 4, 0) / n;
    // Standard errors: mean 1/√n, second moment √(2/n), fourth moment √(96/n).
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(second - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(fourth - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
  });

  it('is a pure function of (seed, stream, index); streams and seeds are uncorrelated', () => {
    const n = 50_000;
    expect(seededNormal(5, 2, n)).toEqual(seededNormal(5, 2, n));
    expect(seededNormal(5, 2, 7)).toEqual(seededNormal(5, 2, n).subarray(0, 7));
    const correlation = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i]!, 0) / n;
    expect(Math.abs(correlation(seededNormal(5, 2, n), seededNormal(5, 3, n)))).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(correlation(seededNormal(5, 2, n), seededNormal(6, 2, n)))).toBeLessThan(5 / Math.sqrt(n));
  });

  it('stream 0 is the initial noise: a zero velocity returns it unchanged', async () => {
    const zero: Velocity = async (x) => new Float64Array(x.length);
    const out = await sampleEuler(zero, { shape: [3, 2], batch: 4, steps: 5, seed: 42 });
    expect(out).toEqual(seededNormal(42, 0, 24));
  });
});

describe('ODE samplers on a Gaussian target', () => {
  const noise = seededNormal(7, 0, batch * targets.length);
  const options = (steps: number) => ({ shape: [targets.length], batch, steps, seed: 7 });

  it('Euler (K = 100) follows the exact flow x1 ↦ μ + s·x1 within its O(1/K) error', async () => {
    const out = await sampleEuler(independentGaussians(targets), options(100));
    // First order: the error is c/K with c ≈ 2.3 here; 0.04 leaves room without hiding a wrong order.
    expect(flowError(out, noise, targets)).toBeLessThan(0.04);
  });

  it('Euler and Heun converge at orders 1 and 2: doubling K halves / quarters the error', async () => {
    const velocity = independentGaussians(targets);
    const euler = [25, 50, 100].map(async (k) => flowError(await sampleEuler(velocity, options(k)), noise, targets));
    const heun = [25, 50, 100].map(async (k) => flowError(await sampleHeun(velocity, options(k)), noise, targets));
    const [e25, e50, e100] = await Promise.all(euler);
    const [h25, h50, h100] = await Promise.all(heun);
    for (const ratio of [e25! / e50!, e50! / e100!]) {
      expect(ratio).toBeGreaterThan(1.8);
      expect(ratio).toBeLessThan(2.2);
    }
    for (const ratio of [h25! / h50!, h50! / h100!]) {
      expect(ratio).toBeGreaterThan(3.6);
      expect(ratio).toBeLessThan(4.4);
    }
    expect(h100!).toBeLessThan(1e-3);
  });

  for (const [name, sampler, steps] of [['Euler', sampleEuler, 100], ['Heun', sampleHeun, 100]] as const) {
    it(`${name} (K = ${steps}) on ${batch} samples matches μ and s² of N(μ, s²)`, async () => {
      const out = await sampler(independentGaussians(targets), options(steps));
      columnMoments(out, targets.length).forEach(({ mean, variance }, j) => {
        const { mean: mu, std } = targets[j]!;
        // Tolerance = 4 standard errors of the sample statistic (mean s/√n, variance s²·√(2/(n−1)))
        // + the discretisation bias: Euler at K = 100 shrinks the variance by 2.9% (the map
        // x1 ↦ a·x1 + μ has a = s·(1 − O(1/K))); Heun's bias is below 0.1%; means are exact.
        expect(Math.abs(mean - mu)).toBeLessThan((4 * std) / Math.sqrt(batch));
        expect(Math.abs(variance / (std * std) - 1)).toBeLessThan(4 * Math.sqrt(2 / (batch - 1)) + 0.03);
      });
    });
  }
});

describe('Euler–Maruyama on a Gaussian target', () => {
  it(`K = 250 on ${batch} samples matches μ and s² of N(μ, s²)`, async () => {
    const out = await sampleEulerMaruyama(independentGaussians(targets), { shape: [targets.length], batch, steps: 250, seed: 11 });
    columnMoments(out, targets.length).forEach(({ mean, variance }, j) => {
      const { mean: mu, std } = targets[j]!;
      // The chain is linear in Gaussian noise, so its mean is exactly μ and only sampling error
      // remains (4 standard errors). Its variance is biased low by the noiseless last step from
      // t = 0.04, by (0.96 − 0.0784·α)²·V − s² with V = V_0.04, α = (0.04 − 0.96s²)/V: −2.0% for
      // s = 0.5, −0.1% for s = 2, plus the O(1/K) weak error of the steps before (≤ 1% at K = 250).
      expect(Math.abs(mean - mu)).toBeLessThan((4 * std) / Math.sqrt(batch));
      expect(Math.abs(variance / (std * std) - 1)).toBeLessThan(4 * Math.sqrt(2 / (batch - 1)) + 0.03);
    });
  });

  it('K = 2 by hand with v̂ = 0 (drift d = x): a noisy step 1 → 0.04, then the noiseless last step', async () => {
    // x1 = x0 − 0.96·x0 + √(2·1)·√0.96·ξ = 0.04·x0 + √1.92·ξ, ξ = stream 1 of the seed;
    // x2 = x1 − 0.04·x1 = 0.96·x1 (no noise on the last step).
    const zero: Velocity = async (x) => new Float64Array(x.length);
    const out = await sampleEulerMaruyama(zero, { shape: [3], batch: 2, steps: 2, seed: 8 });
    const start = seededNormal(8, 0, 6);
    const xi = seededNormal(8, 1, 6);
    start.forEach((x0, k) => expect(out[k]).toBeCloseTo(0.96 * (0.04 * x0 + Math.sqrt(1.92) * xi[k]!), 14));
  });

  it('K = 1: the only step is the noiseless last one, x ← x + (0 − 1)·((2 − 1)·v̂ + x) = −v̂', async () => {
    const velocity = independentGaussians(targets);
    const start = seededNormal(3, 0, 2);
    const out = await sampleEulerMaruyama(velocity, { shape: [2], batch: 1, steps: 1, seed: 3 });
    const expected = Array.from(start, (x, k) => -gaussianVelocity(x, 1, targets[k]!));
    expected.forEach((value, k) => expect(out[k]).toBeCloseTo(value, 14));
  });

  it('same seed ⇒ identical samples; another seed ⇒ different samples', async () => {
    const velocity = independentGaussians(targets);
    const run = (seed: number) => sampleEulerMaruyama(velocity, { shape: [2], batch: 16, steps: 20, seed });
    const [a, b, c] = await Promise.all([run(1), run(1), run(2)]);
    expect(a).toEqual(b);
    expect(a.every((value, k) => value !== c[k])).toBe(true);
  });

  it('the same initial noise with another seed still differs (the step noise follows the seed)', async () => {
    const velocity = independentGaussians(targets);
    const initialNoise = seededNormal(9, 0, 32);
    const run = (seed: number) => sampleEulerMaruyama(velocity, { shape: [2], batch: 16, steps: 20, seed, initialNoise });
    const [a, b] = await Promise.all([run(1), run(2)]);
    expect(a.some((value, k) => value !== b[k])).toBe(true);
  });
});

describe('classifier-free guidance', () => {
  // Two classes in 1D: x0 | y ~ N(μ_y, s²), equal priors. The conditional velocity is the Gaussian
  // one per class; the unconditional one is Σ_y p(y | x_t)·v_y(x_t), p(y | x_t) ∝ N(x_t; (1−t)μ_y, V_t).
  const classes: readonly Gaussian[] = [{ mean: -2, std: 0.5 }, { mean: 2, std: 0.5 }];
  const half = 2000;
  const label = (b: number) => (b < half ? 0 : 1);

  function unconditional(x: number, t: number): number {
    const variance = (1 - t) ** 2 * 0.25 + t * t;
    const logits = classes.map(({ mean }) => -((x - (1 - t) * mean) ** 2) / (2 * variance));
    const largest = Math.max(...logits);
    const weights = logits.map((l) => Math.exp(l - largest));
    const total = weights[0]! + weights[1]!;
    return classes.reduce((s, target, y) => s + (weights[y]! / total) * gaussianVelocity(x, t, target), 0);
  }
  const conditionalOnly: Velocity = async (x, t) => x.map((value, b) => gaussianVelocity(value, t, classes[label(b)]!));
  const guided: Velocity = async (x, t, scale) => {
    const c = x.map((value, b) => gaussianVelocity(value, t, classes[label(b)]!));
    const u = x.map((value) => unconditional(value, t));
    return combineGuidance(c, u, scale);
  };
  const options = { shape: [1], batch: 2 * half, steps: 50, seed: 5 };

  it('combineGuidance is u + w·(c − u), and exactly c at w = 1', () => {
    fc.assert(
      fc.property(fc.float64Array({ minLength: 1, maxLength: 8, noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.double({ min: -5, max: 5, noNaN: true }), (c, w) => {
        const u = c.map((v) => 0.5 * v - 1);
        const out = combineGuidance(c, u, w);
        out.forEach((value, k) => expect(value).toBeCloseTo(u[k]! + w * (c[k]! - u[k]!), 6));
        expect(combineGuidance(c, u, 1)).toEqual(c);
        expect(combineGuidance(c, u, 0)).toEqual(u);
      }),
    );
  });

  it('w = 1 gives exactly the conditional sampler (Euler, Heun, Euler–Maruyama)', async () => {
    const guidance = { scale: 1, interval: [0, 1] as const };
    expect(await sampleEuler(guided, { ...options, guidance })).toEqual(await sampleEuler(conditionalOnly, options));
    expect(await sampleHeun(guided, { ...options, guidance })).toEqual(await sampleHeun(conditionalOnly, options));
    expect(await sampleEulerMaruyama(guided, { ...options, guidance })).toEqual(await sampleEulerMaruyama(conditionalOnly, options));
  });

  it('w = 0 samples the unconditional mixture: half the mass in each mode, means ±2', async () => {
    const out = await sampleEuler(guided, { ...options, steps: 100, guidance: { scale: 0 } });
    const positive = out.filter((v) => v > 0);
    const negative = out.filter((v) => v <= 0);
    // Fraction: binomial standard error 1/(2√n); 4 of them.
    expect(Math.abs(positive.length / out.length - 0.5)).toBeLessThan(4 * 0.5 / Math.sqrt(out.length));
    // Mode means: 4 standard errors s/√(n/2) + Euler's O(1/K) bias.
    const meanOf = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(meanOf(positive) - 2)).toBeLessThan(4 * 0.5 / Math.sqrt(positive.length) + 0.02);
    expect(Math.abs(meanOf(negative) + 2)).toBeLessThan(4 * 0.5 / Math.sqrt(negative.length) + 0.02);
  });

  it('w > 1 pushes each class away from the other one', async () => {
    const plain = await sampleEuler(conditionalOnly, options);
    const pushed = await sampleEuler(guided, { ...options, guidance: { scale: 3 } });
    const classMean = (x: Float64Array, y: number) => x.filter((_, b) => label(b) === y).reduce((s, v) => s + v, 0) / half;
    expect(classMean(pushed, 0)).toBeLessThan(classMean(plain, 0) - 0.01);
    expect(classMean(pushed, 1)).toBeGreaterThan(classMean(plain, 1) + 0.01);
  });

  it('guidanceScale is w exactly on [low, high] (inclusive), 1 outside and without guidance', () => {
    const guidance = { scale: 1.9, interval: [0.25, 0.75] as const };
    expect([0, 0.2499, 0.25, 0.5, 0.75, 0.7501, 1].map((t) => guidanceScale(t, guidance))).toEqual([1, 1, 1.9, 1.9, 1.9, 1, 1]);
    expect(guidanceScale(0.3)).toBe(1);
    expect([0, 0.5, 1].map((t) => guidanceScale(t, { scale: 4 }))).toEqual([4, 4, 4]);
  });

  describe('the guidance interval, seen by a recording velocity (w = 2, K = 8)', () => {
    const record = () => {
      const calls: [number, number][] = [];
      const velocity: Velocity = async (x, t, scale) => {
        calls.push([t, scale]);
        return new Float64Array(x.length);
      };
      return { calls, velocity };
    };
    const base = { shape: [1], batch: 1, steps: 8, seed: 0, guidance: { scale: 2, interval: [0, 0.75] as const } };

    it('Euler: guided exactly at the grid times t ≤ 0.75', async () => {
      const { calls, velocity } = record();
      await sampleEuler(velocity, base);
      expect(calls).toEqual([[1, 1], [0.875, 1], [0.75, 2], [0.625, 2], [0.5, 2], [0.375, 2], [0.25, 2], [0.125, 2]]);
    });

    it('Euler, interval [0.3, 0.6]: only 0.5 and 0.375 are guided', async () => {
      const { calls, velocity } = record();
      await sampleEuler(velocity, { ...base, guidance: { scale: 2, interval: [0.3, 0.6] } });
      expect(calls.map(([, scale]) => scale)).toEqual([1, 1, 1, 1, 2, 2, 1, 1]);
    });

    it('Heun: the corrector at t_{i+1} takes the scale decided at t_i; no corrector on the last step', async () => {
      const { calls, velocity } = record();
      await sampleHeun(velocity, base);
      expect(calls).toEqual([
        [1, 1], [0.875, 1],
        [0.875, 1], [0.75, 1],
        [0.75, 2], [0.625, 2],
        [0.625, 2], [0.5, 2],
        [0.5, 2], [0.375, 2],
        [0.375, 2], [0.25, 2],
        [0.25, 2], [0.125, 2],
        [0.125, 2],
      ]);
    });

    it('Euler–Maruyama: grid 1, 1 − 0.96/7, … ; guided from t_2 = 1 − 1.92/7 ≈ 0.726 on', async () => {
      const { calls, velocity } = record();
      await sampleEulerMaruyama(velocity, base);
      expect(calls.map(([, scale]) => scale)).toEqual([1, 1, 2, 2, 2, 2, 2, 2]);
      calls.forEach(([t], i) => expect(t).toBeCloseTo(1 - (0.96 * i) / 7, 14));
    });
  });
});
