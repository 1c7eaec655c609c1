// Kernel IR · the simulator: runs one kernel on the CPU, thread by thread, with
// the semantics both printers give it (f32 arithmetic rounded per operation,
// f16/bf16 computed in f32 and rounded back, i32/u32 wrapping, integer division
// by zero = 0), workgroup memory and barriers, subgroup reductions and the
// warp's tensor-core product `mma` (PTX's m16n8k16 fragment layouts). It is the
// oracle for lowering code no machine here can run (CUDA tensor-core kernels):
// the reference interpreter says what a graph means, the simulator what the
// generated kernel computes. Every load and store is bounds-checked, and a
// barrier or collective reached by only part of its group is an error (on a
// GPU that is a hang or undefined behaviour).
//
// Threads run until they reach a collective (barrier, subgroupReduce,
// subgroupShuffleXor, mma);
// the collective completes when every thread of its group waits at it.

import { DType } from '../ir/dtype.ts';
import { bf16Round, castValue, erf, f16Round } from '../../runtime/cpu/numeric.ts';
import { bitcast } from '../../runtime/cpu/ops.ts';
import { Alu, MMA_FRAGMENTS, MMA_WARP, type Instr, type Kernel } from './ir.ts';
import { formatInstr } from './print.ts';

export class KernelSimulationError extends Error {
  override readonly name = 'KernelSimulationError';
}

export interface SimulateOptions {
  /** Lanes per subgroup: 32 on CUDA (a warp), 8 on lavapipe. Kernels using mma need 32. */
  readonly subgroupSize: number;
}

/** Rounds a raw result into `dtype`'s value set (the printers' per-operation rounding). */
function round(dtype: DType, x: number): number {
  switch (dtype) {
    case DType.F32: return Math.fround(x);
    case DType.F16: return f16Round(Math.fround(x));
    case DType.BF16: return bf16Round(x);
    case DType.I32: return x | 0;
    case DType.U32: return x >>> 0;
    case DType.Bool: return x !== 0 ? 1 : 0;
    default: return dtype satisfies never;
  }
}

function alu(op: Alu, dtype: DType, operand: DType, a: number, b: number, c: number): number {
  const int = operand === DType.I32 || operand === DType.U32;
  switch (op) {
    case Alu.Add: return round(dtype, a + b);
    case Alu.Sub: return round(dtype, a - b);
    case Alu.Mul: return int ? round(dtype, Math.imul(a, b)) : round(dtype, a * b);
    case Alu.Div: return int ? (b === 0 ? 0 : round(dtype, Math.trunc(a / b))) : round(dtype, a / b);
    case Alu.Mod: return int ? (b === 0 ? 0 : round(dtype, a % b)) : round(dtype, a % b);
    case Alu.Max: return round(dtype, Math.max(a, b));
    case Alu.Min: return round(dtype, Math.min(a, b));
    case Alu.CmpLt: return a < b ? 1 : 0;
    case Alu.CmpNe: return a !== b ? 1 : 0;
    case Alu.CmpEq: return a === b ? 1 : 0;
    case Alu.And: return operand === DType.Bool ? (a && b ? 1 : 0) : round(dtype, a & b);
    case Alu.Or: return operand === DType.Bool ? (a || b ? 1 : 0) : round(dtype, a | b);
    case Alu.Xor: return operand === DType.Bool ? (a !== b ? 1 : 0) : round(dtype, a ^ b);
    case Alu.Shl: return round(dtype, a << (b & 31));
    case Alu.Shr: return operand === DType.U32 ? a >>> (b & 31) : round(dtype, a >> (b & 31));
    case Alu.Neg: return round(dtype, -a);
    case Alu.Not: return operand === DType.Bool ? (a ? 0 : 1) : round(dtype, ~a);
    case Alu.Recip: return round(dtype, 1 / a);
    case Alu.Sqrt: return round(dtype, Math.sqrt(a));
    case Alu.Exp2: return round(dtype, 2 ** a);
    case Alu.Log2: return round(dtype, Math.log2(a));
    case Alu.Sin: return round(dtype, Math.sin(a));
    case Alu.Trunc: return round(dtype, Math.trunc(a));
    case Alu.Erf: return round(dtype, erf(a));
    case Alu.Select: return a ? b : c;
    default: return op satisfies never;
  }
}

