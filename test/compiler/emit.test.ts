// Emit · a Program written as a typed .ts module (compiler/emit.ts) reads back,
// through a dynamic import, as the same data minus Kernel IR bodies (or all of
// it with includeIr); its name unions and Inputs/Params interfaces hold under
// tsc, wrong names failing; and on WebGPU it runs exactly like the Program it
// was emitted from.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Project, ts } from 'ts-morph';
import { afterAll, describe, expect, it } from 'vitest';
import { compile, type CompileOptions } from '../../compiler/compile.ts';
import { MODULE_FORMAT, emitProgramModule, relativeKilnImport, writeProgramModule } from '../../compiler/emit.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import type { ValueId } from '../../compiler/kernel/ir.ts';
import type { Program } from '../../compiler/program.ts';
import { attention, constantLr, gelu, initParams, spec, trace, trainStep } from '../../dsl/index.ts';
import { Executor } from '../../runtime/executor.ts';
import { webgpuDevice } from '../../runtime/webgpu/device.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
// Inside the repository so the emitted imports of kiln's sources resolve; dot-named so tsc's globs skip it.
const tmp = mkdtempSync(join(here, '.emit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Two elementwise ops and an output that is a view of the input (so the Program has outputViews). */
const tiny = trace((_, { x }) => ({ y: x.exp().add(1), z: x.transpose(0, 1) }), { x: spec([2, 3] as const) });

/** Linear regression with AdamW and clipping: params, optimiser state, copy steps. */
const step = trainStep(
  (ctx, { x, y }) => {
    const w = ctx.param('w', [3] as const, { kind: 'normal', std: 0.5, mean: 0 });
    const pred = x.mul(w).sum(1);
    return { loss: pred.sub(y).square().mean() };
  },
  { x: spec([4, 3] as const), y: spec([4] as const) },
  { schedule: constantLr(0.05), clip: 10 },
);

const compileTiny = (options: CompileOptions = {}) => compile(tiny.graph, options).program;
const compileStep = (options: CompileOptions = {}) => compile(step.graph, options).program;

/** The contract of the default emit: every Program field, each kernel's ir with an empty body. */
function withoutIrBodies(program: Program): Program {
  return { ...program, kernels: program.kernels.map((k) => ({ ...k, ir: { ...k.ir, body: [] } })) };
}

let modules = 0;
async function emitAndImport(program: Program, name: string, includeIr = false): Promise<{ path: string; program: Program }> {
  const path = join(tmp, `module-${modules++}.ts`);
  writeProgramModule(path, program, { name, includeIr, kilnImport: relativeKilnImport(tmp) });
  const module = (await import(pathToFileURL(path).href)) as { program: Program };
  return { path, program: module.program };
}

let project: Project | undefined;
/** Diagnostics tsc (ts-morph, with this repo's tsconfig options) reports in the given files. */
function typeErrors(paths: readonly string[]): string[] {
  // One project for the file (later checks reuse its parsed lib and kiln files); the emitted modules need no Node types.
  project ??= new Project({ tsConfigFilePath: join(repoRoot, 'tsconfig.json'), skipAddingFilesFromTsConfig: true, compilerOptions: { types: [] } });
  const files = paths.map((path) => project!.addSourceFileAtPath(path));
  return files.flatMap((file) => file.getPreEmitDiagnostics())
    .map((d) => `${relative(tmp, d.getSourceFile()?.getFilePath() ?? '?')}:${d.getLineNumber()}: ${ts.flattenDiagnosticMessageText(d.compilerObject.messageText, '\n')}`);
}

const union = (names: Record<string, number>) => Object.keys(names).map((n) => JSON.stringify(n)).join(' | ') || 'never';

describe('emitProgramModule', () => {
  it('reads back as the compiled program with Kernel IR bodies dropped', async () => {
    for (const [name, program] of [['tiny', compileTiny()], ['step', compileStep()]] as const) {
      const emitted = await emitAndImport(program, name);
      expect(emitted.program).toEqual(withoutIrBodies(program));
      expect(typeErrors([emitted.path])).toEqual([]);
    }
  });

  it('keeps Kernel IR bodies with includeIr', async () => {
    const program = compileStep();
    const emitted = await emitAndImport(program, 'step-ir', true);
    expect(emitted.program).toEqual(program);
    expect(typeErrors([emitted.path])).toEqual([]);
  });

  it('keeps CUDA tensor-core programs whole: mma and shuffle instructions, bf16 activation storage, GemmCalls', async () => {
    const t = trace((_, { a, b, q }) => ({ y: gelu(a.matmul(b)).matmul(b), o: attention(q, q, q) }), { a: spec([32, 32] as const), b: spec([32, 32] as const), q: spec([1, 16, 16] as const) });
    const program = compile(t.graph, { target: 'cuda' }).program;
    expect(program.kernels.flatMap((k) => k.ir.body.map((i) => i.kind))).toEqual(expect.arrayContaining(['mma', 'subgroupShuffleXor']));
    expect(program.kernels.some((k) => k.ir.buffers.some((b) => b.storage === DType.BF16))).toBe(true);
    const emitted = await emitAndImport(program, 'cuda-mma', true);
    expect(emitted.program).toEqual(program);
    const library = compile(t.graph, { target: 'cuda', gemm: 'library' }).program;
    expect(library.kernels.filter((k) => k.gemm)).toHaveLength(2);
    const emittedLibrary = await emitAndImport(library, 'cuda-library');
    expect(emittedLibrary.program.kernels.map((k) => k.gemm)).toEqual(library.kernels.map((k) => k.gemm));
    expect(typeErrors([emitted.path, emittedLibrary.path])).toEqual([]);
  });

  it('round-trips awkward strings and numbers: quotes, backticks, ${, CR, U+2028, ±Infinity, NaN, −0', async () => {
    const base = compileTiny();
    const kernel = base.kernels[0]!;
    const odd = 'a.b:c\'"`';
    const program: Program = {
      ...base,
      buffers: base.buffers.map((b) => (b.name === 'x' ? { ...b, name: odd } : b)),
      inputs: { [odd]: base.inputs.x! },
      kernels: [{
        ...kernel,
        name: "k'0`${n}",
        source: `${kernel.source}// \`\${x}\` \\ ' " \r\n\u2028 \t \u0000 \uE000 end\n`,
        ptx: '.version 8.0 // no newline, \\ and \'',
        ir: {
          ...kernel.ir,
          body: [Infinity, -Infinity, NaN, -0, 1e-300, -2147483648].map((value, i) => ({ kind: 'const', id: i as ValueId, dtype: DType.F32, value })),
        },
      }],
    };
    const emitted = await emitAndImport(program, 'odd */ name\n', true);
    expect(emitted.program).toEqual(program);
    expect(Object.is((emitted.program.kernels[0]!.ir.body[3] as { value: number }).value, -0)).toBe(true);
    expect(typeErrors([emitted.path])).toEqual([]);
  });

  it('types the program and its names: tsc accepts the module and right names, rejects wrong ones', async () => {
    const program = compileStep();
    const { path } = await emitAndImport(program, 'typed');
    const module = `./${relative(tmp, path)}`;
    const snippet = join(tmp, 'uses-typed.ts');
    writeFileSync(snippet, [
      `import { program, type InputName, type Inputs, type OutputName, type ParamName, type Params } from '${module}';`,
      `import type { Program } from '${relativeKilnImport(tmp)}/compiler/program.ts';`,
      'type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;',
      `export const unions: [Equal<InputName, ${union(program.inputs)}>, Equal<OutputName, ${union(program.outputs)}>, Equal<ParamName, ${union(program.params)}>] = [true, true, true];`,
      'export const keys: Equal<InputName, keyof typeof program.inputs> = true;',
      'export const asProgram: Program = program;',
      "export const inputs: Inputs = { x: new Float32Array(12), y: [1, 2, 3, 4], step: 1 };",
      "export const params: Params = { w: [0, 0, 0], 'optim.m.w': [0, 0, 0], 'optim.v.w': [0, 0, 0] };",
      '// @ts-expect-error: not an input name',
      "export const wrongName: InputName = 'nope';",
      '// @ts-expect-error: an output is not a param',
      "export const wrongParam: ParamName = 'loss';",
      '// @ts-expect-error: input y is missing',
      'export const missing: Inputs = { x: [0], step: 1 };',
      '// @ts-expect-error: the program is readonly data',
      'program.inputs.x = 1;',
      '',
    ].join('\n'));
    expect(typeErrors([path, snippet])).toEqual([]);
    // The positive control: the same checks without the expect-error comments do fail.
    const unguarded = join(tmp, 'uses-typed-unguarded.ts');
    writeFileSync(unguarded, [
      `import type { InputName } from '${module}';`,
      "export const wrongName: InputName = 'nope';",
      '',
    ].join('\n'));
    expect(typeErrors([unguarded])).toEqual([expect.stringContaining('"nope"')]);
  });

  it('is laid out as ts-morph formats it (the module is a fixed point of formatText)', () => {
    const formatter = new Project({ useInMemoryFileSystem: true });
    for (const [name, text] of [
      ['tiny', emitProgramModule(compileTiny(), { name: 'tiny' })],
      ['step-ir', emitProgramModule(compileStep(), { name: 'step-ir', includeIr: true })],
    ] as const) {
      const file = formatter.createSourceFile(`${name}.ts`, text);
      file.formatText(MODULE_FORMAT);
      expect(file.getFullText()).toBe(text);
    }
  });

  it('imports kiln from the given root and only what the text uses', () => {
    const text = emitProgramModule(compileStep(), { name: 'step' });
    expect(text.match(/^import .*$/gm)).toEqual([
      "import type { Program } from 'kiln/compiler/program.ts';",
      "import { DType } from 'kiln/compiler/ir/dtype.ts';",
    ]);
    const withIr = emitProgramModule(compileTiny(), { name: 'tiny', includeIr: true, kilnImport: '../kiln' });
    expect(withIr.match(/^import .*$/gm)).toEqual([
      "import type { Program } from '../kiln/compiler/program.ts';",
      "import { DType } from '../kiln/compiler/ir/dtype.ts';",
      "import { Op } from '../kiln/compiler/ir/op.ts';",
      "import { Alu, type Instr, type ValueId } from '../kiln/compiler/kernel/ir.ts';",
    ]);
  });
});

describe('an emitted program on WebGPU', () => {
  it('runs exactly like the program it was emitted from: outputs, views and updated params', async () => {
    const device = await webgpuDevice();
    const options = device.compileOptions();

    const tinyProgram = compileTiny(options);
    const x = [0.5, -1, 2, 0, 1.5, -0.25];
    const tinyRuns = await Promise.all([tinyProgram, (await emitAndImport(tinyProgram, 'gpu-tiny')).program].map(async (program) => {
      const executor = await Executor.create(device, program);
      const out = await executor.run({ x });
      executor.dispose();
      return out;
    }));
    expect(tinyRuns[1]).toEqual(tinyRuns[0]);
    expect(tinyRuns[1]!.z!.shape).toEqual([3, 2]);

    const stepProgram = compileStep(options);
    const init = initParams(step.params, 0);
    const stepRuns = await Promise.all([stepProgram, (await emitAndImport(stepProgram, 'gpu-step')).program].map(async (program) => {
      const executor = await Executor.create(device, program);
      for (const name of Object.keys(program.params)) executor.setParam(name, init[name] ?? new Float64Array(3));
      const losses: number[] = [];
      for (let s = 1; s <= 3; s++) {
        const out = await executor.run({ x: [1, 2, 3, 0, 1, 0, -1, 0.5, 2, 3, 1, 1], y: [1, 0, -1, 2], step: s });
        losses.push(out.loss!.data[0]!);
      }
      const params = Object.fromEntries(await Promise.all(Object.keys(program.params).map(async (name) => [name, await executor.readParam(name)] as const)));
      executor.dispose();
      return { losses, params };
    }));
    expect(stepRuns[1]).toEqual(stepRuns[0]);
    expect(stepRuns[0]!.losses[2]).toBeLessThan(stepRuns[0]!.losses[0]!);
  });
});
