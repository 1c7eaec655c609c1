// WGSL printer: hand-built Kernel IR printed to WGSL must compile in Dawn with no
// errors and no warnings (every Alu op on every legal dtype, casts, bitcasts,
// bool buffers, loops, ifs, locals, shared memory), literals must round-trip
// exactly, folded grids must map workgroups to the right linear id, and the erf
// helper must match the interpreter's erf.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelPrintError } from '../../compiler/codegen/c-walker.ts';
import { F16_FORMAT, F32_FORMAT, roundToFormat, shortestDecimal } from '../../compiler/codegen/literal.ts';
import { printWgsl } from '../../compiler/codegen/wgsl.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Alu, foldGrid, type Kernel, type ValueId } from '../../compiler/kernel/ir.ts';
import { erf } from '../../runtime/cpu/numeric.ts';
import { Executor } from '../../runtime/executor.ts';
import { formatWgslMessages, validateWgsl, webgpuDevice } from '../../runtime/webgpu/device.ts';
import { KernelIr, buf, elementwise, opKernel, program } from '../support/kernel-ir.ts';

const device = await webgpuDevice();
const HAS_F16 = device.features.has('shader-f16');
const FLOATS = HAS_F16 ? [DType.F32, DType.F16] : [DType.F32];
const NUMBERS = [...FLOATS, DType.I32, DType.U32];
const SCALARS = [...NUMBERS, DType.Bool];

/** The dtypes each op is defined on (Graph IR rules; Sub, Min and CmpEq follow their Graph IR siblings). */
const LEGAL: Record<Alu, readonly DType[]> = {
  [Alu.Add]: NUMBERS, [Alu.Sub]: NUMBERS, [Alu.Mul]: NUMBERS, [Alu.Div]: NUMBERS, [Alu.Mod]: NUMBERS,
  [Alu.Max]: NUMBERS, [Alu.Min]: NUMBERS, [Alu.CmpLt]: NUMBERS,
  [Alu.CmpNe]: SCALARS, [Alu.CmpEq]: SCALARS,
  [Alu.And]: [DType.I32, DType.U32, DType.Bool], [Alu.Or]: [DType.I32, DType.U32, DType.Bool], [Alu.Xor]: [DType.I32, DType.U32, DType.Bool],
  [Alu.Shl]: [DType.I32, DType.U32], [Alu.Shr]: [DType.I32, DType.U32],
  [Alu.Neg]: [...FLOATS, DType.I32], [Alu.Not]: [DType.I32, DType.U32, DType.Bool],
  [Alu.Recip]: FLOATS, [Alu.Sqrt]: FLOATS, [Alu.Exp2]: FLOATS, [Alu.Log2]: FLOATS, [Alu.Sin]: FLOATS, [Alu.Trunc]: FLOATS, [Alu.Erf]: FLOATS,
  [Alu.Select]: SCALARS,
};



async function expectValid(source: string): Promise<void> {
  const messages = await validateWgsl(source);
  // On failure this shows each message with the numbered source lines around it.
  expect(formatWgslMessages(source, messages)).toBe('');
}

function print(kernel: Kernel): string {
  return printWgsl(kernel, { grid: foldGrid(kernel.workgroups) });
}

describe('every Alu op on every legal dtype compiles with zero messages', () => {
  const cases = Object.values(Alu).flatMap((op) => LEGAL[op].map((dtype) => [op, dtype] as const));
  it.each(cases)('%s on %s', async (op, dtype) => {
    await expectValid(print(opKernel(op, dtype)));
  });
});

