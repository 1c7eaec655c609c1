// Runtime metrics · latent-space structure on the host: a symmetric eigen-solver
// (cyclic Jacobi), PCA, and the Gaussian-mixture negative log-likelihood MAETok uses to
// compare latent spaces (paper §2 and App. B: a GMM fitted to PCA-reduced latents; fewer,
// better separated modes ⇒ lower NLL at a given component count).
// In: n row-major samples of `dim` values (Float64Array of n·dim). Out: eigenpairs,
// principal components, or the mean NLL per sample (nats) of the fitted mixture.
//
// The paper's App. B.3 settings (component counts, PCA size) were not available to this
// implementation, so the defaults below are kiln choices, following scikit-learn's
// GaussianMixture where one exists: full covariances, reg_covar 1e-6, at most 100 EM
// iterations; 16 PCA dimensions and 10 components suit the miniature latents (16×8).

import { threefry2x32 } from '../../compiler/ir/random.ts';

export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  readonly values: Float64Array;
  /** Row-major dim×dim: row j is the unit eigenvector of values[j]. */
  readonly vectors: Float64Array;
}

const MAX_SWEEPS = 100;

/**
 * Eigen-decomposition of a symmetric dim×dim matrix (row-major; only symmetry is assumed,
 * not definiteness) by the cyclic Jacobi method: sweep over every pair (p, q) and zero
 * a_pq with the plane rotation whose tangent is the smaller root of t² + 2θt − 1 = 0,
 * θ = (a_qq − a_pp)/(2a_pq). Rotations that would remove less than 1e-16·‖A‖_F are skipped;
 * the solver stops after a sweep with none left. Each sweep costs O(dim³): meant for
 * the few-hundred-dimensional covariances of kiln's metrics, not for 2048-d features.
 * @example const { values, vectors } = symmetricEigen(new Float64Array([2, 1, 1, 2]), 2);
 *          // values [3, 1], vectors rows ±[1, 1]/√2 and ±[1, −1]/√2
 */
export function symmetricEigen(matrix: Float64Array, dim: number): SymmetricEigen {
  if (matrix.length !== dim * dim) throw new Error(`symmetricEigen: ${matrix.length} values are not a ${dim}×${dim} matrix`);
  const a = matrix.slice();
  // Enforce exact symmetry: callers pass computed covariances whose halves may differ in the last bit.
  for (let p = 0; p < dim; p++) for (let q = p + 1; q < dim; q++) a[p * dim + q] = a[q * dim + p] = 0.5 * (a[p * dim + q]! + a[q * dim + p]!);
  const v = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) v[i * dim + i] = 1;
  const negligible = 1e-16 * Math.sqrt(a.reduce((s, x) => s + x * x, 0));
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < dim - 1; p++) {
      for (let q = p + 1; q < dim; q++) {
        const apq = a[p * dim + q]!;
        if (Math.abs(apq) <= negligible) continue;
        rotated = true;
        const theta = (a[q * dim + q]! - a[p * dim + p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Pᵀ A P with P = identity except P_pp = P_qq = c, P_pq = s, P_qp = −s.
        for (let k = 0; k < dim; k++) {
          const akp = a[k * dim + p]!;
          const akq = a[k * dim + q]!;
          a[k * dim + p] = c * akp - s * akq;
          a[k * dim + q] = s * akp + c * akq;
        }
        for (let k = 0; k < dim; k++) {
          const apk = a[p * dim + k]!;
          const aqk = a[q * dim + k]!;
          a[p * dim + k] = c * apk - s * aqk;
          a[q * dim + k] = s * apk + c * aqk;
        }
        a[p * dim + q] = a[q * dim + p] = 0;
        // V ← V P: the columns of V accumulate the eigenvectors.
        for (let k = 0; k < dim; k++) {
          const vkp = v[k * dim + p]!;
          const vkq = v[k * dim + q]!;
          v[k * dim + p] = c * vkp - s * vkq;
          v[k * dim + q] = s * vkp + c * vkq;
        }
      }
    }
    if (!rotated) break;
  }
  const order = Array.from({ length: dim }, (_, i) => i).sort((i, j) => a[j * dim + j]! - a[i * dim + i]!);
  const values = new Float64Array(dim);
  const vectors = new Float64Array(dim * dim);
  order.forEach((column, row) => {
    values[row] = a[column * dim + column]!;
    for (let k = 0; k < dim; k++) vectors[row * dim + k] = v[k * dim + column]!;
  });
  return { values, vectors };
}

