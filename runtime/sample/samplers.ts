// Runtime sampling · the host-side loops that turn a velocity program into samples
// (spec MODELS.md §3.4, §4.3). In: a velocity callback v̂(x, t, scale) over the whole
// batch (one compiled program, or any host function), a step count and a seed.
// Out: the batch at t = 0, as one Float64Array of batch·size values, batch-major.
//
// Time runs from t = 1 (noise) to t = 0 (data), kiln's convention: x_t = (1−t)·x0 + t·ε,
// v = ε − x0. The sampler owns the guidance decision: at each evaluation it passes the
// CFG scale to apply (w inside the guidance interval, 1 outside), so the velocity
// program stays a pure function of its inputs.
//
// Randomness: noise is Threefry-2x32 (the randomBits primitive) under key (seed, stream)
// turned into normals by Box–Muller. Stream 0 is the initial noise at t = 1; stream 1 + i
// is the Euler–Maruyama noise of step i. Same seed ⇒ same samples on every machine.

import { threefry2x32 } from '../../compiler/ir/random.ts';

/**
 * The velocity program: v̂ for the whole batch x (batch·size values) at time t, with
 * classifier-free guidance scale `scale` applied (1 = the conditional model alone).
 * Must return a new array of x's length and leave x untouched.
 */
export type Velocity = (x: Float64Array, t: number, scale: number) => Promise<Float64Array>;

export interface Guidance {
  /** CFG scale w (1 = no guidance). */
  readonly scale: number;
  /** Guide where low ≤ t ≤ high (kiln's t: 1 = noise); default [0, 1], i.e. everywhere. */
  readonly interval?: readonly [number, number];
}

export interface SampleOptions {
  /** Shape of one sample, e.g. [L, C]; x holds batch·∏shape values, batch-major. */
  readonly shape: readonly number[];
  readonly batch: number;
  /** K: number of steps, which is also the number of velocity evaluations for Euler and EM. */
  readonly steps: number;
  /** Unsigned 32-bit integer. */
  readonly seed: number;
  readonly guidance?: Guidance;
  /** Start from this x at t = 1 instead of seededNormal(seed, 0, ·). */
  readonly initialNoise?: Float64Array;
}

export interface OdeSampleOptions extends SampleOptions {
  /** LightningDiT's timestep shift s (1 = none; 0.3 in its configs), see eulerGrid. */
  readonly shift?: number;
}

/** The scale to apply at time t: w inside [low, high] (inclusive), 1 outside or without guidance. */
export function guidanceScale(t: number, guidance?: Guidance): number {
  if (guidance === undefined) return 1;
  const [low, high] = guidance.interval ?? [0, 1];
  return t >= low && t <= high ? guidance.scale : 1;
}

/**
 * v̂ = u + w·(c − u) for a model that returns the conditional and unconditional halves.
 * w = 1 returns the conditional half exactly (a copy): u + (c − u) may differ from c in
 * the last bit, and "no guidance" must mean the conditional model, as in the DSL.
 * @example const v = combineGuidance(both.subarray(0, n), both.subarray(n), scale);
 */
export function combineGuidance(conditional: Float64Array, unconditional: Float64Array, w: number): Float64Array {
  if (conditional.length !== unconditional.length) {
    throw new Error(`combineGuidance: halves differ in length (${conditional.length} vs ${unconditional.length})`);
  }
  if (w === 1) return conditional.slice();
  const out = new Float64Array(conditional.length);
  for (let i = 0; i < out.length; i++) out[i] = unconditional[i]! + w * (conditional[i]! - unconditional[i]!);
  return out;
}

/**
 * The Euler/Heun grid: t_i = 1 − τ'_i, τ_i = i/K, i = 0…K, with the shift applied in the
 * τ = 1 − t direction as LightningDiT does: τ' = s·τ / (1 + (s − 1)·τ). s < 1 crowds the
 * grid towards the noise end; s = 1 is the plain uniform grid.
 */
export function eulerGrid(steps: number, shift = 1): Float64Array {
  checkSteps(steps);
  if (!(shift > 0)) throw new Error(`eulerGrid: shift must be positive, got ${shift}`);
  const grid = new Float64Array(steps + 1);
  for (let i = 0; i <= steps; i++) {
    const tau = i / steps;
    const shifted = shift === 1 ? tau : (shift * tau) / (1 + (shift - 1) * tau);
    grid[i] = 1 - shifted;
  }
  grid[steps] = 0;
  return grid;
}

/** The Euler–Maruyama grid: t_0…t_{K−1} = linspace(1, 0.04, K), then t_K = 0 (the noiseless last step). */
export function eulerMaruyamaGrid(steps: number): Float64Array {
  checkSteps(steps);
  const last = 0.04;
  const grid = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) grid[i] = steps === 1 ? 1 : 1 - ((1 - last) * i) / (steps - 1);
  if (steps > 1) grid[steps - 1] = last;
  grid[steps] = 0;
  return grid;
}

/**
 * n standard normals from Threefry-2x32 under key (seed, stream): block j = threefry(key,
 * [j, 0]) gives two uniforms u = (bits + ½)/2³², in (0, 1), and Box–Muller turns them into
 * normals 2j (cosine) and 2j + 1 (sine).
 * @example const noise = seededNormal(seed, 0, batch * size);
 *          const stepNoise = seededNormal(seed, 1 + step, batch * size);
 */
