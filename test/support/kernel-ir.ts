// Test support · hand-built Kernel IR and Programs for the printer and runtime
// tests, independent of the lowering: a tiny instruction-list builder (value
// dtypes inferred, blocks as callbacks) and a one-call Program assembler that
// prints each kernel to WGSL with its grid folded.

import { DType } from '../../compiler/ir/dtype.ts';
import { printWgsl } from '../../compiler/codegen/wgsl.ts';
import { Alu, foldGrid, type Instr, type Kernel, type KernelBuffer, type Special, type ValueId } from '../../compiler/kernel/ir.ts';
import type { BufferRole, Program, ProgramBuffer, ProgramKernel, ProgramStep } from '../../compiler/program.ts';

const COMPARE: ReadonlySet<Alu> = new Set([Alu.CmpLt, Alu.CmpNe, Alu.CmpEq]);

export class KernelIr {
  private next = 0;
  private readonly types = new Map<ValueId, DType>();
  readonly body: Instr[] = [];

  private fresh(dtype: DType): ValueId {
    const id = this.next++ as ValueId;
    this.types.set(id, dtype);
    return id;
  }

  dtype(id: ValueId): DType {
    const t = this.types.get(id);
    if (t === undefined) throw new Error(`KernelIr: v${id} has no dtype`);
    return t;
  }

  const(dtype: DType, value: number): ValueId {
    const id = this.fresh(dtype);
    this.body.push({ kind: 'const', id, dtype, value });
    return id;
  }

  i32(value: number): ValueId {
    return this.const(DType.I32, value);
  }

  special(which: Special): ValueId {
    const id = this.fresh(DType.I32);
    this.body.push({ kind: 'special', id, which });
    return id;
  }

  alu(op: Alu, ...args: ValueId[]): ValueId {
    const first = args[op === Alu.Select ? 1 : 0]!;
    const dtype = COMPARE.has(op) ? DType.Bool : this.dtype(first);
    const id = this.fresh(dtype);
    this.body.push({ kind: 'alu', id, op, dtype, args });
    return id;
  }

  cast(dtype: DType, arg: ValueId): ValueId {
    const id = this.fresh(dtype);
    this.body.push({ kind: 'cast', id, dtype, from: this.dtype(arg), arg });
    return id;
  }

  bitcast(dtype: DType, arg: ValueId): ValueId {
    const id = this.fresh(dtype);
    this.body.push({ kind: 'bitcast', id, dtype, from: this.dtype(arg), arg });
    return id;
  }

  load(dtype: DType, buffer: number, index: ValueId): ValueId {
    const id = this.fresh(dtype);
    this.body.push({ kind: 'load', id, dtype, buffer, index });
    return id;
  }

  store(buffer: number, index: ValueId, value: ValueId): void {
    this.body.push({ kind: 'store', buffer, index, value });
  }

  local(init: ValueId): ValueId {
    const dtype = this.dtype(init);
    const id = this.fresh(dtype);
    this.body.push({ kind: 'var', id, dtype, init });
    return id;
  }

  assign(target: ValueId, value: ValueId): void {
    this.body.push({ kind: 'assign', target, value });
  }

  loop(start: ValueId, end: ValueId, step: ValueId, body: (index: ValueId) => void): void {
    const id = this.fresh(DType.I32);
    this.body.push({ kind: 'loop', id, start, end, step });
    body(id);
    this.body.push({ kind: 'endLoop' });
  }

  when(cond: ValueId, body: () => void): void {
    this.body.push({ kind: 'if', cond });
    body();
    this.body.push({ kind: 'endIf' });
  }

  shared(dtype: DType, size: number): ValueId {
    const id = this.fresh(dtype);
    this.body.push({ kind: 'shared', id, dtype, size });
    return id;
  }

  sharedLoad(shared: ValueId, index: ValueId): ValueId {
    const dtype = this.dtype(shared);
    const id = this.fresh(dtype);
    this.body.push({ kind: 'sharedLoad', id, dtype, shared, index });
    return id;
  }

  sharedStore(shared: ValueId, index: ValueId, value: ValueId): void {
    this.body.push({ kind: 'sharedStore', shared, index, value });
  }

  barrier(): void {
    this.body.push({ kind: 'barrier' });
  }