export interface Moments {
  readonly mean: Float64Array;
  /** Row-major dim×dim. */
  readonly covariance: Float64Array;
}

/**
 * Sample mean and covariance of n rows; `unbiased` divides by n − 1 (NumPy's np.cov, used
 * by FID and PCA), otherwise by n (the maximum-likelihood estimate).
 * @example const { mean, covariance } = moments(features, n, dim, { unbiased: true });
 *          const trace = covariance.reduce((s, _, i) => (i % (dim + 1) === 0 ? s + covariance[i]! : s), 0);
 */
export function moments(x: Float64Array, n: number, dim: number, options: { unbiased: boolean }): Moments {
  checkRows('moments', x, n, dim);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] = mean[j]! + x[i * dim + j]!;
  for (let j = 0; j < dim; j++) mean[j] = mean[j]! / n;
  const covariance = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) centred[j] = x[i * dim + j]! - mean[j]!;
    for (let j = 0; j < dim; j++) for (let k = j; k < dim; k++) covariance[j * dim + k] = covariance[j * dim + k]! + centred[j]! * centred[k]!;
  }
  const divisor = options.unbiased ? n - 1 : n;
  for (let j = 0; j < dim; j++) {
    for (let k = j; k < dim; k++) covariance[j * dim + k] = covariance[k * dim + j] = covariance[j * dim + k]! / divisor;
  }
  return { mean, covariance };
}

export interface Pca {
  readonly mean: Float64Array;
  /** Row-major components×dim: row j is the unit direction of the j-th largest variance. */
  readonly components: Float64Array;
  /** Variances along the components (eigenvalues of the n − 1 sample covariance), largest first. */
  readonly variances: Float64Array;
}

/**
 * Principal components from the eigen-decomposition of the sample covariance (n − 1).
 * Each component's sign is fixed so that its largest-magnitude entry is positive.
 * @example const basis = pca(latents, n, 128, 16);
 *          const reduced = projectPca(basis, latents, n); // n×16
 */
export function pca(x: Float64Array, n: number, dim: number, components: number): Pca {
  if (!Number.isInteger(components) || components < 1 || components > dim) throw new Error(`pca: components must be 1…${dim}, got ${components}`);
  const { mean, covariance } = moments(x, n, dim, { unbiased: true });
  const { values, vectors } = symmetricEigen(covariance, dim);
  const basis = vectors.slice(0, components * dim);
  for (let c = 0; c < components; c++) {
    let largest = 0;
    for (let k = 1; k < dim; k++) if (Math.abs(basis[c * dim + k]!) > Math.abs(basis[c * dim + largest]!)) largest = k;
    if (basis[c * dim + largest]! < 0) for (let k = 0; k < dim; k++) basis[c * dim + k] = -basis[c * dim + k]!;
  }
  return { mean, components: basis, variances: values.slice(0, components) };
}

/** Coordinates of n rows in the principal basis: (x − mean)·componentsᵀ, n×components. */
export function projectPca(basis: Pca, x: Float64Array, n: number): Float64Array {
  const dim = basis.mean.length;
  const count = basis.variances.length;
  checkRows('projectPca', x, n, dim);
  const out = new Float64Array(n * count);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < count; c++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += (x[i * dim + k]! - basis.mean[k]!) * basis.components[c * dim + k]!;
      out[i * count + c] = dot;
    }
  }
  return out;
}

