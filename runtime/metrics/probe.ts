// Runtime metrics · linear probing of frozen features on the host (MAETok's measure of how
// discriminative a latent space is). In: train and test features (row-major n×dim) with
// integer labels. Out: the test accuracy of a softmax classifier fitted on the train set.
//
// Choices, fixed so that a probe result is a function of the data alone:
// - features are standardised with the train set's mean and (biased) standard deviation;
//   constant features are centred only;
// - the classifier is multinomial logistic regression z = W·x + b fitted full-batch by
//   minimising mean cross-entropy + (λ/2)·‖W‖² (the bias is not penalised), starting from
//   zero, so there is no randomness at all;
// - the optimiser is L-BFGS (memory 10) with a backtracking Armijo line search: the loss is
//   smooth and, with λ > 0, strongly convex, so it converges to the unique minimum in tens
//   to hundreds of iterations on small problems where plain gradient descent would need
//   thousands; it stops when the largest gradient entry is below 1e-6.

export interface ProbeOptions {
  readonly dim: number;
  readonly classes: number;
  /** L2 strength λ on the weights (default 1e-4). */
  readonly l2?: number;
  /** L-BFGS iterations at most (default 500). */
  readonly iterations?: number;
}

const MEMORY = 10;
const GRADIENT_TOLERANCE = 1e-6;

/**
 * Test accuracy (0…1) of a softmax linear classifier trained on standardised train features.
 * Ties in the arg-max go to the lower class index.
 * @example const accuracy = linearProbe(trainLatents, trainLabels, testLatents, testLabels, { dim: 128, classes: 10 });
 *          // 1 on linearly separable classes, ≈ 1/classes on labels unrelated to the features
 */
export function linearProbe(
  trainX: Float64Array, trainY: ArrayLike<number>, testX: Float64Array, testY: ArrayLike<number>, options: ProbeOptions,
): number {
  const { dim, classes } = options;
  const trainCount = rows('train', trainX, trainY, dim, classes);
  const testCount = rows('test', testX, testY, dim, classes);
  const { mean, scale } = standardisation(trainX, trainCount, dim);
  const train = standardise(trainX, trainCount, dim, mean, scale);
  const test = standardise(testX, testCount, dim, mean, scale);
  const parameters = minimise(
    (theta, gradient) => softmaxLoss(theta, gradient, train, trainY, trainCount, dim, classes, options.l2 ?? 1e-4),
    new Float64Array(classes * (dim + 1)),
    options.iterations ?? 500,
  );
  let correct = 0;
  const logits = new Float64Array(classes);
  for (let i = 0; i < testCount; i++) {
    scores(parameters, test, i, dim, classes, logits);
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[c]! > logits[best]!) best = c;
    if (best === testY[i]) correct++;
  }
  return correct / testCount;
}

/** Parameters θ: W (classes×dim, row-major) followed by b (classes). */
function scores(theta: Float64Array, x: Float64Array, row: number, dim: number, classes: number, out: Float64Array): void {
  for (let c = 0; c < classes; c++) {
    let z = theta[classes * dim + c]!;
    for (let k = 0; k < dim; k++) z += theta[c * dim + k]! * x[row * dim + k]!;
    out[c] = z;
  }
}

/** Mean cross-entropy + (λ/2)‖W‖²; writes its gradient. */
function softmaxLoss(
  theta: Float64Array, gradient: Float64Array, x: Float64Array, y: ArrayLike<number>, n: number, dim: number, classes: number, l2: number,
): number {
  gradient.fill(0);
  const logits = new Float64Array(classes);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    scores(theta, x, i, dim, classes, logits);
    let largest = -Infinity;
    for (let c = 0; c < classes; c++) largest = Math.max(largest, logits[c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[c]! - largest);
    const logSum = largest + Math.log(sum);
    const label = y[i]!;
    loss += logSum - logits[label]!;
    for (let c = 0; c < classes; c++) {
      const residual = (Math.exp(logits[c]! - logSum) - (c === label ? 1 : 0)) / n;
      gradient[classes * dim + c] = gradient[classes * dim + c]! + residual;
      for (let k = 0; k < dim; k++) gradient[c * dim + k] = gradient[c * dim + k]! + residual * x[i * dim + k]!;
    }
  }
  loss /= n;
  for (let k = 0; k < classes * dim; k++) {
    loss += 0.5 * l2 * theta[k]! * theta[k]!;
    gradient[k] = gradient[k]! + l2 * theta[k]!;
  }
  return loss;
}