describe('conversions', () => {
  const pairs = SCALARS.flatMap((from) => SCALARS.map((to) => [from, to] as const));
  it.each(pairs)('cast %s → %s compiles', async (from, to) => {
    await expectValid(print(elementwise(`cast_${from}_${to}`, [buf('x', from, 4)], buf('out', to, 4), (k, [x]) => k.cast(to, x!))));
  });

  const words = [DType.F32, DType.I32, DType.U32];
  const bitcasts = words.flatMap((from) => words.map((to) => [from, to] as const));
  it.each(bitcasts)('bitcast %s → %s compiles', async (from, to) => {
    await expectValid(print(elementwise(`bitcast_${from}_${to}`, [buf('x', from, 4)], buf('out', to, 4), (k, [x]) => k.bitcast(to, x!))));
  });

  it('bf16 is rejected with an error naming the buffer and suggesting f32', () => {
    const kernel = elementwise('bf16_copy', [buf('weights', DType.BF16, 4)], buf('out', DType.F32, 4), (k, [x]) => k.cast(DType.F32, x!));
    expect(() => print(kernel)).toThrow(/buffer 0 \(weights\): bf16 is not supported on WebGPU; cast to f32/);
  });

  it('f16 kernels enable the extension, f32 kernels do not', () => {
    expect(print(opKernel(Alu.Add, DType.F32))).not.toContain('enable f16;');
    if (HAS_F16) expect(print(opKernel(Alu.Add, DType.F16))).toContain('enable f16;');
  });
});

