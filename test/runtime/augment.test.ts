// Runtime data: the training order (seeded permutations, per-epoch shuffles, the
// batch of step s) and seeded augmentation (flip, padded random crop). Oracles:
// hand-built windows, pinned outputs of the original example's shuffle, set
// coverage, and determinism under recomputation from (seed, step) alone.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { augment, augmentDecisions, cropAt, flipHorizontal, randomCrop, randomFlip } from '../../runtime/data/augment.ts';
import { batchIndices, epochOrder, permutation } from '../../runtime/data/order.ts';
import { permutation as examplePermutation } from '../../examples/train-fashion-mnist.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (xs: Iterable<number> | ArrayLike<number>) => Array.from(xs).sort((a, b) => a - b);

describe('training order', () => {
  it('keeps the shuffle the Fashion-MNIST example trained with (pinned outputs)', () => {
    // Printed by the example's own permutation before it moved to runtime/data/order.ts.
    expect(Array.from(permutation(12, 0))).toEqual([4, 5, 9, 1, 10, 6, 0, 8, 7, 11, 3, 2]);
    expect(Array.from(permutation(12, 7))).toEqual([0, 9, 3, 10, 6, 8, 5, 4, 1, 11, 7, 2]);
    expect(Array.from(examplePermutation(12, 7))).toEqual(Array.from(permutation(12, 7)));
  });

  it('epoch 0 is the plain permutation; each epoch is a permutation; epochs and seeds differ', () => {
    expect(epochOrder(50, 3, 0)).toEqual(permutation(50, 3));
    const epochs = [0, 1, 2, 3].map((e) => Array.from(epochOrder(50, 3, e)));
    for (const order of epochs) expect(sorted(order)).toEqual(range(50));
    expect(new Set(epochs.map((o) => o.join())).size).toBe(4);
    expect(Array.from(epochOrder(50, 4, 1))).not.toEqual(epochs[1]);
  });

  it('batchIndices covers every index exactly once per epoch, batches straddling epoch ends (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 17 }), fc.nat(), (n, batch, seed) => {
        const epochs = 3;
        const steps = Math.ceil((epochs * n) / batch);
        const stream = range(steps).flatMap((s) => Array.from(batchIndices(n, batch, seed, s)));
        for (let e = 0; e < epochs; e++) {
          const epoch = stream.slice(e * n, (e + 1) * n);
          expect(sorted(epoch)).toEqual(range(n));
          expect(epoch).toEqual(Array.from(epochOrder(n, seed, e)));
        }
      }),
      { numRuns: 80 },
    );
  });

  it('the batch of step s depends on (seed, step) alone, so a resumed run draws the same batches', () => {
    const uninterrupted = range(30).map((s) => Array.from(batchIndices(23, 5, 11, s)));
    // A "resumed" process asks for later steps first and in another order, with other calls in between.
    const resumed = [29, 17, 4, 12].map((s) => {
      batchIndices(1000, 7, 99, s * 3);
      return Array.from(batchIndices(23, 5, 11, s));
    });
    expect(resumed).toEqual([29, 17, 4, 12].map((s) => uninterrupted[s]));
  });

  it('different seeds give different batches; a batch larger than the dataset wraps epochs', () => {
    expect(Array.from(batchIndices(100, 10, 1, 0))).not.toEqual(Array.from(batchIndices(100, 10, 2, 0)));
    const big = Array.from(batchIndices(4, 10, 5, 0));
    expect(big.slice(0, 4)).toEqual(Array.from(epochOrder(4, 5, 0)));
    expect(big.slice(4, 8)).toEqual(Array.from(epochOrder(4, 5, 1)));
    expect(big.slice(8)).toEqual(Array.from(epochOrder(4, 5, 2)).slice(0, 2));
  });

  it('rejects invalid sizes and steps with the offending value', () => {
    expect(() => batchIndices(0, 4, 0, 0)).toThrow(/dataset size n must be an integer ≥ 1, got 0/);
    expect(() => batchIndices(10, 4, 0, -1)).toThrow(/step must be an integer ≥ 0, got -1/);
    expect(() => batchIndices(10, 4, 1.5, 0)).toThrow(/seed must be an integer/);
  });
});