/** `alu` specialised for one op and type: the common cases as direct arithmetic, the rest through `alu`. */
function aluFunction(op: Alu, dtype: DType, operand: DType): (a: number, b: number, c: number) => number {
  if (dtype === DType.F32) {
    switch (op) {
      case Alu.Add: return (a, b) => Math.fround(a + b);
      case Alu.Sub: return (a, b) => Math.fround(a - b);
      case Alu.Mul: return (a, b) => Math.fround(a * b);
      case Alu.Max: return (a, b) => Math.fround(Math.max(a, b));
      case Alu.Select: return (a, b, c) => (a ? b : c);
      default: break;
    }
  }
  if (dtype === DType.I32) {
    switch (op) {
      case Alu.Add: return (a, b) => (a + b) | 0;
      case Alu.Sub: return (a, b) => (a - b) | 0;
      case Alu.Mul: return (a, b) => Math.imul(a, b);
      case Alu.Min: return (a, b) => Math.min(a, b);
      case Alu.Max: return (a, b) => Math.max(a, b);
      case Alu.Div: return (a, b) => (b === 0 ? 0 : Math.trunc(a / b) | 0);
      case Alu.Mod: return (a, b) => (b === 0 ? 0 : (a % b) | 0);
      case Alu.Select: return (a, b, c) => (a ? b : c);
      default: break;
    }
  }
  if (op === Alu.CmpLt) return (a, b) => (a < b ? 1 : 0);
  return (a, b, c) => alu(op, dtype, operand, a, b, c);
}

interface Thread {
  readonly local: number;
  pc: number;
  readonly values: Float64Array;
  done: boolean;
}

/**
 * Runs `kernel` over all its workgroups. `buffers[i]` holds binding i's elements
 * (bool as 0/1) and is updated in place by the kernel's stores.
 */