export type CovarianceKind = 'full' | 'diagonal';

export interface GmmOptions {
  /** Mixture components (default 10). */
  readonly components?: number;
  /** EM iterations at most (default 100). */
  readonly iterations?: number;
  /** Seed of the initial means (default 0). */
  readonly seed?: number;
  /** Covariance per component (default 'full'). */
  readonly covariance?: CovarianceKind;
  /** Added to every covariance diagonal after each M step (default 1e-6, scikit-learn's reg_covar). */
  readonly regularization?: number;
  /** Stop when the mean NLL improves by less than this (default 1e-8 nats). */
  readonly tolerance?: number;
}

export interface Gmm {
  readonly kind: CovarianceKind;
  readonly dim: number;
  readonly weights: Float64Array;
  /** components×dim. */
  readonly means: Float64Array;
  /** components×dim×dim ('full') or components×dim ('diagonal'). */
  readonly covariances: Float64Array;
  /** Mean negative log-likelihood per sample of the fitted data under the final parameters. */
  readonly nll: number;
  readonly iterations: number;
}

/**
 * EM for a Gaussian mixture. Initialisation (deterministic for a seed): means at data points
 * chosen by k-means++ seeding (the first uniformly, each next with probability ∝ squared
 * distance to the nearest chosen mean; uniforms from Threefry under the seed), equal
 * weights, every covariance the data's maximum-likelihood covariance. A component whose
 * responsibilities vanish keeps its previous mean and covariance (its weight goes to zero).
 * @example const gmm = fitGmm(points, n, 2, { components: 3, seed: 1 });
 *          const bits = gmm.nll / Math.LN2;
 */
export function fitGmm(x: Float64Array, n: number, dim: number, options: GmmOptions = {}): Gmm {
  checkRows('fitGmm', x, n, dim);
  const count = options.components ?? 10;
  const maxIterations = options.iterations ?? 100;
  const kind = options.covariance ?? 'full';
  const regularization = options.regularization ?? 1e-6;
  const tolerance = options.tolerance ?? 1e-8;
  if (!Number.isInteger(count) || count < 1 || count > n) throw new Error(`fitGmm: components must be 1…${n}, got ${count}`);

  const weights = new Float64Array(count).fill(1 / count);
  const means = new Float64Array(count * dim);
  seedMeans(x, n, dim, count, options.seed ?? 0).forEach((row, c) => means.set(x.subarray(row * dim, (row + 1) * dim), c * dim));
  const global = moments(x, n, dim, { unbiased: false }).covariance;
  const block = kind === 'full' ? dim * dim : dim;
  const covariances = new Float64Array(count * block);
  for (let c = 0; c < count; c++) {
    for (let j = 0; j < dim; j++) {
      if (kind === 'full') for (let k = 0; k < dim; k++) covariances[c * block + j * dim + k] = global[j * dim + k]! + (j === k ? regularization : 0);
      else covariances[c * block + j] = global[j * dim + j]! + regularization;
    }
  }

  const responsibilities = new Float64Array(n * count);
  let nll = expectation(x, n, dim, kind, weights, means, covariances, responsibilities);
  let iterations = 0;
  while (iterations < maxIterations) {
    maximisation(x, n, dim, kind, regularization, responsibilities, weights, means, covariances);
    iterations++;
    const next = expectation(x, n, dim, kind, weights, means, covariances, responsibilities);
    const improvement = nll - next;
    nll = next;
    if (improvement < tolerance) break;
  }
  return { kind, dim, weights, means, covariances, nll, iterations };
}

export interface GmmNllOptions extends GmmOptions {
  /** Principal components kept before fitting (default min(dim, 16)). */
  readonly pcaDims?: number;
}

/**
 * Mean negative log-likelihood per sample (nats) of a GMM fitted by EM to the PCA-reduced
 * data, evaluated on the same data (MAETok's latent-structure measure). PCA is always
 * applied, so a 'diagonal' mixture works in decorrelated coordinates.
 * @example const nll = gmmNll(latents, n, 128, { components: 10, pcaDims: 16, seed: 0 });
 *          // lower = a latent space a GMM with 10 modes explains better
 */