describe('control flow, locals and shared memory', () => {
  it('a loop accumulating into a local inside an if compiles', async () => {
    const k = new KernelIr();
    const row = k.special('globalId');
    k.when(k.alu(Alu.CmpLt, row, k.i32(4)), () => {
      const acc = k.local(k.const(DType.F32, 0));
      k.loop(k.i32(0), k.i32(16), k.i32(1), (j) => {
        const x = k.load(DType.F32, 0, k.alu(Alu.Add, k.alu(Alu.Mul, row, k.i32(16)), j));
        k.assign(acc, k.alu(Alu.Add, acc, x));
      });
      k.store(1, row, acc);
    });
    const source = print(k.kernel('row_sum', [buf('x', DType.F32, 64), buf('out', DType.F32, 4, 'read_write')], 1, 4));
    expect(source).toMatch(/for \(var v\d+: i32 = v\d+; v\d+ < v\d+; v\d+ = v\d+ \+ v\d+\) \{/);
    expect(source).toMatch(/var v\d+: f32 = v\d+;/);
    await expectValid(source);
  });

  it('shared memory with barriers compiles, declared at module scope', async () => {
    const k = new KernelIr();
    const tile = k.shared(DType.F32, 64);
    const flags = k.shared(DType.Bool, 64);
    const lid = k.special('localId');
    k.sharedStore(tile, lid, k.load(DType.F32, 0, lid));
    k.sharedStore(flags, lid, k.alu(Alu.CmpLt, lid, k.i32(32)));
    k.barrier();
    const mirrored = k.alu(Alu.Sub, k.i32(63), lid);
    const value = k.alu(Alu.Select, k.sharedLoad(flags, mirrored), k.sharedLoad(tile, mirrored), k.const(DType.F32, 0));
    k.store(1, lid, value);
    const kernel = k.kernel('reverse', [buf('x', DType.F32, 64), buf('out', DType.F32, 64, 'read_write')], 1, 64);
    const source = print(kernel);
    expect(source).toMatch(/^var<workgroup> s\d+: array<f32, 64>;$/m);
    expect(source).toContain('workgroupBarrier();');
    await expectValid(source);
    // With a folded grid, surplus workgroups return early; workgroup_id is uniform, so the barrier stays valid.
    const folded = printWgsl({ ...kernel, workgroups: 10 }, { grid: foldGrid(10, 4) });
    expect(folded).toContain('if (kiln_wg >= 10u) {');
    await expectValid(folded);
  });

  it('bool buffers are u32 words: loads compare with 0u, stores select 0u/1u', async () => {
    const source = print(elementwise('flip', [buf('m', DType.Bool, 4)], buf('out', DType.Bool, 4), (k, [m]) => k.alu(Alu.Not, m!)));
    expect(source).toContain('array<u32>');
    expect(source).toMatch(/b0\[v\d+\] != 0u/);
    expect(source).toMatch(/select\(0u, 1u, v\d+\)/);
    await expectValid(source);
  });

  it('malformed IR is reported with the kernel and the instruction', () => {
    const k = new KernelIr();
    let inner = 0 as ValueId;
    k.loop(k.i32(0), k.i32(4), k.i32(1), (i) => {
      inner = k.alu(Alu.Add, i, i);
    });
    k.store(0, k.i32(0), inner);
    const kernel = k.kernel('leaky', [buf('out', DType.I32, 1, 'read_write')], 1);
    expect(() => print(kernel)).toThrow(KernelPrintError);
    expect(() => print(kernel)).toThrow(/kernel leaky at instruction \d+ \(store b0\[v\d+\] = v\d+\): v\d+ is not defined here/);
    const readOnly = elementwise('ro', [], buf('out', DType.F32, 1), (kk) => kk.const(DType.F32, 1));
    expect(() => print({ ...readOnly, buffers: [buf('out', DType.F32, 1, 'read')] })).toThrow(/is read-only/);
  });
});

describe('literals', () => {
  it('f32 literals are the shortest decimal that reads back as the same value', () => {
    fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
      const s = shortestDecimal(x, F32_FORMAT);
      expect(Math.fround(Number(s))).toBe(x);
      const significant = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      // Nine digits identify any f32; the largest values need a tenth to stay within range.
      expect(significant.length).toBeLessThanOrEqual(Math.abs(x) > 3.4e38 ? 10 : 9);
    }), { numRuns: 2000 });
    expect(shortestDecimal(Math.fround(0.1), F32_FORMAT)).toBe('0.1');
    expect(shortestDecimal(Math.fround(1 / 3), F32_FORMAT)).toBe('0.33333334');
  });

  it('f16 rounding and printing agree with half precision', () => {
    expect(roundToFormat(65504, F16_FORMAT)).toBe(65504);
    expect(roundToFormat(65520, F16_FORMAT)).toBe(Infinity);
    expect(roundToFormat(1 + 2 ** -11, F16_FORMAT)).toBe(1);
    expect(roundToFormat(2 ** -24, F16_FORMAT)).toBe(2 ** -24);
    expect(shortestDecimal(roundToFormat(0.1, F16_FORMAT), F16_FORMAT)).toBe('0.1');
  });

  it.runIf(HAS_F16)('f16 constants reach the device exactly, including -0 and the largest half', async () => {
    const values = [0.1, -0, 65504, 65500, 2 ** -24, 3 * 2 ** -24, -1.5, 1 / 3, 2049];
    const k = new KernelIr();
    values.forEach((v, i) => k.store(0, k.i32(i), k.const(DType.F16, v)));
    const kernel = k.kernel('halves', [buf('h', DType.F16, values.length, 'read_write')], 1);
    const prog = program([{ name: 'h', dtype: DType.F16, shape: [values.length], role: 'output' }], [{ kernel, bindings: ['h'] }]);
    const out = await (await Executor.create(device, prog)).run({});
    expect([...out.h!.data]).toEqual(values.map((v) => roundToFormat(v, F16_FORMAT)));
  });

  it('random f32 constants (normal, subnormal, huge) reach the device bit-exactly', async () => {
    const values = fc.sample(fc.float({ noNaN: true, noDefaultInfinity: true }), { numRuns: 300, seed: 7 });
    const k = new KernelIr();
    values.forEach((v, i) => k.store(0, k.i32(i), k.bitcast(DType.U32, k.const(DType.F32, v))));
    const kernel = k.kernel('random_constants', [buf('bits', DType.U32, values.length, 'read_write')], 1);
    const prog = program([{ name: 'bits', dtype: DType.U32, shape: [values.length], role: 'output' }], [{ kernel, bindings: ['bits'] }]);
    const out = await (await Executor.create(device, prog)).run({});
    expect([...out.bits!.data]).toEqual([...new Uint32Array(Float32Array.from(values).buffer)]);
  });

  it('constants reach the device bit-exactly, including i32 min, u32 max and -0', async () => {
    const f32Values = [0.1, 1 / 3, -0, 3.4028234663852886e38, 1.401298464324817e-45, 1.1754942106924411e-38, 16777217, -2.5e-7, 123456.789];
    const i32Values = [-2147483648, 2147483647, -1, 0];
    const u32Values = [4294967295, 2147483648, 0];
    const k = new KernelIr();
    const store = (buffer: number, values: readonly number[], dtype: DType): void => {
      values.forEach((v, i) => k.store(buffer, k.i32(i), dtype === DType.F32 ? k.bitcast(DType.U32, k.const(dtype, v)) : k.const(dtype, v)));
    };
    store(0, f32Values, DType.F32);
    store(1, i32Values, DType.I32);
    store(2, u32Values, DType.U32);
    const kernel = k.kernel('constants', [
      buf('f', DType.U32, f32Values.length, 'read_write'), buf('i', DType.I32, i32Values.length, 'read_write'), buf('u', DType.U32, u32Values.length, 'read_write'),
    ], 1);
    expect(print(kernel)).toContain('i32(-2147483647 - 1)');
    const prog = program([
      { name: 'f', dtype: DType.U32, shape: [f32Values.length], role: 'output' },
      { name: 'i', dtype: DType.I32, shape: [i32Values.length], role: 'output' },
      { name: 'u', dtype: DType.U32, shape: [u32Values.length], role: 'output' },
    ], [{ kernel, bindings: ['f', 'i', 'u'] }]);
    const out = await (await Executor.create(device, prog)).run({});
    const bits = new Uint32Array(Float32Array.from(f32Values).buffer);
    expect([...out.f!.data]).toEqual([...bits]);
    expect([...out.i!.data]).toEqual(i32Values);
    expect([...out.u!.data]).toEqual(u32Values);
  });
});