export function simulateKernel(kernel: Kernel, buffers: readonly Float64Array[], options: SimulateOptions): void {
  const { body } = kernel;
  const fail = (message: string, at?: number): never => {
    const where = at === undefined ? '' : ` at instruction ${at} (${formatInstr(body[at]!)})`;
    throw new KernelSimulationError(`kernel ${kernel.name}${where}: ${message}`);
  };
  kernel.buffers.forEach((b, i) => {
    if (!buffers[i] || buffers[i]!.length < b.size) fail(`binding ${i} (${b.name}) needs ${b.size} elements, got ${buffers[i]?.length ?? 'none'}`);
  });
  const match = new Int32Array(body.length).fill(-1);
  const stack: number[] = [];
  let maxId = 0;
  body.forEach((instr, i) => {
    if (instr.kind === 'loop' || instr.kind === 'if') stack.push(i);
    if (instr.kind === 'endLoop' || instr.kind === 'endIf') {
      const open = stack.pop() ?? fail('unbalanced block', i);
      match[open] = i;
      match[i] = open;
    }
    if ('id' in instr) maxId = Math.max(maxId, instr.id);
  });
  const wg = kernel.workgroupSize;
  const sub = options.subgroupSize;
  const typeOf = new Map<number, DType>();
  for (const instr of body) {
    if (instr.kind === 'special' || instr.kind === 'loop') typeOf.set(instr.id, DType.I32);
    else if ('dtype' in instr && 'id' in instr) typeOf.set(instr.id, instr.dtype);
  }
  // the operand type of each alu (its first value operand; Select's is the second)
  const operandType = body.map((instr) => (instr.kind === 'alu' ? typeOf.get(instr.args[instr.op === Alu.Select ? 1 : 0]!)! : undefined));
  // one register file per thread slot, reused by every workgroup (SSA: every value is written before it is read)
  const threads: Thread[] = Array.from({ length: wg }, (_, local) => ({ local, pc: 0, values: new Float64Array(maxId + 1), done: false }));

  let group = 0;
  let shared = new Map<number, Float64Array>();
  const specialOf = (which: string): ((t: Thread) => number) => {
    switch (which) {
      case 'workgroupId': return () => group;
      case 'localId': return (t) => t.local;
      case 'globalId': return (t) => group * wg + t.local;
      case 'subgroupId': return (t) => Math.floor(t.local / sub);
      case 'subgroupLane': return (t) => t.local % sub;
      case 'subgroupSize': return () => sub;
      case 'subgroupCount': return () => Math.ceil(wg / sub);
      default: return fail(`unknown special ${which}`);
    }
  };
  // Each instruction compiled once to a closure that runs it for one thread and returns the next pc (STOP at a collective).
  const STOP = -1;
  const steps = body.map((instr, at): ((v: Float64Array, t: Thread) => number) => {
    const next = at + 1;
    switch (instr.kind) {
      case 'const': { const { id, value } = instr; return (v) => { v[id] = value; return next; }; }
      case 'special': { const { id } = instr; const f = specialOf(instr.which); return (v, t) => { v[id] = f(t); return next; }; }
      case 'alu': {
        const { id, args: [x, y, z] } = instr;
        const f = aluFunction(instr.op, instr.dtype, operandType[at]!);
        return (v) => { v[id] = f(v[x!]!, y === undefined ? 0 : v[y]!, z === undefined ? 0 : v[z]!); return next; };
      }
      case 'cast': { const { id, arg, from, dtype } = instr; return (v) => { v[id] = round(dtype, castValue(v[arg]!, from, dtype)); return next; }; }
      case 'bitcast': { const { id, arg, from, dtype } = instr; return (v) => { v[id] = bitcast(Float64Array.of(v[arg]!), from, dtype)[0]!; return next; }; }
      case 'load': {
        const { id, index } = instr;
        const data = buffers[instr.buffer]!;
        const size = kernel.buffers[instr.buffer]!.size;
        return (v, t) => {
          const i = v[index]!;
          if (!(i >= 0 && i < size)) fail(`thread ${group * wg + t.local} loads b${instr.buffer}[${i}], outside 0‥${size - 1}`, at);
          v[id] = data[i]!;
          return next;
        };
      }
      case 'store': {
        const { index, value } = instr;
        const data = buffers[instr.buffer]!;
        const target = kernel.buffers[instr.buffer]!;
        const dtype = target.storage ?? target.dtype;
        return (v, t) => {
          const i = v[index]!;
          if (!(i >= 0 && i < target.size)) fail(`thread ${group * wg + t.local} stores b${instr.buffer}[${i}], outside 0‥${target.size - 1}`, at);
          data[i] = round(dtype, v[value]!);
          return next;
        };
      }
      case 'var': { const { id, init } = instr; return (v) => { v[id] = v[init]!; return next; }; }
      case 'assign': { const { target, value } = instr; return (v) => { v[target] = v[value]!; return next; }; }
      case 'loop': {
        const { id, start, end } = instr;
        const exit = match[at]! + 1;
        return (v) => { v[id] = v[start]!; return v[id]! < v[end]! ? next : exit; };
      }
      case 'endLoop': {
        const { id, step, end } = body[match[at]!] as Extract<Instr, { kind: 'loop' }>;
        const again = match[at]! + 1;
        return (v) => { v[id] = v[id]! + v[step]!; return v[id]! < v[end]! ? again : next; };
      }
      case 'if': { const { cond } = instr; const skip = match[at]! + 1; return (v) => (v[cond] ? next : skip); }
      case 'endIf': return () => next;
      case 'shared': { const { id, size } = instr; return () => { if (!shared.has(id)) shared.set(id, new Float64Array(size)); return next; }; }
      case 'sharedLoad':
      case 'sharedStore': {
        const where = (v: Float64Array, t: Thread): [Float64Array, number] => {
          const array = shared.get(instr.shared)!;
          const i = v[instr.index]!;
          if (!(i >= 0 && i < array.length)) fail(`thread ${t.local} indexes shared array ${instr.shared} at ${i}, outside 0‥${array.length - 1}`, at);
          return [array, i];
        };
        if (instr.kind === 'sharedLoad') { const { id } = instr; return (v, t) => { const [a, i] = where(v, t); v[id] = a[i]!; return next; }; }
        const { value } = instr;
        return (v, t) => { const [a, i] = where(v, t); a[i] = v[value]!; return next; };
      }
      case 'barrier':
      case 'subgroupReduce':
      case 'subgroupShuffleXor':
      case 'mma':
        return () => STOP;
      default: return instr satisfies never;
    }
  });

  for (group = 0; group < kernel.workgroups; group++) {
    shared = new Map<number, Float64Array>();
    for (const t of threads) {
      t.pc = 0;
      t.done = false;
    }
    // Runs one thread until it finishes or stops at a collective (pc left on it).
    const run = (t: Thread): void => {
      const v = t.values;
      let pc = t.pc;
      while (pc < steps.length) {
        const next = steps[pc]!(v, t);
        if (next === STOP) {
          t.pc = pc;
          return;
        }
        pc = next;
      }
      t.pc = pc;
      t.done = true;
    };

    const collective = (members: Thread[], at: number): void => {
      const instr = body[at]!;
      if (instr.kind === 'subgroupReduce') {
        const values = members.map((t) => t.values[instr.value]!);
        const result = instr.op === Alu.Add ? values.reduce((x, y) => round(instr.dtype, x + y)) : Math.max(...values);
        for (const t of members) t.values[instr.id] = result;
      } else if (instr.kind === 'subgroupShuffleXor') {
        const values = members.map((t) => t.values[instr.value]!);
        members.forEach((t, lane) => {
          const from = lane ^ instr.mask;
          if (from >= members.length) fail(`shuffleXor reads lane ${from}, the subgroup has ${members.length}`, at);
          t.values[instr.id] = values[from]!;
        });
      } else if (instr.kind === 'mma') {
        if (members.length !== MMA_WARP) fail(`mma needs a whole warp of ${MMA_WARP} lanes, this group has ${members.length}`, at);
        const operand = (x: number) => (instr.operand === DType.BF16 ? bf16Round(x) : f16Round(Math.fround(x)));
        const A = new Float64Array(16 * 16);
        const B = new Float64Array(16 * 8);
        const C = new Float64Array(16 * 8);
        members.forEach((t, lane) => {
          instr.a.forEach((id, i) => { const [r, c] = MMA_FRAGMENTS.a(lane, i); A[r * 16 + c] = operand(t.values[id]!); });
          instr.b.forEach((id, i) => { const [k, c] = MMA_FRAGMENTS.b(lane, i); B[k * 8 + c] = operand(t.values[id]!); });
          instr.acc.forEach((id, i) => { const [r, c] = MMA_FRAGMENTS.c(lane, i); C[r * 8 + c] = t.values[id]!; });
        });
        members.forEach((t, lane) => {
          instr.acc.forEach((id, i) => {
            const [r, c] = MMA_FRAGMENTS.c(lane, i);
            let sum = C[r * 8 + c]!;
            for (let k = 0; k < 16; k++) sum += A[r * 16 + k]! * B[k * 8 + c]!;
            t.values[id] = Math.fround(sum);
          });
        });
      }
      for (const t of members) t.pc = at + 1;
    };

    for (;;) {
      for (const t of threads) if (!t.done) run(t);
      const waiting = threads.filter((t) => !t.done);
      if (waiting.length === 0) break;
      const barrier = waiting.filter((t) => body[t.pc]!.kind === 'barrier');
      let progressed = false;
      for (let s = 0; s * sub < wg; s++) {
        const lanes = threads.slice(s * sub, (s + 1) * sub);
        const at = lanes[0]!.pc;
        if (lanes.some((t) => t.done || body[t.pc]!.kind === 'barrier')) continue;
        if (lanes.some((t) => t.pc !== at)) continue;
        collective(lanes, at);
        progressed = true;
      }
      if (progressed) continue;
      if (barrier.length === wg && barrier.every((t) => t.pc === barrier[0]!.pc)) {
        for (const t of threads) t.pc++;
        continue;
      }
      const where = waiting[0]!;
      fail(`workgroup ${group}: threads wait at different collectives or some have exited (thread ${where.local} waits here) — barriers and subgroup ops need uniform control flow`, where.pc);
    }
  }
}
