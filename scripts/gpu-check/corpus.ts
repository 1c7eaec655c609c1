// GPU check · what the one-call CUDA check runs, built here (where nvcc is) and
// carried to the GPU machine as plain JSON: CUDA Programs with PTX on every
// kernel, their inputs and parameters, and the interpreter's float32 outputs to
// compare with. Check cases cover the op families (random fusible graphs, every
// elementwise primitive family, f16/bf16 storage, the transformer blocks' gradients
// and a whole SiT-Tiny train step); bench cases are the workloads timed against
// PyTorch (bench/torch/bench.py): matmul 1024³ in f32 and bf16, and a pre-norm
// transformer block train step (B 8, 64 tokens, width 256, 4 heads, AdamW); the
// bf16 ones also compiled with library GEMMs, which run on cuBLASLt where the GPU
// machine has it (PyTorch's wheels carry it); and SiT-XL's full-size train step
// both ways (its 675M parameters are generated on the GPU machine, not carried).

import fc from 'fast-check';
import { compile, CUDA_F32_FEATURES, CUDA_FEATURES, type CompileOptions } from '../../compiler/compile.ts';
import { withPtx } from '../../compiler/codegen/ptx.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import { Op } from '../../compiler/ir/op.ts';
import type { Program } from '../../compiler/program.ts';
import { attention, constantLr, dot, gelu, grad, initParams, spec, trace, trainStep, type Context, type Shape, type Tensor } from '../../dsl/index.ts';
import { SIT_TINY } from '../../models/configs.ts';
import { diffusionLoss } from '../../models/sit.ts';
import { ditBlock, vitBlock } from '../../models/vit.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { bf16Round } from '../../runtime/cpu/numeric.ts';
import { buildGraph, inputValues, recipeArb } from '../../test/support/random-graph.ts';
import { FULL_SIZE_PROGRAMS } from '../validate-full-size.ts';
import { wave, type Values } from './values.ts';


export interface CheckCase {
  readonly name: string;
  readonly program: Program;
  readonly inputs: Values;
  readonly params: Values;
  /** Interpreter outputs (float32 rounding after every op). */
  readonly expected: Values;
  /** |cuda − expected| ≤ tolerance · (1 + |expected|) elementwise. */
  readonly tolerance: number;
}

export interface BenchCase {
  readonly name: string;
  readonly title: string;
  readonly program: Program;
  readonly inputs: Values;
  /** Param name → element count: values.ts benchValues() fills them on the GPU machine (megabytes of JSON otherwise). */
  readonly params: Readonly<Record<string, number>>;
  /** Outputs read back after each timed run (small: a probe or the loss). */
  readonly read: readonly string[];
  /** Floating-point operations per run, for a throughput column. */
  readonly flops?: number;
}

/** Ragged, batched and two-axis contractions for the mma template (edges in M, N and K). */
const MMA_CASES: readonly [readonly number[], readonly number[], Parameters<typeof dot>[2]][] = [
  [[37, 50], [50, 29], { batch: [[], []], contract: [[1], [0]] }],
  [[3, 20, 24], [3, 24, 16], { batch: [[0], [0]], contract: [[2], [1]] }],
  [[33, 4, 6], [17, 4, 6], { batch: [[], []], contract: [[1, 2], [1, 2]] }],
  [[256, 512], [512, 384], { batch: [[], []], contract: [[1], [0]] }],
];

export const BLOCK = { batch: 8, tokens: 64, width: 256, heads: 4 } as const;
export const MATMUL_N = 1024;

type F32 = Tensor<Shape, DType.F32>;


function sizes(graph: Graph): Record<string, number> {
  return Object.fromEntries(graph.nodes.filter((n) => n.op === Op.Param).map((n) => [(n.arg as { name: string }).name, n.shape.reduce((a, b) => a * b, 1)]));
}

/** Deterministic values for every input and param of `graph` (floats as a wave, ints small, u32 keys fixed). */
function valuesFor(graph: Graph, op: Op.Input | Op.Param, seed: number, scale = 1): Values {
  const out: Values = {};
  let k = seed;
  for (const node of graph.nodes) {
    if (node.op !== op) continue;
    const n = node.shape.reduce((a, b) => a * b, 1);
    const name = (node.arg as { name: string }).name;
    k++;
    switch (node.dtype) {
      case DType.I32: out[name] = Array.from({ length: n }, (_, i) => (i * 7 + k) % 10); break;
      case DType.U32: out[name] = Array.from({ length: n }, (_, i) => (i * 2654435761 + k) >>> 0); break;
      case DType.Bool: out[name] = Array.from({ length: n }, (_, i) => (i + k) % 2); break;
      default: out[name] = wave(n, k, scale);
    }
  }
  return out;
}

