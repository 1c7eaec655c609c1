// CLI pipeline · the numbers of a run. In: a trained tokenizer (and diffusion
// model), image sets, the project's classifier. Out: reconstruction PSNR/SSIM,
// the latent space's linear-probe accuracy and GMM NLL (MAETok's measures of a
// discriminative, simple latent space, paper §3 / App. B.3), and the Fréchet
// distance of generated images in the classifier's feature space ("gFD (kiln
// classifier)": the miniature stand-in for gFID, not comparable to FID).

import { frechetDistance } from '../../runtime/metrics/frechet.ts';
import { gmmNll } from '../../runtime/metrics/gmm.ts';
import { psnr, ssim } from '../../runtime/metrics/image.ts';
import { linearProbe } from '../../runtime/metrics/probe.ts';
import type { StepDevice } from '../../runtime/train/step-runner.ts';
import { classifierFeatures, type TrainedClassifier } from './classifier.ts';
import type { ImageSet } from './common.ts';
import { decodeLatents, encodeImages } from './encode.ts';
import type { TrainedTokenizer } from './tokenizer.ts';

export interface ReconstructionMetrics {
  readonly psnr: number;
  readonly ssim: number;
  readonly images: number;
  /** The reconstructions, (images, C, H, W) in [−1, 1]. */
  readonly reconstructions: Float64Array;
}

export async function reconstructionMetrics(tokenizer: TrainedTokenizer, data: ImageSet, count: number, device: StepDevice, batch = 256): Promise<ReconstructionMetrics> {
  const n = Math.min(count, data.count);
  const per = data.channels * data.size * data.size;
  const originals = Float64Array.from(data.images.subarray(0, n * per));
  const latents = await encodeImages(tokenizer, originals, n, data, device, batch);
  const reconstructions = (await decodeLatents(tokenizer, latents, n, device, batch)).map((v) => Math.max(-1, Math.min(1, v)));
  const size = { width: data.size, height: data.size, channels: data.channels, range: 2, images: n };
  return { psnr: psnr(reconstructions, originals, { range: 2, images: n }), ssim: ssim(reconstructions, originals, size), images: n, reconstructions };
}

export interface LatentMetrics {
  /** Test accuracy of a linear classifier on flattened normalised latents. */
  readonly linearProbe: number;
  /** Mean NLL per sample (nats) of a 10-component GMM on 16 PCA dimensions of the latents. */
  readonly gmmNll: number;
  readonly trainCount: number;
  readonly testCount: number;
}

/** `train`/`test` are normalised latents (count, L·C). */
export function latentMetrics(train: Float64Array, trainLabels: ArrayLike<number>, test: Float64Array, testLabels: ArrayLike<number>, dim: number, classes: number, gmmSamples = 2000): LatentMetrics {
  const nTrain = trainLabels.length;
  const nTest = testLabels.length;
  const probe = linearProbe(train, Int32Array.from(trainLabels), test, Int32Array.from(testLabels), { dim, classes });
  const m = Math.min(gmmSamples, nTrain);
  const nll = gmmNll(train.subarray(0, m * dim), m, dim, { components: 10, pcaDims: Math.min(16, dim), seed: 0 });
  return { linearProbe: probe, gmmNll: nll, trainCount: nTrain, testCount: nTest };
}

/** Fréchet distance between generated and real images in the classifier's pooled-feature space. */
export async function generatedFrechet(classifier: TrainedClassifier, data: ImageSet, generated: Float64Array, count: number, real: Float32Array | Float64Array, realCount: number, device: StepDevice, batch = 256): Promise<number> {
  const fake = await classifierFeatures(classifier, data, generated, count, device, batch);
  const truth = await classifierFeatures(classifier, data, real, realCount, device, batch);
  const dim = classifier.config.width;
  return frechetDistance(fake.features, truth.features, count, realCount, dim);
}
