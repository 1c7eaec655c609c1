// CUDA printer and compile-time PTX: the printer's spelling of Graph IR semantics
// (checked as text, no toolchain needed), and nvcc -arch=sm_90 accepting, with zero
// errors and zero warnings, every kernel of a corpus: hand-built Kernel IR for
// every op × dtype, cast and control-flow form; random fusible graphs; the
// transformer-block gradient graphs; and whole training steps (SiT-Tiny,
// MAETok-Tiny). Each group is one nvcc run (kernels batched into one .cu).
// Without nvcc the toolchain tests are skipped, and their names say why.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { cudaEntryName, printCuda } from '../../compiler/codegen/cuda.ts';
import { compileToPtx, findNvcc, missingNvccMessage, nvccVersion, PtxError, splitPtx, withPtx, type KernelSource } from '../../compiler/codegen/ptx.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Alu, foldGrid, type Instr, type Kernel, type ValueId } from '../../compiler/kernel/ir.ts';
import type { Program } from '../../compiler/program.ts';
import { constantLr, rope1dAngles, ropeMixedAngles, spec, trainStep } from '../../dsl/index.ts';
import { MAETOK_TINY, SIT_TINY } from '../../models/configs.ts';
import { maetokStage1Loss } from '../../models/maetok.ts';
import { diffusionLoss } from '../../models/sit.ts';
import { patchTeacher } from '../../models/teacher.ts';
import { ditBlock, modulatedBlock, vitBlock } from '../../models/vit.ts';
import { gradientGraph } from '../support/gradient-graph.ts';
import { KernelIr, buf, elementwise, opKernel } from '../support/kernel-ir.ts';
import { buildGraph, recipeArb } from '../support/random-graph.ts';

const NVCC = findNvcc();
const NO_NVCC = NVCC ? '' : ` [skipped: ${missingNvccMessage()}]`;
if (!NVCC) console.warn(`cuda-compile.test.ts: nvcc tests skipped: ${missingNvccMessage()}`);

const FLOATS = [DType.F32, DType.F16, DType.BF16];
const NUMBERS = [...FLOATS, DType.I32, DType.U32];
const SCALARS = [...NUMBERS, DType.Bool];
const INTS_AND_BOOL = [DType.I32, DType.U32, DType.Bool];

const LEGAL: Record<Alu, readonly DType[]> = {
  [Alu.Add]: NUMBERS, [Alu.Sub]: NUMBERS, [Alu.Mul]: NUMBERS, [Alu.Div]: NUMBERS, [Alu.Mod]: NUMBERS,
  [Alu.Max]: NUMBERS, [Alu.Min]: NUMBERS, [Alu.CmpLt]: NUMBERS, [Alu.CmpNe]: SCALARS, [Alu.CmpEq]: SCALARS,
  [Alu.And]: INTS_AND_BOOL, [Alu.Or]: INTS_AND_BOOL, [Alu.Xor]: INTS_AND_BOOL, [Alu.Shl]: [DType.I32, DType.U32], [Alu.Shr]: [DType.I32, DType.U32],
  [Alu.Neg]: [...FLOATS, DType.I32], [Alu.Not]: INTS_AND_BOOL,
  [Alu.Recip]: FLOATS, [Alu.Sqrt]: FLOATS, [Alu.Exp2]: FLOATS, [Alu.Log2]: FLOATS, [Alu.Sin]: FLOATS, [Alu.Trunc]: FLOATS, [Alu.Erf]: FLOATS,
  [Alu.Select]: SCALARS,
};



function print(kernel: Kernel): string {
  return printCuda(kernel, { grid: foldGrid(kernel.workgroups, 2 ** 31 - 1) });
}

function source(kernel: Kernel, grid?: readonly [number, number, number]): KernelSource {
  return { entry: cudaEntryName(kernel), source: grid ? printCuda(kernel, { grid }) : print(kernel) };
}

