// Models · DiffAugment (Zhao et al. 2020; MAETok's `utils/diff_aug.py`, spec §2.7):
// differentiable augmentations applied to both real and generated images before
// the discriminator. Images (B, C, H, W) in → same shape out; every random draw
// comes from the key passed in (derive it with ctx.rng()), so the augmentation
// is a constant of the graph for a given rng input and gradients flow to the
// image: colour ops are affine in it, translation is a gather from a zero-bordered
// copy (its transpose, a scatter-add, is the backward), cutout is a mask.

import { DType, Tensor, foldIn, gather, uniform, where, type Key, type Shape } from '../dsl/index.ts';

type F32 = Tensor<Shape, DType.F32>;
type I32 = Tensor<Shape, DType.I32>;

/** The reference's augmentation groups, applied in this order. */
export type DiffAugmentGroup = 'color' | 'translation' | 'cutout';

export interface DiffAugmentOptions {
  /** Groups to apply, in the canonical order color → translation → cutout whatever the order given. */
  readonly policy: readonly DiffAugmentGroup[];
  /** Probability of each group: one coin per group per call, shared by the whole batch. */
  readonly p: number;
  /** Largest translation as a fraction of the image side (shift ≤ round(ratio·size)). */
  readonly translation: number;
  /** Cutout square side as a fraction of the image side. */
  readonly cutout: number;
}

/** MAETok's `diff_aug`: color, translation, cutout(0.2), each group with probability 0.5. */
export const DIFF_AUGMENT: DiffAugmentOptions = { policy: ['color', 'translation', 'cutout'], p: 0.5, translation: 0.125, cutout: 0.2 };
/** The consistency-regularisation variant: color, translation, cutout(0.5), always applied. */
export const STRONG_DIFF_AUGMENT: DiffAugmentOptions = { ...DIFF_AUGMENT, p: 1, cutout: 0.5 };

const GROUPS: readonly DiffAugmentGroup[] = ['color', 'translation', 'cutout'];

/** Python's int(v + 0.5) for v ≥ 0: the reference's pixel counts. */
const pixels = (size: number, ratio: number) => Math.trunc(size * ratio + 0.5);

/** Integers uniform in [low, high] (inclusive), like torch.randint(low, high + 1). */
function randomInt(key: Key, shape: Shape, low: number, high: number): I32 {
  return uniform(key, shape).mul(high - low + 1).trunc().cast(DType.I32).add(low) as I32;
}

function dims(images: F32): [number, number, number, number] {
  if (images.rank !== 4) throw new Error(`DiffAugment: expects images (B, C, H, W), got [${images.shape.join(',')}]`);
  return images.shape as unknown as [number, number, number, number];
}

/** One uniform number per image, shaped (B, 1, 1, 1). */
function perImage(key: Key, images: F32): F32 {
  return uniform(key, [dims(images)[0], 1, 1, 1] as const) as F32;
}

/**
 * x + U(−½, ½), one offset per image.
 * @example const y = randBrightness(foldIn(key, 0), images);
 */
export function randBrightness(key: Key, images: F32): F32 {
  return images.add(perImage(key, images).sub(0.5)) as F32;
}

/**
 * (x − channel mean)·U(0, 2) + channel mean, one factor per image (a no-op on one channel).
 * @example const y = randSaturation(foldIn(key, 1), images);
 */
export function randSaturation(key: Key, images: F32): F32 {
  const mean = images.mean(1, true);
  return images.sub(mean).mul(perImage(key, images).mul(2)).add(mean) as F32;
}

/**
 * (x − image mean)·U(½, 3/2) + image mean, one factor per image.
 * @example const y = randContrast(foldIn(key, 2), images);
 */
export function randContrast(key: Key, images: F32): F32 {
  const mean = images.mean([1, 2, 3], true);
  return images.sub(mean).mul(perImage(key, images).add(0.5)).add(mean) as F32;
}

/**
 * Shifts each image by integers (dy, dx) ∈ [−s, s]², s = round(ratio·size), filling with
 * zeros: out[b, c, i, j] = x[b, c, i + dy, j + dx], 0 outside the image.
 * @example const y = randTranslation(ctx.rng(), images, 0.125);
 */
