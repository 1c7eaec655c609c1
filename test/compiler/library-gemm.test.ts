// Library GEMMs (compile's gemm: 'library', the cuBLASLt path on CUDA) without a
// GPU: strided views against the interpreter's own view semantics on random view
// chains; then whole programs on the simulated CUDA device, with each GemmCall
// run from its definition (runtime/sim/gemm.ts) and, separately, with the
// generated fallback kernels, both against the interpreter on the scheduled
// graph (which holds the explicit bf16 roundings), at transposed, batched,
// broadcast, sliced, padded and two-axis operands, a DiT block's gradients and a
// whole SiT-Tiny train step. Every dot of the model programs must get a GemmCall:
// an operand layout the derivation cannot express would silently fall back.

import { describe, expect, it } from 'vitest';
import { compile, CUDA_F32_FEATURES, type CompileOptions } from '../../compiler/compile.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import type { Node } from '../../compiler/ir/node.ts';
import { Op } from '../../compiler/ir/op.ts';
import { stridedView } from '../../compiler/schedule/gemm.ts';
import { constantLr, dot, gelu, initParams, spec, trace, trainStep } from '../../dsl/index.ts';
import { SIT_TINY } from '../../models/configs.ts';
import { diffusionLoss } from '../../models/sit.ts';
import { ditBlock } from '../../models/vit.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { Executor } from '../../runtime/executor.ts';
import { SimulatedDevice } from '../../runtime/sim/device.ts';
import { wave } from '../support/gradcheck.ts';
import { worstError, worstNormError } from '../support/compare.ts';
import { gradientTrace } from '../support/gradient-graph.ts';

type Values = Record<string, ArrayLike<number>>;

/** A small deterministic generator (xorshift) for the random view chains. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** A random chain of views over x: permutes, shrinks, size-1 axes inserted then expanded, and reshapes that split or merge axes. */
function randomViews(b: Builder, x: Node, pick: (n: number) => number, steps: number, reshapes: boolean): Node {
  let v = x;
  for (let s = 0; s < steps; s++) {
    const shape = v.shape;
    const kind = pick(reshapes ? 5 : 3);
    if (kind === 0) {
      const perm = shape.map((_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = pick(i + 1);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      v = b.permute(v, perm);
    } else if (kind === 1) {
      v = b.shrink(v, shape.map((d) => {
        const start = pick(Math.max(1, d - 1));
        return [start, start + 1 + pick(d - start)] as const;
      }));
    } else if (kind === 2) {
      const at = pick(shape.length + 1);
      const withOne = [...shape.slice(0, at), 1, ...shape.slice(at)];
      v = b.expand(b.reshape(v, withOne), withOne.map((d, i) => (i === at ? 1 + pick(3) : d)));
    } else if (kind === 3) {
      const at = shape.findIndex((d) => d % 2 === 0 && d > 2);
      if (at >= 0) v = b.reshape(v, [...shape.slice(0, at), 2, shape[at]! / 2, ...shape.slice(at + 1)]);
    } else if (shape.length > 1) {
      const at = pick(shape.length - 1);
      v = b.reshape(v, [...shape.slice(0, at), shape[at]! * shape[at + 1]!, ...shape.slice(at + 2)]);
    }
  }
  return v;
}

/** Every element of `view` (values = their index in the base, by the interpreter) where stridedView says it is. */
function checkAgainstInterpreter(base: Node, view: Node): boolean {
  const found = stridedView(view);
  if (!found) return false;
  expect(found.base).toBe(base);
  const count = base.shape.reduce((a, c) => a * c, 1);
  const values = interpret(new Graph([{ name: 'v', node: view }]), { inputs: { x: Float64Array.from({ length: count }, (_, i) => i) } }).outputs.v!.data;
  const idx = view.shape.map(() => 0);
  for (let e = 0; e < values.length; e++) {
    let rest = e;
    for (let i = view.shape.length - 1; i >= 0; i--) {
      idx[i] = rest % view.shape[i]!;
      rest = Math.floor(rest / view.shape[i]!);
    }
    const at = found.offset + idx.reduce((acc, x, i) => acc + x * found.strides[i]!, 0);
    if (values[e] !== at) throw new Error(`element ${e} of view [${view.shape.join(',')}] is base[${values[e]}], stridedView says base[${at}]`);
  }
  return true;
}

describe('strided views (compiler/schedule/gemm.ts)', () => {
  it('place every element of random permute / shrink / expand / reshape chains where the interpreter reads it', () => {
    let strided = 0;
    let plain = 0;
    for (let seed = 1; seed <= 120; seed++) {
      const pick = rng(seed);
      const b = new Builder();
      const x = b.input('x', Array.from({ length: 1 + pick(3) }, () => 2 + pick(4)));
      const reshapes = seed % 2 === 0;
      const view = randomViews(b, x, pick, 1 + pick(5), reshapes);
      const ok = checkAgainstInterpreter(x, view);
      // permutes, shrinks and expands are always strided; only a reshape can make a view non-strided
      if (!reshapes) expect(ok, `seed ${seed}`).toBe(true);
      if (ok) strided++;
      else plain++;
    }
    expect(strided).toBeGreaterThan(80);
    expect(plain).toBeGreaterThan(0);
  });

  it('refuse what no stride describes: merging transposed axes, a pad, a flip', () => {
    const b = new Builder();
    const x = b.input('x', [2, 3]);
    expect(stridedView(b.reshape(b.permute(x, [1, 0]), [6]))).toBeUndefined();
    expect(stridedView(b.pad(x, [[1, 0], [0, 0]]))).toBeUndefined();
    expect(stridedView(b.flip(x, 0))).toBeUndefined();
    // splitting a transposed axis is strided: [3, 2] → [3, 1, 2] (the size-1 axis's stride is immaterial)
    const split = stridedView(b.reshape(b.permute(x, [1, 0]), [3, 1, 2]))!;
    expect([split.strides[0], split.strides[2]]).toEqual([1, 3]);
  });
});

async function run(graph: Graph, options: CompileOptions, inputs: Values, params: Values, gemm: boolean): Promise<Record<string, Float64Array>> {
  const { program } = compile(graph, { ...options, target: 'cuda' });
  const exec = await Executor.create(new SimulatedDevice({ gemm }), program);
  for (const [name, values] of Object.entries(params)) if (name in program.params) exec.setParam(name, values);
  const out = await exec.run(Object.fromEntries(Object.entries(inputs).filter(([name]) => name in program.inputs)));
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data]));
}



