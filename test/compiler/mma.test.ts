// Tensor-core matmuls (Kernel IR `mma`, CUDA sm_80+) without a GPU: the fragment
// table against the PTX ISA's formulas at hand-picked lanes, the Kernel IR
// simulator against the reference interpreter on CUDA programs that use no mma
// (so the simulator itself is checked), then the mma template on the simulator
// against the interpreter fed the same bf16-rounded operands (so only the
// summation order differs), at ragged shapes, batched, under epilogues, with two
// contracted axes; the tensor-core attention forward and backward at ragged and
// SiT-like shapes; a whole DiT block's gradients under the CUDA dtype policy;
// and nvcc -arch=sm_90 accepting the printed kernels with zero warnings.

import { describe, expect, it } from 'vitest';
import { compile, CUDA_F32_FEATURES, type CompileOptions } from '../../compiler/compile.ts';
import { compileToPtx, findNvcc, missingNvccMessage } from '../../compiler/codegen/ptx.ts';
import { cudaEntryName } from '../../compiler/codegen/cuda.ts';
import { printWgsl } from '../../compiler/codegen/wgsl.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { Alu, MMA_FRAGMENTS, type Kernel } from '../../compiler/kernel/ir.ts';
import { simulateKernel, KernelSimulationError } from '../../compiler/kernel/simulate.ts';
import { verifyKernel } from '../../compiler/kernel/verify.ts';
import { attention, constantLr, dot, gelu, grad, initParams, spec, trace, trainStep } from '../../dsl/index.ts';
import { SIT_TINY } from '../../models/configs.ts';
import { diffusionLoss } from '../../models/sit.ts';
import { ditBlock } from '../../models/vit.ts';
import { bf16Round } from '../../runtime/cpu/numeric.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { Executor } from '../../runtime/executor.ts';
import { wave } from '../support/gradcheck.ts';
import { gradientTrace } from '../support/gradient-graph.ts';
import { KernelIr } from '../support/kernel-ir.ts';
import { SimulatedDevice } from '../../runtime/sim/device.ts';
import { worstError, worstNormError } from '../support/compare.ts';

type Values = Record<string, ArrayLike<number>>;

/** CUDA without tensor cores: f32 math, what the backend-parameterised suite compiles. */
const CUDA_F32: CompileOptions = { features: CUDA_F32_FEATURES };
const CUDA_BF16_MMA: CompileOptions = { features: { f16: true, subgroups: true, mma: DType.BF16 } };

async function simulate(graph: Graph, inputs: Values, params: Values, options: Omit<CompileOptions, 'target'>): Promise<{ outputs: Record<string, Float64Array>; kernels: Kernel[] }> {
  const device = new SimulatedDevice();
  const { program } = compile(graph, { ...options, target: 'cuda' });
  const exec = await Executor.create(device, program);
  for (const [name, values] of Object.entries(params)) if (name in program.params) exec.setParam(name, values);
  const out = await exec.run(Object.fromEntries(Object.entries(inputs).filter(([name]) => name in program.inputs)));
  return { outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data])), kernels: program.kernels.map((k) => k.ir) };
}

function usesMma(kernels: readonly Kernel[]): number {
  return kernels.filter((k) => k.body.some((i) => i.kind === 'mma')).length;
}


const bf16 = (xs: ArrayLike<number>) => Array.from(xs, bf16Round);

