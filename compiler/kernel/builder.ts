// Kernel IR · the builder lowering uses. It hash-conses pure instructions (CSE),
// folds constants, and places each pure instruction in the outermost open scope
// where all its operands are defined (loop-invariant code motion), inserting it
// just before the nested block that is open there. Loads never move out of an
// `if` (their index may only be valid under the guard). Scopes are loops and ifs.

import { DType, isFloat } from '../ir/dtype.ts';
import { Alu, type Instr, type MmaOperand, type Special, type SubgroupOp, type ValueId } from './ir.ts';

type Stmt = Instr | Block;

interface Block {
  readonly kind: 'block';
  readonly open: Instr & ({ kind: 'loop' } | { kind: 'if' });
  readonly body: Stmt[];
}

interface Scope {
  readonly id: number;
  readonly depth: number;
  readonly body: Stmt[];
  readonly isIf: boolean;
  /** Index in `body` where hoisted statements go: just before the child block that is open now. */
  insertAt: number;
}

interface ValueInfo {
  readonly dtype: DType;
  /** Depth of the scope the value is defined in. */
  readonly depth: number;
  readonly scope: number;
  /** Known constant value, for folding. */
  readonly constant?: number;
}

export class KernelBuilder {
  private next = 0;
  private scopeIds = 0;
  private readonly root: Scope = { id: 0, depth: 0, body: [], isIf: false, insertAt: 0 };
  private readonly stack: Scope[] = [this.root];
  private readonly info = new Map<ValueId, ValueInfo>();
  private readonly cse = new Map<string, ValueId>();
  /** When set, statements go to this (outer) scope instead of the innermost one. */
  private redirect: Scope | undefined;

  private fresh(): ValueId {
    return this.next++ as ValueId;
  }

  private get current(): Scope {
    return this.redirect ?? this.stack[this.stack.length - 1]!;
  }

  private isOpen(scopeId: number): boolean {
    return this.stack.some((s) => s.id === scopeId);
  }

  dtypeOf(id: ValueId): DType {
    return this.info.get(id)!.dtype;
  }

  constantOf(id: ValueId): number | undefined {
    return this.info.get(id)?.constant;
  }

  private place(stmt: Stmt, scope: Scope): void {
    if (scope === this.current && scope === this.stack[this.stack.length - 1] && !this.redirect) {
      scope.body.push(stmt);
      scope.insertAt = scope.body.length;
      return;
    }
    scope.body.splice(scope.insertAt, 0, stmt);
    scope.insertAt++;
  }

  /** The outermost open scope at or above which every operand is defined (never above an if for loads). */
  private targetScope(args: readonly ValueId[], canHoistPastIf: boolean): Scope {
    const limit = this.stack.indexOf(this.current);
    let depth = 0;
    for (const a of args) depth = Math.max(depth, this.info.get(a)!.depth);
    if (!canHoistPastIf) {
      for (let i = limit; i >= 0; i--) {
        if (this.stack[i]!.isIf) {
          depth = Math.max(depth, this.stack[i]!.depth);
          break;
        }
      }
    }
    return this.stack[Math.min(depth, limit)]!;
  }

  private define(id: ValueId, dtype: DType, scope: Scope, constant?: number): ValueId {
    this.info.set(id, { dtype, depth: scope.depth, scope: scope.id, ...(constant === undefined ? {} : { constant }) });
    return id;
  }

  /** Emits (or reuses) a pure instruction. */
  private pure(key: string, dtype: DType, args: readonly ValueId[], make: (id: ValueId) => Instr, options: { canHoistPastIf?: boolean; constant?: number } = {}): ValueId {
    const existing = this.cse.get(key);
    if (existing !== undefined && this.isOpen(this.info.get(existing)!.scope)) return existing;
    const scope = this.targetScope(args, options.canHoistPastIf ?? true);
    const id = this.fresh();
    this.place(make(id), scope);
    this.define(id, dtype, scope, options.constant);
    this.cse.set(key, id);
    return id;
  }

  // ---- values ------------------------------------------------------------------

  const(value: number, dtype: DType): ValueId {
    const v = dtype === DType.Bool ? (value ? 1 : 0) : dtype === DType.I32 ? value | 0 : dtype === DType.U32 ? value >>> 0 : value;
    return this.pure(`c|${dtype}|${Object.is(v, -0) ? '-0' : v}`, dtype, [], (id) => ({ kind: 'const', id, dtype, value: v }), { constant: v });
  }

  special(which: Special): ValueId {
    return this.pure(`s|${which}`, DType.I32, [], (id) => ({ kind: 'special', id, which }));
  }