/**
 * The program compiled with library GEMMs and f32 activations, run with GemmCalls and with the fallback kernels,
 * against the interpreter on the scheduled graph: the same bf16 roundings, so only summation order differs (and,
 * through that, the odd operand rounded to the other neighbouring bf16 value).
 */
async function expectLibraryMatches(graph: Graph, inputs: Values, params: Values, tolerance: number, metric = worstError): Promise<void> {
  // no tensor-core attention either: its in-kernel bf16 roundings are not in the graph
  const options: CompileOptions = { gemm: 'library', activations: DType.F32, features: CUDA_F32_FEATURES };
  const { program, schedule } = compile(graph, { ...options, target: 'cuda' });
  const dots = program.kernels.filter((_, i) => schedule.kernels[i]!.template?.op === Op.Dot);
  expect(dots.length).toBeGreaterThan(0);
  expect(dots.filter((k) => !k.gemm).map((k) => k.name)).toEqual([]);
  const ref = interpret(schedule.graph, { inputs, params }, { precision: 'f32' }).outputs;
  const errors = [];
  for (const gemm of [true, false]) {
    const { err, where } = metric(ref, await run(graph, options, inputs, params, gemm));
    errors.push(`${gemm ? 'GemmCalls' : 'fallback kernels'}: ${err.toExponential(2)} at ${where}`);
  }
  for (const e of errors) expect(Number(e.split(': ')[1]!.split(' ')[0]), e).toBeLessThan(tolerance);
}

const DOT_CASES: readonly { name: string; shapes: Record<string, number[]>; build: (b: Builder, x: Record<string, Node>) => Node }[] = [
  { name: 'plain [37,50]·[50,29]', shapes: { a: [37, 50], w: [50, 29] }, build: (b, { a, w }) => b.matmul(a!, w!) },
  { name: 'A transposed', shapes: { a: [50, 37], w: [50, 29] }, build: (b, { a, w }) => b.matmul(b.transpose(a!), w!) },
  { name: 'B transposed (a linear layer with [out, in] weights)', shapes: { a: [37, 50], w: [29, 50] }, build: (b, { a, w }) => b.matmul(a!, b.transpose(w!)) },
  { name: 'batched [3,20,24]·[3,24,16]', shapes: { a: [3, 20, 24], w: [3, 24, 16] }, build: (b, { a, w }) => b.matmul(a!, w!) },
  { name: 'B broadcast over the batch', shapes: { a: [3, 20, 24], w: [24, 16] }, build: (b, { a, w }) => b.matmul(a!, b.expand(b.reshape(w!, [1, 24, 16]), [3, 24, 16])) },
  { name: 'two contracted axes', shapes: { a: [33, 4, 6], w: [17, 4, 6] }, build: (b, { a, w }) => b.dot(a!, w!, { batch: [[], []], contract: [[1, 2], [1, 2]] }) },
  { name: 'sliced operand (offset and leading dimension)', shapes: { a: [40, 60], w: [50, 20] }, build: (b, { a, w }) => b.matmul(b.shrink(a!, [[3, 35], [10, 60]]), w!) },
  { name: 'padded operand (realized first)', shapes: { a: [30, 45], w: [50, 20] }, build: (b, { a, w }) => b.matmul(b.pad(a!, [[0, 0], [2, 3]], 0.5), w!) },
  { name: 'heads split by reshape and permute', shapes: { a: [2, 12, 32], w: [2, 12, 32] }, build: (b, { a, w }) => {
    const heads = (x: Node) => b.permute(b.reshape(x, [2, 12, 4, 8]), [0, 2, 1, 3]);
    return b.dot(heads(a!), heads(w!), { batch: [[0, 1], [0, 1]], contract: [[3], [3]] });
  } },
];