// (N, C, H, W) images whose every value is distinct and nonzero, so a window is recognisable.
function distinct(n: number, c: number, h: number, w: number): Float32Array {
  return Float32Array.from({ length: n * c * h * w }, (_, i) => i + 1);
}

describe('flip', () => {
  it('mirrors each row by hand', () => {
    const images = new Float64Array([1, 2, 3, 4, 5, 6]); // (1, 1, 2, 3)
    const flipped = flipHorizontal(images, 1, 1, 2, 3);
    expect(Array.from(flipped)).toEqual([3, 2, 1, 6, 5, 4]);
    expect(flipped).toBeInstanceOf(Float64Array);
    expect(Array.from(images)).toEqual([1, 2, 3, 4, 5, 6]); // input untouched
  });

  it('flipping twice is the identity (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), (n, c, h, w) => {
        const images = Float32Array.from({ length: n * c * h * w }, () => Math.fround(Math.random() * 2 - 1));
        expect(flipHorizontal(flipHorizontal(images, n, c, h, w), n, c, h, w)).toEqual(images);
      }),
      { numRuns: 50 },
    );
  });

  it('probability 0 never flips, probability 1 always flips', () => {
    const images = distinct(8, 2, 3, 5);
    expect(randomFlip(images, 8, 2, 3, 5, { probability: 0, seed: 1, step: 4 })).toEqual(images);
    expect(randomFlip(images, 8, 2, 3, 5, { probability: 1, seed: 1, step: 4 })).toEqual(flipHorizontal(images, 8, 2, 3, 5));
  });

  it('probability ½ flips each sample whole or not at all, about half of them, as augmentDecisions says', () => {
    const n = 400;
    const images = distinct(n, 2, 2, 3);
    const out = randomFlip(images, n, 2, 2, 3, { probability: 0.5, seed: 9, step: 2 });
    const flipped = flipHorizontal(images, n, 2, 2, 3);
    const size = 2 * 2 * 3;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const sample = Array.from(out.subarray(i * size, (i + 1) * size));
      const isFlipped = sample.join() === Array.from(flipped.subarray(i * size, (i + 1) * size)).join();
      const isOriginal = sample.join() === Array.from(images.subarray(i * size, (i + 1) * size)).join();
      expect(isFlipped !== isOriginal).toBe(true);
      expect(isFlipped).toBe(augmentDecisions(9, 2, i, { flip: 0.5 }).flip);
      if (isFlipped) count++;
    }
    expect(count).toBeGreaterThan(160); // binomial(400, ½): mean 200, sd 10
    expect(count).toBeLessThan(240);
  });

  it('decisions are a function of (seed, step, sample): recomputed equal, other steps or seeds differ', () => {
    const pattern = (seed: number, step: number) => range(64).map((i) => augmentDecisions(seed, step, i, { flip: 0.5, padding: 3 }));
    expect(pattern(5, 10)).toEqual(pattern(5, 10));
    expect(pattern(5, 11)).not.toEqual(pattern(5, 10));
    expect(pattern(6, 10)).not.toEqual(pattern(5, 10));
  });
});

