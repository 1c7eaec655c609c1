// randomBits is Threefry-2x32-20: it must reproduce the Random123 known-answer
// vectors (kat_vectors, "threefry2x32 20" lines: counter, key → output), lay its
// bits out as documented, and the DSL's uniform/normal sugar must have the
// right distributions.

import { describe, expect, it } from 'vitest';
import { DType } from '../../compiler/ir/dtype.ts';
import { randomBitsHost, threefry2x32 } from '../../compiler/ir/random.ts';
import { bernoulli, foldIn, normal, randomBits, split, trace, uniform } from '../../dsl/index.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

describe('Threefry-2x32-20', () => {
  it.each([
    { ctr: [0x00000000, 0x00000000], key: [0x00000000, 0x00000000], out: [0x6b200159, 0x99ba4efe] },
    { ctr: [0xffffffff, 0xffffffff], key: [0xffffffff, 0xffffffff], out: [0x1cb996fc, 0xbb002be7] },
    { ctr: [0x243f6a88, 0x85a308d3], key: [0x13198a2e, 0x03707344], out: [0xc4923a9c, 0x483df7a0] },
  ])('reproduces the Random123 known answer for counter $ctr under key $key', ({ ctr, key, out }) => {
    expect(threefry2x32(key[0]!, key[1]!, ctr[0]!, ctr[1]!)).toEqual(out);
  });

  it('lays out bits[i] = threefry(key, [floor(i/2), 0])[i mod 2] in the randomBits primitive', () => {
    const key = [0x13198a2e, 0x03707344];
    const t = trace((ctx) => randomBits(ctx.input('key', [2] as const, DType.U32), [3, 3] as const));
    const bits = interpret(t.graph, { inputs: { key } }).outputs.out!;
    expect(bits.dtype).toBe(DType.U32);
    const expected = Array.from({ length: 9 }, (_, i) => threefry2x32(key[0]!, key[1]!, Math.floor(i / 2), 0)[i % 2]);
    expect(Array.from(bits.data)).toEqual(expected);
    expect(Array.from(randomBitsHost(key[0]!, key[1]!, 9))).toEqual(expected);
  });
});

describe('DSL randomness', () => {
  const run = (fn: Parameters<typeof trace>[0], key = [1, 2]) => interpret(trace(fn).graph, { inputs: { rng: key } }).outputs;

  it('uniform samples lie in [0, 1) with mean ≈ 1/2 and variance ≈ 1/12', () => {
    const { out } = run((ctx) => uniform(ctx.rng(), [20000] as const));
    const data = out!.data;
    expect(Math.min(...data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...data)).toBeLessThan(1);
    const mean = data.reduce((a, b) => a + b, 0) / data.length;
    const variance = data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // 5 standard errors (σ/√n ≈ 0.002)
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.004);
  });

  it('normal samples have mean ≈ 0, variance ≈ 1 and the normal fraction within one σ', () => {
    const { out } = run((ctx) => normal(ctx.rng(), [20000] as const));
    const data = out!.data;
    const mean = data.reduce((a, b) => a + b, 0) / data.length;
    const variance = data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length;
    const withinOne = data.filter((v) => Math.abs(v) < 1).length / data.length;
    expect(Math.abs(mean)).toBeLessThan(0.035);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    expect(Math.abs(withinOne - 0.6826894921370859)).toBeLessThan(0.017);
  });

  it('bernoulli(p) is true with frequency ≈ p', () => {
    const { out } = run((ctx) => bernoulli(ctx.rng(), 0.1, [20000] as const).cast(DType.F32));
    const rate = out!.data.reduce((a, b) => a + b, 0) / out!.data.length;
    expect(Math.abs(rate - 0.1)).toBeLessThan(0.011);
  });

  it('gives the same numbers for the same key and different numbers for other keys or streams', () => {
    const draw = (key: number[]) => Array.from(run((ctx) => ({ a: uniform(ctx.rng(), [8] as const), b: uniform(ctx.rng(), [8] as const) }), key).a!.data);
    expect(draw([5, 6])).toEqual(draw([5, 6]));
    expect(draw([5, 6])).not.toEqual(draw([5, 7]));
    const { a, b } = run((ctx) => ({ a: uniform(ctx.rng(), [8] as const), b: uniform(ctx.rng(), [8] as const) }));
    expect(Array.from(a!.data)).not.toEqual(Array.from(b!.data));
  });

  it('derives split keys as folded streams of the parent key', () => {
    const t = trace((ctx) => {
      const key = ctx.input('key', [2] as const, DType.U32);
      const [k0, k1] = split(key, 2);
      return { k0: k0!, k1: k1!, again: foldIn(key, 1) };
    });
    const { k0, k1, again } = interpret(t.graph, { inputs: { key: [9, 10] } }).outputs;
    expect(Array.from(k0!.data)).toEqual(threefry2x32(9, 10, 0, 0));
    expect(Array.from(k1!.data)).toEqual(threefry2x32(9, 10, 1, 0));
    expect(Array.from(again!.data)).toEqual(Array.from(k1!.data));
  });
});
