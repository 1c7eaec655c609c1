// Codegen · the C-style walker both printers share. In: a Kernel (its linear
// instruction list) and a Dialect that spells types, literals, expressions and
// statements for one target language. Out: the kernel body as indented source
// lines, module-scope declarations, and what the body uses (dtypes, ops,
// specials, subgroup capability ops) so the printer can add headers (WGSL
// `enable f16;` / `enable subgroups;`) and helpers. The walker only prints:
// every value is bound once, in order, to `v{id}` (shared arrays to `s{id}`), and
// the only decisions it makes are names, nesting and scope checks.

import { DType } from '../ir/dtype.ts';
import { Alu, SUBGROUP_SPECIALS, UNARY_ALU, type Instr, type Kernel, type KernelBuffer, type MmaOperand, type Special, type SubgroupOp, type ValueId } from '../kernel/ir.ts';
import { formatInstr, sharedName, valueName } from '../kernel/print.ts';

export { formatInstr, sharedName, valueName };

/**
 * One target language. Expressions come back as strings the walker binds to a
 * name; statements come back as one line without indentation. Operands are
 * always value names (`v3`), never compound expressions, so a dialect need not
 * parenthesise them.
 */
export interface Dialect {
  /** Register type of a scalar value (the walker leaves declarations to the dialect; printers use this for signatures and helpers). */
  typeName(dtype: DType): string;
  /** A constant; `value` is a finite float64 the dialect rounds into `dtype`. */
  literal(dtype: DType, value: number): string;
  /** A linear i32 id (see Kernel IR `Special`). */
  special(which: Special): string;
  /**
   * A scalar operation on value names `args` of types `types` (in Kernel IR
   * order: Select is cond, a, b). `dtype` is the result type, bool for comparisons.
   */
  alu(op: Alu, dtype: DType, args: readonly string[], types: readonly DType[]): string;
  /** Value conversion (Graph IR cast semantics). */
  cast(to: DType, from: DType, arg: string): string;
  /** Bit reinterpretation between equal-width types. */
  bitcast(to: DType, from: DType, arg: string): string;
  /** Expression reading element `index` of binding `binding`, as a value of `dtype`. */
  load(binding: number, buffer: KernelBuffer, dtype: DType, index: string): string;
  /** Statement writing `value` (of `dtype`) to element `index` of binding `binding`. */
  store(binding: number, buffer: KernelBuffer, dtype: DType, index: string, value: string): string;
  /** Statement binding an immutable value. */
  define(name: string, dtype: DType, expression: string): string;
  /** Statement declaring a mutable local. */
  declareVar(name: string, dtype: DType, init: string): string;
  /** Statement updating a mutable local. */
  assign(name: string, value: string): string;
  /** Opens `for (name = start; name < end; name += step) {`; the index is i32. */
  loopOpen(name: string, start: string, end: string, step: string): string;
  ifOpen(cond: string): string;
  blockClose(): string;
  /** Where workgroup arrays are declared: at module scope (WGSL) or in the function body (CUDA). */
  readonly sharedScope: 'module' | 'function';
  sharedDeclare(name: string, dtype: DType, size: number): string;
  sharedLoad(name: string, dtype: DType, index: string): string;
  sharedStore(name: string, dtype: DType, index: string, value: string): string;
  barrier(): string;
  /**
   * Capability (subgroups): expression combining `value` (of `dtype`) with `op` across the
   * active lanes of the subgroup, the same result on every lane (WGSL subgroupAdd/subgroupMax;
   * CUDA a __shfl_xor_sync butterfly over the 32 lanes of a warp, e.g. as a helper function).
   */
  subgroupReduce(op: SubgroupOp, dtype: DType, value: string): string;
  /** Capability (subgroups): expression for `value` (of `dtype`) held by lane (this lane XOR `mask`). */
  subgroupShuffleXor(dtype: DType, value: string, mask: number): string;
  /**
   * Capability (mma): statement updating the f32 locals `acc` (4) with the warp's m16n8k16
   * product of this lane's fragments `a` (8 f32 values) and `b` (4), packed as `operand`.
   * Targets without tensor cores throw.
   */
  mma(operand: MmaOperand, acc: readonly string[], a: readonly string[], b: readonly string[]): string;
}

export interface WalkOptions {
  /** Indentation unit (two spaces by default). */
  readonly indent?: string;
  /** Nesting depth of the body's first line (1 = inside the entry function). */
  readonly depth?: number;
}

