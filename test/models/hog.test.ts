// HOG target (spec §2.6) against an independent implementation written here with
// atan2 and plain loops, on random images; and the invariant that each
// (channel, cell) histogram is unit-norm or zero.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { spec, trace } from '../../dsl/index.ts';
import { HOG_BINS, hogFeatures, type HogConfig } from '../../models/hog.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

/** The reference algorithm, step by step, for one (C, H, W) image. */
function naiveHog(image: Float64Array, channels: number, height: number, width: number, config: HogConfig): number[][] {
  const { cell, window, patch } = config;
  const px = (c: number, i: number, j: number) => {
    const ri = i < 0 ? -i : i >= height ? 2 * height - 2 - i : i;
    const rj = j < 0 ? -j : j >= width ? 2 * width - 2 - j : j;
    return image[(c * height + ri) * width + rj]!;
  };
  const sd = window / 2;
  const g = Array.from({ length: window }, (_, n) => Math.exp(-0.5 * ((n - (window - 1) / 2) / sd) ** 2));
  const total = g.reduce((a, b) => a + b, 0) ** 2;
  const cellsH = height / cell;
  const cellsW = width / cell;
  const hist = new Float64Array(channels * HOG_BINS * cellsH * cellsW);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const gx = px(c, i - 1, j - 1) - px(c, i - 1, j + 1) + 2 * (px(c, i, j - 1) - px(c, i, j + 1)) + px(c, i + 1, j - 1) - px(c, i + 1, j + 1);
        const gy = px(c, i - 1, j - 1) + 2 * px(c, i - 1, j) + px(c, i - 1, j + 1) - px(c, i + 1, j - 1) - 2 * px(c, i + 1, j) - px(c, i + 1, j + 1);
        const mag = Math.hypot(gx, gy);
        const phase = Math.atan2(gx, gy);
        const bin = ((Math.floor((phase * HOG_BINS) / Math.PI) % HOG_BINS) + HOG_BINS) % HOG_BINS;
        const weight = (g[i % window]! * g[j % window]!) / total;
        hist[((c * HOG_BINS + bin) * cellsH + Math.floor(i / cell)) * cellsW + Math.floor(j / cell)]! += mag * weight;
      }
    }
  }
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < cellsH; r++) {
      for (let q = 0; q < cellsW; q++) {
        const at = (k: number) => ((c * HOG_BINS + k) * cellsH + r) * cellsW + q;
        const norm = Math.max(Math.hypot(...Array.from({ length: HOG_BINS }, (_, k) => hist[at(k)]!)), 1e-12);
        for (let k = 0; k < HOG_BINS; k++) hist[at(k)] = hist[at(k)]! / norm;
      }
    }
  }
  const u = patch / cell;
  const tokens: number[][] = [];
  for (let tr = 0; tr < height / patch; tr++) {
    for (let tc = 0; tc < width / patch; tc++) {
      const feature: number[] = [];
      for (let c = 0; c < channels; c++) for (let k = 0; k < HOG_BINS; k++) for (let a = 0; a < u; a++) for (let b = 0; b < u; b++) feature.push(hist[((c * HOG_BINS + k) * cellsH + tr * u + a) * cellsW + tc * u + b]!);
      tokens.push(feature);
    }
  }
  return tokens;
}

function runHog(images: Float64Array, shape: [number, number, number, number], config: HogConfig): Float64Array {
  const t = trace((ctx, { x }) => hogFeatures(ctx, x, config), { x: spec(shape) });
  return interpret(t.graph, { inputs: { x: images } }).outputs.out!.data;
}

describe('HOG target', () => {
  const cases: [string, [number, number, number, number], HogConfig][] = [
    ['the minis (1 channel, cell 2, window 4, patch 4)', [2, 1, 8, 8], { cell: 2, window: 4, patch: 4 }],
    ['MAETok-B (RGB, cell 8, window 16, patch 16)', [1, 3, 32, 16], { cell: 8, window: 16, patch: 16 }],
  ];
  it.each(cases)('matches the reference algorithm for %s on random images', (_, shape, config) => {
    fc.assert(
      fc.property(// Dyadic pixel values make the Sobel sums exact, so a gradient on a bin boundary (gx = 0)
      // is exactly 0 rather than 1e-18 of rounding noise that atan2 would round onto π.
      fc.array(fc.integer({ min: -64, max: 64 }).map((v) => v / 64), { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }), (values) => {
        const images = Float64Array.from(values);
        const got = runHog(images, shape, config);
        const [batch, channels, height, width] = shape;
        const per = channels * height * width;
        const dim = channels * HOG_BINS * (config.patch / config.cell) ** 2;
        for (let b = 0; b < batch; b++) {
          naiveHog(images.subarray(b * per, (b + 1) * per), channels, height, width, config).forEach((feature, n) =>
            feature.forEach((v, f) => expect(Math.abs(got[(b * (height / config.patch) * (width / config.patch) + n) * dim + f]! - v)).toBeLessThan(1e-9)),
          );
        }
      }),
      { numRuns: 25 },
    );
  });

  it('puts the flat-border phases 0 and π in bin 0 and is unit-norm per (channel, cell) or zero', () => {
    // a horizontal ramp: gx is constant inside, exactly 0 on the reflected first/last columns
    const shape: [number, number, number, number] = [1, 1, 8, 8];
    const ramp = Float64Array.from({ length: 64 }, (_, i) => (i % 8) / 8);
    const got = runHog(ramp, shape, { cell: 2, window: 4, patch: 4 });
    const naive = naiveHog(ramp, 1, 8, 8, { cell: 2, window: 4, patch: 4 }).flat();
    naive.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 12));
    const dim = HOG_BINS * 4;
    for (let n = 0; n < 4; n++) {
      for (let cellIndex = 0; cellIndex < 4; cellIndex++) {
        const bins = Array.from({ length: HOG_BINS }, (_, k) => got[n * dim + k * 4 + cellIndex]!);
        const norm = Math.hypot(...bins);
        expect(norm === 0 || Math.abs(norm - 1) < 1e-12).toBe(true);
      }
    }
    const flat = runHog(new Float64Array(64).fill(0.5), shape, { cell: 2, window: 4, patch: 4 });
    expect(Array.from(flat).every((v) => v === 0)).toBe(true);
  });
});