describe('mma.m16n8k16 fragment table', () => {
  it('matches the PTX ISA formulas at hand-picked lanes', () => {
    // lane 5: groupID 1, threadID_in_group 1; lane 30: groupID 7, threadID_in_group 2
    expect(MMA_FRAGMENTS.a(5, 0)).toEqual([1, 2]);
    expect(MMA_FRAGMENTS.a(5, 3)).toEqual([9, 3]);
    expect(MMA_FRAGMENTS.a(5, 4)).toEqual([1, 10]);
    expect(MMA_FRAGMENTS.a(5, 7)).toEqual([9, 11]);
    expect(MMA_FRAGMENTS.b(30, 1)).toEqual([5, 7]);
    expect(MMA_FRAGMENTS.b(30, 2)).toEqual([12, 7]);
    expect(MMA_FRAGMENTS.c(30, 1)).toEqual([7, 5]);
    expect(MMA_FRAGMENTS.c(30, 2)).toEqual([15, 4]);
  });

  it('covers A, B and C exactly once across the warp', () => {
    const cover = (n: number, per: number, at: (lane: number, i: number) => [number, number], cols: number) => {
      const seen = new Uint8Array(n);
      for (let lane = 0; lane < 32; lane++) for (let i = 0; i < per; i++) seen[at(lane, i)[0] * cols + at(lane, i)[1]]! += 1;
      return [...seen].every((c) => c === 1);
    };
    expect(cover(256, 8, MMA_FRAGMENTS.a, 16)).toBe(true);
    expect(cover(128, 4, MMA_FRAGMENTS.b, 8)).toBe(true);
    expect(cover(128, 4, MMA_FRAGMENTS.c, 8)).toBe(true);
  });
});

describe('targets without tensor cores', () => {
  it('WebGPU: compile refuses the mma feature, and the WGSL printer refuses an mma instruction', () => {
    const t = trace((_, { a, b }) => ({ y: a.matmul(b) }), { a: spec([32, 32]), b: spec([32, 32]) });
    expect(() => compile(t.graph, { target: 'webgpu', features: { mma: DType.BF16 } })).toThrow(/mma feature \(tensor cores\) exists only on target cuda/);
    const kernel = compile(t.graph, { ...CUDA_BF16_MMA, target: 'cuda' }).program.kernels[0]!.ir;
    expect(() => printWgsl(kernel, { grid: [kernel.workgroups, 1, 1] })).toThrow(/mma \(tensor-core product\) has no WGSL form/);
    const narrowed: Kernel = { ...kernel, buffers: kernel.buffers.map((b, i) => (i === 0 ? { ...b, storage: DType.BF16 } : b)) };
    expect(() => printWgsl(narrowed, { grid: [kernel.workgroups, 1, 1] })).toThrow(/stored as bf16, which WGSL has no type for/);
  });

  it('the verifier rejects mma in a kernel whose workgroups are not whole warps, and narrowed storage of non-f32 values', () => {
    const kernel = compile(trace((_, { a, b }) => ({ y: a.matmul(b) }), { a: spec([32, 32]), b: spec([32, 32]) }).graph, { ...CUDA_BF16_MMA, target: 'cuda' }).program.kernels[0]!.ir;
    expect(() => verifyKernel({ ...kernel, workgroupSize: 48 })).toThrow(/mma needs workgroups of whole warps \(32 lanes\), this kernel has 48 threads/);
    expect(() => verifyKernel({ ...kernel, buffers: kernel.buffers.map((b) => ({ ...b, dtype: DType.I32, storage: DType.BF16 })) })).toThrow(/narrowed storage is for f32 values only/);
  });
});