describe('library GEMMs on the simulated CUDA device', () => {
  for (const c of DOT_CASES) {
    it(`${c.name}, under a GELU epilogue`, async () => {
      const b = new Builder();
      const nodes = Object.fromEntries(Object.entries(c.shapes).map(([name, shape]) => [name, b.input(name, shape)]));
      const graph = new Graph([{ name: 'y', node: b.mul(c.build(b, nodes), 1.5) }]);
      const inputs = Object.fromEntries(Object.entries(c.shapes).map(([name, shape], k) => [name, wave(shape.reduce((x, y) => x * y, 1), k + 3)]));
      await expectLibraryMatches(graph, inputs, {}, 1e-4);
    });
  }

  it('a DiT block gradient: every dot a GemmCall, matching the interpreter', async () => {
    const t = gradientTrace({ x: [2, 16, 32], c: [2, 32] }, (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: 2 }));
    const inputs = { x: wave(2 * 16 * 32, 3), c: wave(64, 4) };
    const params = Object.fromEntries(t.params.map((p, k) => [p.name, wave(p.shape.reduce((a, b) => a * b, 1), k + 11).map((v) => v / Math.sqrt(p.shape[p.shape.length - 1]!))]));
    await expectLibraryMatches(t.graph, inputs, params, 1e-3, worstNormError);
  });

  it('a whole SiT-Tiny train step (AdamW, EMA): every dot a GemmCall, matching the interpreter', async () => {
    const step = trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, SIT_TINY).loss,
      { latents: spec([2, 8, 4] as const), labels: spec([2] as const, DType.I32) }, { schedule: constantLr(1e-3), ema: 0.99 });
    const state = initParams(step.params, 0);
    const params = Object.fromEntries(Object.entries(state).map(([n, v]) => [n, Array.from(v, (x) => Math.fround(x))]));
    const inputs: Values = {};
    for (const node of step.graph.inputs) {
      const n = node.shape.reduce((a, b) => a * b, 1);
      inputs[node.arg.name] = node.arg.name === 'step' ? [3] : node.dtype === DType.F32 ? wave(n, 7) : node.dtype === DType.U32 ? Array.from({ length: n }, (_, i) => 17 + i) : Array.from({ length: n }, (_, i) => i % 10);
    }
    await expectLibraryMatches(step.graph, inputs, params, 1e-3, worstNormError);
  });

  it('keeps the tensor-core dtype policy: operands and dot outputs stored bf16, and the operand roundings are the only new kernels', () => {
    const graph = trace((_, { a, w }) => ({ y: gelu(dot(a, w, { batch: [[], []], contract: [[1], [1]] })) }), { a: spec([64, 32]), w: spec([48, 32]) }).graph;
    const kernelMode = compile(graph, { target: 'cuda' }).program;
    const library = compile(graph, { target: 'cuda', gemm: 'library' }).program;
    const gemm = library.kernels.find((k) => k.gemm)!.gemm!;
    expect(gemm).toMatchObject({ batch: 1, m: 64, n: 48, k: 32, operands: DType.BF16, out: DType.BF16 });
    // w is [out, in]: its k × n matrix has unit row stride (column-major), a has unit column stride
    expect(gemm.a).toMatchObject({ rowStride: 32, colStride: 1 });
    expect(gemm.b).toMatchObject({ rowStride: 1, colStride: 32 });
    // kernel mode: the matmul with GELU fused; library: round a, round w, the GEMM, then GELU
    expect(kernelMode.kernels.length).toBe(1);
    expect(library.kernels.length).toBe(4);
    const gemmKernel = library.kernels.find((k) => k.gemm)!;
    for (const binding of [gemm.a.binding, gemm.b.binding, 0]) expect(library.buffers[gemmKernel.bindings[binding]!]!.dtype).toBe(DType.BF16);
  });

  it('gives every GemmCall of a DiT block gradient 16-byte leading dimensions and offsets (no ones column for the bias gradients)', () => {
    const t = gradientTrace({ x: [2, 16, 32], c: [2, 32] }, (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads: 2 }));
    const calls = compile(t.graph, { target: 'cuda', gemm: 'library' }).program.kernels.flatMap((k) => (k.gemm ? [k.gemm] : []));
    expect(calls.length).toBeGreaterThan(10);
    const misaligned = calls.flatMap((call) => [call.a, call.b].filter((x) => [x.offset, x.batchStride, x.rowStride === 1 ? x.colStride : x.rowStride].some((v) => v % 8 !== 0)).map((x) => `${call.m}×${call.n}×${call.k}: ${JSON.stringify(x)}`));
    expect(misaligned).toEqual([]);
    expect(calls.every((call) => call.n % 8 === 0)).toBe(true);
  });

  it('is CUDA-only, and says so', () => {
    const graph = trace((_, { a, w }) => ({ y: dot(a, w, { batch: [[], []], contract: [[1], [0]] }) }), { a: spec([4, 4]), w: spec([4, 4]) }).graph;
    expect(() => compile(graph, { target: 'webgpu', gemm: 'library' })).toThrow(/library GEMMs .* only on target cuda/);
  });
});
