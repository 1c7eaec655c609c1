// Runtime data · seeded per-sample augmentation of a batch. In: (N, C, H, W)
// float images in row-major order, a seed and the training step. Out: a new array
// of the same type and shape. Every decision (flip or not, crop offset) is a pure
// function of (seed, step, sample index) through Threefry, so a resumed run
// augments each step exactly as the uninterrupted run did.

import { threefry2x32 } from '../../compiler/ir/random.ts';

export type FloatImages = Float32Array | Float64Array;

export type CropPadding = 'zero' | 'reflect';

/** Where a padded random crop reads from: the window's top-left corner inside the padded image. */
export interface CropOffset {
  /** Rows skipped at the top of the padded image, 0…2·padding. */
  readonly dy: number;
  /** Columns skipped at the left of the padded image, 0…2·padding. */
  readonly dx: number;
}

export interface SampleDecisions extends CropOffset {
  readonly flip: boolean;
}

export interface AugmentOptions {
  readonly seed: number;
  /** 0-based training step; with the seed it fixes every decision of the batch. */
  readonly step: number;
  /** Probability of a horizontal flip per sample (0 = never, 1 = always). Default 0. */
  readonly flip?: number;
  /** Random crop back to H×W after padding each side by `padding` pixels. Default: no crop. */
  readonly crop?: { readonly padding: number; readonly mode?: CropPadding };
}

// Second key word of the per-step key: separates augmentation bits from the
// shuffle (key word 0x5eed) and from any other stream keyed by the same seed.
const AUGMENT_KEY = 0xa06e;
// Counter word 1 of the per-sample draw, one value per kind of decision.
const FLIP_STREAM = 1;
const CROP_STREAM = 2;
const TWO_32 = 4294967296;

interface Shape {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

function checkShape(images: FloatImages, shape: Shape): void {
  for (const [name, value] of Object.entries(shape)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`image ${name} must be a positive integer, got ${value}`);
  }
  const expected = shape.n * shape.c * shape.h * shape.w;
  if (images.length !== expected) {
    throw new RangeError(`images hold ${images.length} values, (N, C, H, W) = (${shape.n}, ${shape.c}, ${shape.h}, ${shape.w}) needs ${expected}`);
  }
}

