// Runtime metrics · Fréchet distance between two feature sets (the statistic behind
// FID/gFID/rFID) on the host. In: two row-major feature matrices (n_a×dim, n_b×dim).
// Out: the squared 2-Wasserstein distance between the Gaussians fitted to them.

import { moments, symmetricEigen } from './gmm.ts';

/**
 * ‖μa − μb‖² + tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½), covariances with n − 1 as in pytorch-fid.
 * The symmetric form has the same trace as (ΣaΣb)^½ but needs only symmetric eigen-
 * decompositions (no non-symmetric sqrtm); eigenvalues that rounding pushes below zero
 * are treated as zero. Cost O(dim³) per Jacobi sweep: suited to a few hundred features.
 * @example const fid = frechetDistance(realFeatures, fakeFeatures, 5000, 5000, 64);
 *          // 0 for identical sets; (μa − μb)² + (σa − σb)² in one dimension
 */
export function frechetDistance(featuresA: Float64Array, featuresB: Float64Array, countA: number, countB: number, dim: number): number {
  if (countA < 2 || countB < 2) throw new Error('frechetDistance: each set needs at least two samples');
  const a = moments(featuresA, countA, dim, { unbiased: true });
  const b = moments(featuresB, countB, dim, { unbiased: true });
  let meanTerm = 0;
  let traceA = 0;
  let traceB = 0;
  for (let j = 0; j < dim; j++) {
    meanTerm += (a.mean[j]! - b.mean[j]!) ** 2;
    traceA += a.covariance[j * dim + j]!;
    traceB += b.covariance[j * dim + j]!;
  }
  const rootA = symmetricSqrt(a.covariance, dim);
  const product = multiply(multiply(rootA, b.covariance, dim), rootA, dim);
  const { values } = symmetricEigen(product, dim);
  let traceRoot = 0;
  for (const value of values) traceRoot += Math.sqrt(Math.max(value, 0));
  return meanTerm + traceA + traceB - 2 * traceRoot;
}

/** S^½ = V diag(√max(λ, 0)) Vᵀ for a symmetric positive semi-definite S. */
function symmetricSqrt(matrix: Float64Array, dim: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, dim);
  const root = new Float64Array(dim * dim);
  for (let e = 0; e < dim; e++) {
    const scale = Math.sqrt(Math.max(values[e]!, 0));
    if (scale === 0) continue;
    for (let i = 0; i < dim; i++) {
      const vi = scale * vectors[e * dim + i]!;
      for (let j = 0; j < dim; j++) root[i * dim + j] = root[i * dim + j]! + vi * vectors[e * dim + j]!;
    }
  }
  return root;
}

function multiply(x: Float64Array, y: Float64Array, dim: number): Float64Array {
  const out = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let k = 0; k < dim; k++) {
      const xik = x[i * dim + k]!;
      for (let j = 0; j < dim; j++) out[i * dim + j] = out[i * dim + j]! + xik * y[k * dim + j]!;
    }
  }
  return out;
}