/** A loop summing a row into a local inside a guard: var, assign, loop, if. */
function rowSum(): Kernel {
  const k = new KernelIr();
  const row = k.special('globalId');
  k.when(k.alu(Alu.CmpLt, row, k.i32(4)), () => {
    const acc = k.local(k.const(DType.F32, 0));
    k.loop(k.i32(0), k.i32(16), k.i32(1), (j) => {
      k.assign(acc, k.alu(Alu.Add, acc, k.load(DType.F32, 0, k.alu(Alu.Add, k.alu(Alu.Mul, row, k.i32(16)), j))));
    });
    k.store(1, row, acc);
  });
  return k.kernel('row_sum', [buf('x', DType.F32, 64), buf('out', DType.F32, 4, 'read_write')], 1, 4);
}

/** Shared arrays of every storable dtype with a barrier between writes and mirrored reads. */
function sharedMirror(): Kernel {
  const k = new KernelIr();
  const lid = k.special('localId');
  const mirrored = k.alu(Alu.Sub, k.i32(63), lid);
  const tiles = FLOATS.map((d) => k.shared(d, 64));
  const flags = k.shared(DType.Bool, 64);
  FLOATS.forEach((d, i) => k.sharedStore(tiles[i]!, lid, k.cast(d, k.load(DType.F32, 0, lid))));
  k.sharedStore(flags, lid, k.alu(Alu.CmpLt, lid, k.i32(32)));
  k.barrier();
  const sum = FLOATS.map((d, i) => k.cast(DType.F32, k.sharedLoad(tiles[i]!, mirrored))).reduce((a, b) => k.alu(Alu.Add, a, b));
  k.store(1, lid, k.alu(Alu.Select, k.sharedLoad(flags, mirrored), sum, k.const(DType.F32, 0)));
  return k.kernel('mirror', [buf('x', DType.F32, 64), buf('out', DType.F32, 64, 'read_write')], 1, 64);
}

/** out[i] = subgroup op over x (hand-written Instrs: the capability op has no KernelIr helper). */
function subgroupKernel(op: Alu.Add | Alu.Max, dtype: DType, workgroupSize: number): Kernel {
  const v = (n: number): ValueId => n as ValueId;
  const body: Instr[] = [
    { kind: 'special', id: v(0), which: 'globalId' },
    { kind: 'load', id: v(1), dtype, buffer: 0, index: v(0) },
    { kind: 'subgroupReduce', id: v(2), op, dtype, value: v(1) },
    { kind: 'special', id: v(3), which: 'subgroupLane' },
    { kind: 'special', id: v(4), which: 'subgroupId' },
    { kind: 'special', id: v(5), which: 'subgroupSize' },
    { kind: 'special', id: v(6), which: 'subgroupCount' },
    { kind: 'store', buffer: 1, index: v(0), value: v(2) },
  ];
  const n = workgroupSize * 2;
  return { name: `subgroup_${op}_${dtype}_${workgroupSize}`, buffers: [buf('x', dtype, n), buf('out', dtype, n, 'read_write')], workgroupSize, workgroups: 2, body };
}

/** Every kernel of several programs as one batch: entries get a per-program prefix so they stay unique. */
function programSources(programs: readonly Program[]): KernelSource[] {
  return programs.flatMap((p, i) => p.kernels.map((k) => {
    const entry = `p${i}_${k.entryPoint}`;
    return { entry, source: k.source.replaceAll(k.entryPoint, entry) };
  }));
}

async function expectCompiles(sources: readonly KernelSource[]): Promise<void> {
  const ptx = await compileToPtx(sources);
  expect(ptx.size).toBe(sources.length);
  for (const s of sources) {
    const module = ptx.get(s.entry)!;
    expect(module).toMatch(/^\.target sm_90$/m);
    expect([...module.matchAll(/\.entry\s+(\w+)/g)].map((m) => m[1])).toEqual([s.entry]);
  }
}