function checkSeedStep(seed: number, step: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2³²), got ${seed}`);
  if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) throw new RangeError(`step must be an integer in [0, 2³²), got ${step}`);
}

function checkPadding(padding: number, mode: CropPadding, h: number, w: number): void {
  if (!Number.isSafeInteger(padding) || padding < 0) throw new RangeError(`crop padding must be a non-negative integer, got ${padding}`);
  // Reflection mirrors about the edge pixel without repeating it, so it needs
  // `padding` further pixels on each side (the rule numpy and PyTorch apply).
  if (mode === 'reflect' && (padding >= h || padding >= w)) {
    throw new RangeError(`reflect padding ${padding} needs images larger than ${padding}×${padding}, got ${h}×${w}; use zero padding or a smaller padding`);
  }
}

function sameType<T extends FloatImages>(images: T, length: number): T {
  return new (images.constructor as new (length: number) => T)(length);
}

/** The two words drawn for one sample and one kind of decision. */
function sampleBits(seed: number, step: number, sample: number, stream: number): [number, number] {
  const [key0, key1] = threefry2x32(seed, AUGMENT_KEY, step, 0);
  return threefry2x32(key0, key1, sample, stream);
}

/**
 * The augmentation decisions for sample `sample` of step `step` (what `augment` applies).
 * @example
 *   augmentDecisions(0, 12, 3, { flip: 0.5, padding: 4 }) // { flip: true|false, dy: 0…8, dx: 0…8 }
 */
export function augmentDecisions(seed: number, step: number, sample: number, options: { readonly flip?: number; readonly padding?: number }): SampleDecisions {
  checkSeedStep(seed, step);
  const probability = options.flip ?? 0;
  const padding = options.padding ?? 0;
  const [flipBits] = sampleBits(seed, step, sample, FLIP_STREAM);
  const [rowBits, columnBits] = sampleBits(seed, step, sample, CROP_STREAM);
  const span = 2 * padding + 1;
  return {
    // bits / 2³² lies in [0, 1), so p = 0 never flips and p = 1 always does.
    flip: flipBits / TWO_32 < probability,
    dy: Math.floor((rowBits / TWO_32) * span),
    dx: Math.floor((columnBits / TWO_32) * span),
  };
}

/**
 * Mirrors every image left to right.
 * @example
 *   flipHorizontal(new Float32Array([1, 2, 3]), 1, 1, 1, 3) // Float32Array [3, 2, 1]
 */
export function flipHorizontal<T extends FloatImages>(images: T, n: number, c: number, h: number, w: number): T {
  checkShape(images, { n, c, h, w });
  const out = sameType(images, images.length);
  for (let row = 0; row < n * c * h; row++) {
    const base = row * w;
    for (let x = 0; x < w; x++) out[base + x] = images[base + w - 1 - x]!;
  }
  return out;
}

/** Maps a padded-image coordinate back into 0…size−1, or −1 where zero padding shows. */
function sourceIndex(index: number, size: number, mode: CropPadding): number {
  if (index >= 0 && index < size) return index;
  if (mode === 'zero') return -1;
  return index < 0 ? -index : 2 * (size - 1) - index;
}

/**
 * Pads each side by `padding` pixels (zeros or a reflection) and cuts the H×W window whose
 * top-left corner sits at (dy, dx) of the padded image, one offset per sample.
 * @example
 *   cropAt(images, n, c, h, w, 4, [{ dy: 4, dx: 4 }], 'zero') // offset (padding, padding): the identity
 */
export function cropAt<T extends FloatImages>(images: T, n: number, c: number, h: number, w: number, padding: number, offsets: readonly CropOffset[], mode: CropPadding = 'zero'): T {
  checkShape(images, { n, c, h, w });
  checkPadding(padding, mode, h, w);
  if (offsets.length !== n) throw new RangeError(`${offsets.length} crop offsets for ${n} images`);
  const out = sameType(images, images.length);
  for (let i = 0; i < n; i++) {
    const { dy, dx } = offsets[i]!;
    if (!Number.isInteger(dy) || !Number.isInteger(dx) || dy < 0 || dx < 0 || dy > 2 * padding || dx > 2 * padding) {
      throw new RangeError(`crop offset (${dy}, ${dx}) of sample ${i} lies outside 0…${2 * padding} (padding ${padding})`);
    }
    const columns = Int32Array.from({ length: w }, (_, x) => sourceIndex(x + dx - padding, w, mode));
    for (let channel = 0; channel < c; channel++) {
      const plane = (i * c + channel) * h * w;
      for (let y = 0; y < h; y++) {
        const sourceRow = sourceIndex(y + dy - padding, h, mode);
        const target = plane + y * w;
        if (sourceRow < 0) continue; // a zero-padding row: the output is already 0
        const source = plane + sourceRow * w;
        for (let x = 0; x < w; x++) {
          const column = columns[x]!;
          if (column >= 0) out[target + x] = images[source + column]!;
        }
      }
    }
  }
  return out;
}

/**
 * Flips each sample with probability `probability`, deciding per (seed, step, sample).
 * @example
 *   randomFlip(batch, 32, 3, 64, 64, { probability: 0.5, seed: 0, step }) // about half the images mirrored
 */
export function randomFlip<T extends FloatImages>(images: T, n: number, c: number, h: number, w: number, options: { readonly probability: number; readonly seed: number; readonly step: number }): T {
  return augment(images, n, c, h, w, { seed: options.seed, step: options.step, flip: options.probability });
}

/**
 * Pads by `padding` (zeros by default) and crops back to H×W at a per-sample seeded offset.
 * @example
 *   randomCrop(batch, 32, 3, 32, 32, { padding: 4, seed: 0, step }) // CIFAR-style shifts of up to 4 pixels
 */
export function randomCrop<T extends FloatImages>(images: T, n: number, c: number, h: number, w: number, options: { readonly padding: number; readonly mode?: CropPadding; readonly seed: number; readonly step: number }): T {
  return augment(images, n, c, h, w, { seed: options.seed, step: options.step, crop: { padding: options.padding, ...(options.mode ? { mode: options.mode } : {}) } });
}

/**
 * Applies the configured augmentations to a batch: the random crop first, then the flip.
 * @example
 *   augment(batch, 32, 1, 28, 28, { seed: 0, step, flip: 0.5, crop: { padding: 2 } })
 */
export function augment<T extends FloatImages>(images: T, n: number, c: number, h: number, w: number, options: AugmentOptions): T {
  checkShape(images, { n, c, h, w });
  checkSeedStep(options.seed, options.step);
  const probability = options.flip ?? 0;
  if (!(probability >= 0 && probability <= 1)) throw new RangeError(`flip probability must lie in [0, 1], got ${probability}`);
  const padding = options.crop?.padding ?? 0;
  const mode = options.crop?.mode ?? 'zero';
  checkPadding(padding, mode, h, w);
  const decisions = Array.from({ length: n }, (_, i) => augmentDecisions(options.seed, options.step, i, { flip: probability, padding }));
  const out = options.crop ? cropAt(images, n, c, h, w, padding, decisions, mode) : (images.slice() as T);
  for (let i = 0; i < n; i++) {
    if (!decisions[i]!.flip) continue;
    for (let row = i * c * h; row < (i + 1) * c * h; row++) out.subarray(row * w, (row + 1) * w).reverse();
  }
  return out;
}