describe('the Kernel IR simulator', () => {
  it('runs the f32 CUDA lowering of a DiT block gradient (matmul, attention, row and warp reductions) as the interpreter computes it', async () => {
    const t = gradientTrace({ x: [2, 5, 8], c: [2, 8] }, (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: 2 }));
    const inputs = { x: wave(80, 3), c: wave(16, 4) };
    const params = Object.fromEntries(t.params.map((p, k) => [p.name, wave(p.shape.reduce((a, b) => a * b, 1), k + 11).map((v) => v * 0.5)]));
    const ref = interpret(t.graph, { inputs, params }, { precision: 'f32' }).outputs;
    const { outputs, kernels } = await simulate(t.graph, inputs, params, CUDA_F32);
    expect(usesMma(kernels)).toBe(0);
    const { err, where } = worstError(ref, outputs);
    expect(err, where).toBeLessThan(5e-4);
  });

  it('runs the WebGPU lowering for lavapipe (8-lane subgroups) of the same gradient as the interpreter computes it', async () => {
    const t = gradientTrace({ x: [2, 5, 8], c: [2, 8] }, (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: 2 }));
    const inputs = { x: wave(80, 3), c: wave(16, 4) };
    const params = Object.fromEntries(t.params.map((p, k) => [p.name, wave(p.shape.reduce((a, b) => a * b, 1), k + 11).map((v) => v * 0.5)]));
    const ref = interpret(t.graph, { inputs, params }, { precision: 'f32' }).outputs;
    const { program } = compile(t.graph, { target: 'webgpu', features: { subgroups: true }, adapter: 'software' });
    expect(program.kernels.some((k) => k.ir.body.some((i) => i.kind === 'subgroupReduce'))).toBe(true);
    const exec = await Executor.create(new SimulatedDevice({ kind: 'webgpu', subgroupSize: 8 }), program);
    for (const [name, values] of Object.entries(params)) if (name in program.params) exec.setParam(name, values);
    const out = await exec.run(inputs);
    const { err, where } = worstError(ref, Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data])));
    expect(err, where).toBeLessThan(5e-4);
  });

  it('rejects an out-of-bounds load and a barrier only part of the workgroup reaches', () => {
    const k = new KernelIr();
    k.store(0, k.special('localId'), k.load(DType.F32, 1, k.alu(Alu.Add, k.special('localId'), k.i32(1))));
    const oob: Kernel = { name: 'oob', workgroupSize: 4, workgroups: 1, body: k.body, buffers: [{ name: 'out', dtype: DType.F32, access: 'read_write', size: 4 }, { name: 'in', dtype: DType.F32, access: 'read', size: 4 }] };
    expect(() => simulateKernel(oob, [new Float64Array(4), new Float64Array(4)], { subgroupSize: 32 })).toThrow(/thread 3 loads b1\[4\], outside 0‥3/);

    const d = new KernelIr();
    d.when(d.alu(Alu.CmpLt, d.special('localId'), d.i32(2)), () => d.barrier());
    const divergent: Kernel = { name: 'divergent', workgroupSize: 4, workgroups: 1, body: d.body, buffers: [] };
    expect(() => simulateKernel(divergent, [], { subgroupSize: 32 })).toThrow(KernelSimulationError);
  });
});