  kernel(name: string, buffers: readonly KernelBuffer[], workgroups: number, workgroupSize = 1): Kernel {
    return { name, buffers, workgroupSize, workgroups, body: [...this.body] };
  }
}

export function buf(name: string, dtype: DType, size: number, access: 'read' | 'read_write' = 'read'): KernelBuffer {
  return { name, dtype, size, access };
}

/** An elementwise kernel: one thread per element, guarded by i < size; `body` maps loaded operands to the stored result. */
export function elementwise(
  name: string,
  inputs: readonly KernelBuffer[],
  output: KernelBuffer,
  body: (k: KernelIr, args: readonly ValueId[]) => ValueId,
  workgroupSize = 64,
): Kernel {
  const k = new KernelIr();
  const gid = k.special('globalId');
  const inBounds = k.alu(Alu.CmpLt, gid, k.i32(output.size));
  k.when(inBounds, () => {
    const args = inputs.map((b, i) => k.load(b.dtype, i, gid));
    k.store(inputs.length, gid, body(k, args));
  });
  return k.kernel(name, [...inputs, { ...output, access: 'read_write' }], Math.ceil(output.size / workgroupSize), workgroupSize);
}

export interface BufferSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly role: BufferRole;
}

export interface KernelSpec {
  readonly kernel: Kernel;
  /** Program buffer names, in binding order. */
  readonly bindings: readonly string[];
  /** Per-dimension grid limit used to fold the workgroup count (default 65535). */
  readonly maxGridDim?: number;
}

/** Assembles a WebGPU Program: buffer ids in declaration order, kernels printed to WGSL, steps by kernel index or copy by names. */
export function program(
  buffers: readonly BufferSpec[],
  kernels: readonly KernelSpec[],
  steps?: readonly (number | { readonly copy: string; readonly to: string })[],
): Program {
  const table: ProgramBuffer[] = buffers.map((b, id) => ({ id, name: b.name, dtype: b.dtype, shape: b.shape, size: b.shape.reduce((a, d) => a * d, 1), role: b.role }));
  const idOf = (name: string): number => {
    const found = table.find((b) => b.name === name);
    if (!found) throw new Error(`program: no buffer ${name}`);
    return found.id;
  };
  const programKernels: ProgramKernel[] = kernels.map(({ kernel, bindings, maxGridDim }) => {
    const grid = foldGrid(kernel.workgroups, maxGridDim);
    return {
      name: kernel.name,
      source: printWgsl(kernel, { grid }),
      entryPoint: 'main',
      bindings: bindings.map(idOf),
      workgroupSize: kernel.workgroupSize,
      grid,
      ir: kernel,
    };
  });
  const programSteps: ProgramStep[] = (steps ?? kernels.map((_, i) => i)).map((s) =>
    typeof s === 'number' ? { kind: 'dispatch', kernel: s } : { kind: 'copy', from: idOf(s.copy), to: idOf(s.to) });
  const byRole = (role: BufferRole): Record<string, number> => Object.fromEntries(table.filter((b) => b.role === role).map((b) => [b.name, b.id]));
  return {
    target: 'webgpu',
    buffers: table,
    kernels: programKernels,
    steps: programSteps,
    inputs: byRole('input'),
    outputs: byRole('output'),
    params: byRole('param'),
  };
}

/** How many operands an ALU op takes. */
export function arity(op: Alu): number {
  if (op === Alu.Select) return 3;
  return [Alu.Neg, Alu.Not, Alu.Recip, Alu.Sqrt, Alu.Exp2, Alu.Log2, Alu.Sin, Alu.Trunc, Alu.Erf].includes(op) ? 1 : 2;
}

/** out[i] = op(a[i], b[i], …) over 8 elements. */
export function opKernel(op: Alu, dtype: DType): Kernel {
  const operands = op === Alu.Select ? [DType.Bool, dtype, dtype] : new Array<DType>(arity(op)).fill(dtype);
  const result = COMPARE.has(op) ? DType.Bool : dtype;
  return elementwise(`${op}_${dtype}`, operands.map((d, i) => buf(`x${i}`, d, 8)), buf('out', result, 8), (k, args) => k.alu(op, ...args));
}