describe('padded crop', () => {
  it('zero padding: offset (0, 2) of padding 1 shows the window shifted down and left, by hand', () => {
    // 3×3 image 1…9; padded 5×5; the window starting at padded row 0, column 2:
    //   padded row 0 is all zero; rows 1–2 read source rows 0–1, columns 1–2, then the zero border.
    const out = cropAt(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), 1, 1, 3, 3, 1, [{ dy: 0, dx: 2 }]);
    expect(Array.from(out)).toEqual([0, 0, 0, 2, 3, 0, 5, 6, 0]);
  });

  it('reflect padding mirrors about the edge pixel, by hand', () => {
    // Row 1 2 3 4 padded by 2 with reflection: 3 2 | 1 2 3 4 | 3 2.
    const row = new Float32Array([1, 2, 3, 4]);
    expect(Array.from(cropAt(row, 1, 1, 1, 4, 0, [{ dy: 0, dx: 0 }], 'reflect'))).toEqual([1, 2, 3, 4]);
    const wide = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]); // (1, 1, 2, 4)
    // Padded rows: reflect(−1) = row 1; so offset dy = 0, dx = 0 with padding 1 reads rows [1, 0] and columns [1, 0, 1, 2].
    expect(Array.from(cropAt(wide, 1, 1, 2, 4, 1, [{ dy: 0, dx: 0 }], 'reflect'))).toEqual([6, 5, 6, 7, 2, 1, 2, 3]);
    expect(Array.from(cropAt(wide, 1, 1, 2, 4, 1, [{ dy: 2, dx: 2 }], 'reflect'))).toEqual([6, 7, 8, 7, 2, 3, 4, 3]);
  });

  it('offset (padding, padding) is the identity; padding 0 too', () => {
    const images = distinct(2, 3, 4, 5);
    expect(cropAt(images, 2, 3, 4, 5, 2, [{ dy: 2, dx: 2 }, { dy: 2, dx: 2 }])).toEqual(images);
    expect(randomCrop(images, 2, 3, 4, 5, { padding: 0, seed: 1, step: 1 })).toEqual(images);
  });

  it('randomCrop applies the decided offsets to every channel, and the offsets span 0…2·padding', () => {
    const [n, c, h, w, padding] = [40, 2, 4, 6, 2];
    const images = distinct(n, c, h, w);
    const out = randomCrop(images, n, c, h, w, { padding, seed: 3, step: 8 });
    const offsets = range(n).map((i) => augmentDecisions(3, 8, i, { padding }));
    // Oracle: read the source directly at (y + dy − p, x + dx − p), zero outside.
    for (let i = 0; i < n; i++) {
      const { dy, dx } = offsets[i]!;
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const sy = y + dy - padding;
            const sx = x + dx - padding;
            const expected = sy >= 0 && sy < h && sx >= 0 && sx < w ? images[((i * c + ch) * h + sy) * w + sx] : 0;
            expect(out[((i * c + ch) * h + y) * w + x]).toBe(expected);
          }
        }
      }
    }
    expect(sorted(new Set(offsets.map((o) => o.dy)))).toEqual([0, 1, 2, 3, 4]);
    expect(sorted(new Set(offsets.map((o) => o.dx)))).toEqual([0, 1, 2, 3, 4]);
  });

  it('augment crops then flips, each by its own decision', () => {
    const [n, c, h, w] = [6, 1, 3, 4];
    const images = distinct(n, c, h, w);
    const out = augment(images, n, c, h, w, { seed: 2, step: 5, flip: 0.5, crop: { padding: 1 } });
    const decisions = range(n).map((i) => augmentDecisions(2, 5, i, { flip: 0.5, padding: 1 }));
    const cropped = cropAt(images, n, c, h, w, 1, decisions);
    const both = flipHorizontal(cropped, n, c, h, w);
    for (let i = 0; i < n; i++) {
      const expected = decisions[i]!.flip ? both : cropped;
      expect(Array.from(out.subarray(i * h * w, (i + 1) * h * w))).toEqual(Array.from(expected.subarray(i * h * w, (i + 1) * h * w)));
    }
    expect(decisions.some((d) => d.flip) && decisions.some((d) => !d.flip)).toBe(true);
  });

  it('rejects a shape mismatch, an impossible reflection and an out-of-range offset', () => {
    expect(() => flipHorizontal(new Float32Array(5), 1, 1, 2, 3)).toThrow(/images hold 5 values, \(N, C, H, W\) = \(1, 1, 2, 3\) needs 6/);
    expect(() => randomCrop(new Float32Array(9), 1, 1, 3, 3, { padding: 3, mode: 'reflect', seed: 0, step: 0 })).toThrow(/reflect padding 3 needs images larger than 3×3/);
    expect(() => cropAt(new Float32Array(9), 1, 1, 3, 3, 1, [{ dy: 3, dx: 0 }])).toThrow(/crop offset \(3, 0\) of sample 0 lies outside 0…2/);
    expect(() => randomFlip(new Float32Array(9), 1, 1, 3, 3, { probability: 1.5, seed: 0, step: 0 })).toThrow(/flip probability must lie in \[0, 1\], got 1.5/);
  });
});
