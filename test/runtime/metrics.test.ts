// Host metrics against closed forms: PSNR and SSIM on images whose local statistics are
// known by hand, the linear probe on problems whose answer is forced, PCA / Jacobi on
// matrices with known spectra, the GMM NLL against the Gaussian maximum-likelihood NLL,
// and the Fréchet distance against its one- and two-dimensional closed forms.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { threefry2x32 } from '../../compiler/ir/random.ts';
import { frechetDistance } from '../../runtime/metrics/frechet.ts';
import { fitGmm, gmmNll, pca, projectPca, symmetricEigen } from '../../runtime/metrics/gmm.ts';
import { psnr, ssim } from '../../runtime/metrics/image.ts';
import { linearProbe } from '../../runtime/metrics/probe.ts';

/** Test-side randomness, independent of the code under test: uniforms and Box–Muller normals. */
function uniforms(seed: number, n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (threefry2x32(seed, 99, i, 1)[0] + 0.5) / 4294967296);
}
function normals(seed: number, n: number): Float64Array {
  const u = uniforms(seed, 2 * n);
  return Float64Array.from({ length: n }, (_, i) => Math.sqrt(-2 * Math.log(u[2 * i]!)) * Math.cos(2 * Math.PI * u[2 * i + 1]!));
}

/** An image (or batch) filled by f(image, channel, y, x), NCHW. */
function image(images: number, channels: number, height: number, width: number, f: (n: number, c: number, y: number, x: number) => number): Float64Array {
  const out = new Float64Array(images * channels * height * width);
  for (let n = 0; n < images; n++) for (let c = 0; c < channels; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    out[((n * channels + c) * height + y) * width + x] = f(n, c, y, x);
  }
  return out;
}

describe('PSNR', () => {
  it('a constant error of 0.1 on range 1 is 10·log10(1/0.01) = 20 dB; 0.2 on range 2 is also 20 dB', () => {
    const a = image(1, 1, 4, 4, () => 0.5);
    expect(psnr(a, a.map((v) => v + 0.1), { range: 1 })).toBeCloseTo(20, 10);
    expect(psnr(a, a.map((v) => v - 0.2), { range: 2 })).toBeCloseTo(20, 10);
  });

  it('is per image, then averaged: errors 0.1 and 0.01 give (20 + 40)/2 = 30 dB, not the pooled 23 dB', () => {
    const a = image(2, 1, 4, 4, () => 0);
    const b = image(2, 1, 4, 4, (n) => (n === 0 ? 0.1 : 0.01));
    expect(psnr(a, b, { range: 1, images: 2 })).toBeCloseTo(30, 10);
  });

  it('only the squared error matters: ±0.1 alternating is 20 dB too; identical images are +∞', () => {
    const a = image(1, 3, 4, 4, () => 0.3);
    const b = image(1, 3, 4, 4, (_, c, y, x) => 0.3 + ((c + y + x) % 2 === 0 ? 0.1 : -0.1));
    expect(psnr(a, b, { range: 1 })).toBeCloseTo(20, 10);
    expect(psnr(a, a, { range: 1 })).toBe(Infinity);
  });
});