export function gmmNll(x: Float64Array, n: number, dim: number, options: GmmNllOptions = {}): number {
  const reducedDim = options.pcaDims ?? Math.min(dim, 16);
  const reduced = projectPca(pca(x, n, dim, reducedDim), x, n);
  return fitGmm(reduced, n, reducedDim, options).nll;
}

/** E step: fills responsibilities (n×components) and returns the mean NLL per sample. */
function expectation(
  x: Float64Array, n: number, dim: number, kind: CovarianceKind,
  weights: Float64Array, means: Float64Array, covariances: Float64Array, responsibilities: Float64Array,
): number {
  const count = weights.length;
  const densities = Array.from({ length: count }, (_, c) => gaussianLogDensity(kind, dim, means.subarray(c * dim, (c + 1) * dim), covariances.subarray(c * (kind === 'full' ? dim * dim : dim), (c + 1) * (kind === 'full' ? dim * dim : dim))));
  let total = 0;
  for (let i = 0; i < n; i++) {
    const point = x.subarray(i * dim, (i + 1) * dim);
    let largest = -Infinity;
    for (let c = 0; c < count; c++) {
      const logp = Math.log(weights[c]!) + densities[c]!(point);
      responsibilities[i * count + c] = logp;
      if (logp > largest) largest = logp;
    }
    let sum = 0;
    for (let c = 0; c < count; c++) sum += Math.exp(responsibilities[i * count + c]! - largest);
    const logLikelihood = largest + Math.log(sum);
    for (let c = 0; c < count; c++) responsibilities[i * count + c] = Math.exp(responsibilities[i * count + c]! - logLikelihood);
    total += logLikelihood;
  }
  return -total / n;
}

/** M step: weights, means and covariances from the responsibilities (in place). */
function maximisation(
  x: Float64Array, n: number, dim: number, kind: CovarianceKind, regularization: number,
  responsibilities: Float64Array, weights: Float64Array, means: Float64Array, covariances: Float64Array,
): void {
  const count = weights.length;
  const block = kind === 'full' ? dim * dim : dim;
  const centred = new Float64Array(dim);
  for (let c = 0; c < count; c++) {
    let mass = 0;
    for (let i = 0; i < n; i++) mass += responsibilities[i * count + c]!;
    weights[c] = mass / n;
    if (mass <= 1e-12 * n) continue;
    const mean = new Float64Array(dim);
    for (let i = 0; i < n; i++) {
      const r = responsibilities[i * count + c]!;
      for (let j = 0; j < dim; j++) mean[j] = mean[j]! + r * x[i * dim + j]!;
    }
    for (let j = 0; j < dim; j++) mean[j] = mean[j]! / mass;
    const covariance = new Float64Array(block);
    for (let i = 0; i < n; i++) {
      const r = responsibilities[i * count + c]!;
      for (let j = 0; j < dim; j++) centred[j] = x[i * dim + j]! - mean[j]!;
      if (kind === 'full') {
        for (let j = 0; j < dim; j++) for (let k = j; k < dim; k++) covariance[j * dim + k] = covariance[j * dim + k]! + r * centred[j]! * centred[k]!;
      } else {
        for (let j = 0; j < dim; j++) covariance[j] = covariance[j]! + r * centred[j]! * centred[j]!;
      }
    }
    if (kind === 'full') {
      for (let j = 0; j < dim; j++) {
        for (let k = j; k < dim; k++) covariance[j * dim + k] = covariance[k * dim + j] = covariance[j * dim + k]! / mass + (j === k ? regularization : 0);
      }
    } else {
      for (let j = 0; j < dim; j++) covariance[j] = covariance[j]! / mass + regularization;
    }
    means.set(mean, c * dim);
    covariances.set(covariance, c * block);
  }
}