export interface WalkResult {
  /** Body lines, already indented. */
  readonly lines: readonly string[];
  /** Declarations that belong at module scope (shared arrays when the dialect says so). */
  readonly moduleLines: readonly string[];
  /** Every dtype a value, buffer or shared array of the kernel has. */
  readonly dtypes: ReadonlySet<DType>;
  readonly ops: ReadonlySet<Alu>;
  readonly specials: ReadonlySet<Special>;
  /** Subgroup reductions by op, with the dtypes each is used at (for helpers; empty without the capability). */
  readonly subgroupReduces: ReadonlyMap<SubgroupOp, ReadonlySet<DType>>;
  /** Whether any subgroup capability op or special appears (WGSL: `enable subgroups;`). */
  readonly usesSubgroups: boolean;
  /** Operand types of the kernel's tensor-core products (empty without the capability). */
  readonly mmaOperands: ReadonlySet<MmaOperand>;
}

export class KernelPrintError extends Error {
  override readonly name = 'KernelPrintError';
}

type Binding = { readonly kind: 'value' | 'var' | 'loop'; readonly dtype: DType } | { readonly kind: 'shared'; readonly dtype: DType; readonly size: number };

function aluArity(op: Alu): number {
  if (op === Alu.Select) return 3;
  return UNARY_ALU.has(op) ? 1 : 2;
}