/**
 * One check case. `options` default to f32 CUDA (no tensor cores), compared with the f32 interpreter; with library
 * GEMMs the reference is the interpreter on the scheduled graph, which holds the bf16 operand roundings explicitly.
 */
async function checkCase(name: string, graph: Graph, tolerance: number, inputs?: Values, params?: Values, options: Omit<CompileOptions, 'target'> = { features: CUDA_F32_FEATURES }): Promise<CheckCase> {
  const ins = inputs ?? valuesFor(graph, Op.Input, 3);
  const ps = params ?? valuesFor(graph, Op.Param, 11, 0.5);
  const compiled = compile(graph, { ...options, target: 'cuda' });
  const ref = interpret(options.gemm === 'library' ? compiled.schedule.graph : graph, { inputs: ins, params: ps }, { precision: 'f32' }).outputs;
  const program = await withPtx(compiled.program);
  const expected = Object.fromEntries(Object.entries(ref).filter(([n]) => n in program.outputs).map(([n, t]) => [n, Array.from(t.data)]));
  return { name, program, inputs: ins, params: ps, expected, tolerance };
}

/** One graph per elementwise family on f32, i32, u32, f16 and bf16 storage. */
function primitiveGraphs(): [string, Graph][] {
  const b = new Builder();
  const x = b.input('x', [300]);
  const y = b.input('y', [300]);
  const i = b.input('i', [300], DType.I32);
  const j = b.input('j', [300], DType.I32);
  const u = b.input('u', [300], DType.U32);
  const graphs: [string, Graph][] = [];
  const floats = { sqrt: b.sqrt(b.add(b.mul(x, x), 0.5)), exp2: b.node(Op.Exp2, [x], null), sin: b.sin(x), erf: b.node(Op.Erf, [x], null), trunc: b.node(Op.Trunc, [b.mul(x, 3)], null), recip: b.node(Op.Recip, [b.add(b.mul(x, x), 1)], null), max: b.max(x, y), mod: b.node(Op.Mod, [b.mul(x, 5), b.add(b.mul(y, y), 0.5)], null), where: b.where(b.node(Op.CmpLt, [x, y], null), x, y) };
  graphs.push(['f32 elementwise', new Graph(Object.entries(floats).map(([name, node]) => ({ name, node })))]);
  const ints = { idiv: b.node(Op.IDiv, [i, j], null), mod: b.node(Op.Mod, [b.sub(i, 4), j], null), shl: b.node(Op.Shl, [i, j], null), shr: b.node(Op.Shr, [b.sub(i, 5), j], null), xor: b.node(Op.Xor, [i, j], null), toF: b.cast(b.mul(i, j), DType.F32), fromF: b.cast(b.mul(x, 1e10), DType.I32) };
  graphs.push(['i32 elementwise and casts', new Graph(Object.entries(ints).map(([name, node]) => ({ name, node })))]);
  const unsigned = { shr: b.node(Op.Shr, [u, b.cast(j, DType.U32)], null), toF: b.cast(u, DType.F32), bits: b.node(Op.Bitcast, [x], { dtype: DType.U32 }) };
  graphs.push(['u32 elementwise and bitcast', new Graph(Object.entries(unsigned).map(([name, node]) => ({ name, node })))]);
  for (const half of [DType.F16, DType.BF16]) {
    const h = b.cast(x, half);
    const g = b.cast(y, half);
    const out = { sum: b.cast(b.add(b.mul(h, g), h), DType.F32), stored: b.mul(h, g), mean: b.cast(b.sum(b.reshape(h, [30, 10]), 1), DType.F32) };
    graphs.push([`${half} storage, f32 math`, new Graph(Object.entries(out).map(([name, node]) => ({ name, node })))]);
  }
  return graphs;
}

function blockGradient(fn: (ctx: Context, x: F32, c: F32) => F32): Graph {
  return trace((ctx) => {
    const x = ctx.input('x', [2, 6, 16]) as F32;
    const c = ctx.input('c', [2, 16]) as F32;
    const y = fn(ctx, x, c);
    const loss = y.mul(y.sin()).mean();
    const params = [...ctx.declaredParams()];
    const grads = grad(loss, [x, ...params.map(([, p]) => p)]);
    return { loss, ...Object.fromEntries(grads.map((g, k) => [`g${k}`, g])) };
  }).graph;
}