describe('SSIM', () => {
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;

  it('is 1 for identical images, symmetric, and at most 1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        const a = uniforms(seed, 2 * 13 * 12);
        const b = uniforms(seed + 1, 2 * 13 * 12);
        const options = { width: 12, height: 13, channels: 2, range: 1 };
        expect(ssim(a, a, options)).toBeCloseTo(1, 12);
        expect(ssim(a, b, options)).toBeCloseTo(ssim(b, a, options), 12);
        expect(ssim(a, b, options)).toBeLessThan(1);
      }),
      { numRuns: 20 },
    );
  });

  it('of two constant images is (2μaμb + C1)/(μa² + μb² + C1) (the structure term is C2/C2)', () => {
    const a = image(1, 1, 12, 12, () => 0.3);
    const b = image(1, 1, 12, 12, () => 0.7);
    expect(ssim(a, b, { width: 12, height: 12, channels: 1, range: 1 })).toBeCloseTo((2 * 0.3 * 0.7 + c1) / (0.09 + 0.49 + c1), 11);
  });

  it('a ramp and the same ramp shifted by d: per window only the luminance term differs, averaged over the valid windows', () => {
    // a = x (column index), b = a + d. A window whose left column is j has μa = j + 5 (the
    // weights are symmetric about the centre), μb = μa + d, σb = σa and σab = σa², so the
    // contrast-structure factor is exactly 1 and SSIM(j) = (2μa(μa + d) + C1)/(μa² + (μa + d)² + C1).
    // 14×12 images: windows j = 0…3 (4 columns) × 2 rows, all rows alike. Two images × two
    // channels with offsets 0.5, 1, 2, 3: the result is the mean of the four.
    const offsets = [0.5, 1, 2, 3];
    const a = image(2, 2, 12, 14, (_, __, ___, x) => x);
    const b = image(2, 2, 12, 14, (n, c, _, x) => x + offsets[n * 2 + c]!);
    const perOffset = offsets.map((d) => {
      let sum = 0;
      for (let j = 0; j < 4; j++) {
        const mu = j + 5;
        sum += (2 * mu * (mu + d) + c1) / (mu * mu + (mu + d) ** 2 + c1);
      }
      return sum / 4;
    });
    const expected = perOffset.reduce((s, v) => s + v, 0) / 4;
    expect(ssim(a, b, { width: 14, height: 12, channels: 2, range: 1, images: 2 })).toBeCloseTo(expected, 12);
  });

  it('a horizontal against a vertical ramp (11×11, one window): C2/(2σ² + C2) with σ² the 1D window variance', () => {
    // μa = μb = 5, σa² = σb² = Σ g_k k² / Σ g_k (k = −5…5, g_k = exp(−k²/4.5)), and σab = 0
    // because the window is separable and each ramp is centred in its own direction.
    const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / 4.5));
    const variance = g.reduce((s, w, i) => s + w * (i - 5) ** 2, 0) / g.reduce((s, w) => s + w, 0);
    const a = image(1, 1, 11, 11, (_, __, ___, x) => x);
    const b = image(1, 1, 11, 11, (_, __, y) => y);
    const luminance = (2 * 25 + c1) / (50 + c1);
    expect(ssim(a, b, { width: 11, height: 11, channels: 1, range: 1 })).toBeCloseTo((luminance * c2) / (2 * variance + c2), 12);
  });

  it('rejects images smaller than the 11×11 window', () => {
    const a = image(1, 1, 10, 10, () => 0);
    expect(() => ssim(a, a, { width: 10, height: 10, channels: 1, range: 1 })).toThrow(/11×11/);
  });
});

describe('linear probe', () => {
  it('a hand-checkable 1D case: train {−2, −1} → 0, {1, 2} → 1; the boundary is 0 by symmetry', () => {
    // The data are symmetric under x ↦ −x with the labels swapped, and the regularised loss has
    // a unique minimum, so it is symmetric too: equal logits at x = 0. Test points −3, −0.5, 0.5,
    // 3 are on the right side; −1.5 is labelled 1 on purpose: 4 of 5 correct.
    const accuracy = linearProbe(
      new Float64Array([-2, -1, 1, 2]), [0, 0, 1, 1],
      new Float64Array([-3, -0.5, 0.5, 3, -1.5]), [0, 0, 1, 1, 1],
      { dim: 1, classes: 2 },
    );
    expect(accuracy).toBe(0.8);
  });

  it('is 100% on linearly separable classes (train and test), even beside noise and constant features', () => {
    // Class c: feature 0 in [3c, 3c + 1), features 1…4 uniform noise in [−1, 1), feature 5 constant.
    // The gaps (3c + 1, 3c + 3) separate the classes along feature 0 with margin 2.
    const dim = 6;
    const make = (seed: number, n: number) => {
      const u = uniforms(seed, n * dim);
      const x = new Float64Array(n * dim);
      const y = Array.from({ length: n }, (_, i) => i % 3);
      for (let i = 0; i < n; i++) {
        x[i * dim] = 3 * y[i]! + u[i * dim]!;
        for (let k = 1; k < 5; k++) x[i * dim + k] = 2 * u[i * dim + k]! - 1;
        x[i * dim + 5] = 4;
      }
      return { x, y };
    };
    const train = make(1, 300);
    const test = make(2, 300);
    expect(linearProbe(train.x, train.y, test.x, test.y, { dim, classes: 3 })).toBe(1);
    expect(linearProbe(train.x, train.y, train.x, train.y, { dim, classes: 3 })).toBe(1);
  });

  it('is 100% on well-separated Gaussian clusters in 10 dimensions', () => {
    // Means 10·e_c, unit noise: the pairwise half-distance is 7.1σ, so an error has probability ~1e-12.
    const dim = 10;
    const make = (seed: number, n: number) => {
      const z = normals(seed, n * dim);
      const y = Array.from({ length: n }, (_, i) => i % 4);
      return { x: z.map((v, k) => v + (k % dim === y[Math.floor(k / dim)] ? 10 : 0)), y };
    };
    const train = make(3, 400);
    const test = make(4, 400);
    expect(linearProbe(train.x, train.y, test.x, test.y, { dim, classes: 4 })).toBe(1);
  });

  it('is at chance on labels independent of the features: accuracy ~ Binomial(n, 1/5)/n whatever was learnt', () => {
    const dim = 8;
    const classes = 5;
    const labels = (seed: number, n: number) => Array.from(uniforms(seed, n), (u) => Math.floor(u * classes));
    const trainX = normals(5, 500 * dim);
    const testX = normals(6, 2000 * dim);
    const accuracy = linearProbe(trainX, labels(7, 500), testX, labels(8, 2000), { dim, classes });
    // The test labels are independent of everything the classifier saw: 5 standard errors √(p(1−p)/n).
    expect(Math.abs(accuracy - 1 / classes)).toBeLessThan(5 * Math.sqrt((0.2 * 0.8) / 2000));
  });

  it('rejects labels outside 0…classes−1', () => {
    expect(() => linearProbe(new Float64Array([0, 1]), [0, 2], new Float64Array([0]), [0], { dim: 1, classes: 2 })).toThrow(/label 2/);
  });
});

