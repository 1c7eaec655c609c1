// WebGPU runtime: hand-built Programs (Kernel IR printed with printWgsl) run
// through the Executor on the real adapter (lavapipe on CPU-only machines) and
// compared with the reference interpreter: elementwise and loop-reduction
// kernels, temps between kernels, params updated in place by copy steps,
// integer/bool/cast semantics, input validation, debug output, and the
// no-adapter error text.

import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import type { Node } from '../../compiler/ir/node.ts';
import { Alu, type ValueId } from '../../compiler/kernel/ir.ts';
import type { Program } from '../../compiler/program.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { castValue, erf, normalizer } from '../../runtime/cpu/numeric.ts';
import { Executor } from '../../runtime/executor.ts';
import { noAdapterMessage, webgpuDevice } from '../../runtime/webgpu/device.ts';
import { KernelIr, buf, elementwise, program, type BufferSpec, type KernelSpec } from '../support/kernel-ir.ts';

const device = await webgpuDevice();
const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

async function runProgram(prog: Program, inputs: Record<string, ArrayLike<number> | number> = {}): Promise<Record<string, Float64Array>> {
  const executor = await Executor.create(device, prog);
  const out = await executor.run(inputs);
  return Object.fromEntries(Object.entries(out).map(([name, o]) => [name, o.data]));
}

/** Runs graph outputs on the interpreter (float64, with each node rounded to its dtype). */
function oracle(outputs: Record<string, Node>, inputs: Record<string, ArrayLike<number>>): Record<string, number[]> {
  const graph = new Graph(Object.entries(outputs).map(([name, node]) => ({ name, node })));
  const result = interpret(graph, { inputs }, { precision: 'f32' }).outputs;
  return Object.fromEntries(Object.entries(result).map(([name, t]) => [name, [...t.data]]));
}

/** One elementwise kernel per named op over inputs a (and b), each writing its own output buffer. */
function opsProgram(dtype: DType, n: number, ops: Record<string, { op: Alu; unary?: boolean; result?: DType }>): Program {
  const buffers: BufferSpec[] = [
    { name: 'a', dtype, shape: [n], role: 'input' },
    { name: 'b', dtype, shape: [n], role: 'input' },
  ];
  const kernels: KernelSpec[] = [];
  for (const [name, { op, unary, result }] of Object.entries(ops)) {
    buffers.push({ name, dtype: result ?? dtype, shape: [n], role: 'output' });
    const operands = unary ? [buf('a', dtype, n)] : [buf('a', dtype, n), buf('b', dtype, n)];
    kernels.push({
      kernel: elementwise(name, operands, buf(name, result ?? dtype, n), (k, args) => k.alu(op, ...args)),
      bindings: unary ? ['a', name] : ['a', 'b', name],
    });
  }
  return program(buffers, kernels);
}