describe('folded grids', () => {
  /** out[workgroupId] = workgroupId, one thread per workgroup. */
  function idKernel(workgroups: number): Kernel {
    const k = new KernelIr();
    const wg = k.special('workgroupId');
    k.store(0, wg, wg);
    return k.kernel('ids', [buf('out', DType.I32, workgroups, 'read_write')], workgroups);
  }

  async function runIds(workgroups: number, maxGridDim?: number): Promise<Float64Array> {
    const prog = program([{ name: 'out', dtype: DType.I32, shape: [workgroups], role: 'output' }], [{ kernel: idKernel(workgroups), bindings: ['out'], maxGridDim }]);
    return (await (await Executor.create(device, prog)).run({})).out!.data;
  }

  it('a 2D and a 3D fold with a tiny per-dimension limit give every workgroup its linear id once', async () => {
    expect(foldGrid(10, 4)).toEqual([4, 3, 1]);
    expect(foldGrid(40, 4)).toEqual([4, 4, 3]);
    expect([...(await runIds(10, 4))]).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect([...(await runIds(40, 4))]).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('70000 workgroups (more than one dimension allows) each write their id', async () => {
    const out = await runIds(70000);
    expect(out.every((v, i) => v === i)).toBe(true);
  });

  it('rejects a grid smaller than the workgroup count', () => {
    expect(() => printWgsl(idKernel(10), { grid: [3, 3, 1] })).toThrow(/has 9 workgroups, the kernel needs 10/);
  });
});

describe('erf helper', () => {
  it('matches runtime/cpu/numeric.ts erf within 3e-7 on [-6, 6]', async () => {
    const xs = Float32Array.from({ length: 24001 }, (_, i) => -6 + i * 0.0005);
    const n = xs.length;
    const kernel = elementwise('erf', [buf('x', DType.F32, n)], buf('out', DType.F32, n), (k, [x]) => k.alu(Alu.Erf, x!));
    const prog = program([
      { name: 'x', dtype: DType.F32, shape: [n], role: 'input' },
      { name: 'out', dtype: DType.F32, shape: [n], role: 'output' },
    ], [{ kernel, bindings: ['x', 'out'] }]);
    const out = (await (await Executor.create(device, prog)).run({ x: xs })).out!.data;
    let worst = 0;
    let at = 0;
    xs.forEach((x, i) => {
      const error = Math.abs(out[i]! - erf(x));
      if (error > worst) [worst, at] = [error, x];
    });
    expect(worst, `max error ${worst} at x = ${at}`).toBeLessThan(3e-7);
  });
});
