// CLI pipeline · the tokenizer at inference. In: trained tokenizer weights and
// images (or latents). Out: latents of every image and of its mirror image with
// their scalar statistics (spec §2.11), and decoded images. The encoder runs in
// eval mode: no mask, so its output does not depend on any RNG.

import { spec } from '../../dsl/index.ts';
import { latentStats, maetokDecode, maetokEncoder } from '../../models/maetok.ts';
import { flipHorizontal } from '../../runtime/data/augment.ts';
import type { LatentDataset } from '../../runtime/data/latents.ts';
import type { StepDevice } from '../../runtime/train/step-runner.ts';
import { cachedForward, forwardProgram, type ImageSet } from './common.ts';
import type { TrainedTokenizer } from './tokenizer.ts';

export async function encodeImages(tokenizer: TrainedTokenizer, images: Float32Array | Float64Array, count: number, data: Pick<ImageSet, 'channels' | 'size'>, device: StepDevice, batch = 256): Promise<Float64Array> {
  const program = await cachedForward(tokenizer.params, `encode ${batch} ${device}`, () =>
    forwardProgram(device, (ctx, { x }) => ({ h: maetokEncoder(ctx, x, tokenizer.config) }), { x: spec([batch, data.channels, data.size, data.size]) }, tokenizer.params, batch));
  const per = data.channels * data.size * data.size;
  const out = await program.map(count, (start, n) => ({ x: images.subarray(start * per, (start + n) * per) }), ['h']);
  return out.h!;
}

export async function decodeLatents(tokenizer: TrainedTokenizer, latents: Float64Array, count: number, device: StepDevice, batch = 256): Promise<Float64Array> {
  const { latentTokens: L, latentChannels: C } = tokenizer.config;
  const program = await cachedForward(tokenizer.params, `decode ${batch} ${device}`, () =>
    forwardProgram(device, (ctx, { h }) => ({ x: maetokDecode(ctx, h, tokenizer.config) }), { h: spec([batch, L, C]) }, tokenizer.params, batch));
  const out = await program.map(count, (start, n) => ({ h: latents.subarray(start * L * C, (start + n) * L * C) }), ['x']);
  return out.x!;
}

/** Latents of the whole set and of its mirror images, with μ, σ over all of them. */
export async function encodeDataset(tokenizer: TrainedTokenizer, data: ImageSet, device: StepDevice, batch = 256): Promise<LatentDataset> {
  const latents = await encodeImages(tokenizer, data.images, data.count, data, device, batch);
  const mirrored = flipHorizontal(data.images, data.count, data.channels, data.size, data.size);
  const flipped = await encodeImages(tokenizer, mirrored, data.count, data, device, batch);
  const both = new Float64Array(latents.length * 2);
  both.set(latents);
  both.set(flipped, latents.length);
  const { mean, std } = latentStats(both);
  return {
    latents: Float32Array.from(latents), flipped: Float32Array.from(flipped), labels: data.labels,
    count: data.count, tokens: tokenizer.config.latentTokens, channels: tokenizer.config.latentChannels,
    mean, std, tokenizer: tokenizer.config.name, source: data.source,
  };
}