export async function checkCases(log: (line: string) => void = () => {}): Promise<CheckCase[]> {
  const cases: CheckCase[] = [];
  const add = async (name: string, graph: Graph, tolerance: number, inputs?: Values, params?: Values, options?: Omit<CompileOptions, 'target'>): Promise<void> => {
    cases.push(await checkCase(name, graph, tolerance, inputs, params, options));
    log(`  ${name}: ${cases[cases.length - 1]!.program.kernels.length} kernels`);
  };
  for (const [name, graph] of primitiveGraphs()) await add(name, graph, name.includes('16') ? 1e-2 : 1e-5);
  const recipes = fc.sample(recipeArb, { numRuns: 16, seed: 20261128 });
  for (const [k, recipe] of recipes.entries()) {
    const { graph, inputs } = buildGraph(recipe);
    const values = Object.fromEntries(Object.entries(inputValues(inputs, k + 1)).map(([n, v]) => [n, Array.from(v)]));
    await add(`random graph ${k}`, graph, 2e-4, values, {});
  }
  await add('ViT block gradient', blockGradient((ctx, x) => vitBlock(ctx.child('blocks.0'), x, { heads: 2, layerScale: 0.5 })), 5e-4);
  await add('DiT block gradient', blockGradient((ctx, x, c) => ditBlock(ctx.child('blocks.0'), x, c, { heads: 2 })), 5e-4);
  const step = trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, SIT_TINY).loss,
    { latents: spec([2, 8, 4] as const), labels: spec([2] as const, DType.I32) }, { schedule: constantLr(1e-3), ema: 0.99 });
  const state = initParams(step.params, 0);
  const params = Object.fromEntries(Object.entries(state).map(([n, v]) => [n, Array.from(v, (x) => Math.fround(x))]));
  // step is AdamW's 1-based count: a wave value there makes the bias correction negative and the update NaN
  const stepInputs = { ...valuesFor(step.graph, Op.Input, 5), step: [3] };
  await add('SiT-Tiny train step', step.graph, 2e-3, stepInputs, params);
  // cuBLASLt (where it loads): f32 activations and attention, so the scheduled graph's roundings are all there are;
  // the looser bound covers an operand rounded to the other bf16 neighbour under a different summation order
  await add('SiT-Tiny train step, library GEMMs (cuBLASLt)', step.graph, 2e-2, stepInputs, params, { features: CUDA_F32_FEATURES, activations: DType.F32, gemm: 'library' });
  // Tensor cores (the default CUDA policy): operands already bf16-exact, so only the summation order differs from the interpreter.
  for (const [shapeA, shapeB, dims] of MMA_CASES) {
    const graph = trace((_, { a, b }) => ({ y: gelu(dot(a, b, dims)) }), { a: spec(shapeA), b: spec(shapeB) }).graph;
    const bf16Values = (shape: readonly number[], seed: number) => wave(shape.reduce((x, y) => x * y, 1), seed).map(bf16Round);
    const values = { a: bf16Values(shapeA, 5), b: bf16Values(shapeB, 6) };
    await add(`tensor-core matmul [${shapeA.join(',')}]·[${shapeB.join(',')}] + gelu`, graph, 1e-4, values, {}, { features: CUDA_FEATURES });
    await add(`cuBLASLt matmul [${shapeA.join(',')}]·[${shapeB.join(',')}] + gelu`, graph, 1e-4, values, {}, { features: CUDA_FEATURES, activations: DType.F32, gemm: 'library' });
  }
  // Attention forward and backward as tensor-core warp tiles; P and dS are rounded to the operand dtype, so f16
  // (3 more mantissa bits) gets the tight bound and bf16 the loose one
  const attentionGrad = trace((_, { q, k, v, g }) => {
    const o = attention(q, k, v);
    const [dq, dk, dv] = grad(o.mul(g).sum(), [q, k, v]);
    return { o, dq: dq!, dk: dk!, dv: dv! };
  }, { q: spec([2, 2, 37, 40]), k: spec([2, 2, 45, 40]), v: spec([2, 2, 45, 24]), g: spec([2, 2, 37, 24]) }).graph;
  const attentionValues = Object.fromEntries(attentionGrad.inputs.map((n, i) => [n.arg.name, wave(n.shape.reduce((x, y) => x * y, 1), 30 + i).map(bf16Round)]));
  for (const [operand, tolerance] of [[DType.F16, 5e-3], [DType.BF16, 5e-2]] as const) {
    await add(`tensor-core attention and its gradients, ${operand} operands`, attentionGrad, tolerance, attentionValues, {}, { features: { f16: true, subgroups: true, mma: operand } });
  }
  return cases;
}