/** A rotation of R³: about z by a, then about x by b. Columns are the rotated axes. */
function rotation(a: number, b: number): number[][] {
  const rz = [[Math.cos(a), -Math.sin(a), 0], [Math.sin(a), Math.cos(a), 0], [0, 0, 1]];
  const rx = [[1, 0, 0], [0, Math.cos(b), -Math.sin(b)], [0, Math.sin(b), Math.cos(b)]];
  return rx.map((row) => [0, 1, 2].map((j) => row.reduce((s, v, k) => s + v * rz[k]![j]!, 0)));
}

/**
 * 2d points ±√m·e_k with m = (2d − 1)/2: mean 0 and (n − 1) sample covariance exactly I.
 * Mapped by x = offset + R·diag(σ)·z, the sample covariance is exactly R diag(σ²) Rᵀ.
 */
function exactCloud(sigma: readonly number[], offset: readonly number[], r?: number[][]): Float64Array {
  const d = sigma.length;
  const m = Math.sqrt((2 * d - 1) / 2);
  const out = new Float64Array(2 * d * d);
  for (let p = 0; p < 2 * d; p++) {
    const k = p >> 1;
    const value = (p % 2 === 0 ? 1 : -1) * m * sigma[k]!;
    for (let i = 0; i < d; i++) out[p * d + i] = offset[i]! + (r === undefined ? (i === k ? value : 0) : r[i]![k]! * value);
  }
  return out;
}

