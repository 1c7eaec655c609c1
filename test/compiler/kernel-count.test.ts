// Kernel boundaries (DESIGN.md rules 1–4, 6): the kernel-count targets.

import { describe, expect, it } from 'vitest';
import { WEBGPU_DEFAULT_LIMITS } from '../../compiler/compile.ts';
import { compile } from '../../compiler/compile.ts';
import { attention, constantLr, gelu, grad, layerNorm, modulate, softmax, spec, trace, trainStep, type DType, type Shape, type Tensor } from '../../dsl/index.ts';
import { ditBlock, vitBlock } from '../../models/vit.ts';
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

  it('a matmul absorbs a cheap elementwise prologue, and realizes a transcendental one or one that reduces another axis first', () => {
    expectKernels(trace((_, { a, b }) => a.matmul(b), { a: spec([4, 8] as const), b: spec([8, 3] as const) }).graph, 1);
    expectKernels(trace((_, { a, b }) => a.mul(2).add(1).matmul(b), { a: spec([4, 8] as const), b: spec([8, 3] as const) }).graph, 1);
    // exp at every one of the operand's loads would cost more than one elementwise kernel
    expectKernels(trace((_, { a, b }) => a.exp().matmul(b), { a: spec([4, 8] as const), b: spec([8, 3] as const) }).graph, 2);
    // a column statistic varies along the contracted axis: not a per-row prologue
    expectKernels(trace((_, { a, b }) => a.sub(a.mean(0, true)).matmul(b), { a: spec([4, 8] as const), b: spec([8, 3] as const) }).graph, 2);
  });

  it('a matmul absorbs a layerNorm + modulate prologue (the row statistics are computed once per row)', () => {
    const t = trace((_, { x, w, shift, scale }) => modulate(layerNorm(x, { eps: 1e-6 }), shift, scale).matmul(w), {
      x: spec([2, 5, 12] as const), w: spec([12, 7] as const), shift: spec([2, 1, 12] as const), scale: spec([2, 1, 12] as const),
    });
    expectKernels(t.graph, 1);
  });

  it('a matmul absorbs its bias, activation, gate and residual epilogue', () => {
    const t = trace((_, { x, w, bias, gate, r }) => r.add(gelu(x.matmul(w).add(bias)).mul(gate)), {
      x: spec([2, 5, 12] as const), w: spec([12, 7] as const), bias: spec([7] as const), gate: spec([2, 1, 7] as const), r: spec([2, 5, 7] as const),
    });
    expectKernels(t.graph, 1);
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

describe('kernel templates (DESIGN.md kernel-count targets)', () => {
  const qkv = { q: spec([2, 3, 16, 8] as const), k: spec([2, 3, 16, 8] as const), v: spec([2, 3, 16, 8] as const) };

  it('attention forward is 1 kernel', () => {
    expectKernels(trace((_, { q, k, v }) => attention(q, k, v), qkv).graph, 1);
  });

  it('attention forward + backward (dq, dk, dv) is 3 kernels: the forward and a 2-kernel backward', () => {
    const t = trace((_, { q, k, v, g }) => {
      const [dq, dk, dv] = grad(attention(q, k, v).mul(g).sum(), [q, k, v]);
      return { dq: dq!, dk: dk!, dv: dv! };
    }, { ...qkv, g: spec([2, 3, 16, 8] as const) });
    // the cotangent g·1 is realized once as the template operand: 1 more
    expect(kernelCount(t.graph)).toBeLessThanOrEqual(4);
    const names = compile(t.graph).program.kernels.map((k) => k.name);
    expect(names.filter((n) => /attention/.test(n))).toHaveLength(3);
  });

  it('a DiT block forward (adaLN-Zero, SiT-XL structure at small width) is at most 7 kernels', () => {
    const t = trace((ctx) => ({ y: ditBlock(ctx.child('blocks.0'), ctx.input('x', [2, 16, 64]), ctx.input('c', [2, 64]), { heads: 4 }) }));
    expect(kernelCount(t.graph)).toBeLessThanOrEqual(7);
  });

  it('the benchmark transformer block training step (batch 8, 64 tokens, width 256, 4 heads; all weight gradients) is at most 30 kernels', () => {
    const t = trace((ctx) => {
      const loss = vitBlock(ctx.child('blocks.0'), ctx.input('x', [8, 64, 256]), { heads: 4 }).square().mean();
      const params = [...ctx.declaredParams()];
      const grads = grad(loss, params.map(([, p]) => p));
      return { loss, ...Object.fromEntries(grads.map((g, i) => [`g${i}`, g])) };
    });
    expect(kernelCount(t.graph)).toBeLessThanOrEqual(30);
  });

  it('AdamW (+ EMA) updates every parameter of a group in 1 kernel when the binding limit allows', () => {
    const step = trainStep((ctx, { x }) => vitBlock(ctx.child('blocks.0'), x, { heads: 2 }).square().mean(), { x: spec([2, 4, 8] as const) }, { schedule: constantLr(1e-3), ema: 0.999 });
    const { program } = compile(step.graph, { limits: { ...WEBGPU_DEFAULT_LIMITS, maxStorageBuffersPerShaderStage: 1000 } });
    const groups = program.kernels.filter((k) => k.name.includes('group'));
    expect(groups).toHaveLength(1);
    // every trained parameter, its two moments and its EMA are written by that one kernel
    expect(groups[0]!.ir.buffers.filter((b) => b.access === 'read_write')).toHaveLength(4 * step.trained.length);
  });

  it('AdamW splits into several group kernels under a small binding limit, never exceeding it', () => {
    const step = trainStep((ctx, { x }) => vitBlock(ctx.child('blocks.0'), x, { heads: 2 }).square().mean(), { x: spec([2, 4, 8] as const) }, { schedule: constantLr(1e-3) });
    const { program } = compile(step.graph, { limits: { ...WEBGPU_DEFAULT_LIMITS, maxStorageBuffersPerShaderStage: 16 } });
    expect(program.kernels.filter((k) => k.name.includes('group')).length).toBeGreaterThan(1);
    for (const k of program.kernels) expect(k.bindings.length).toBeLessThanOrEqual(16);
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