describe('CUDA printer', () => {
  it('prints an extern "C" kernel with launch bounds and restrict-qualified buffers, read-only ones const', () => {
    const text = print(opKernel(Alu.Add, DType.F32));
    expect(text).toContain('extern "C" __global__ void __launch_bounds__(64) add_f32(');
    expect(text).toMatch(/^ {4}const float\* __restrict__ b0, \/\/ x0: f32\[8\]$/m);
    expect(text).toMatch(/^ {4}float\* __restrict__ b2 \/\/ out: f32\[8\]$/m);
  });

  it('stores bool as one u32 word per element, as on WebGPU', () => {
    const text = print(elementwise('flip', [buf('m', DType.Bool, 4)], buf('out', DType.Bool, 4), (k, [m]) => k.alu(Alu.Not, m!)));
    expect(text).toContain('const unsigned int* __restrict__ b0');
    expect(text).toMatch(/= b0\[v\d+\] != 0u;/);
    expect(text).toMatch(/b1\[v\d+\] = v\d+ \? 1u : 0u;/);
  });

  it('computes f16 and bf16 in f32 and rounds back after every operation', () => {
    expect(print(opKernel(Alu.Mul, DType.F16))).toMatch(/= __float2half_rn\(__half2float\(v\d+\) \* __half2float\(v\d+\)\);/);
    const bf16 = print(opKernel(Alu.Sqrt, DType.BF16));
    expect(bf16).toContain('#include <cuda_bf16.h>');
    expect(bf16).toMatch(/= __float2bfloat16_rn\(sqrtf\(__bfloat162float\(v\d+\)\)\);/);
  });

  it('spells out the Graph IR integer rules: wrapping i32, division by 0 and -1, masked shifts', () => {
    expect(print(opKernel(Alu.Add, DType.I32))).toMatch(/\(int\)\(\(unsigned int\)v\d+ \+ \(unsigned int\)v\d+\)/);
    expect(print(opKernel(Alu.Div, DType.I32))).toMatch(/\((v\d+) == 0 \? 0 : \1 == -1 \? .* : v\d+ \/ \1\)/);
    expect(print(opKernel(Alu.Mod, DType.U32))).toMatch(/\((v\d+) == 0u \? 0u : v\d+ % \1\)/);
    expect(print(opKernel(Alu.Shl, DType.I32))).toMatch(/\(int\)\(\(unsigned int\)v\d+ << \(v\d+ & 31\)\)/);
    expect(print(opKernel(Alu.Shr, DType.U32))).toMatch(/v\d+ >> \(v\d+ & 31u\)/);
  });

  it('casts float → int with truncation, saturation and NaN → 0, and float → bool keeping NaN true', () => {
    const toInt = print(elementwise('f2i', [buf('x', DType.F32, 4)], buf('out', DType.I32, 4), (k, [x]) => k.cast(DType.I32, x!)));
    expect(toInt).toMatch(/__float2int_rz\(v\d+\)/);
    const toBool = print(elementwise('f2b', [buf('x', DType.F16, 4)], buf('out', DType.Bool, 4), (k, [x]) => k.cast(DType.Bool, x!)));
    expect(toBool).toMatch(/!\(__half2float\(v\d+\) == 0\.0f\)/);
  });

  it('prints literals C++ reads back exactly: i32 min, u32 max, -0, whole floats with a point', () => {
    const k = new KernelIr();
    const values = [k.const(DType.I32, -2147483648), k.const(DType.U32, 4294967295), k.const(DType.F32, -0), k.const(DType.F32, 3), k.const(DType.F16, 65504), k.const(DType.BF16, 0.1)];
    values.forEach((v, i) => k.store(i, k.i32(0), v));
    const text = print(k.kernel('literals', values.map((v, i) => buf(`o${i}`, k.dtype(v), 1, 'read_write')), 1));
    for (const literal of ['(-2147483647 - 1)', '4294967295u', '-0.0f', '3.0f', '__float2half_rn(65504.0f)', '__float2bfloat16_rn(0.100097656f)']) expect(text).toContain(literal);
    const infinite = new KernelIr();
    infinite.store(0, infinite.i32(0), infinite.const(DType.F16, 70000));
    expect(() => print(infinite.kernel('inf', [buf('o', DType.F16, 1, 'read_write')], 1))).toThrow(/not a finite f16/);
  });

  it('reconstructs the linear block id from a folded grid and sends surplus blocks home', () => {
    const kernel = { ...sharedMirror(), workgroups: 10 };
    const text = printCuda(kernel, { grid: foldGrid(10, 4) });
    expect(text).toContain('const unsigned int kiln_wg = blockIdx.x + blockIdx.y * 4u;');
    expect(text).toContain('if (kiln_wg >= 10u) {');
    expect(() => printCuda(kernel, { grid: [3, 1, 1] })).toThrow(/has 3 blocks, the kernel needs 10/);
  });

  it('marks values nothing reads [[maybe_unused]] (nvcc warns about unused locals)', () => {
    const k = new KernelIr();
    k.special('localId');
    k.store(0, k.i32(0), k.const(DType.F32, 1));
    expect(print(k.kernel('dead', [buf('o', DType.F32, 1, 'read_write')], 1))).toMatch(/\[\[maybe_unused\]\] const int v0 = \(int\)threadIdx\.x;/);
  });

  it('compile({ target: "cuda" }) gives a cuda Program whose kernels carry CUDA source and their entry names', () => {
    const { program } = compile(buildGraph(fc.sample(recipeArb, { numRuns: 1, seed: 7 })[0]!).graph, { target: 'cuda' });
    expect(program.target).toBe('cuda');
    for (const k of program.kernels) {
      expect(k.entryPoint).toBe(cudaEntryName(k.ir));
      expect(k.source).toContain(`__global__ void __launch_bounds__(${k.workgroupSize}) ${k.entryPoint}(`);
    }
  });
});