describe('Executor on WebGPU', () => {
  it('runs an elementwise kernel: out = a·b + 1', async () => {
    const n = 1000;
    const kernel = elementwise('fma', [buf('a', DType.F32, n), buf('b', DType.F32, n)], buf('out', DType.F32, n), (k, [a, b]) =>
      k.alu(Alu.Add, k.alu(Alu.Mul, a!, b!), k.const(DType.F32, 1)));
    const prog = program([
      { name: 'a', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 'b', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 'out', dtype: DType.F32, shape: [n], role: 'output' },
    ], [{ kernel, bindings: ['a', 'b', 'out'] }]);
    const a = Float64Array.from({ length: n }, (_, i) => i / 7);
    const b = Float64Array.from({ length: n }, (_, i) => 3 - i / 100);
    const out = await runProgram(prog, { a, b });
    const x = new Builder();
    const expected = oracle({ out: x.add(x.mul(x.input('a', [n]), x.input('b', [n])), 1) }, { a, b });
    expect([...out.out!]).toEqual(expected.out);
  });

  it('runs a loop-based row reduction with a local accumulator', async () => {
    const [rows, cols] = [8, 100];
    const k = new KernelIr();
    const row = k.special('globalId');
    k.when(k.alu(Alu.CmpLt, row, k.i32(rows)), () => {
      const acc = k.local(k.const(DType.F32, 0));
      const base = k.alu(Alu.Mul, row, k.i32(cols));
      k.loop(k.i32(0), k.i32(cols), k.i32(1), (j) => {
        k.assign(acc, k.alu(Alu.Add, acc, k.load(DType.F32, 0, k.alu(Alu.Add, base, j))));
      });
      k.store(1, row, acc);
    });
    const kernel = k.kernel('row_sum', [buf('x', DType.F32, rows * cols), buf('sum', DType.F32, rows, 'read_write')], 1, 8);
    const prog = program([
      { name: 'x', dtype: DType.F32, shape: [rows, cols], role: 'input' },
      { name: 'sum', dtype: DType.F32, shape: [rows, 1], role: 'output' },
    ], [{ kernel, bindings: ['x', 'sum'] }]);
    const x = Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(i));
    const out = await runProgram(prog, { x });
    const g = new Builder();
    const expected = oracle({ sum: g.sum(g.input('x', [rows, cols]), 1, true) }, { x });
    out.sum!.forEach((v, i) => expect(v).toBeCloseTo(expected.sum![i]!, 5));
  });

  it('passes a temp buffer between two kernels', async () => {
    const n = 100;
    const first = elementwise('plus_one', [buf('a', DType.F32, n)], buf('t', DType.F32, n), (k, [a]) => k.alu(Alu.Add, a!, k.const(DType.F32, 1)));
    const second = elementwise('double', [buf('t', DType.F32, n)], buf('out', DType.F32, n), (k, [t]) => k.alu(Alu.Mul, t!, k.const(DType.F32, 2)));
    const prog = program([
      { name: 'a', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 't', dtype: DType.F32, shape: [n], role: 'temp' },
      { name: 'out', dtype: DType.F32, shape: [n], role: 'output' },
    ], [{ kernel: first, bindings: ['a', 't'] }, { kernel: second, bindings: ['t', 'out'] }]);
    const a = Float64Array.from({ length: n }, (_, i) => i - 50);
    const out = await runProgram(prog, { a });
    expect([...out.out!]).toEqual([...a].map((v) => (v + 1) * 2));
  });

  it('updates a param in place with a copy step, persisting across runs', async () => {
    const n = 4;
    const step = elementwise('accumulate', [buf('p', DType.F32, n), buf('x', DType.F32, n)], buf('next', DType.F32, n), (k, [p, x]) => k.alu(Alu.Add, p!, x!));
    const scale = elementwise('scale', [buf('p', DType.F32, n)], buf('out', DType.F32, n), (k, [p]) => k.alu(Alu.Mul, p!, k.const(DType.F32, 10)));
    // The second dispatch runs after the copy in the same submission, so it must see the updated param.
    const prog = program([
      { name: 'p', dtype: DType.F32, shape: [n], role: 'param' },
      { name: 'x', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 'next', dtype: DType.F32, shape: [n], role: 'temp' },
      { name: 'out', dtype: DType.F32, shape: [n], role: 'output' },
    ], [{ kernel: step, bindings: ['p', 'x', 'next'] }, { kernel: scale, bindings: ['p', 'out'] }], [0, { copy: 'next', to: 'p' }, 1]);
    const executor = await Executor.create(device, prog);
    executor.setParam('p', [1, 2, 3, 4]);
    expect([...(await executor.run({ x: 1 })).out!.data]).toEqual([20, 30, 40, 50]);
    expect([...(await executor.readParam('p'))]).toEqual([2, 3, 4, 5]);
    expect([...(await executor.run({ x: [1, 1, 1, 1] })).out!.data]).toEqual([30, 40, 50, 60]);
    expect([...(await executor.readParam('p'))]).toEqual([3, 4, 5, 6]);
  });

  it('reads back only the outputs asked for', async () => {
    const n = 4;
    const prog = opsProgram(DType.I32, n, { sum: { op: Alu.Add }, product: { op: Alu.Mul } });
    const executor = await Executor.create(device, prog);
    const out = await executor.run({ a: [1, 2, 3, 4], b: 2 }, { read: ['product'] });
    expect(Object.keys(out)).toEqual(['product']);
    expect(out.product).toEqual({ dtype: DType.I32, shape: [n], data: Float64Array.from([2, 4, 6, 8]) });
    await expect(executor.run({ a: 1, b: 1 }, { read: ['nope'] })).rejects.toThrow(/no output "nope" \(the program has: sum, product\)/);
  });

  it('names a missing or misshapen input with its dtype and shape', async () => {
    const prog = opsProgram(DType.I32, 6, { sum: { op: Alu.Add } });
    const executor = await Executor.create(device, prog);
    await expect(executor.run({ a: 1 })).rejects.toThrow('missing input "b" (i32[6])');
    await expect(executor.run({ a: 1, b: [1, 2, 3] })).rejects.toThrow('input "b" has 3 values, expected i32[6] (6 values)');
    await expect(executor.run({ a: 1, b: 1, c: 1 })).rejects.toThrow('unknown input "c"');
  });
});