export function seededNormal(seed: number, stream: number, n: number): Float64Array {
  checkWord('seed', seed);
  checkWord('stream', stream);
  const out = new Float64Array(n);
  for (let j = 0; 2 * j < n; j++) {
    const [a, b] = threefry2x32(seed, stream, j, 0);
    const u1 = (a + 0.5) / 4294967296;
    const u2 = (b + 0.5) / 4294967296;
    const radius = Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    out[2 * j] = radius * Math.cos(angle);
    if (2 * j + 1 < n) out[2 * j + 1] = radius * Math.sin(angle);
  }
  return out;
}

/**
 * ODE Euler: x ← x + (t_{i+1} − t_i)·v̂(x, t_i) over eulerGrid(K, shift).
 * @example const latents = await sampleEuler(velocity, { shape: [128, 32], batch: 8, steps: 250, seed: 0 });
 *          const guided = await sampleEuler(velocity, { shape: [128, 32], batch: 8, steps: 250, seed: 0, guidance: { scale: 1.8, interval: [0, 0.75] } });
 */
export async function sampleEuler(velocity: Velocity, options: OdeSampleOptions): Promise<Float64Array> {
  const grid = eulerGrid(options.steps, options.shift);
  const x = startingPoint(options);
  for (let i = 0; i < options.steps; i++) {
    const t = grid[i]!;
    const slope = await evaluate(velocity, x, t, guidanceScale(t, options.guidance));
    axpy(x, grid[i + 1]! - t, slope);
  }
  return x;
}

/**
 * ODE Heun: the Euler predictor, then the average of the slopes at t_i and t_{i+1},
 * except on the last step (t_{i+1} = 0). The corrector's guidance is decided from t_i,
 * as the reference sampler does (spec §3.4), so one step is guided or not as a whole.
 * @example const latents = await sampleHeun(velocity, { shape: [128, 32], batch: 8, steps: 125, seed: 0 });
 *          // 2K − 1 velocity evaluations
 */
export async function sampleHeun(velocity: Velocity, options: OdeSampleOptions): Promise<Float64Array> {
  const grid = eulerGrid(options.steps, options.shift);
  const x = startingPoint(options);
  for (let i = 0; i < options.steps; i++) {
    const t = grid[i]!;
    const next = grid[i + 1]!;
    const scale = guidanceScale(t, options.guidance);
    const slope = await evaluate(velocity, x, t, scale);
    const predicted = x.slice();
    axpy(predicted, next - t, slope);
    if (i === options.steps - 1) {
      x.set(predicted);
      continue;
    }
    const slopeNext = await evaluate(velocity, predicted, next, scale);
    for (let k = 0; k < x.length; k++) x[k] = x[k]! + (next - t) * 0.5 * (slope[k]! + slopeNext[k]!);
  }
  return x;
}

/**
 * SDE Euler–Maruyama on eulerMaruyamaGrid(K) with diffusion g² = 2t: score ŝ = −((1−t)·v̂ + x)/t,
 * drift d = v̂ − t·ŝ = (2 − t)·v̂ + x, x ← x + d·Δ + √(2t_i)·√|Δ|·ξ; the last step (0.04 → 0)
 * takes the drift only. Guidance on v̂ equals guidance on d (d is affine in v̂ for fixed x, t).
 * @example const latents = await sampleEulerMaruyama(velocity, { shape: [128, 32], batch: 8, steps: 250, seed: 0 });
 *          const guided = await sampleEulerMaruyama(velocity, { shape: [128, 32], batch: 8, steps: 250, seed: 0, guidance: { scale: 1.9, interval: [0, 0.75] } });
 */
export async function sampleEulerMaruyama(velocity: Velocity, options: SampleOptions): Promise<Float64Array> {
  const grid = eulerMaruyamaGrid(options.steps);
  const x = startingPoint(options);
  for (let i = 0; i < options.steps; i++) {
    const t = grid[i]!;
    const delta = grid[i + 1]! - t;
    const v = await evaluate(velocity, x, t, guidanceScale(t, options.guidance));
    const last = i === options.steps - 1;
    const noise = last ? undefined : seededNormal(options.seed, 1 + i, x.length);
    const noiseScale = Math.sqrt(2 * t) * Math.sqrt(Math.abs(delta));
    for (let k = 0; k < x.length; k++) {
      const drift = (2 - t) * v[k]! + x[k]!;
      x[k] = x[k]! + drift * delta + (noise === undefined ? 0 : noiseScale * noise[k]!);
    }
  }
  return x;
}

function startingPoint(options: SampleOptions): Float64Array {
  const size = options.shape.reduce((a, b) => a * b, 1);
  const total = options.batch * size;
  if (options.initialNoise !== undefined) {
    if (options.initialNoise.length !== total) {
      throw new Error(`initialNoise has ${options.initialNoise.length} values; batch ${options.batch} × shape [${options.shape.join(', ')}] needs ${total}`);
    }
    return options.initialNoise.slice();
  }
  return seededNormal(options.seed, 0, total);
}

async function evaluate(velocity: Velocity, x: Float64Array, t: number, scale: number): Promise<Float64Array> {
  const v = await velocity(x, t, scale);
  if (v.length !== x.length) throw new Error(`velocity returned ${v.length} values for an x of ${x.length} at t = ${t}`);
  return v;
}

/** x ← x + a·y */
function axpy(x: Float64Array, a: number, y: Float64Array): void {
  for (let k = 0; k < x.length; k++) x[k] = x[k]! + a * y[k]!;
}

function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
}

function checkWord(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`${name} must be an unsigned 32-bit integer, got ${value}`);
  }
}