  alu(op: Alu, dtype: DType, args: readonly ValueId[]): ValueId {
    const folded = this.fold(op, dtype, args);
    if (folded !== undefined) return folded;
    return this.pure(`a|${op}|${dtype}|${args.join(',')}`, dtype, args, (id) => ({ kind: 'alu', id, op, dtype, args }));
  }

  cast(arg: ValueId, dtype: DType): ValueId {
    const from = this.dtypeOf(arg);
    if (from === dtype) return arg;
    const c = this.constantOf(arg);
    if (c !== undefined && dtype === DType.F32 && from !== DType.Bool) return this.const(Math.fround(c), dtype);
    return this.pure(`cast|${dtype}|${arg}`, dtype, [arg], (id) => ({ kind: 'cast', id, dtype, from, arg }));
  }

  bitcast(arg: ValueId, dtype: DType): ValueId {
    const from = this.dtypeOf(arg);
    if (from === dtype) return arg;
    return this.pure(`bitcast|${dtype}|${arg}`, dtype, [arg], (id) => ({ kind: 'bitcast', id, dtype, from, arg }));
  }

  load(buffer: number, index: ValueId, dtype: DType): ValueId {
    return this.pure(`load|${buffer}|${index}`, dtype, [index], (id) => ({ kind: 'load', id, dtype, buffer, index }), { canHoistPastIf: false });
  }

  store(buffer: number, index: ValueId, value: ValueId): void {
    this.place({ kind: 'store', buffer, index, value }, this.current);
  }

  /** A mutable local; reads of it are never hoisted or shared. */
  variable(init: ValueId): ValueId {
    const id = this.fresh();
    const dtype = this.dtypeOf(init);
    this.place({ kind: 'var', id, dtype, init }, this.current);
    // Depth = the scope it lives in; anything reading it is emitted inside that scope or deeper.
    this.define(id, dtype, this.current);
    return id;
  }

  assign(target: ValueId, value: ValueId): void {
    this.place({ kind: 'assign', target, value }, this.current);
  }

  /** The current value of a mutable local, as an SSA value (a copy, so later assignments do not change it). */
  read(variable: ValueId): ValueId {
    const dtype = this.dtypeOf(variable);
    const id = this.fresh();
    this.place({ kind: 'var', id, dtype, init: variable }, this.current);
    return this.define(id, dtype, this.current);
  }

  shared(dtype: DType, size: number): ValueId {
    const id = this.fresh();
    // Workgroup memory is declared once at the top; every later position in the root shifts by one.
    this.root.body.splice(0, 0, { kind: 'shared', id, dtype, size });
    this.root.insertAt++;
    return this.define(id, dtype, this.root);
  }

  sharedLoad(shared: ValueId, index: ValueId): ValueId {
    const dtype = this.dtypeOf(shared);
    const id = this.fresh();
    this.place({ kind: 'sharedLoad', id, dtype, shared, index }, this.current);
    return this.define(id, dtype, this.current);
  }

  sharedStore(shared: ValueId, index: ValueId, value: ValueId): void {
    this.place({ kind: 'sharedStore', shared, index, value }, this.current);
  }

  barrier(): void {
    this.place({ kind: 'barrier' }, this.current);
  }

  /** A subgroup reduction where it is written: never hoisted or shared, since which lanes take part depends on the control flow around it. */
  subgroupReduce(op: SubgroupOp, value: ValueId): ValueId {
    const dtype = this.dtypeOf(value);
    const id = this.fresh();
    this.place({ kind: 'subgroupReduce', id, op, dtype, value }, this.current);
    return this.define(id, dtype, this.current);
  }

  /** `value` from lane (this lane XOR mask) of the subgroup: a collective, never hoisted or shared. */
  subgroupShuffleXor(value: ValueId, mask: number): ValueId {
    const dtype = this.dtypeOf(value);
    const id = this.fresh();
    this.place({ kind: 'subgroupShuffleXor', id, dtype, value, mask }, this.current);
    return this.define(id, dtype, this.current);
  }

  /** The warp's tensor-core product acc += A·B (Kernel IR `mma`), where it is written: a warp-collective, never moved. */
  mma(operand: MmaOperand, acc: readonly ValueId[], a: readonly ValueId[], b: readonly ValueId[]): void {
    this.place({ kind: 'mma', operand, acc, a, b }, this.current);
  }

  // ---- structure -------------------------------------------------------------------

  private openBlock(open: Block['open'], isIf: boolean): Scope {
    const parent = this.current;
    const block: Block = { kind: 'block', open, body: [] };
    this.place(block, parent);
    // Hoisted statements go before this block.
    parent.insertAt--;
    const scope: Scope = { id: ++this.scopeIds, depth: parent.depth + 1, body: block.body, isIf, insertAt: 0 };
    const saved = this.redirect;
    this.redirect = undefined;
    // Scopes above the redirect target are closed for the duration of this block.
    const truncated = saved ? this.stack.splice(this.stack.indexOf(saved) + 1) : [];
    this.stack.push(scope);
    this.pendingRestore.push({ redirect: saved, truncated, parent });
    return scope;
  }

