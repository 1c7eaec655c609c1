// Runtime data · tensor files next to a dataset, in safetensors:
// - the latent dataset a diffusion model trains on (spec §2.11): the tokenizer's
//   latents of every image and of its horizontal flip, the labels, and the scalar
//   normalisation μ, σ computed over the set;
// - teacher-feature files (N, tokens, dim) for users who have real DINOv2/SigLIP
//   features, fed to MAETok's aux targets through featureInputTeacher.
// Both are validated as a whole (dtypes, shapes, counts) before use.

import { readSafetensors, writeSafetensors, type SafetensorsTensor } from '../io/safetensors.ts';

export const LATENTS_FORMAT = 'kiln-latents/1';

export interface LatentDataset {
  /** (count, tokens, channels) tokenizer latents, unnormalised. */
  readonly latents: Float32Array;
  /** The same for the horizontally flipped images. */
  readonly flipped: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  readonly tokens: number;
  readonly channels: number;
  /** Scalar normalisation: the model sees (h − mean)/std. */
  readonly mean: number;
  readonly std: number;
  /** Which tokenizer produced them (its config name) and from which data. */
  readonly tokenizer: string;
  readonly source: string;
}

export class LatentFileError extends Error {
  override readonly name = 'LatentFileError';
}

export function writeLatentDataset(path: string, set: LatentDataset): void {
  const shape = [set.count, set.tokens, set.channels];
  writeSafetensors(path, {
    latents: { dtype: 'F32', shape, data: set.latents },
    latents_flipped: { dtype: 'F32', shape, data: set.flipped },
    labels: { dtype: 'I32', shape: [set.count], data: set.labels },
  }, {
    'kiln.format': LATENTS_FORMAT,
    'kiln.latents': JSON.stringify({ mean: set.mean, std: set.std, tokenizer: set.tokenizer, source: set.source }),
  });
}

function tensor(tensors: Map<string, SafetensorsTensor>, path: string, name: string, dtype: SafetensorsTensor['dtype'], rank: number): SafetensorsTensor {
  const t = tensors.get(name);
  if (!t) throw new LatentFileError(`${path}: no tensor "${name}" (a latent dataset holds latents, latents_flipped and labels; write it with kiln encode)`);
  if (t.dtype !== dtype || t.shape.length !== rank) throw new LatentFileError(`${path}: "${name}" is ${t.dtype}[${t.shape.join(', ')}], expected ${dtype} of rank ${rank}`);
  return t;
}

export function readLatentDataset(path: string): LatentDataset {
  const file = readSafetensors(path);
  if (file.metadata['kiln.format'] !== LATENTS_FORMAT) {
    throw new LatentFileError(`${path}: not a kiln latent dataset (kiln.format is ${JSON.stringify(file.metadata['kiln.format'] ?? null)}, expected "${LATENTS_FORMAT}"); write one with kiln encode`);
  }
  let info: { mean: unknown; std: unknown; tokenizer: unknown; source: unknown };
  try {
    info = JSON.parse(file.metadata['kiln.latents'] ?? 'null');
  } catch {
    throw new LatentFileError(`${path}: kiln.latents metadata is not JSON`);
  }
  if (!info || typeof info.mean !== 'number' || typeof info.std !== 'number' || !Number.isFinite(info.mean) || !(info.std > 0)) {
    throw new LatentFileError(`${path}: kiln.latents must hold a finite mean and a positive std`);
  }
  const latents = tensor(file.tensors, path, 'latents', 'F32', 3);
  const flipped = tensor(file.tensors, path, 'latents_flipped', 'F32', 3);
  const labels = tensor(file.tensors, path, 'labels', 'I32', 1);
  const [count, tokens, channels] = latents.shape as [number, number, number];
  if (flipped.shape.join() !== latents.shape.join()) throw new LatentFileError(`${path}: latents_flipped [${flipped.shape.join(', ')}] does not match latents [${latents.shape.join(', ')}]`);
  if (labels.shape[0] !== count) throw new LatentFileError(`${path}: ${labels.shape[0]} labels for ${count} latents`);
  return {
    latents: latents.data as Float32Array, flipped: flipped.data as Float32Array, labels: labels.data as Int32Array,
    count, tokens, channels, mean: info.mean, std: info.std, tokenizer: String(info.tokenizer ?? ''), source: String(info.source ?? ''),
  };
}

/**
 * Teacher features for MAETok's aux targets: tensor `features` (count, tokens, dim) in F32, F16 or
 * BF16, one row per dataset image in dataset order.
 */
export function readFeatureFile(path: string, expected: { readonly count: number; readonly tokens: number; readonly dim: number }): Float32Array {
  const file = readSafetensors(path);
  const t = file.tensors.get('features');
  if (!t) throw new LatentFileError(`${path}: no tensor "features" (expected (count, tokens, dim) = (${expected.count}, ${expected.tokens}, ${expected.dim}))`);
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new LatentFileError(`${path}: features are ${t.dtype}; use F32, F16 or BF16`);
  const want = [expected.count, expected.tokens, expected.dim];
  if (t.shape.join() !== want.join()) {
    throw new LatentFileError(`${path}: features are [${t.shape.join(', ')}], the dataset and aux target need [${want.join(', ')}] (one row of tokens × dim per image, in dataset order)`);
  }
  return t.data as Float32Array;
}
