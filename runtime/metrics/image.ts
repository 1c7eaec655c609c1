// Runtime metrics · reconstruction quality of images on the host. In: two batches of
// images of the same layout as Float64Arrays (a reconstruction and its reference).
// Out: one number, the mean over the batch of a per-image score (PSNR in dB, SSIM).
// Images are planar, image-major: (images, channels, height, width), kiln's NCHW.

export interface PsnrOptions {
  /** Dynamic range L of the pixel values: 1 for [0, 1], 2 for [−1, 1], 255 for bytes. */
  readonly range: number;
  /** Number of images the arrays hold (default 1); each image is length / images values. */
  readonly images?: number;
}

/**
 * Peak signal-to-noise ratio 10·log10(L² / MSE) per image, averaged over the batch.
 * An exact reconstruction scores +Infinity, and so does any batch that contains one.
 * @example const db = psnr(reconstruction, reference, { range: 2, images: 16 });
 *          // 20 dB for a constant error of 0.1 on [0, 1] images
 */
export function psnr(a: Float64Array, b: Float64Array, options: PsnrOptions): number {
  const images = options.images ?? 1;
  const size = imageSize(a, b, images);
  let total = 0;
  for (let image = 0; image < images; image++) {
    let squared = 0;
    for (let k = image * size; k < (image + 1) * size; k++) squared += (a[k]! - b[k]!) ** 2;
    total += 10 * Math.log10((options.range * options.range) / (squared / size));
  }
  return total / images;
}

export interface SsimOptions {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** Dynamic range L: C1 = (0.01·L)², C2 = (0.03·L)². */
  readonly range: number;
  /** Number of images (default 1). */
  readonly images?: number;
}

const WINDOW = 11;
const SIGMA = 1.5;
const K1 = 0.01;
const K2 = 0.03;

/**
 * Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004): local statistics under an
 * 11×11 Gaussian window (σ 1.5, weights summing to 1, weighted — not sample — variances),
 *   SSIM = (2μaμb + C1)(2σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2)),
 * averaged over the valid region (window fully inside the image, no padding), then over
 * channels and images. Images smaller than the window are rejected.
 * @example const score = ssim(reconstruction, reference, { width: 28, height: 28, channels: 1, range: 2, images: 16 });
 *          // 1 for identical images
 */
export function ssim(a: Float64Array, b: Float64Array, options: SsimOptions): number {
  const { width, height, channels, range } = options;
  const images = options.images ?? 1;
  if (width < WINDOW || height < WINDOW) throw new Error(`ssim: images must be at least ${WINDOW}×${WINDOW}, got ${width}×${height}`);
  if (imageSize(a, b, images) !== channels * width * height) {
    throw new Error(`ssim: ${a.length} values do not hold ${images} images of ${channels}×${height}×${width}`);
  }
  const weights = gaussianWindow();
  const c1 = (K1 * range) ** 2;
  const c2 = (K2 * range) ** 2;
  const rows = height - WINDOW + 1;
  const cols = width - WINDOW + 1;
  let total = 0;
  for (let plane = 0; plane < images * channels; plane++) {
    const base = plane * width * height;
    let planeTotal = 0;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        let meanA = 0, meanB = 0, squareA = 0, squareB = 0, product = 0;
        for (let i = 0; i < WINDOW; i++) {
          for (let j = 0; j < WINDOW; j++) {
            const w = weights[i * WINDOW + j]!;
            const va = a[base + (y + i) * width + x + j]!;
            const vb = b[base + (y + i) * width + x + j]!;
            meanA += w * va;
            meanB += w * vb;
            squareA += w * va * va;
            squareB += w * vb * vb;
            product += w * va * vb;
          }
        }
        const varianceA = squareA - meanA * meanA;
        const varianceB = squareB - meanB * meanB;
        const covariance = product - meanA * meanB;
        planeTotal +=
          ((2 * meanA * meanB + c1) * (2 * covariance + c2)) /
          ((meanA * meanA + meanB * meanB + c1) * (varianceA + varianceB + c2));
      }
    }
    total += planeTotal / (rows * cols);
  }
  return total / (images * channels);
}

/** The 11×11 window: outer product of the 1D Gaussian exp(−k²/(2σ²)), k = −5…5, normalised to sum 1. */
function gaussianWindow(): Float64Array {
  const half = (WINDOW - 1) / 2;
  const line = Array.from({ length: WINDOW }, (_, k) => Math.exp(-((k - half) ** 2) / (2 * SIGMA * SIGMA)));
  const sum = line.reduce((s, v) => s + v, 0);
  const window = new Float64Array(WINDOW * WINDOW);
  for (let i = 0; i < WINDOW; i++) for (let j = 0; j < WINDOW; j++) window[i * WINDOW + j] = (line[i]! * line[j]!) / (sum * sum);
  return window;
}

function imageSize(a: Float64Array, b: Float64Array, images: number): number {
  if (a.length !== b.length) throw new Error(`image batches differ in length (${a.length} vs ${b.length})`);
  if (!Number.isInteger(images) || images < 1 || a.length % images !== 0) {
    throw new Error(`${a.length} values do not split into ${images} images`);
  }
  return a.length / images;
}