describe('PTX splitting and the missing-toolchain error', () => {
  it('splits a module into one module per entry, each with the header and every module-scope declaration', () => {
    const ptx = [
      '// Generated by NVIDIA NVVM Compiler', '.version 9.0', '.target sm_90', '.address_size 64', '',
      '.global .align 4 .b8 table[2] = {1, 2};', '',
      '.visible .entry a(', '\t.param .u64 a_param_0', ')', '.maxntid 64, 1, 1', '{', '\tret;', '', '}', '',
      '.visible .entry b(', ')', '{', '\t{', '\t}', '\tret;', '}',
    ].join('\n');
    const pieces = splitPtx(ptx);
    expect(pieces.map((p) => `${p.kind}${p.name ? `:${p.name}` : ''}`)).toEqual(['header', 'header', 'header', 'declaration', 'entry:a', 'entry:b']);
  });

  it('names the way out when nvcc is absent', async () => {
    const options = { nvcc: '/nonexistent/nvcc' };
    expect(findNvcc(options)).toBeUndefined();
    await expect(compileToPtx([source(opKernel(Alu.Add, DType.F32))], options)).rejects.toThrow(PtxError);
    await expect(compileToPtx([source(opKernel(Alu.Add, DType.F32))], options)).rejects.toThrow(/install the CUDA toolkit .*or set KILN_NVCC/i);
  });
});