describe('integer semantics match the interpreter', () => {
  const edges: [number, number][] = [
    [7, 0], [-7, 0], [0, 0], [-7, 2], [7, -2], [-7, -2], [I32_MIN, -1], [I32_MIN, 1], [I32_MAX, 1], [I32_MAX, I32_MAX],
    [I32_MIN, I32_MIN], [1, 31], [1, 32], [1, 33], [-8, 1], [-1, -1], [-1, 31], [123456, 65536], [-65536, 16], [5, -3],
  ];
  const random = fc.sample(fc.tuple(fc.integer({ min: I32_MIN, max: I32_MAX }), fc.integer({ min: -40, max: 40 })), { numRuns: 44, seed: 3 });
  const pairs = [...edges, ...random];
  const n = pairs.length;

  const OPS = {
    add: { op: Alu.Add }, sub: { op: Alu.Sub }, mul: { op: Alu.Mul }, div: { op: Alu.Div }, mod: { op: Alu.Mod },
    max: { op: Alu.Max }, min: { op: Alu.Min }, and: { op: Alu.And }, or: { op: Alu.Or }, xor: { op: Alu.Xor },
    shl: { op: Alu.Shl }, shr: { op: Alu.Shr }, not: { op: Alu.Not, unary: true },
    lt: { op: Alu.CmpLt, result: DType.Bool }, ne: { op: Alu.CmpNe, result: DType.Bool }, eq: { op: Alu.CmpEq, result: DType.Bool },
  };

  function expected(dtype: DType, a: readonly number[], b: readonly number[]): Record<string, number[]> {
    const g = new Builder();
    const x = g.input('a', [n], dtype);
    const y = g.input('b', [n], dtype);
    const wrap = dtype === DType.I32 ? (v: number) => v | 0 : (v: number) => v >>> 0;
    const fromGraph = oracle({
      add: g.add(x, y), mul: g.mul(x, y), div: g.idiv(x, y), mod: g.mod(x, y), max: g.max(x, y), and: g.and(x, y), or: g.or(x, y),
      xor: g.xor(x, y), shl: g.shl(x, y), shr: g.shr(x, y), not: g.not(x), lt: g.lt(x, y), ne: g.ne(x, y),
    }, { a, b });
    // Kernel IR has sub, min and eq directly; the Graph IR spells them with other ops, so they are computed here.
    return {
      ...fromGraph,
      sub: a.map((v, i) => wrap(v - b[i]!)),
      min: a.map((v, i) => Math.min(v, b[i]!)),
      eq: a.map((v, i) => (v === b[i] ? 1 : 0)),
    };
  }

  it.each([DType.I32, DType.U32])('%s: div/mod by zero, negative mod, shifts, wrap-around', async (dtype) => {
    const wrap = dtype === DType.I32 ? (v: number) => v | 0 : (v: number) => v >>> 0;
    const a = pairs.map(([x]) => wrap(x));
    const b = pairs.map(([, y]) => wrap(y));
    const out = await runProgram(opsProgram(dtype, n, OPS), { a, b });
    const want = expected(dtype, a, b);
    for (const name of Object.keys(OPS)) {
      const got = [...out[name]!];
      const mismatches = got.flatMap((v, i) => (v === want[name]![i] ? [] : [`${name}(${a[i]}, ${b[i]}) = ${v}, interpreter ${want[name]![i]}`]));
      expect(mismatches).toEqual([]);
    }
  });

  it('i32 negation wraps (−INT_MIN = INT_MIN)', async () => {
    const a = [I32_MIN, I32_MAX, -5, 0];
    const out = await runProgram(opsProgram(DType.I32, 4, { neg: { op: Alu.Neg, unary: true } }), { a, b: 0 });
    const g = new Builder();
    expect([...out.neg!]).toEqual(oracle({ neg: g.neg(g.input('a', [4], DType.I32)) }, { a }).neg);
  });
});