export function randTranslation(key: Key, images: F32, ratio = 0.125): F32 {
  const [batch, channels, height, width] = dims(images);
  const shape = [batch, channels, height, width] as const;
  const shiftY = randomInt(foldIn(key, 0), [batch, 1, 1, 1], -pixels(height, ratio), pixels(height, ratio));
  const shiftX = randomInt(foldIn(key, 1), [batch, 1, 1, 1], -pixels(width, ratio), pixels(width, ratio));
  // As the reference: read a copy with a one-pixel zero border at indices clamped onto that border.
  const padded = images.pad([[0, 0], [0, 0], [1, 1], [1, 1]]).reshape([-1]) as F32;
  const [b, c, i, j] = [0, 1, 2, 3].map((axis) => iota(images, shape, axis)) as [I32, I32, I32, I32];
  const row = i.add(shiftY).add(1).maximum(0).minimum(height + 1);
  const col = j.add(shiftX).add(1).maximum(0).minimum(width + 1);
  const index = b.mul(channels).add(c).mul(height + 2).add(row).mul(width + 2).add(col) as I32;
  return gather(padded, index, 0) as F32;
}

/**
 * Zeroes one square of side s = round(ratio·size) per image, centred at a uniform position
 * (clipped at the borders, as the reference's clamped indices are).
 * @example const y = randCutout(ctx.rng(), images, 0.2);
 */
export function randCutout(key: Key, images: F32, ratio = 0.5): F32 {
  const [batch, , height, width] = dims(images);
  const sizeY = pixels(height, ratio);
  const sizeX = pixels(width, ratio);
  // torch.randint(0, size + (1 − s % 2)) for the centre, then the square starts s // 2 before it.
  const startY = randomInt(foldIn(key, 0), [batch, 1, 1, 1], 0, height - (sizeY % 2)).sub(Math.floor(sizeY / 2));
  const startX = randomInt(foldIn(key, 1), [batch, 1, 1, 1], 0, width - (sizeX % 2)).sub(Math.floor(sizeX / 2));
  const grid = [batch, 1, height, width] as const;
  const rows = iota(images, grid, 2);
  const cols = iota(images, grid, 3);
  const inside = rows.ge(startY).and(rows.lt(startY.add(sizeY))).and(cols.ge(startX)).and(cols.lt(startX.add(sizeX)));
  return where(inside, 0, images) as F32;
}

/** Indices along `axis` of `shape`, in the graph that owns `like`. */
function iota(like: F32, shape: Shape, axis: number): I32 {
  return new Tensor(like.owner.builder.iota(shape, axis, DType.I32), like.owner) as I32;
}

/**
 * DiffAugment with the given policy: per group one coin (probability p) for the whole batch;
 * a group that comes up heads is applied to every image with per-image random parameters.
 * @example const augmented = diffAugment(ctx.rng(), images);                    // p = 0.5
 *          const strong = diffAugment(ctx.rng(), images, STRONG_DIFF_AUGMENT);  // p = 1, cutout 0.5
 */
export function diffAugment(key: Key, images: F32, options: DiffAugmentOptions = DIFF_AUGMENT): F32 {
  let x = images;
  GROUPS.forEach((group, g) => {
    if (!options.policy.includes(group)) return;
    const groupKey = foldIn(key, g);
    const heads = uniform(foldIn(groupKey, 0), [] as const).lt(options.p);
    const fnKey = foldIn(groupKey, 1);
    let augmented: F32;
    switch (group) {
      case 'color':
        augmented = randContrast(foldIn(fnKey, 2), randSaturation(foldIn(fnKey, 1), randBrightness(foldIn(fnKey, 0), x)));
        break;
      case 'translation':
        augmented = randTranslation(fnKey, x, options.translation);
        break;
      case 'cutout':
        augmented = randCutout(fnKey, x, options.cutout);
        break;
      default:
        return group satisfies never;
    }
    x = where(heads, augmented, x) as F32;
  });
  return x;
}
