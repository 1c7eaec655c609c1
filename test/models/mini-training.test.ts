// The Mini configs train on WebGPU (lavapipe) on real Fashion-MNIST through the
// same pipeline stages the demo uses: MAETok-Mini stage 1 (mask modeling, HOG
// and teacher-feature aux decoders, perceptual loss) and SiT-Mini on the latents
// of a frozen tokenizer, each with a falling loss. Short runs (the compile of a
// cold lavapipe dominates); the closing note reports the demo's longer ones.

import { describe, expect, it } from 'vitest';
import { trainClassifier } from '../../cli/pipeline/classifier.ts';
import { fashionMnist } from '../../cli/pipeline/common.ts';
import { trainDiffusion } from '../../cli/pipeline/diffusion.ts';
import { encodeDataset } from '../../cli/pipeline/encode.ts';
import { trainTokenizer } from '../../cli/pipeline/tokenizer.ts';
import { MAETOK_MINI, SIT_MINI } from '../../models/configs.ts';

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('Mini configs on WebGPU (lavapipe), real Fashion-MNIST', () => {
  it('MAETok-Mini stage 1 lowers its reconstruction loss, and SiT-Mini on its latents lowers the velocity loss', async () => {
    const data = fashionMnist('train', 512);
    const teacher = await trainClassifier(data, { steps: 2, batch: 16, seed: 0, device: 'webgpu' });
    const tokenizer = await trainTokenizer(data, {
      config: MAETOK_MINI, variant: 'maetok', steps: 24, batch: 8, learningRate: 2e-3, seed: 0, device: 'webgpu',
      teacher, perceptualWeight: 0.1, stage2Steps: 0, ema: 0.9,
    });
    const rec = tokenizer.stage1.map((r) => r.values.rec!);
    expect(rec.every(Number.isFinite)).toBe(true);
    expect(mean(rec.slice(-6))).toBeLessThan(0.8 * mean(rec.slice(0, 6)));
    for (const target of ['hog', 'dino', 'perceptual']) expect(tokenizer.stage1.every((r) => Number.isFinite(r.values[target]!)), target).toBe(true);

    const latents = await encodeDataset(tokenizer, { ...data, count: 256, images: data.images.subarray(0, 256 * 784), labels: data.labels.subarray(0, 256) }, 'webgpu', 128);
    const diffusion = await trainDiffusion(latents, { config: SIT_MINI, steps: 40, batch: 16, learningRate: 1e-3, seed: 0, device: 'webgpu', ema: 0.9 });
    const loss = diffusion.history.map((r) => r.values.loss!);
    expect(loss.every(Number.isFinite)).toBe(true);
    expect(mean(loss.slice(-8))).toBeLessThan(0.9 * mean(loss.slice(0, 8)));
  }, 1_200_000);
});