describe('tensor-core matmul template (bf16 operands, f32 accumulation) on the simulator', () => {
  // Operands pre-rounded to bf16, so the interpreter computes the same products; only the summation order differs.
  const cases: { name: string; a: number[]; b: number[]; dims: Parameters<typeof dot>[2]; epilogue?: boolean }[] = [
    { name: 'ragged [37, 50]·[50, 29] (edges in M, N and K)', a: [37, 50], b: [50, 29], dims: { batch: [[], []], contract: [[1], [0]] } },
    { name: 'batched [3, 20, 24]·[3, 24, 16] under a gelu epilogue', a: [3, 20, 24], b: [3, 24, 16], dims: { batch: [[0], [0]], contract: [[2], [1]] }, epilogue: true },
    { name: 'two contracted axes, transposed B: [33, 4, 6]·[17, 4, 6]', a: [33, 4, 6], b: [17, 4, 6], dims: { batch: [[], []], contract: [[1, 2], [1, 2]] } },
    { name: 'exact tiles [64, 32]·[32, 64]', a: [64, 32], b: [32, 64], dims: { batch: [[], []], contract: [[1], [0]] } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const t = trace((_, { a, b }) => {
        const y = dot(a, b, c.dims);
        return { y: c.epilogue ? gelu(y) : y };
      }, { a: spec(c.a), b: spec(c.b) });
      const inputs = { a: bf16(wave(c.a.reduce((x, y) => x * y, 1), 5)), b: bf16(wave(c.b.reduce((x, y) => x * y, 1), 6)) };
      const ref = interpret(t.graph, { inputs }, { precision: 'f32' }).outputs;
      const { outputs, kernels } = await simulate(t.graph, inputs, {}, CUDA_BF16_MMA);
      expect(usesMma(kernels)).toBe(1);
      const { err, where } = worstError(ref, outputs);
      expect(err, where).toBeLessThan(1e-5);
    });
  }

  it('rounds f32 operands to bf16 (the policy), so full-precision inputs differ from f32 math by bf16 error, not more', async () => {
    const t = trace((_, { a, b }) => ({ y: a.matmul(b) }), { a: spec([32, 64]), b: spec([64, 16]) });
    const inputs = { a: wave(32 * 64, 7), b: wave(64 * 16, 8) };
    const exact = interpret(t.graph, { inputs }, { precision: 'f32' }).outputs;
    const rounded = interpret(t.graph, { inputs: { a: bf16(inputs.a), b: bf16(inputs.b) } }, { precision: 'f32' }).outputs;
    const { outputs } = await simulate(t.graph, inputs, {}, CUDA_BF16_MMA);
    expect(worstError(rounded, outputs).err).toBeLessThan(1e-5);
    const bf16Error = worstError(exact, outputs).err;
    expect(bf16Error).toBeGreaterThan(1e-4); // the operands really were rounded
    expect(bf16Error).toBeLessThan(3e-2);
  });

  it('a DiT block gradient under the CUDA dtype policy stays within bf16 error of the f32 interpreter', async () => {
    const t = gradientTrace({ x: [2, 16, 32], c: [2, 32] }, (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: 2 }));
    const inputs = { x: wave(2 * 16 * 32, 3), c: wave(64, 4) };
    // weights at the scale of a 1/√fan-in init, so activations and gradients stay O(1) as in training
    const params = Object.fromEntries(t.params.map((p, k) => [p.name, wave(p.shape.reduce((a, b) => a * b, 1), k + 11).map((v) => v / Math.sqrt(p.shape[p.shape.length - 1]!))]));
    const ref = interpret(t.graph, { inputs, params }, { precision: 'f32' }).outputs;
    const { outputs, kernels } = await simulate(t.graph, inputs, params, CUDA_BF16_MMA);
    expect(usesMma(kernels)).toBeGreaterThan(3);
    const { err, where } = worstNormError(ref, outputs);
    // measured 2.4e-2 with the matmuls alone on tensor cores, 4–6e-2 with P rounded to bf16 in the attention forward
    // (amplified by the backward's dP − Δ cancellation) and bf16 activations; 4.5e-2 with the attention backward on
    // tensor cores too (P and dS rounded to bf16 there); PyTorch's bf16 autocast sits in the same
    // range. A fragment or index bug is O(1).
    expect(err, where).toBeLessThan(0.1);
  }, 600_000);
});

describe('tensor-core attention forward on the simulator', () => {
  // q, k, v bf16-exact: S = Q·Kᵀ is exact up to summation order; P is rounded to bf16 for P·V (FlashAttention-2's trade), so ~2⁻⁹ relative.
  const cases: { name: string; q: number[]; k: number[]; v: number[] }[] = [
    { name: 'ragged: Tq 21, Tk 19, head 24 (edges in rows, keys and head dims)', q: [2, 21, 24], k: [2, 19, 24], v: [2, 19, 20] },
    { name: 'SiT shape in miniature: [2, 2, 32, 16] heads', q: [2, 2, 32, 16], k: [2, 2, 32, 16], v: [2, 2, 32, 16] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      // o from the attention kernel; dq from the scalar backward fed by the tensor-core forward's saved log-sum-exp
      const oShape = [...c.q.slice(0, -1), c.v[c.v.length - 1]!];
      const t = trace((_, { q, k, v, g }) => ({ o: attention(q, k, v), dq: grad(attention(q, k, v).mul(g).sum(), [q])[0]! }), { q: spec(c.q), k: spec(c.k), v: spec(c.v), g: spec(oShape) });
      const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
      const inputs = { q: bf16(wave(size(c.q), 5).map((x) => 2 * x)), k: bf16(wave(size(c.k), 6)), v: bf16(wave(size(c.v), 7)), g: wave(size(oShape), 8) };
      const ref = interpret(t.graph, { inputs }, { precision: 'f32' }).outputs;
      const { outputs, kernels } = await simulate(t.graph, inputs, {}, CUDA_BF16_MMA);
      expect(kernels.some((k) => k.body.some((i) => i.kind === 'mma') && k.body.some((i) => i.kind === 'subgroupShuffleXor'))).toBe(true);
      const { err, where } = worstError(ref, outputs);
      expect(err, where).toBeLessThan(4e-3);
    });
  }
});

