// Kernel IR · the verifier: checks a kernel before it is printed for any target —
// every value defined once and used only inside the block that defined it (or
// an enclosing one), operand counts and types (i32 indices and loop bounds,
// bool conditions), loads and stores against their buffers' dtypes and access,
// balanced blocks, workgroup memory declared at the top level, subgroup
// reductions of a numeric value with add or max. Errors name the kernel, the
// instruction index and its printed form. (Uniform control flow for barriers and
// subgroup ops is lowering's invariant; Tint's uniformity analysis checks it.)

import { DType } from '../ir/dtype.ts';
import { Alu, MIN_SUBGROUP_SIZE, MMA_WARP, UNARY_ALU, type Instr, type Kernel, type ValueId } from './ir.ts';
import { formatInstr, valueName } from './print.ts';

export class KernelVerifyError extends Error {
  override readonly name = 'KernelVerifyError';
}

type Entry = { readonly dtype: DType; readonly shared: boolean };

export function verifyKernel(kernel: Kernel): void {
  const scopes: Map<ValueId, Entry>[] = [new Map()];
  const open: Instr['kind'][] = [];
  let at = 0;
  const fail = (message: string, instr?: Instr): never => {
    throw new KernelVerifyError(`kernel ${kernel.name}${instr ? ` at instruction ${at} (${formatInstr(instr)})` : ''}: ${message}`);
  };
  const lookup = (id: ValueId, instr: Instr): Entry => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const found = scopes[i]!.get(id);
      if (found) return found;
    }
    return fail(`${valueName(id)} is used outside the block that defines it, or never defined`, instr);
  };
  const value = (id: ValueId, instr: Instr, dtype?: DType): DType => {
    const entry = lookup(id, instr);
    if (entry.shared) fail(`${valueName(id)} is a shared array, not a value`, instr);
    if (dtype && entry.dtype !== dtype) fail(`${valueName(id)} is ${entry.dtype}, expected ${dtype}`, instr);
    return entry.dtype;
  };
  const define = (id: ValueId, dtype: DType, instr: Instr, shared = false) => {
    if (scopes.some((s) => s.has(id))) fail(`${valueName(id)} is defined twice`, instr);
    scopes[scopes.length - 1]!.set(id, { dtype, shared });
  };
  const buffer = (binding: number, instr: Instr) => kernel.buffers[binding] ?? fail(`binding ${binding} does not exist (${kernel.buffers.length} bound)`, instr);

  kernel.buffers.forEach((b, i) => {
    if (b.storage && b.dtype !== DType.F32) fail(`binding ${i} (${b.name}) stores ${b.dtype} values as ${b.storage}; narrowed storage is for f32 values only`);
  });
  for (const instr of kernel.body) {
    switch (instr.kind) {
      case 'const': define(instr.id, instr.dtype, instr); break;
      case 'special': define(instr.id, DType.I32, instr); break;
      case 'alu': {
        const arity = instr.op === Alu.Select ? 3 : UNARY_ALU.has(instr.op) ? 1 : 2;
        if (instr.args.length !== arity) fail(`${instr.op} takes ${arity} operand(s), got ${instr.args.length}`, instr);
        instr.args.forEach((a, i) => value(a, instr, instr.op === Alu.Select && i === 0 ? DType.Bool : undefined));
        define(instr.id, instr.dtype, instr);
        break;
      }
      case 'cast':
      case 'bitcast':
        value(instr.arg, instr, instr.from);
        define(instr.id, instr.dtype, instr);
        break;
      case 'load': {
        const b = buffer(instr.buffer, instr);
        if (b.dtype !== instr.dtype) fail(`loads ${instr.dtype} from a ${b.dtype} buffer`, instr);
        value(instr.index, instr, DType.I32);
        define(instr.id, instr.dtype, instr);
        break;
      }
      case 'store': {
        const b = buffer(instr.buffer, instr);
        if (b.access !== 'read_write') fail(`stores to read-only binding ${instr.buffer} (${b.name})`, instr);
        value(instr.index, instr, DType.I32);
        value(instr.value, instr, b.dtype);
        break;
      }
      case 'var': define(instr.id, value(instr.init, instr), instr); break;
      case 'assign': value(instr.value, instr, value(instr.target, instr)); break;
      case 'loop':
        for (const bound of [instr.start, instr.end, instr.step]) value(bound, instr, DType.I32);
        open.push('loop');
        scopes.push(new Map());
        define(instr.id, DType.I32, instr);
        break;
      case 'if':
        value(instr.cond, instr, DType.Bool);
        open.push('if');
        scopes.push(new Map());
        break;
      case 'endLoop':
      case 'endIf':
        if (open.pop() !== (instr.kind === 'endLoop' ? 'loop' : 'if')) fail(`${instr.kind} does not close the innermost block`, instr);
        scopes.pop();
        break;
      case 'shared':
        if (open.length > 0) fail('workgroup memory must be declared at the top level', instr);
        define(instr.id, instr.dtype, instr, true);
        break;
      case 'sharedLoad':
      case 'sharedStore': {
        const entry = lookup(instr.shared, instr);
        if (!entry.shared) fail(`${valueName(instr.shared)} is not a shared array`, instr);
        value(instr.index, instr, DType.I32);
        if (instr.kind === 'sharedLoad') define(instr.id, entry.dtype, instr);
        else value(instr.value, instr, entry.dtype);
        break;
      }
      case 'barrier': break;
      case 'subgroupReduce':
        if (instr.op !== Alu.Add && instr.op !== Alu.Max) fail(`subgroup reductions combine with add or max, not ${String(instr.op)}`, instr);
        if (instr.dtype === DType.Bool) fail('subgroup reductions need a numeric value, got bool', instr);
        value(instr.value, instr, instr.dtype);
        define(instr.id, instr.dtype, instr);
        break;
      case 'subgroupShuffleXor':
        if (!Number.isInteger(instr.mask) || instr.mask < 1 || instr.mask >= MIN_SUBGROUP_SIZE) fail(`shuffleXor mask ${instr.mask} must be in 1‥${MIN_SUBGROUP_SIZE - 1} (every target's subgroup holds that many lanes)`, instr);
        if (instr.dtype === DType.Bool) fail('subgroup shuffles need a numeric value, got bool', instr);
        value(instr.value, instr, instr.dtype);
        define(instr.id, instr.dtype, instr);
        break;
      case 'mma':
        if (instr.a.length !== 8 || instr.b.length !== 4 || instr.acc.length !== 4) fail(`mma.m16n8k16 takes 8 A, 4 B and 4 accumulator values per lane, got ${instr.a.length}, ${instr.b.length}, ${instr.acc.length}`, instr);
        if (kernel.workgroupSize % MMA_WARP !== 0) fail(`mma needs workgroups of whole warps (${MMA_WARP} lanes), this kernel has ${kernel.workgroupSize} threads`, instr);
        for (const x of [...instr.a, ...instr.b]) value(x, instr, DType.F32);
        for (const x of instr.acc) value(x, instr, DType.F32);
        break;
      default: instr satisfies never;
    }
    at++;
  }
  if (open.length > 0) fail(`${open.length} block(s) left open`);
}
