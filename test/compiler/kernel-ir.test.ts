// Kernel IR: the verifier rejects malformed kernels (naming the instruction),
// accepts everything lowering produces, and the text printer shows the structure.

import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Alu, type Instr, type Kernel, type ValueId } from '../../compiler/kernel/ir.ts';
import { printKernel } from '../../compiler/kernel/print.ts';
import { KernelVerifyError, verifyKernel } from '../../compiler/kernel/verify.ts';
import { softmax, spec, trace } from '../../dsl/index.ts';

const v = (n: number) => n as ValueId;
const kernel = (body: Instr[]): Kernel => ({
  name: 'k',
  workgroupSize: 64,
  workgroups: 1,
  buffers: [
    { name: 'out', dtype: DType.F32, access: 'read_write', size: 4 },
    { name: 'x', dtype: DType.F32, access: 'read', size: 4 },
  ],
  body,
});
const gid: Instr = { kind: 'special', id: v(0), which: 'globalId' };

describe('Kernel IR verifier', () => {
  it('accepts every kernel the compiler lowers (here: a row softmax)', () => {
    const { program } = compile(trace((_, { x }) => softmax(x), { x: spec([3, 7] as const) }).graph);
    for (const k of program.kernels) expect(() => verifyKernel(k.ir)).not.toThrow();
  });

  it.each<[string, Instr[], RegExp]>([
    ['a value used after the loop that defined it', [gid, { kind: 'loop', id: v(1), start: v(0), end: v(0), step: v(0) }, { kind: 'load', id: v(2), dtype: DType.F32, buffer: 1, index: v(1) }, { kind: 'endLoop' }, { kind: 'store', buffer: 0, index: v(0), value: v(2) }], /v2 is used outside the block/],
    ['a float index', [{ kind: 'const', id: v(0), dtype: DType.F32, value: 1 }, { kind: 'load', id: v(1), dtype: DType.F32, buffer: 1, index: v(0) }], /v0 is f32, expected i32/],
    ['a store to a read-only binding', [gid, { kind: 'load', id: v(1), dtype: DType.F32, buffer: 1, index: v(0) }, { kind: 'store', buffer: 1, index: v(0), value: v(1) }], /read-only binding 1/],
    ['a load of the wrong dtype', [gid, { kind: 'load', id: v(1), dtype: DType.I32, buffer: 1, index: v(0) }], /loads i32 from a f32 buffer/],
    ['an unbalanced block', [gid, { kind: 'alu', id: v(1), op: Alu.CmpLt, dtype: DType.Bool, args: [v(0), v(0)] }, { kind: 'if', cond: v(1) }], /1 block\(s\) left open/],
    ['a wrong operand count', [gid, { kind: 'alu', id: v(1), op: Alu.Add, dtype: DType.I32, args: [v(0)] }], /add takes 2 operand/],
    ['a select on a non-bool condition', [gid, { kind: 'alu', id: v(1), op: Alu.Select, dtype: DType.I32, args: [v(0), v(0), v(0)] }], /expected bool/],
    ['shared memory declared inside a block', [gid, { kind: 'alu', id: v(1), op: Alu.CmpLt, dtype: DType.Bool, args: [v(0), v(0)] }, { kind: 'if', cond: v(1) }, { kind: 'shared', id: v(2), dtype: DType.F32, size: 64 }, { kind: 'endIf' }], /top level/],
    ['a missing binding', [gid, { kind: 'load', id: v(1), dtype: DType.F32, buffer: 5, index: v(0) }], /binding 5 does not exist/],
  ])('rejects %s', (_, body, message) => {
    expect(() => verifyKernel(kernel(body))).toThrow(KernelVerifyError);
    expect(() => verifyKernel(kernel(body))).toThrow(message);
  });
});

describe('Kernel IR printer', () => {
  it('prints the cooperative structure of a row softmax: strided loops, shared memory, barriers', () => {
    const { program } = compile(trace((_, { x }) => softmax(x), { x: spec([3, 7] as const) }).graph);
    const text = printKernel(program.kernels[0]!.ir);
    expect(text).toMatch(/^kernel k0_row_mul \(3 workgroups of 64\)/);
    expect(text).toContain('b1: read f32[21] x');
    expect(text.match(/= shared/g)).toHaveLength(2);
    expect(text.match(/^\s+barrier$/gm)!.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/loop v\d+ in \[v\d+, v\d+\) step v\d+/);
  });
});