describe('tensor-core attention backward on the simulator', () => {
  // dq, dk, dv of Σ attention(q, k, v)·g with every product on tensor cores and P and dS rounded to the operand dtype
  // (FlashAttention-2's trade). dq = s·Σⱼ dSᵢⱼ kⱼ sums terms that cancel (Σⱼ dSᵢⱼ = 0), so its error relative to its
  // own size is the largest. The oracle is the interpreter in f32 twice over: the error must stay within the operand
  // dtype's reach and shrink with it (f16 carries 3 more mantissa bits than bf16), which an index bug's O(1) error
  // would not.
  const cases: { name: string; q: number[]; k: number[]; v: number[] }[] = [
    { name: 'ragged: Tq 21, Tk 19, head 24, value head 20 (edges in queries, keys and both head dims)', q: [2, 21, 24], k: [2, 19, 24], v: [2, 19, 20] },
    { name: 'SiT shape in miniature: [2, 2, 32, 16] heads', q: [2, 2, 32, 16], k: [2, 2, 32, 16], v: [2, 2, 32, 16] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const oShape = [...c.q.slice(0, -1), c.v[c.v.length - 1]!];
      const t = trace((_, { q, k, v, g }) => {
        const [dq, dk, dv] = grad(attention(q, k, v).mul(g).sum(), [q, k, v]);
        return { dq: dq!, dk: dk!, dv: dv! };
      }, { q: spec(c.q), k: spec(c.k), v: spec(c.v), g: spec(oShape) });
      const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
      const inputs = { q: bf16(wave(size(c.q), 5).map((x) => 2 * x)), k: bf16(wave(size(c.k), 6)), v: bf16(wave(size(c.v), 7)), g: bf16(wave(size(oShape), 8)) };
      const ref = interpret(t.graph, { inputs }, { precision: 'f32' }).outputs;
      const errors: number[] = [];
      for (const mma of [DType.BF16, DType.F16] as const) {
        const { outputs, kernels } = await simulate(t.graph, inputs, {}, { features: { f16: true, subgroups: true, mma } });
        // the forward and both backward kernels are warp tiles (no scalar attention kernel is left)
        expect(usesMma(kernels)).toBe(3);
        const { err, where } = worstNormError(ref, outputs);
        expect(err, `${mma}: ${where}`).toBeLessThan(mma === DType.BF16 ? 4e-2 : 5e-3);
        errors.push(err);
      }
      expect(errors[1]!, 'f16 operands are not more accurate than bf16 ones').toBeLessThan(errors[0]! / 4);
    });
  }
});