/** L-BFGS (two-loop recursion) with backtracking Armijo steps; returns the final parameters. */
function minimise(objective: (theta: Float64Array, gradient: Float64Array) => number, start: Float64Array, iterations: number): Float64Array {
  const size = start.length;
  let theta = start.slice();
  let gradient = new Float64Array(size);
  let value = objective(theta, gradient);
  const steps: Float64Array[] = [];
  const changes: Float64Array[] = [];
  const curvatures: number[] = [];
  for (let iteration = 0; iteration < iterations; iteration++) {
    if (maxAbs(gradient) < GRADIENT_TOLERANCE) break;
    const direction = gradient.slice();
    const alphas: number[] = [];
    for (let m = steps.length - 1; m >= 0; m--) {
      const alpha = dot(steps[m]!, direction) / curvatures[m]!;
      alphas[m] = alpha;
      axpy(direction, -alpha, changes[m]!);
    }
    const initialScale = steps.length > 0 ? curvatures[steps.length - 1]! / dot(changes[steps.length - 1]!, changes[steps.length - 1]!) : 1 / Math.max(1, Math.sqrt(dot(gradient, gradient)));
    for (let k = 0; k < size; k++) direction[k] = direction[k]! * initialScale;
    for (let m = 0; m < steps.length; m++) {
      const beta = dot(changes[m]!, direction) / curvatures[m]!;
      axpy(direction, alphas[m]! - beta, steps[m]!);
    }
    for (let k = 0; k < size; k++) direction[k] = -direction[k]!;
    let slope = dot(gradient, direction);
    if (!(slope < 0)) {
      // Not a descent direction (lost curvature information): restart from steepest descent.
      steps.length = changes.length = curvatures.length = 0;
      for (let k = 0; k < size; k++) direction[k] = -gradient[k]! / Math.max(1, Math.sqrt(dot(gradient, gradient)));
      slope = dot(gradient, direction);
    }
    let stepSize = 1;
    let candidate = new Float64Array(size);
    let candidateGradient = new Float64Array(size);
    let candidateValue = Infinity;
    for (let trial = 0; trial < 60; trial++) {
      for (let k = 0; k < size; k++) candidate[k] = theta[k]! + stepSize * direction[k]!;
      candidateValue = objective(candidate, candidateGradient);
      if (candidateValue <= value + 1e-4 * stepSize * slope) break;
      stepSize *= 0.5;
    }
    if (!(candidateValue <= value + 1e-4 * stepSize * slope)) break;
    const step = new Float64Array(size);
    const change = new Float64Array(size);
    for (let k = 0; k < size; k++) {
      step[k] = candidate[k]! - theta[k]!;
      change[k] = candidateGradient[k]! - gradient[k]!;
    }
    const curvature = dot(step, change);
    if (curvature > 1e-12 * Math.sqrt(dot(step, step) * dot(change, change))) {
      steps.push(step);
      changes.push(change);
      curvatures.push(curvature);
      if (steps.length > MEMORY) {
        steps.shift();
        changes.shift();
        curvatures.shift();
      }
    }
    [theta, candidate] = [candidate, theta];
    [gradient, candidateGradient] = [candidateGradient, gradient];
    value = candidateValue;
  }
  return theta;
}

function standardisation(x: Float64Array, n: number, dim: number): { mean: Float64Array; scale: Float64Array } {
  const mean = new Float64Array(dim);
  const scale = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) mean[k] = mean[k]! + x[i * dim + k]! / n;
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) scale[k] = scale[k]! + (x[i * dim + k]! - mean[k]!) ** 2 / n;
  for (let k = 0; k < dim; k++) scale[k] = scale[k]! > 0 ? Math.sqrt(scale[k]!) : 1;
  return { mean, scale };
}

function standardise(x: Float64Array, n: number, dim: number, mean: Float64Array, scale: Float64Array): Float64Array {
  const out = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) out[i * dim + k] = (x[i * dim + k]! - mean[k]!) / scale[k]!;
  return out;
}

function rows(name: string, x: Float64Array, y: ArrayLike<number>, dim: number, classes: number): number {
  if (x.length % dim !== 0 || x.length / dim !== y.length) throw new Error(`linearProbe: ${name} has ${x.length} values for ${y.length} labels of dim ${dim}`);
  if (y.length === 0) throw new Error(`linearProbe: empty ${name} set`);
  for (let i = 0; i < y.length; i++) {
    if (!Number.isInteger(y[i]) || y[i]! < 0 || y[i]! >= classes) throw new Error(`linearProbe: ${name} label ${y[i]} at ${i} is not a class in 0…${classes - 1}`);
  }
  return y.length;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

function axpy(x: Float64Array, a: number, y: Float64Array): void {
  for (let k = 0; k < x.length; k++) x[k] = x[k]! + a * y[k]!;
}

function maxAbs(x: Float64Array): number {
  let m = 0;
  for (let k = 0; k < x.length; k++) m = Math.max(m, Math.abs(x[k]!));
  return m;
}
