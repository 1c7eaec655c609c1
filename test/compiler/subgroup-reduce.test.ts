// Subgroup reductions (the Kernel IR's subgroup capability) and the f16 feature
// gate: with `features.subgroups` a cooperative row reduction is a subgroup
// reduce plus ONE barrier (the shared-memory tree needs log2(workgroup) + 1);
// both paths agree with the interpreter on the real adapter for rows that are
// not multiples of the workgroup size, whatever subgroup size the driver picks;
// the generated WGSL passes Dawn's compiler with zero messages; f16 graphs need
// 'shader-f16' and say so.

import { describe, expect, it } from 'vitest';
import { compile, type CompileOptions } from '../../compiler/compile.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import type { Node } from '../../compiler/ir/node.ts';
import { Alu, type Instr, type Kernel, type ValueId } from '../../compiler/kernel/ir.ts';
import { printKernel } from '../../compiler/kernel/print.ts';
import { KernelVerifyError, verifyKernel } from '../../compiler/kernel/verify.ts';
import { printWgsl } from '../../compiler/codegen/wgsl.ts';
import { init, layerNorm, softmax, spec, trace } from '../../dsl/index.ts';
import { formatWgslMessages, validateWgsl, webgpuDevice } from '../../runtime/webgpu/device.ts';
import { wave } from '../support/gradcheck.ts';
import { expectGpuMatchesInterpreter } from '../support/webgpu.ts';

const device = await webgpuDevice();
const HAS_SUBGROUPS = device.compileOptions().features.subgroups === true;
const HAS_F16 = device.features.has('shader-f16');
const ON: CompileOptions = { features: { subgroups: true } };
const OFF: CompileOptions = { features: { subgroups: false } };

const count = (k: Kernel, kind: Instr['kind']) => k.body.filter((i) => i.kind === kind).length;

function softmaxGraph(rows: number, width: number): Graph {
  return trace((_, { x }) => ({ y: softmax(x) }), { x: spec([rows, width] as const) }).graph;
}

function layerNormGraph(rows: number, width: number): Graph {
  return trace((ctx, { x }) => {
    const weight = ctx.param('weight', [width], init.ones());
    const bias = ctx.param('bias', [width], init.zeros());
    return { y: layerNorm(x, { weight, bias, eps: 1e-5 }) };
  }, { x: spec([rows, width] as const) }).graph;
}

/** The row kernels of a compiled graph (where cooperative reductions live). */
function rowKernels(graph: Graph, options: CompileOptions): Kernel[] {
  return compile(graph, options).program.kernels.map((k) => k.ir).filter((k) => k.name.includes('_row_'));
}

describe('subgroup reductions in Kernel IR', () => {
  it('a row softmax and a layerNorm use one barrier per reduction with subgroups, log2(64) + 1 without', () => {
    for (const graph of [softmaxGraph(3, 100), layerNormGraph(3, 100)]) {
      const [on] = rowKernels(graph, ON);
      const [off] = rowKernels(graph, OFF);
      expect(on, printKernel(on!)).toBeDefined();
      const reductions = count(on!, 'subgroupReduce');
      expect(reductions, printKernel(on!)).toBe(2);
      expect(count(on!, 'barrier'), printKernel(on!)).toBe(reductions);
      expect(count(off!, 'subgroupReduce')).toBe(0);
      expect(count(off!, 'barrier'), printKernel(off!)).toBe(2 * 7);
    }
  });

  it('a single row sum has exactly one barrier and sizes its slots for the smallest subgroup (4)', () => {
    const g = new Builder();
    const graph = new Graph([{ name: 's', node: g.sum(g.input('x', [5, 300]), 1) }]);
    const [k] = rowKernels(graph, { ...ON, workgroupSize: 128 });
    expect(count(k!, 'barrier'), printKernel(k!)).toBe(1);
    expect(printKernel(k!)).toMatch(/s\d+: f32\[32\] = shared/);
    expect(printKernel(k!)).toMatch(/= subgroup add v\d+/);
  });

  it('row kernels default to 32 threads with subgroups (64 without); an explicit workgroupSize pins them', () => {
    const graph = softmaxGraph(4, 500);
    expect(rowKernels(graph, ON)[0]!.workgroupSize).toBe(32);
    expect(rowKernels(graph, OFF)[0]!.workgroupSize).toBe(64);
    expect(rowKernels(graph, { ...ON, workgroupSize: 128 })[0]!.workgroupSize).toBe(128);
  });

  it('the verifier rejects a subgroup reduction of a bool or with the wrong dtype', () => {
    const v = (n: number) => n as ValueId;
    const kernel = (body: Instr[]): Kernel => ({ name: 'k', workgroupSize: 64, workgroups: 1, buffers: [{ name: 'out', dtype: DType.F32, access: 'read_write', size: 1 }], body });
    const flag: Instr = { kind: 'const', id: v(0), dtype: DType.Bool, value: 1 };
    const one: Instr = { kind: 'const', id: v(0), dtype: DType.F32, value: 1 };
    expect(() => verifyKernel(kernel([flag, { kind: 'subgroupReduce', id: v(1), op: Alu.Add, dtype: DType.Bool, value: v(0) }]))).toThrow(/numeric value, got bool/);
    expect(() => verifyKernel(kernel([one, { kind: 'subgroupReduce', id: v(1), op: Alu.Max, dtype: DType.I32, value: v(0) }]))).toThrow(KernelVerifyError);
    expect(() => verifyKernel(kernel([one, { kind: 'subgroupReduce', id: v(1), op: Alu.Max, dtype: DType.F32, value: v(0) }]))).not.toThrow();
  });

  it('the WGSL printer enables subgroups and binds only the builtins the kernel reads', () => {
    const [k] = rowKernels(softmaxGraph(2, 10), ON);
    const source = printWgsl(k!, { grid: [k!.workgroups, 1, 1] });
    expect(source).toMatch(/^enable subgroups;$/m);
    expect(source).toContain('subgroupMax(');
    expect(source).toContain('subgroupAdd(');
    expect(source).toContain('@builtin(subgroup_id) sg_id: u32');
    expect(source).toContain('@builtin(num_subgroups) sg_count: u32');
    expect(source).not.toContain('subgroup_size');
    const [plain] = rowKernels(softmaxGraph(2, 10), OFF);
    expect(printWgsl(plain!, { grid: [plain!.workgroups, 1, 1] })).not.toContain('subgroup');
  });
});