  private readonly pendingRestore: { redirect: Scope | undefined; truncated: Scope[]; parent: Scope }[] = [];

  private closeBlock(): void {
    this.stack.pop();
    const restore = this.pendingRestore.pop()!;
    restore.parent.insertAt++;
    this.stack.push(...restore.truncated);
    this.redirect = restore.redirect;
  }

  /** for (v = start; v < end; v += step) { body(v) } */
  loop(start: ValueId, end: ValueId, step: ValueId, body: (index: ValueId) => void): void {
    const id = this.fresh();
    this.openBlock({ kind: 'loop', id, start, end, step }, false);
    this.define(id, DType.I32, this.stack[this.stack.length - 1]!);
    body(id);
    this.closeBlock();
  }

  when(cond: ValueId, body: () => void): void {
    this.openBlock({ kind: 'if', cond }, true);
    body();
    this.closeBlock();
  }

  /**
   * Runs `body` with statements going to the open scope at `depth` (before its open child),
   * e.g. to emit a workgroup-uniform reduction at the top of a kernel from inside a loop.
   */
  atDepth<T>(depth: number, body: () => T): T {
    const target = this.stack[Math.min(depth, this.stack.length - 1)]!;
    if (target === this.stack[this.stack.length - 1]) return body();
    const saved = this.redirect;
    this.redirect = target;
    try {
      return body();
    } finally {
      this.redirect = saved;
    }
  }

  get depth(): number {
    return this.current.depth;
  }

  /** Whether a value is defined in a scope that is open here (so it may be used). */
  visible(id: ValueId): boolean {
    const info = this.info.get(id);
    return info !== undefined && this.isOpen(info.scope) && (!this.redirect || info.depth <= this.redirect.depth);
  }

  /** Depth of the scope a value is defined in. */
  depthOf(id: ValueId): number {
    return this.info.get(id)!.depth;
  }

  /** The finished instruction list. */
  finish(): Instr[] {
    const out: Instr[] = [];
    const walk = (stmts: readonly Stmt[]) => {
      for (const s of stmts) {
        if (s.kind === 'block') {
          out.push(s.open);
          walk(s.body);
          out.push(s.open.kind === 'loop' ? { kind: 'endLoop' } : { kind: 'endIf' });
        } else {
          out.push(s);
        }
      }
    };
    walk(this.root.body);
    return out;
  }

  // ---- constant folding and identities ------------------------------------------------

  private fold(op: Alu, dtype: DType, args: readonly ValueId[]): ValueId | undefined {
    const c = args.map((a) => this.constantOf(a));
    const [a, b] = args;
    const [ca, cb] = c;
    const int = dtype === DType.I32 || dtype === DType.U32;
    if (c.every((v) => v !== undefined) && args.length > 0 && (int || dtype === DType.Bool)) {
      const value = foldInt(op, c as number[], dtype);
      if (value !== undefined) return this.const(value, dtype);
    }
    if (!int && !isFloat(dtype)) return undefined;
    switch (op) {
      case Alu.Add:
        if (ca === 0) return b;
        if (cb === 0) return a;
        return undefined;
      case Alu.Sub:
        return cb === 0 ? a : undefined;
      case Alu.Mul:
        if (ca === 1) return b;
        if (cb === 1) return a;
        if (int && (ca === 0 || cb === 0)) return this.const(0, dtype);
        return undefined;
      case Alu.Div:
        return int && cb === 1 ? a : undefined;
      case Alu.Mod:
        return int && cb === 1 ? this.const(0, dtype) : undefined;
      default:
        return undefined;
    }
  }
}

function foldInt(op: Alu, [x, y, z]: number[], dtype: DType): number | undefined {
  const wrap = (v: number) => (dtype === DType.U32 ? v >>> 0 : dtype === DType.I32 ? v | 0 : v ? 1 : 0);
  switch (op) {
    case Alu.Add: return wrap(x! + y!);
    case Alu.Sub: return wrap(x! - y!);
    case Alu.Mul: return wrap(Math.imul(x!, y!));
    case Alu.Div: return y === 0 ? 0 : wrap(Math.trunc(x! / y!));
    case Alu.Mod: return y === 0 ? 0 : wrap(x! % y!);
    case Alu.Max: return Math.max(x!, y!);
    case Alu.Min: return Math.min(x!, y!);
    case Alu.CmpLt: return x! < y! ? 1 : 0;
    case Alu.CmpNe: return x !== y ? 1 : 0;
    case Alu.CmpEq: return x === y ? 1 : 0;
    case Alu.Select: return x ? y : z;
    default: return undefined;
  }
}
