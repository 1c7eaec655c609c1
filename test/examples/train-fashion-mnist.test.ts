// End to end on the interpreter: the 2-block ViT classifier's train step
// (forward + backward + clip + AdamW in one program) learns real Fashion-MNIST.

import { describe, expect, it } from 'vitest';
import { trainFashionMnist } from '../../examples/train-fashion-mnist.ts';

describe('Fashion-MNIST classifier on the interpreter', () => {
  it('lowers the loss by a clear margin in 40 steps (seed 0, batch 16)', async () => {
    const { losses } = await trainFashionMnist({ steps: 40, batch: 16, seed: 0 });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(losses.every(Number.isFinite)).toBe(true);
    // chance level for 10 classes is ln 10 ≈ 2.30
    expect(mean(losses.slice(0, 5))).toBeGreaterThan(2.1);
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.25);
  });
});

describe('Fashion-MNIST classifier on WebGPU', () => {
  it('follows the interpreter’s float32 loss curve step for step (same seed)', async () => {
    const options = { steps: 12, batch: 8, seed: 3 } as const;
    const gpu = await trainFashionMnist({ ...options, device: 'webgpu' });
    const cpu = await trainFashionMnist({ ...options, device: 'cpu', precision: 'f32' });
    gpu.losses.forEach((loss, step) => expect(Math.abs(loss - cpu.losses[step]!), `step ${step + 1}: webgpu ${loss} vs interpreter ${cpu.losses[step]}`).toBeLessThan(2e-3));
    expect(gpu.losses[gpu.losses.length - 1]!).toBeLessThan(gpu.losses[0]!);
  });
});