/** Prints a kernel's body through `dialect`. Throws KernelPrintError on malformed IR (undefined or out-of-scope values, unbalanced blocks). */
export function walk(kernel: Kernel, dialect: Dialect, options: WalkOptions = {}): WalkResult {
  const unit = options.indent ?? '  ';
  const baseDepth = options.depth ?? 1;
  const lines: string[] = [];
  const moduleLines: string[] = [];
  const dtypes = new Set<DType>(kernel.buffers.flatMap((b) => (b.storage ? [b.dtype, b.storage] : [b.dtype])));
  const ops = new Set<Alu>();
  const specials = new Set<Special>();
  const subgroupReduces = new Map<SubgroupOp, Set<DType>>();
  const mmaOperands = new Set<MmaOperand>();
  let shuffles = false;
  // One map per open block: a value defined inside a loop or if is gone after it closes.
  const scopes: Map<ValueId, Binding>[] = [new Map()];
  const open: ('loop' | 'if')[] = [];
  let at = 0;

  const fail = (message: string, instr?: Instr): never => {
    const where = instr ? ` at instruction ${at} (${formatInstr(instr)})` : '';
    throw new KernelPrintError(`kernel ${kernel.name}${where}: ${message}`);
  };
  const lookup = (id: ValueId, instr: Instr): Binding => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const found = scopes[i]!.get(id);
      if (found) return found;
    }
    return fail(`${valueName(id)} is not defined here (undefined, or defined inside a block that has closed)`, instr);
  };
  const scalar = (id: ValueId, instr: Instr): DType => {
    const binding = lookup(id, instr);
    if (binding.kind === 'shared') fail(`${sharedName(id)} is a shared array, not a value`, instr);
    return binding.dtype;
  };
  const index = (id: ValueId, instr: Instr): string => {
    const dtype = scalar(id, instr);
    if (dtype !== DType.I32) fail(`index ${valueName(id)} is ${dtype}, expected i32`, instr);
    return valueName(id);
  };
  const define = (id: ValueId, binding: Binding, instr: Instr): void => {
    if (scopes.some((s) => s.has(id))) fail(`${valueName(id)} is defined twice`, instr);
    scopes[scopes.length - 1]!.set(id, binding);
    dtypes.add(binding.dtype);
  };
  const emit = (line: string): void => {
    lines.push(unit.repeat(baseDepth + open.length) + line);
  };
  const bindValue = (id: ValueId, dtype: DType, expression: string, instr: Instr): void => {
    define(id, { kind: 'value', dtype }, instr);
    emit(dialect.define(valueName(id), dtype, expression));
  };
  const buffer = (binding: number, instr: Instr): KernelBuffer =>
    kernel.buffers[binding] ?? fail(`binding ${binding} does not exist (kernel has ${kernel.buffers.length})`, instr);

  for (const instr of kernel.body) {
    try {
      printInstr(instr);
    } catch (error) {
      if (error instanceof KernelPrintError) throw error;
      // Dialect errors (an op a target cannot express) get the kernel and instruction attached.
      fail(error instanceof Error ? error.message : String(error), instr);
    }
    at++;
  }
  if (open.length > 0) fail(`${open.length} block(s) left open at the end of the body (${open.join(', ')})`);
  const usesSubgroups = shuffles || subgroupReduces.size > 0 || [...specials].some((x) => SUBGROUP_SPECIALS.has(x));
  return { lines, moduleLines, dtypes, ops, specials, subgroupReduces, usesSubgroups, mmaOperands };

  function printInstr(instr: Instr): void {
    switch (instr.kind) {
      case 'const':
        bindValue(instr.id, instr.dtype, dialect.literal(instr.dtype, instr.value), instr);
        break;
      case 'special':
        specials.add(instr.which);
        bindValue(instr.id, DType.I32, dialect.special(instr.which), instr);
        break;
      case 'alu': {
        if (instr.args.length !== aluArity(instr.op)) fail(`${instr.op} takes ${aluArity(instr.op)} operand(s), got ${instr.args.length}`, instr);
        const argTypes = instr.args.map((a) => scalar(a, instr));
        if (instr.op === Alu.Select && argTypes[0] !== DType.Bool) fail(`select condition is ${argTypes[0]}, expected bool`, instr);
        ops.add(instr.op);
        bindValue(instr.id, instr.dtype, dialect.alu(instr.op, instr.dtype, instr.args.map(valueName), argTypes), instr);
        break;
      }
      case 'cast':
      case 'bitcast': {
        const from = scalar(instr.arg, instr);
        if (from !== instr.from) fail(`operand ${valueName(instr.arg)} is ${from}, the instruction says ${instr.from}`, instr);
        const expression = instr.kind === 'cast'
          ? dialect.cast(instr.dtype, from, valueName(instr.arg))
          : dialect.bitcast(instr.dtype, from, valueName(instr.arg));
        bindValue(instr.id, instr.dtype, expression, instr);
        break;
      }
      case 'load': {
        const target = buffer(instr.buffer, instr);
        if (instr.dtype !== target.dtype) fail(`loads ${instr.dtype} from binding ${instr.buffer} (${target.name}: ${target.dtype})`, instr);
        bindValue(instr.id, instr.dtype, dialect.load(instr.buffer, target, instr.dtype, index(instr.index, instr)), instr);
        break;
      }
      case 'store': {
        const target = buffer(instr.buffer, instr);
        if (target.access === 'read') fail(`binding ${instr.buffer} (${target.name}) is read-only`, instr);
        const dtype = scalar(instr.value, instr);
        if (dtype !== target.dtype) fail(`stores ${dtype} into binding ${instr.buffer} (${target.name}: ${target.dtype})`, instr);
        emit(dialect.store(instr.buffer, target, dtype, index(instr.index, instr), valueName(instr.value)));
        break;
      }
      case 'var': {
        const init = scalar(instr.init, instr);
        if (init !== instr.dtype) fail(`initial value is ${init}, the local is ${instr.dtype}`, instr);
        define(instr.id, { kind: 'var', dtype: instr.dtype }, instr);
        emit(dialect.declareVar(valueName(instr.id), instr.dtype, valueName(instr.init)));
        break;
      }
      case 'assign': {
        const target = lookup(instr.target, instr);
        if (target.kind !== 'var') fail(`${valueName(instr.target)} is not a mutable local`, instr);
        const value = scalar(instr.value, instr);
        if (value !== target.dtype) fail(`assigns ${value} to a ${target.dtype} local`, instr);
        emit(dialect.assign(valueName(instr.target), valueName(instr.value)));
        break;
      }
      case 'loop': {
        const bounds = [instr.start, instr.end, instr.step].map((id) => index(id, instr));
        const [start, end, step] = bounds as [string, string, string];
        emit(dialect.loopOpen(valueName(instr.id), start, end, step));
        open.push('loop');
        scopes.push(new Map());
        define(instr.id, { kind: 'loop', dtype: DType.I32 }, instr);
        break;
      }
      case 'if': {
        if (scalar(instr.cond, instr) !== DType.Bool) fail('condition is not bool', instr);
        emit(dialect.ifOpen(valueName(instr.cond)));
        open.push('if');
        scopes.push(new Map());
        break;
      }
      case 'endLoop':
      case 'endIf': {
        const expected = instr.kind === 'endLoop' ? 'loop' : 'if';
        if (open[open.length - 1] !== expected) fail(`${instr.kind} does not close an open ${expected}`, instr);
        open.pop();
        scopes.pop();
        emit(dialect.blockClose());
        break;
      }
      case 'shared': {
        if (!Number.isInteger(instr.size) || instr.size <= 0) fail(`shared size ${instr.size} is not a positive integer`, instr);
        if (dialect.sharedScope === 'module' && open.length > 0) fail('shared arrays must be declared outside loops and ifs', instr);
        define(instr.id, { kind: 'shared', dtype: instr.dtype, size: instr.size }, instr);
        const line = dialect.sharedDeclare(sharedName(instr.id), instr.dtype, instr.size);
        if (dialect.sharedScope === 'module') moduleLines.push(line);
        else emit(line);
        break;
      }
      case 'sharedLoad':
      case 'sharedStore': {
        const array = lookup(instr.shared, instr);
        if (array.kind !== 'shared') fail(`${valueName(instr.shared)} is not a shared array`, instr);
        const name = sharedName(instr.shared);
        if (instr.kind === 'sharedLoad') {
          if (instr.dtype !== array.dtype) fail(`loads ${instr.dtype} from a ${array.dtype} array`, instr);
          bindValue(instr.id, instr.dtype, dialect.sharedLoad(name, instr.dtype, index(instr.index, instr)), instr);
        } else {
          const dtype = scalar(instr.value, instr);
          if (dtype !== array.dtype) fail(`stores ${dtype} into a ${array.dtype} array`, instr);
          emit(dialect.sharedStore(name, dtype, index(instr.index, instr), valueName(instr.value)));
        }
        break;
      }
      case 'barrier':
        emit(dialect.barrier());
        break;
      case 'subgroupReduce': {
        if (instr.op !== Alu.Add && instr.op !== Alu.Max) fail(`subgroup reductions combine with add or max, not ${String(instr.op)}`, instr);
        const dtype = scalar(instr.value, instr);
        if (dtype !== instr.dtype) fail(`operand ${valueName(instr.value)} is ${dtype}, the instruction says ${instr.dtype}`, instr);
        if (dtype === DType.Bool) fail('subgroup reductions need a numeric value, got bool', instr);
        const used = subgroupReduces.get(instr.op) ?? new Set<DType>();
        used.add(dtype);
        subgroupReduces.set(instr.op, used);
        bindValue(instr.id, dtype, dialect.subgroupReduce(instr.op, dtype, valueName(instr.value)), instr);
        break;
      }
      case 'subgroupShuffleXor': {
        const dtype = scalar(instr.value, instr);
        if (dtype !== instr.dtype) fail(`operand ${valueName(instr.value)} is ${dtype}, the instruction says ${instr.dtype}`, instr);
        shuffles = true;
        bindValue(instr.id, dtype, dialect.subgroupShuffleXor(dtype, valueName(instr.value), instr.mask), instr);
        break;
      }
      case 'mma': {
        if (instr.a.length !== 8 || instr.b.length !== 4 || instr.acc.length !== 4) fail('mma.m16n8k16 takes 8 A, 4 B and 4 accumulator values per lane', instr);
        for (const x of [...instr.a, ...instr.b]) {
          if (scalar(x, instr) !== DType.F32) fail(`mma operand ${valueName(x)} is ${scalar(x, instr)}, expected f32`, instr);
        }
        for (const x of instr.acc) {
          const target = lookup(x, instr);
          if (target.kind !== 'var' || target.dtype !== DType.F32) fail(`mma accumulator ${valueName(x)} is not an f32 mutable local`, instr);
        }
        mmaOperands.add(instr.operand);
        emit(dialect.mma(instr.operand, instr.acc.map(valueName), instr.a.map(valueName), instr.b.map(valueName)));
        break;
      }
      default:
        instr satisfies never;
    }
  }
}

/**
 * The linear workgroup id of a folded grid (Kernel IR's `workgroupId`), declared as
 * `declare(expression)`, and the early exit of the workgroups that exist only
 * because the grid was folded. The exit is workgroup-uniform, so later barriers
 * stay in uniform control flow. `ids` spell the grid's x, y, z builtins.
 */
export function workgroupPrologue(kernel: Kernel, grid: readonly [number, number, number], used: boolean, ids: readonly [string, string, string], declare: (expression: string) => string, name: string): string[] {
  const [gx, gy, gz] = grid;
  const guard = gx * gy * gz > kernel.workgroups;
  const lines: string[] = [];
  if (used || guard) {
    const terms = [ids[0]];
    if (gy > 1 || gz > 1) terms.push(`${ids[1]} * ${gx}u`);
    if (gz > 1) terms.push(`${ids[2]} * ${gx * gy}u`);
    lines.push(`  ${declare(terms.join(' + '))}`);
  }
  if (guard) lines.push(`  if (${name} >= ${kernel.workgroups}u) {`, '    return;', '  }');
  return lines;
}
