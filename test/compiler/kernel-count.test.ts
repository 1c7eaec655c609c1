// Kernel boundaries (DESIGN.md rules 1–4, 6): the kernel-count targets.

import { describe, expect, it } from 'vitest';
import { WEBGPU_DEFAULT_LIMITS } from '../../compiler/compile.ts';
import { layerNorm, modulate, softmax, spec, trace, type DType, type Shape, type Tensor } from '../../dsl/index.ts';
import { expectKernels, kernelCount } from '../support/expect-kernels.ts';

type F32 = Tensor<Shape, DType.F32>;

describe('kernel counts', () => {
  it('a row softmax is 1 kernel', () => {
    expectKernels(trace((_, { x }) => softmax(x), { x: spec([8, 33] as const) }).graph, 1);
  });

  it('a softmax over a leading axis is also 1 kernel', () => {
    expectKernels(trace((_, { x }) => softmax(x, 0), { x: spec([5, 7] as const) }).graph, 1);
  });

  it('layerNorm with adaLN modulate is 1 kernel', () => {
    const t = trace((_, { x, shift, scale }) => modulate(layerNorm(x, { eps: 1e-6 }), shift, scale), {
      x: spec([2, 16, 32] as const),
      shift: spec([2, 1, 32] as const),
      scale: spec([2, 1, 32] as const),
    });
    expectKernels(t.graph, 1);
  });

  it('an elementwise chain of 10 ops is 1 kernel', () => {
    const t = trace((_, { x, y }) => {
      let h: F32 = x;
      for (let i = 0; i < 10; i++) h = i % 3 === 0 ? h.mul(y) : i % 3 === 1 ? h.add(1.5) : h.sin();
      return h;
    }, { x: spec([64] as const), y: spec([64] as const) });
    expectKernels(t.graph, 1);
  });

  it('a reshape/permute/expand chain adds 0 kernels', () => {
    const base = trace((_, { x }) => x.exp(), { x: spec([2, 3, 4] as const) }).graph;
    const viewed = trace((_, { x }) => x.exp().reshape([6, 4]).permute([1, 0] as const).reshape([4, 6, 1]).expand([4, 6, 5] as const), { x: spec([2, 3, 4] as const) }).graph;
    expect(kernelCount(viewed)).toBe(kernelCount(base));
    expectKernels(viewed, 1);
  });

  it('a matmul is its own kernel and its elementwise operands are realized first', () => {
    expectKernels(trace((_, { a, b }) => a.matmul(b), { a: spec([4, 8] as const), b: spec([8, 3] as const) }).graph, 1);
    expectKernels(trace((_, { a, b }) => a.exp().matmul(b), { a: spec([4, 8] as const), b: spec([8, 3] as const) }).graph, 2);
  });

  it('splits a kernel that would bind more buffers than the target allows', () => {
    const t = trace((ctx) => {
      let h: F32 = ctx.input('x0', [16] as const);
      for (let i = 1; i < 12; i++) h = h.add(ctx.input(`x${i}`, [16] as const));
      return h;
    });
    expect(kernelCount(t.graph, { ...WEBGPU_DEFAULT_LIMITS, maxStorageBuffersPerShaderStage: 16 })).toBe(1);
    expect(kernelCount(t.graph, WEBGPU_DEFAULT_LIMITS)).toBeGreaterThan(1);
  });

  it('fails at compile time naming maxStorageBufferBindingSize when a buffer is too large', () => {
    const t = trace((_, { x }) => x.mul(2), { x: spec([1024, 1024] as const) });
    expect(() => kernelCount(t.graph, { ...WEBGPU_DEFAULT_LIMITS, maxStorageBufferBindingSize: 1 << 20 })).toThrow(/maxStorageBufferBindingSize of 1048576/);
  });
});

describe('random bits and reductions', () => {
  it('realizes random bits read inside a reduction (pairwise ranks would otherwise rerun Threefry N times)', async () => {
    const { sampleMask } = await import('../../models/maetok.ts');
    const { compile } = await import('../../compiler/compile.ts');
    const { Op } = await import('../../compiler/ir/op.ts');
    const t = trace((ctx, { ratio }) => sampleMask(ctx.rng(), 2, 49, ratio.reshape([])), { ratio: spec([1] as const) });
    const { schedule } = compile(t.graph);
    // the per-token scores' bits (and the tiny key derivations) are computed once, in their own kernels
    const scores = schedule.kernels.find((k) => k.root.op === Op.RandomBits && k.root.shape.join(',') === '2,49');
    expect(scores).toBeDefined();
    expect(schedule.kernels.find((k) => k.kind === 'row')!.reads).toContain(scores!.root);
  });
});