describe('the WebGPU device as a compile target', () => {
  it('compileOptions() reports its limits and the features it was granted', () => {
    const { limits, features } = device.compileOptions();
    expect(limits).toBe(device.limits);
    expect(features.f16).toBe(device.features.has('shader-f16'));
    expect(features.subgroups).toBe(device.features.has('subgroups') && device.wgslLanguageFeatures.has('subgroup_id'));
    // The adapter offers both on lavapipe (Mesa ≥ 25 through Dawn): granted when offered.
    for (const feature of ['shader-f16', 'subgroups']) expect(device.features.has(feature)).toBe(device.adapter.features.has(feature));
  });
});

describe.runIf(HAS_SUBGROUPS)('subgroup reductions on WebGPU match the interpreter', () => {
  // Row lengths around and between multiples of the workgroup (64) and of any subgroup size.
  const WIDTHS = [1, 7, 63, 65, 100, 777];

  it.each(WIDTHS)('row softmax of width %i, subgroups on and off', async (width) => {
    const graph = softmaxGraph(5, width);
    const x = wave(5 * width, 3).map((v) => v * 4);
    for (const options of [ON, OFF]) await expectGpuMatchesInterpreter(graph, { x }, {}, 2e-5, options);
  });

  it.each(WIDTHS)('layerNorm of width %i, subgroups on and off', async (width) => {
    const graph = layerNormGraph(4, width);
    const x = wave(4 * width, 5).map((v, i) => v + (i % 3));
    const params = { weight: wave(width, 7), bias: wave(width, 11) };
    for (const options of [ON, OFF]) await expectGpuMatchesInterpreter(graph, { x }, params, 5e-5, options);
  });

  it.each([8, 32, 256])('layerNorm of width 300 with workgroups of %i (one subgroup or many)', async (workgroupSize) => {
    const graph = layerNormGraph(3, 300);
    const x = wave(900, 2);
    await expectGpuMatchesInterpreter(graph, { x }, { weight: wave(300, 3), bias: wave(300, 4) }, 5e-5, { ...ON, workgroupSize });
  });

  it('integer row sums and maxima are exact', async () => {
    const g = new Builder();
    const x = g.input('x', [3, 131], DType.I32);
    const graph = new Graph([{ name: 'sum', node: g.sum(x, 1) }, { name: 'max', node: g.reduceMax(x, 1) }]);
    const values = Array.from({ length: 3 * 131 }, (_, i) => ((i * 7919) % 2001) - 1000);
    await expectGpuMatchesInterpreter(graph, { x: values }, {}, 0, ON);
  });

  it('every kernel of a softmax + layerNorm program validates with zero WGSL messages', async () => {
    const graph = trace((ctx, { x }) => {
      const y = layerNorm(softmax(x), { weight: ctx.param('w', [33], init.ones()) });
      return { y, m: y.max(-1), s: y.sum(0) };
    }, { x: spec([6, 33] as const) }).graph;
    const { program } = compile(graph, device.compileOptions());
    expect(program.kernels.some((k) => k.source.includes('enable subgroups;'))).toBe(true);
    for (const kernel of program.kernels) {
      const messages = await validateWgsl(kernel.source);
      expect(messages, `${kernel.name}\n${formatWgslMessages(kernel.source, messages)}`).toEqual([]);
    }
  });
});

describe('f16 needs shader-f16', () => {
  function halfGraph(): Graph {
    const g = new Builder();
    const a = g.input('a', [4, 37], DType.F16);
    const b = g.input('b', [4, 37], DType.F16);
    const prod = g.add(g.mul(a, b), a);
    const outputs: { name: string; node: Node }[] = [
      { name: 'prod', node: prod },
      { name: 'max', node: g.reduceMax(prod, 1) },
      { name: 'sum', node: g.cast(g.sum(g.cast(prod, DType.F32), 1), DType.F16) },
    ];
    return new Graph(outputs);
  }

  it('compiling an f16 graph without the feature fails naming shader-f16 and the fix', () => {
    expect(() => compile(halfGraph(), { features: { f16: false } })).toThrow(/'shader-f16'[\s\S]*cast to f32/);
    expect(() => compile(halfGraph())).toThrow(/shader-f16/);
  });

  it('with the feature, f16 buffers print as array<f16> under `enable f16;`', () => {
    const { program } = compile(halfGraph(), { features: { f16: true, subgroups: true } });
    for (const k of program.kernels) {
      expect(k.source).toMatch(/^enable f16;$/m);
      expect(k.source).toMatch(/array<f16>/);
    }
  });

  it.runIf(HAS_F16)('runs on the adapter and matches the interpreter rounding to f16 at every op', async () => {
    const a = wave(4 * 37, 1).map((v) => v * 30);
    const b = wave(4 * 37, 2).map((v) => v * 3);
    await expectGpuMatchesInterpreter(halfGraph(), { a, b }, {}, 1e-3);
  });
});