describe('bool and conversion semantics match the interpreter', () => {
  it('bool buffers: and, or, xor, not, select', async () => {
    const n = 4;
    const m = [0, 0, 1, 1];
    const p = [0, 1, 0, 1];
    const prog = opsProgram(DType.Bool, n, { and: { op: Alu.And }, or: { op: Alu.Or }, xor: { op: Alu.Xor }, not: { op: Alu.Not, unary: true } });
    const out = await runProgram(prog, { a: m, b: p });
    const g = new Builder();
    const a = g.input('a', [n], DType.Bool);
    const b = g.input('b', [n], DType.Bool);
    const want = oracle({ and: g.and(a, b), or: g.or(a, b), xor: g.xor(a, b), not: g.not(a) }, { a: m, b: p });
    expect(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v]]))).toEqual(want);

    const select = elementwise('select', [buf('c', DType.Bool, n), buf('x', DType.F32, n), buf('y', DType.F32, n)], buf('out', DType.F32, n), (k, [c, x, y]) => k.alu(Alu.Select, c!, x!, y!));
    const selectProg = program([
      { name: 'c', dtype: DType.Bool, shape: [n], role: 'input' },
      { name: 'x', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 'y', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 'out', dtype: DType.F32, shape: [n], role: 'output' },
    ], [{ kernel: select, bindings: ['c', 'x', 'y', 'out'] }]);
    expect([...(await runProgram(selectProg, { c: m, x: [1, 2, 3, 4], y: [-1, -2, -3, -4] })).out!]).toEqual([-1, -2, 3, 4]);
  });

  it('casts: float→int truncates and saturates (NaN → 0), int→bool is ≠ 0, bool→number is 0/1, i32↔u32 wraps', async () => {
    const floats = [2.5, -2.5, -0.5, 0.99, 3e9, -3e9, 1e10, -1e10, 2147483520, 4294967040, -0, 0];
    const nan = 0x7fc00000;
    const n = floats.length + 1;
    const casts: [string, DType, DType][] = [
      ['f2i', DType.F32, DType.I32], ['f2u', DType.F32, DType.U32], ['f2b', DType.F32, DType.Bool],
      ['i2u', DType.I32, DType.U32], ['u2i', DType.U32, DType.I32], ['i2f', DType.I32, DType.F32], ['i2b', DType.I32, DType.Bool],
      ['b2f', DType.Bool, DType.F32], ['b2i', DType.Bool, DType.I32],
    ];
    // Every cast reads the same u32 bit patterns, bitcast or cast to its source dtype first.
    const bits = [...new Uint32Array(Float32Array.from(floats).buffer), nan];
    const sources: Record<string, (k: KernelIr, word: ValueId) => ValueId> = {
      [DType.F32]: (k, w) => k.bitcast(DType.F32, w),
      [DType.I32]: (k, w) => k.cast(DType.I32, k.bitcast(DType.F32, w)),
      [DType.U32]: (k, w) => k.cast(DType.U32, k.bitcast(DType.F32, w)),
      [DType.Bool]: (k, w) => k.alu(Alu.CmpLt, k.bitcast(DType.F32, w), k.const(DType.F32, 0)),
    };
    const prog = program([
      { name: 'w', dtype: DType.U32, shape: [n], role: 'input' },
      ...casts.map(([name, , to]): BufferSpec => ({ name, dtype: to, shape: [n], role: 'output' })),
    ], casts.map(([name, from, to]) => ({
      kernel: elementwise(name, [buf('w', DType.U32, n)], buf(name, to, n), (k, [w]) => k.cast(to, sources[from]!(k, w!))),
      bindings: ['w', name],
    })));
    const out = await runProgram(prog, { w: bits });
    const asFloat = [...Float32Array.from(floats), NaN];
    const sourceValue = (from: DType, x: number): number => {
      if (from === DType.F32) return x;
      if (from === DType.Bool) return x < 0 ? 1 : 0;
      return normalizer(from, 'f32')!(castValue(x, DType.F32, from));
    };
    for (const [name, from, to] of casts) {
      const want = asFloat.map((x) => {
        // The interpreter casts, then normalises to the dtype (f32 rounding, -0 → 0 for ints).
        return normalizer(to, 'f32')!(castValue(sourceValue(from, x), from, to));
      });
      // The last word is NaN: f32 sources see it (f2i, f2u → 0; f2b → true); the others first cast it to 0.
      expect({ name, got: [...out[name]!] }).toEqual({ name, got: want });
    }
  });

  it('bitcasts reinterpret bits: f32 → u32 → i32 → f32', async () => {
    const floats = [1, -2.5, 3.4028234663852886e38, 1.401298464324817e-45, -0];
    const n = floats.length;
    const kernel = elementwise('bits', [buf('x', DType.F32, n)], buf('u', DType.U32, n), (k, [x]) => k.bitcast(DType.U32, x!));
    const back = elementwise('back', [buf('u', DType.U32, n)], buf('y', DType.F32, n), (k, [u]) => k.bitcast(DType.F32, k.bitcast(DType.I32, u!)));
    const prog = program([
      { name: 'x', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 'u', dtype: DType.U32, shape: [n], role: 'output' },
      { name: 'y', dtype: DType.F32, shape: [n], role: 'output' },
    ], [{ kernel, bindings: ['x', 'u'] }, { kernel: back, bindings: ['u', 'y'] }]);
    const out = await runProgram(prog, { x: floats });
    expect([...out.u!]).toEqual([...new Uint32Array(Float32Array.from(floats).buffer)]);
    expect([...out.y!]).toEqual(floats);
  });

  it('float ops match the interpreter within f32 accuracy', async () => {
    const n = 64;
    const a = Float64Array.from({ length: n }, (_, i) => Math.fround(0.05 + i * 0.37));
    const b = Float64Array.from({ length: n }, (_, i) => Math.fround(-3 + i * 0.11));
    const ops = {
      add: { op: Alu.Add }, sub: { op: Alu.Sub }, mul: { op: Alu.Mul }, div: { op: Alu.Div }, mod: { op: Alu.Mod }, max: { op: Alu.Max }, min: { op: Alu.Min },
      neg: { op: Alu.Neg, unary: true }, recip: { op: Alu.Recip, unary: true }, sqrt: { op: Alu.Sqrt, unary: true }, exp2: { op: Alu.Exp2, unary: true },
      log2: { op: Alu.Log2, unary: true }, sin: { op: Alu.Sin, unary: true }, trunc: { op: Alu.Trunc, unary: true }, erf: { op: Alu.Erf, unary: true },
    };
    const out = await runProgram(opsProgram(DType.F32, n, ops), { a, b });
    const reference: Record<keyof typeof ops, (x: number, y: number) => number> = {
      add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y, mod: (x, y) => x % y, max: Math.max, min: Math.min,
      neg: (x) => -x, recip: (x) => 1 / x, sqrt: Math.sqrt, exp2: (x) => 2 ** x, log2: Math.log2, sin: Math.sin, trunc: Math.trunc, erf,
    };
    for (const [name, f] of Object.entries(reference)) {
      const bad = [...out[name]!].flatMap((v, i) => {
        const want = f(a[i]!, b[i]!);
        return Math.abs(v - want) <= 2e-6 * Math.max(1, Math.abs(want)) ? [] : [`${name}(${a[i]}, ${b[i]}) = ${v}, expected ${want}`];
      });
      expect(bad).toEqual([]);
    }
  });

  it.runIf(device.features.has('shader-f16'))('f16 buffers round-trip and add in half precision', async () => {
    const n = 5;
    const prog = opsProgram(DType.F16, n, { sum: { op: Alu.Add } });
    const a = [0.1, 1000, -2.5, 65504, 3 * 2 ** -24];
    const b = [0.2, 0.3, 2.5, -65504, 2 ** -24];
    const out = await runProgram(prog, { a, b });
    const g = new Builder();
    expect([...out.sum!]).toEqual(oracle({ sum: g.add(g.input('a', [n], DType.F16), g.input('b', [n], DType.F16)) }, { a, b }).sum);
  });
});

