// End to end on the interpreter: the 2-block ViT classifier's train step
// (forward + backward + clip + AdamW in one program) learns real Fashion-MNIST.

import { describe, expect, it } from 'vitest';
import { trainFashionMnist } from '../../examples/train-fashion-mnist.ts';

describe('Fashion-MNIST classifier on the interpreter', () => {
  it('lowers the loss by a clear margin in 40 steps (seed 0, batch 16)', () => {
    const { losses } = trainFashionMnist({ steps: 40, batch: 16, seed: 0 });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(losses.every(Number.isFinite)).toBe(true);
    // chance level for 10 classes is ln 10 ≈ 2.30
    expect(mean(losses.slice(0, 5))).toBeGreaterThan(2.1);
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.25);
  });
});