describe('the CUDA dtype policy on a SiT-Tiny train step', () => {
  const step = trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, SIT_TINY).loss,
    { latents: spec([4, 8, 4] as const), labels: spec([4] as const, DType.I32) }, { schedule: constantLr(1e-3), ema: 0.99 });

  it('stores activations as bf16 and keeps params, optimizer inputs, reductions and outputs f32', () => {
    const { program } = compile(step.graph, { target: 'cuda' });
    const temps = program.buffers.filter((b) => b.role === 'temp');
    expect(temps.filter((b) => b.dtype === DType.BF16).length).toBeGreaterThan(10);
    expect(program.buffers.filter((b) => b.role !== 'temp' && b.dtype === DType.BF16)).toEqual([]);
    const committed = new Set(program.steps.flatMap((s) => (s.kind === 'copy' ? [s.from] : [])));
    for (const k of program.kernels) {
      const reads = k.bindings.map((id) => program.buffers[id]!);
      if (committed.has(k.bindings[0]!)) expect(reads.filter((b) => b.dtype === DType.BF16).map((b) => `${k.name} reads ${b.name}`)).toEqual([]);
      if (k.name.includes('_row_')) expect(reads[0]!.dtype).not.toBe(DType.BF16);
    }
    const bf16Kernel = program.kernels.find((k) => k.ir.buffers.some((b) => b.storage === DType.BF16))!;
    expect(bf16Kernel.source).toMatch(/__nv_bfloat16\* __restrict__ b\d+.* stored as bf16/);
    expect(compile(step.graph, { target: 'cuda', features: CUDA_F32_FEATURES }).program.buffers.filter((b) => b.dtype === DType.BF16)).toEqual([]);
    expect(() => compile(step.graph, { target: 'webgpu', activations: DType.BF16 })).toThrow(/bf16 activation storage exists only on target cuda/);
  });

  it('one step on the simulator: loss, updated weights, AdamW moments and EMA within bf16 error of the f32 interpreter', async () => {
    const params = Object.fromEntries(Object.entries(initParams(step.params, 0)).map(([n, v]) => [n, Array.from(v, (x) => Math.fround(x))]));
    const inputs = { latents: wave(4 * 8 * 4, 5), labels: [0, 3, 7, 9], rng: [12345, 678], step: [3] };
    expect(step.graph.inputs.map((n) => n.arg.name).sort()).toEqual(Object.keys(inputs).sort());
    const ref = interpret(step.graph, { inputs, params }, { precision: 'f32' }).outputs;
    const { outputs } = await simulate(step.graph, inputs, params, {});
    const loss = ref.loss!.data[0]!;
    expect(Math.abs(outputs.loss![0]! - loss) / Math.abs(loss)).toBeLessThan(2e-2);
    // AdamW moves each weight by ~lr·m̂/√v̂: a gradient element that bf16 flips in sign moves it by at most ~2·lr
    const { err, where } = worstError(ref, outputs);
    expect(err, where).toBeLessThan(4e-3);
  }, 600_000);
});

const NVCC = findNvcc();
describe.skipIf(!NVCC)(`nvcc accepts the tensor-core kernels${NVCC ? '' : ` [skipped: ${missingNvccMessage()}]`}`, () => {
  it('sm_90 and sm_80, zero warnings, with mma.sync in the PTX (matmul, attention forward and backward)', async () => {
    // attention with its gradients: the forward and both backward warp-tile kernels
    const t = trace((_, { a, b, q, k, v }) => {
      const o = attention(q, k, v);
      const [dq, dk, dv] = grad(o.mul(o).sum(), [q, k, v]);
      return { y: gelu(dot(a, b, { batch: [[0], [0]], contract: [[2], [1]] })), o, dq: dq!, dk: dk!, dv: dv! };
    }, { a: spec([3, 20, 24]), b: spec([3, 24, 16]), q: spec([2, 2, 21, 72]), k: spec([2, 2, 19, 72]), v: spec([2, 2, 19, 72]) });
    for (const operand of [DType.BF16, DType.F16] as const) {
      const { program } = compile(t.graph, { target: 'cuda', features: { f16: true, subgroups: true, mma: operand } });
      expect(usesMma(program.kernels.map((k) => k.ir))).toBe(4);
      const kernels = program.kernels.map((k) => ({ entry: cudaEntryName(k.ir), source: k.source }));
      for (const arch of ['sm_90', 'sm_80']) {
        const ptx = [...(await compileToPtx(kernels, { arch })).values()].join('\n');
        expect(ptx).toMatch(new RegExp(`mma\\.sync\\.aligned\\.m16n8k16\\.row\\.col\\.f32\\.${operand}\\.${operand}\\.f32`));
        expect(ptx).toMatch(/shfl\.sync\.bfly/);
      }
    }
  }, 120_000);
});