describe('symmetric Jacobi eigen-solver', () => {
  it('[[2, 1], [1, 2]] has eigenvalues 3, 1 with eigenvectors (1, ±1)/√2', () => {
    const { values, vectors } = symmetricEigen(new Float64Array([2, 1, 1, 2]), 2);
    expect(values[0]).toBeCloseTo(3, 14);
    expect(values[1]).toBeCloseTo(1, 14);
    expect(Math.abs(vectors[0]! * Math.SQRT1_2 + vectors[1]! * Math.SQRT1_2)).toBeCloseTo(1, 14);
    expect(Math.abs(vectors[2]! * Math.SQRT1_2 - vectors[3]! * Math.SQRT1_2)).toBeCloseTo(1, 14);
  });

  it('the second-difference matrix tridiag(−1, 2, −1) of size 3 has eigenvalues 2 + √2, 2, 2 − √2', () => {
    const { values } = symmetricEigen(new Float64Array([2, -1, 0, -1, 2, -1, 0, -1, 2]), 3);
    [2 + Math.SQRT2, 2, 2 - Math.SQRT2].forEach((v, i) => expect(values[i]).toBeCloseTo(v, 13));
  });

  it('random symmetric matrices: V orthonormal, Vᵀ diag(λ) V = A, λ sorted, trace preserved', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 10_000 }), (dim, seed) => {
        const u = normals(seed, dim * dim);
        const a = new Float64Array(dim * dim);
        for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) a[i * dim + j] = u[i * dim + j]! + u[j * dim + i]!;
        const { values, vectors } = symmetricEigen(a, dim);
        for (let i = 0; i + 1 < dim; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i + 1]!);
        for (let p = 0; p < dim; p++) for (let q = 0; q < dim; q++) {
          let gram = 0;
          let rebuilt = 0;
          for (let k = 0; k < dim; k++) {
            gram += vectors[p * dim + k]! * vectors[q * dim + k]!;
            rebuilt += values[k]! * vectors[k * dim + p]! * vectors[k * dim + q]!;
          }
          expect(gram).toBeCloseTo(p === q ? 1 : 0, 12);
          expect(rebuilt).toBeCloseTo(a[p * dim + q]!, 11);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('PCA', () => {
  const r = rotation(0.7, -0.4);
  const sigma = [3, 2, 0.5];

  it('recovers a rotated axis-aligned covariance exactly: variances σ², components the rotated axes', () => {
    const x = exactCloud(sigma, [1, -2, 5], r);
    const basis = pca(x, 6, 3, 3);
    [9, 4, 0.25].forEach((v, i) => expect(basis.variances[i]).toBeCloseTo(v, 12));
    [1, -2, 5].forEach((v, i) => expect(basis.mean[i]).toBeCloseTo(v, 13));
    for (let c = 0; c < 3; c++) {
      const alignment = [0, 1, 2].reduce((s, i) => s + basis.components[c * 3 + i]! * r[i]![c]!, 0);
      expect(Math.abs(alignment)).toBeCloseTo(1, 12);
    }
  });

  it('recovers it from 20k Gaussian samples within sampling error, and the projection is decorrelated', () => {
    const n = 20_000;
    const z = normals(11, n * 3);
    const x = new Float64Array(n * 3);
    for (let p = 0; p < n; p++) for (let i = 0; i < 3; i++) x[p * 3 + i] = [0, 1, 2].reduce((s, k) => s + r[i]![k]! * sigma[k]! * z[p * 3 + k]!, 0);
    const basis = pca(x, n, 3, 2);
    // Relative standard error of a variance is √(2/n) ≈ 1%; allow 5 of them.
    [9, 4].forEach((v, i) => expect(Math.abs(basis.variances[i]! / v - 1)).toBeLessThan(5 * Math.sqrt(2 / n)));
    const reduced = projectPca(basis, x, n);
    let cross = 0;
    for (let p = 0; p < n; p++) cross += reduced[p * 2]! * reduced[p * 2 + 1]!;
    expect(Math.abs(cross / (n - 1))).toBeLessThan(1e-9);
  });
});

describe('GMM negative log-likelihood', () => {
  /** Maximum-likelihood (÷ n) covariance of 3D rows and its determinant, computed directly. */
  function mleDeterminant3(x: Float64Array, n: number): number {
    const mean = [0, 1, 2].map((j) => Array.from({ length: n }, (_, p) => x[p * 3 + j]!).reduce((s, v) => s + v, 0) / n);
    const s = [0, 1, 2].map((i) => [0, 1, 2].map((j) => {
      let sum = 0;
      for (let p = 0; p < n; p++) sum += (x[p * 3 + i]! - mean[i]!) * (x[p * 3 + j]! - mean[j]!);
      return sum / n;
    }));
    return s[0]![0]! * (s[1]![1]! * s[2]![2]! - s[1]![2]! * s[2]![1]!)
      - s[0]![1]! * (s[1]![0]! * s[2]![2]! - s[1]![2]! * s[2]![0]!)
      + s[0]![2]! * (s[1]![0]! * s[2]![1]! - s[1]![1]! * s[2]![0]!);
  }

  const n = 500;
  const correlated = (() => {
    const z = normals(21, n * 3);
    return z.map((_, k) => {
      const p = Math.floor(k / 3);
      const [a, b, c] = [z[p * 3]!, z[p * 3 + 1]!, z[p * 3 + 2]!];
      return [2 * a + 1, a - 0.5 * b, 0.3 * a + 0.2 * b + 0.7 * c - 4][k % 3]!;
    });
  })();

  for (const covariance of ['full', 'diagonal'] as const) {
    it(`one ${covariance} component equals the Gaussian MLE: ½·d·log(2πe) + ½·log det Σ̂`, () => {
      // PCA with all dimensions is a rotation (det preserved) that diagonalises Σ̂, so the
      // diagonal mixture reaches the same maximum as the full one.
      const expected = 1.5 * Math.log(2 * Math.PI * Math.E) + 0.5 * Math.log(mleDeterminant3(correlated, n));
      expect(gmmNll(correlated, n, 3, { components: 1, pcaDims: 3, regularization: 0, covariance })).toBeCloseTo(expected, 10);
    });
  }

  it('PCA to 2 of 3 dimensions: the NLL of the top two variances, ½·2·log(2πe) + ½·log(λ1λ2·((n−1)/n)²)', () => {
    const x = exactCloud([3, 2, 0.5], [0, 0, 0], rotation(0.3, 1.1));
    const mle = (v: number) => (v * 5) / 6; // six points: the PCA variances are ÷5, the GMM's ÷6
    const expected = Math.log(2 * Math.PI * Math.E) + 0.5 * Math.log(mle(9) * mle(4));
    expect(gmmNll(x, 6, 3, { components: 1, pcaDims: 2, regularization: 0 })).toBeCloseTo(expected, 10);
  });

  it('two clusters 40σ apart (600 and 200 points), two components: the entropy of the weights + the weighted per-cluster MLE NLLs', () => {
    // Responsibilities are 0/1 to within e^−800, so EM converges to the per-cluster MLE with
    // weights π = (¾, ¼): NLL = −Σ π_c log π_c + Σ π_c (log(2πe) + ½·log det Σ̂_c) in 2D.
    const sizes = [600, 200];
    const n = sizes[0]! + sizes[1]!;
    const z = normals(31, n * 2);
    const x = z.map((v, k) => (k % 2 === 0 ? v + (k < 2 * sizes[0]! ? -20 : 20) : 0.5 * v));
    const clusterNll = (rows: Float64Array) => {
      const m = rows.length / 2;
      const mean = [0, 1].map((j) => rows.filter((_, k) => k % 2 === j).reduce((s, v) => s + v, 0) / m);
      const cov = [[0, 0], [0, 1], [1, 1]].map(([i, j]) => {
        let s = 0;
        for (let p = 0; p < m; p++) s += (rows[p * 2 + i!]! - mean[i!]!) * (rows[p * 2 + j!]! - mean[j!]!);
        return s / m;
      });
      return Math.log(2 * Math.PI * Math.E) + 0.5 * Math.log(cov[0]! * cov[2]! - cov[1]! * cov[1]!);
    };
    const entropy = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
    const expected = entropy + 0.75 * clusterNll(x.subarray(0, 2 * sizes[0]!)) + 0.25 * clusterNll(x.subarray(2 * sizes[0]!));
    const fit = fitGmm(x, n, 2, { components: 2, regularization: 0, seed: 3 });
    expect(fit.nll).toBeCloseTo(expected, 8);
    const weights = [...fit.weights].sort();
    expect(weights[0]).toBeCloseTo(0.25, 12);
    expect(weights[1]).toBeCloseTo(0.75, 12);
    // Through PCA (a rotation in 2D) the value is the same.
    expect(gmmNll(x, n, 2, { components: 2, pcaDims: 2, regularization: 0, seed: 3 })).toBeCloseTo(expected, 8);
    // One component explains two separated modes far worse.
    expect(gmmNll(x, n, 2, { components: 1, pcaDims: 2 })).toBeGreaterThan(expected + 1);
  });

  it('is deterministic for a seed', () => {
    const options = { components: 4, pcaDims: 3, seed: 9 };
    expect(gmmNll(correlated, n, 3, options)).toBe(gmmNll(correlated, n, 3, options));
  });
});

describe('Fréchet distance', () => {
  it('one dimension, exact sample moments: (μa − μb)² + (σa − σb)²', () => {
    // exactCloud in 1D is the pair μ ± σ·√(1/2): sample mean μ, (n − 1) variance σ².
    const a = exactCloud([1.5], [2]);
    const b = exactCloud([0.5], [-1]);
    expect(frechetDistance(a, b, 2, 2, 1)).toBeCloseTo(9 + 1, 12);
  });

  it('diagonal covariances (also when both share a rotation): ‖μa − μb‖² + Σ (σa − σb)²', () => {
    const sa = [3, 2, 0.5];
    const sb = [1, 2.5, 0.25];
    const expected = (1 - 0) ** 2 + (-2 - 1) ** 2 + (5 - 4) ** 2 + sa.reduce((s, v, i) => s + (v - sb[i]!) ** 2, 0);
    expect(frechetDistance(exactCloud(sa, [1, -2, 5]), exactCloud(sb, [0, 1, 4]), 6, 6, 3)).toBeCloseTo(expected, 11);
    const r = rotation(0.9, 0.2);
    expect(frechetDistance(exactCloud(sa, [1, -2, 5], r), exactCloud(sb, [0, 1, 4], r), 6, 6, 3)).toBeCloseTo(expected, 11);
  });

  it('non-commuting 2×2 covariances: tr √(ΣaΣb) = √(tr ΣaΣb + 2√(det Σa det Σb))', () => {
    // For a 2×2 matrix with non-negative eigenvalues λ1, λ2: (√λ1 + √λ2)² = tr + 2√det.
    const a = exactCloud([2, 0.5], [0, 0], [[Math.cos(0.4), -Math.sin(0.4)], [Math.sin(0.4), Math.cos(0.4)]]);
    const b = exactCloud([1, 1.5], [1, 1], [[Math.cos(1.3), -Math.sin(1.3)], [Math.sin(1.3), Math.cos(1.3)]]);
    const cov = (x: Float64Array, mean: number[]) => [[0, 0], [0, 1], [1, 0], [1, 1]].map(([i, j]) => {
      let s = 0;
      for (let p = 0; p < 4; p++) s += (x[p * 2 + i!]! - mean[i!]!) * (x[p * 2 + j!]! - mean[j!]!);
      return s / 3;
    });
    const [a00, a01, a10, a11] = cov(a, [0, 0]) as [number, number, number, number];
    const [b00, b01, b10, b11] = cov(b, [1, 1]) as [number, number, number, number];
    const traceProduct = a00 * b00 + a01 * b10 + a10 * b01 + a11 * b11;
    const determinants = (a00 * a11 - a01 * a10) * (b00 * b11 - b01 * b10);
    const expected = 2 + a00 + a11 + b00 + b11 - 2 * Math.sqrt(traceProduct + 2 * Math.sqrt(determinants));
    expect(frechetDistance(a, b, 4, 4, 2)).toBeCloseTo(expected, 11);
  });

  it('from 20k Gaussian samples per side: the closed form for diagonal covariances within sampling error', () => {
    const n = 20_000;
    const dim = 4;
    const ma = [0, 1, -1, 2];
    const mb = [0.5, 1, 0, 2];
    const sa = [1, 2, 0.5, 1];
    const sb = [1.5, 1, 0.5, 0.8];
    const draw = (seed: number, m: number[], s: number[]) => normals(seed, n * dim).map((v, k) => m[k % dim]! + s[k % dim]! * v);
    const expected = ma.reduce((t, v, i) => t + (v - mb[i]!) ** 2 + (sa[i]! - sb[i]!) ** 2, 0);
    // Sampling error: each σ̂ is off by ~σ/√(2n) ≈ 0.01σ, each mean by σ/√n ≈ 0.007σ; the distance
    // moves by 2|σa − σb|·δσ + 2|Δμ|·δμ per dimension plus off-diagonal terms O(σ²/n): ≈ 0.02 in all.
    expect(Math.abs(frechetDistance(draw(41, ma, sa), draw(42, mb, sb), n, n, dim) - expected)).toBeLessThan(0.06);
  });

  it('identical sets are at distance ~0; the distance is symmetric and non-negative', () => {
    const x = normals(51, 300 * 5).map((v, k) => v * (1 + (k % 5)));
    expect(Math.abs(frechetDistance(x, x, 300, 300, 5))).toBeLessThan(1e-9);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
        const a = normals(seed, 40 * 3);
        const b = normals(seed + 1, 30 * 3).map((v) => 2 * v + 1);
        const ab = frechetDistance(a, b, 40, 30, 3);
        expect(ab).toBeCloseTo(frechetDistance(b, a, 30, 40, 3), 9);
        expect(ab).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 20 },
    );
  });
});