describe('device setup and debug output', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('the no-adapter error names the Vulkan driver to install and the cpu fallback', () => {
    const message = noAdapterMessage('linux');
    expect(message).toContain('no WebGPU adapter');
    expect(message).toContain('apt-get install -t bookworm-backports mesa-vulkan-drivers');
    expect(message).toContain('--device cpu');
    expect(noAdapterMessage('darwin')).toContain('--device cpu');
  });

  it('requests the adapter maximum limits and f16 when offered', () => {
    expect(device.gpu.limits.maxStorageBuffersPerShaderStage).toBe(device.adapter.limits.maxStorageBuffersPerShaderStage);
    expect(device.gpu.limits.maxBufferSize).toBe(device.adapter.limits.maxBufferSize);
    expect(device.features.has('shader-f16')).toBe(device.adapter.features.has('shader-f16'));
  });

  it('KILN_DEBUG 1 lists kernels at load; 2 prints run timings per kernel', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      lines.push(args.join(' '));
    });
    const prog = opsProgram(DType.I32, 4, { sum: { op: Alu.Add } });
    await Executor.create(device, prog, { debug: 1 });
    expect(lines.join('\n')).toMatch(/sum {2}grid 1x1x1 {2}workgroup 64 {2}bindings \[a:read, b:read, sum:read_write\]/);
    lines.length = 0;
    const timed = await Executor.create(device, prog, { debug: 2 });
    await timed.run({ a: 1, b: 2 });
    expect(lines.join('\n')).toMatch(/kiln: run [\d.]+ ms \(1 steps\)\n {2}sum {2}[\d.]+ ms/);
  });

  it('a shader with a warning is rejected with numbered source lines', async () => {
    const prog = opsProgram(DType.I32, 4, { sum: { op: Alu.Add } });
    const kernel = prog.kernels[0]!;
    // An unreachable statement after return is a Tint warning.
    const source = kernel.source.replace(/\n}\n$/, '\n  return;\n  let unreachable = 1;\n}\n');
    const broken: Program = { ...prog, kernels: [{ ...kernel, source }] };
    await expect(Executor.create(device, broken)).rejects.toThrow(/warning at \d+:\d+: code is unreachable[\s\S]*> +\d+ \|   let unreachable = 1;/);
  });
});