export async function benchCases(log: (line: string) => void = () => {}): Promise<BenchCase[]> {
  const cases = await timedPrograms(log);
  // the GPU side reads a kernel's IR buffers only (bindings); the bodies are most of a full-size Program's JSON
  return cases.map((c) => ({ ...c, program: { ...c.program, kernels: c.program.kernels.map((k) => ({ ...k, ir: { ...k.ir, body: [] } })) } }));
}

async function timedPrograms(log: (line: string) => void): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  for (const dtype of [DType.F32, DType.BF16]) {
    const b = new Builder();
    const n = MATMUL_N;
    const a = b.param('a', [n, n]);
    const w = b.param('b', [n, n]);
    const product = dtype === DType.F32 ? b.matmul(a, w) : b.matmul(b.cast(a, dtype), b.cast(w, dtype));
    const out = b.cast(product, DType.F32);
    const probe = b.node(Op.Shrink, [b.reshape(out, [n * n])], { ranges: [[0, 4]] });
    const graph = new Graph([{ name: 'c', node: out }, { name: 'probe', node: probe }]);
    // f32 is f32 math (PyTorch's f32 matmul, TF32 off); bf16 takes the tensor cores
    const program = await withPtx(compile(graph, { target: 'cuda', features: dtype === DType.F32 ? CUDA_F32_FEATURES : CUDA_FEATURES }).program);
    cases.push({ name: `matmul-${dtype}`, title: `matmul ${n}×${n}×${n} ${dtype}`, program, inputs: {}, params: sizes(graph), read: ['probe'], flops: 2 * n ** 3 });
    log(`  matmul ${dtype}: ${program.kernels.length} kernels`);
    if (dtype === DType.BF16) {
      const library = await withPtx(compile(graph, { target: 'cuda', features: CUDA_FEATURES, gemm: 'library' }).program);
      cases.push({ name: 'matmul-bf16-cublaslt', title: `matmul ${n}×${n}×${n} bf16, cuBLASLt`, program: library, inputs: {}, params: sizes(graph), read: ['probe'], flops: 2 * n ** 3 });
    }
  }
  const { batch, tokens, width, heads } = BLOCK;
  const step = trainStep((ctx, { x }) => {
    const y = vitBlock(ctx.child('blocks.0'), x, { heads }) as F32;
    return y.mul(y).mean();
  }, { x: spec([batch, tokens, width] as const) }, { schedule: constantLr(1e-4) });
  const variants = [
    ['block-train', { features: CUDA_F32_FEATURES }, 'f32'],
    ['block-train-bf16', { features: CUDA_FEATURES }, 'bf16 tensor cores'],
    ['block-train-cublaslt', { features: CUDA_FEATURES, gemm: 'library' }, 'bf16, GEMMs on cuBLASLt'],
  ] as const;
  for (const [name, options, kind] of variants) {
    const program = await withPtx(compile(step.graph, { target: 'cuda', ...options }).program);
    cases.push({ name, title: `transformer block train step B${batch}×${tokens}×${width}, ${heads} heads (fwd+bwd+AdamW), ${kind}`, program, inputs: valuesFor(step.graph, Op.Input, 2), params: sizes(step.graph), read: ['loss'] });
    log(`  block train step (${kind}): ${program.kernels.length} kernels`);
  }
  // Full size: SiT-XL's train step (batch 32 on 128×32 latents, AdamW, clip 1.0, EMA), as scripts/validate-full-size.ts builds it
  const sit = FULL_SIZE_PROGRAMS.find((p) => p.id === 'sit-xl')!;
  const sitStep = sit.build();
  for (const [name, gemm, kind] of [['sit-xl-train-cublaslt', 'library', 'GEMMs on cuBLASLt'], ['sit-xl-train-bf16', 'kernel', 'kiln\'s tensor-core kernels']] as const) {
    const program = await withPtx(compile(sitStep.graph, { target: 'cuda', features: CUDA_FEATURES, gemm }).program);
    cases.push({ name, title: `${sit.title} train step, batch ${sit.batch} on 128×32 latents (fwd+bwd+AdamW+EMA), bf16, ${kind}`, program, inputs: { ...valuesFor(sitStep.graph, Op.Input, 2), step: [3] }, params: sizes(sitStep.graph), read: ['loss'] });
    log(`  SiT-XL train step (${kind}): ${program.kernels.length} kernels`);
  }
  return cases;
}