/** log N(·; mean, covariance) as a function of the point, factorised once (Cholesky for 'full'). */
function gaussianLogDensity(kind: CovarianceKind, dim: number, mean: Float64Array, covariance: Float64Array): (point: Float64Array) => number {
  const constant = -0.5 * dim * Math.log(2 * Math.PI);
  if (kind === 'diagonal') {
    let logDet = 0;
    for (let j = 0; j < dim; j++) logDet += Math.log(covariance[j]!);
    return (point) => {
      let mahalanobis = 0;
      for (let j = 0; j < dim; j++) mahalanobis += (point[j]! - mean[j]!) ** 2 / covariance[j]!;
      return constant - 0.5 * logDet - 0.5 * mahalanobis;
    };
  }
  const lower = cholesky(covariance, dim);
  let logDet = 0;
  for (let j = 0; j < dim; j++) logDet += 2 * Math.log(lower[j * dim + j]!);
  const solved = new Float64Array(dim);
  return (point) => {
    let mahalanobis = 0;
    for (let j = 0; j < dim; j++) {
      let residual = point[j]! - mean[j]!;
      for (let k = 0; k < j; k++) residual -= lower[j * dim + k]! * solved[k]!;
      solved[j] = residual / lower[j * dim + j]!;
      mahalanobis += solved[j]! * solved[j]!;
    }
    return constant - 0.5 * logDet - 0.5 * mahalanobis;
  };
}

function cholesky(matrix: Float64Array, dim: number): Float64Array {
  const lower = new Float64Array(dim * dim);
  for (let j = 0; j < dim; j++) {
    for (let i = j; i < dim; i++) {
      let sum = matrix[i * dim + j]!;
      for (let k = 0; k < j; k++) sum -= lower[i * dim + k]! * lower[j * dim + k]!;
      if (i === j) {
        if (!(sum > 0)) throw new Error(`fitGmm: a covariance is not positive definite (pivot ${sum} at ${j}); raise regularization`);
        lower[j * dim + j] = Math.sqrt(sum);
      } else {
        lower[i * dim + j] = sum / lower[j * dim + j]!;
      }
    }
  }
  return lower;
}

/**
 * k-means++ seeding: the rows of the initial means. Uniform u_i from Threefry(seed, 0) at
 * counter i; the first row is floor(u_0·n), row i the first whose cumulative squared
 * distance exceeds u_i·total (duplicates of chosen points have distance 0 and are never
 * chosen again while any other point is left).
 */
function seedMeans(x: Float64Array, n: number, dim: number, count: number, seed: number): number[] {
  const uniform = (i: number) => threefry2x32(seed >>> 0, 0, i, 0)[0] / 4294967296;
  const chosen = [Math.floor(uniform(0) * n)];
  const nearest = new Float64Array(n).fill(Infinity);
  for (let c = 1; c < count; c++) {
    const last = chosen[c - 1]!;
    let total = 0;
    for (let i = 0; i < n; i++) {
      let distance = 0;
      for (let k = 0; k < dim; k++) distance += (x[i * dim + k]! - x[last * dim + k]!) ** 2;
      nearest[i] = Math.min(nearest[i]!, distance);
      total += nearest[i]!;
    }
    if (total === 0) {
      // Fewer distinct points than components: fall back to unchosen rows in order.
      for (let i = 0; chosen.length <= c; i++) if (!chosen.includes(i)) chosen.push(i);
      continue;
    }
    const target = uniform(c) * total;
    let cumulative = 0;
    let pick = -1;
    for (let i = 0; i < n; i++) {
      cumulative += nearest[i]!;
      if (nearest[i]! > 0) pick = i;
      if (cumulative > target && nearest[i]! > 0) break;
    }
    chosen.push(pick);
  }
  return chosen;
}

function checkRows(name: string, x: Float64Array, n: number, dim: number): void {
  if (x.length !== n * dim) throw new Error(`${name}: ${x.length} values are not ${n} rows of ${dim}`);
}