describe.skipIf(!NVCC)(`nvcc -arch=sm_90 accepts every kernel with zero errors and warnings${NO_NVCC}`, () => {
  it('reports its version', () => {
    expect(nvccVersion()).toMatch(/release \d+\.\d+/);
  });

  it('rejects any diagnostic, naming the kernel and quoting its source line', async () => {
    const good = source(opKernel(Alu.Add, DType.F32));
    const bad = source(opKernel(Alu.Mul, DType.F32));
    const broken = { ...bad, source: bad.source.replace(/ \* /, ' * undefined_name * ') };
    const rejection = compileToPtx([good, broken]);
    await expect(rejection).rejects.toThrow(PtxError);
    await expect(rejection).rejects.toThrow(/identifier "undefined_name" is undefined[\s\S]*in kernel mul_f32, line (\d+) of its source:[\s\S]*\n> +\1 \|.*undefined_name/);
  }, 60_000);

  it('hand-built kernels: every op on every dtype, every cast and bitcast, loops, shared memory, subgroups, folded grids', async () => {
    const kernels: KernelSource[] = [];
    for (const op of Object.values(Alu)) for (const dtype of LEGAL[op]) kernels.push(source(opKernel(op, dtype)));
    for (const from of SCALARS) {
      for (const to of SCALARS) kernels.push(source(elementwise(`cast_${from}_${to}`, [buf('x', from, 4)], buf('out', to, 4), (k, [x]) => k.cast(to, x!))));
    }
    for (const [from, to] of [['f32', 'i32'], ['f32', 'u32'], ['i32', 'f32'], ['u32', 'f32'], ['i32', 'u32'], ['u32', 'i32'], ['f16', 'bf16'], ['bf16', 'f16']] as [DType, DType][]) {
      kernels.push(source(elementwise(`bitcast_${from}_${to}`, [buf('x', from, 4)], buf('out', to, 4), (k, [x]) => k.bitcast(to, x!))));
    }
    kernels.push(source(rowSum()), source(sharedMirror()), source({ ...sharedMirror(), name: 'mirror_folded', workgroups: 10 }, foldGrid(10, 4)));
    for (const op of [Alu.Add, Alu.Max] as const) {
      for (const dtype of NUMBERS) for (const size of [64, 48]) kernels.push(source(subgroupKernel(op, dtype, size)));
    }
    await expectCompiles(kernels);
  }, 120_000);

  it('random fusible graphs (24, fixed seed)', async () => {
    const programs = fc.sample(recipeArb, { numRuns: 24, seed: 42 }).map((r) => compile(buildGraph(r).graph, { target: 'cuda' }).program);
    await expectCompiles(programSources(programs));
  }, 120_000);

  it('transformer block gradients: ViT (LayerScale, mixed RoPE), DiT, LightningDiT, MAETok decoder; patchify', async () => {
    const width = 8;
    const heads = 2;
    const graphs = [
      gradientGraph({ x: [1, 6, width], freqs: [2, width / 2] }, (ctx, { x, freqs }) =>
        vitBlock(ctx.child('blocks.0'), x!, { heads, layerScale: 0.5, rope: { angles: ropeMixedAngles(ctx, freqs!, 2, 2, heads), start: 1 } })),
      gradientGraph({ x: [2, 3, width], c: [2, width] }, (ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x!, c!, { heads })),
      gradientGraph({ x: [1, 4, width], c: [1, width] }, (ctx, { x, c }) =>
        ditBlock(ctx.child('blocks.0'), x!, c!, { heads, norm: 'rms', mlp: 'swiglu', rope: { angles: rope1dAngles(ctx, 4, width / heads), start: 0 } })),
      gradientGraph({ x: [1, 6, width], h: [1, 2, 3] }, (ctx, { x, h }) => modulatedBlock(ctx.child('blocks.0'), x!, h!, { heads, latentStart: 4 })),
    ];
    await expectCompiles(programSources(graphs.map((g) => compile(g, { target: 'cuda' }).program)));
  }, 120_000);

  it('training steps: SiT-Tiny (with EMA), MAETok-Tiny stage 1, each also with library GEMMs (one PTX module per kernel)', async () => {
    const steps = [
      trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, SIT_TINY).loss,
        { latents: spec([2, 8, 4] as const), labels: spec([2] as const, DType.I32) }, { schedule: constantLr(1e-3), ema: 0.99 }),
      trainStep((ctx, { images }) => maetokStage1Loss(ctx, images, MAETOK_TINY, { teachers: { dino: patchTeacher('dino', 4, 32) } }).loss,
        { images: spec([2, 1, 28, 28] as const) }, { schedule: constantLr(1e-3) }),
    ];
    const programs = steps.flatMap((s) => [compile(s.graph, { target: 'cuda' }).program, compile(s.graph, { target: 'cuda', gemm: 'library' }).program]);
    await expectCompiles(programSources(programs));
    // withPtx attaches one module per kernel to the program itself.
    const first = await withPtx(programs[0]!);
    expect(first.kernels.every((k) => k.ptx?.includes(`.entry ${k.entryPoint}(`))).toBe(true);
  }, 600_000);
});
