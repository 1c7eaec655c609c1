// Kernel IR · lowering one scheduled kernel. The root value is evaluated at a
// symbolic index (the thread's output element); every inlined Graph IR node is
// evaluated recursively at an index vector, views transform the index, buffers
// are loaded, and reductions become loops: cooperative across the workgroup
// (shared memory tree) when their row is the same for every thread of it, a
// per-thread loop otherwise. Values are memoised per (node, index), so a row
// statistic is computed once per row and reused by every loop that needs it.

import { DType, isFloat } from '../ir/dtype.ts';
import { size, type Node } from '../ir/node.ts';
import { Op } from '../ir/op.ts';
import type { ScheduledKernel, ReduceNode } from '../schedule/schedule.ts';
import { KernelBuilder } from './builder.ts';
import { addIndex, constIndex, IndexEmitter, indexKey, isUniform, range, type Index } from './index.ts';
import { Alu, type Kernel, type KernelBuffer, type ValueId } from './ir.ts';
import { emitThreefry } from './threefry.ts';

export interface LowerOptions {
  readonly name: string;
  readonly workgroupSize: number;
  /** Buffer name for a node (inputs, params, realized values). */
  readonly bufferName: (node: Node) => string;
}

const LOWEST: Partial<Record<DType, number>> = {
  [DType.F32]: -3e38,
  [DType.F16]: -65504,
  [DType.BF16]: -3e38,
  [DType.I32]: -2147483648,
  [DType.U32]: 0,
};

const BINARY_ALU: Partial<Record<Op, Alu>> = {
  [Op.Add]: Alu.Add, [Op.Mul]: Alu.Mul, [Op.Max]: Alu.Max, [Op.CmpLt]: Alu.CmpLt, [Op.CmpNe]: Alu.CmpNe,
  [Op.IDiv]: Alu.Div, [Op.Mod]: Alu.Mod, [Op.And]: Alu.And, [Op.Or]: Alu.Or, [Op.Xor]: Alu.Xor,
  [Op.Shl]: Alu.Shl, [Op.Shr]: Alu.Shr,
};

const UNARY_ALU: Partial<Record<Op, Alu>> = {
  [Op.Neg]: Alu.Neg, [Op.Recip]: Alu.Recip, [Op.Sqrt]: Alu.Sqrt, [Op.Exp2]: Alu.Exp2, [Op.Log2]: Alu.Log2,
  [Op.Sin]: Alu.Sin, [Op.Trunc]: Alu.Trunc, [Op.Erf]: Alu.Erf, [Op.Not]: Alu.Not,
};

class Lowerer {
  readonly kb = new KernelBuilder();
  readonly ix = new IndexEmitter(this.kb);
  private readonly memo = new Map<string, ValueId>();
  private readonly bindings = new Map<number, number>();
  readonly buffers: KernelBuffer[] = [];
  /** Depth of the workgroup-uniform scope (inside the row guard) where cooperative reductions go. */
  private uniformDepth = -1;
  private lid: ValueId | undefined;

  constructor(readonly k: ScheduledKernel, readonly options: LowerOptions) {
    this.buffers.push({ name: options.bufferName(k.root), dtype: k.root.dtype, access: 'read_write', size: size(k.root.shape) });
    for (const node of k.reads) {
      this.bindings.set(node.id, this.buffers.length);
      this.buffers.push({ name: options.bufferName(node), dtype: node.dtype, access: 'read', size: size(node.shape) });
    }
  }

  get wg(): number {
    return this.options.workgroupSize;
  }

  private i32(v: number): ValueId {
    return this.kb.const(v, DType.I32);
  }

  private localId(): ValueId {
    this.lid ??= this.kb.special('localId');
    return this.lid;
  }

  lower(): Kernel {
    const { root } = this.k;
    const total = size(root.shape);
    let workgroups: number;
    if (this.k.kind === 'flat') {
      workgroups = Math.max(1, Math.ceil(total / this.wg));
      const gid = this.kb.special('globalId');
      this.kb.when(this.kb.alu(Alu.CmpLt, DType.Bool, [gid, this.i32(total)]), () => {
        const linear = this.ix.atom(gid, 0, Math.max(0, total - 1), false);
        const value = this.value(root, this.ix.delinearize(linear, root.shape));
        this.kb.store(0, gid, value);
      });
    } else {
      const anchor = this.k.anchor!;
      const d = anchor.srcs[0]!.shape;
      const axes = anchor.arg.axes;
      const rowShape = axes.map((a) => d[a]!);
      const keptShape = d.filter((_, i) => !axes.includes(i));
      const rows = size(keptShape);
      const rowSize = size(rowShape);
      workgroups = Math.max(1, rows);
      const wid = this.kb.special('workgroupId');
      this.localId();
      this.kb.when(this.kb.alu(Alu.CmpLt, DType.Bool, [wid, this.i32(rows)]), () => {
        this.uniformDepth = this.kb.depth;
        const row = this.ix.atom(wid, 0, Math.max(0, rows - 1), true);
        if (total === rows) {
          const value = this.value(root, this.ix.delinearize(row, root.shape));
          this.kb.when(this.kb.alu(Alu.CmpEq, DType.Bool, [this.localId(), this.i32(0)]), () => this.kb.store(0, this.ix.emit(row), value));
        } else {
          const kept = this.ix.delinearize(row, keptShape);
          this.kb.loop(this.localId(), this.i32(rowSize), this.i32(this.wg), (i) => {
            const within = this.ix.delinearize(this.ix.atom(i, 0, Math.max(0, rowSize - 1), false), rowShape);
            let ki = 0;
            let ri = 0;
            const full = d.map((_, axis) => (axes.includes(axis) ? within[ri++]! : kept[ki++]!));
            const linear = this.ix.linearize(full, d);
            const value = this.value(root, this.ix.delinearize(linear, root.shape));
            this.kb.store(0, this.ix.emit(linear), value);
          });
        }
      });
    }
    return { name: this.options.name, buffers: this.buffers, workgroupSize: this.wg, workgroups, body: this.kb.finish() };
  }

  /** The value of `node` at index vector `idx` (one Index per axis of node.shape). */
  value(node: Node, idx: readonly Index[]): ValueId {
    const key = `${node.id}@${indexKey(idx)}`;
    const hit = this.memo.get(key);
    if (hit !== undefined && this.kb.visible(hit)) return hit;
    const v = this.compute(node, idx);
    this.memo.set(key, v);
    return v;
  }

  private compute(node: Node, idx: readonly Index[]): ValueId {
    const binding = node === this.k.root ? undefined : this.bindings.get(node.id);
    if (binding !== undefined) return this.kb.load(binding, this.ix.emit(this.ix.linearize(idx, node.shape)), node.dtype);
    const src = (i: number, at: readonly Index[] = idx) => this.value(node.srcs[i]!, at);
    switch (node.op) {
      case Op.Const:
        return this.kb.const(node.arg.value, node.dtype);
      case Op.Iota:
        return this.kb.cast(this.ix.emit(idx[node.arg.axis]!), node.dtype);
      case Op.Input:
      case Op.Param:
        throw new Error(`lower: ${node.op} "${node.arg.name}" is not bound to this kernel`);
      case Op.RandomBits:
        return this.randomBits(node, idx);
      case Op.Neg: case Op.Recip: case Op.Sqrt: case Op.Exp2: case Op.Log2:
      case Op.Sin: case Op.Trunc: case Op.Erf: case Op.Not:
        return this.kb.alu(UNARY_ALU[node.op]!, node.dtype, [src(0)]);
      case Op.Add: case Op.Mul: case Op.Max: case Op.CmpLt: case Op.CmpNe: case Op.IDiv:
      case Op.Mod: case Op.And: case Op.Or: case Op.Xor: case Op.Shl: case Op.Shr:
        return this.kb.alu(BINARY_ALU[node.op]!, node.dtype, [src(0), src(1)]);
      case Op.Where:
        return this.kb.alu(Alu.Select, node.dtype, [src(0), src(1), src(2)]);
      case Op.Cast:
        return this.kb.cast(src(0), node.dtype);
      case Op.Bitcast:
        return this.kb.bitcast(src(0), node.dtype);
      case Op.ReduceSum:
      case Op.ReduceMax:
        return this.reduce(node, idx);
      case Op.Reshape:
        return src(0, this.ix.delinearize(this.ix.linearize(idx, node.shape), node.srcs[0]!.shape));
      case Op.Permute: {
        const at = new Array<Index>(idx.length);
        node.arg.perm.forEach((p, i) => (at[p] = idx[i]!));
        return src(0, at);
      }
      case Op.Expand: {
        const inShape = node.srcs[0]!.shape;
        return src(0, idx.map((x, i) => (inShape[i] === 1 && node.shape[i] !== 1 ? constIndex(0) : x)));
      }
      case Op.Shrink:
        return src(0, idx.map((x, i) => addIndex(x, constIndex(node.arg.ranges[i]![0]))));
      case Op.Flip:
        return src(0, idx.map((x, i) => (node.arg.axes.includes(i) ? addIndex(constIndex(node.shape[i]! - 1), { terms: new Map([...x.terms].map(([id, t]) => [id, { atom: t.atom, coef: -t.coef }])), constant: -x.constant }) : x)));
      case Op.Pad:
        return this.pad(node, idx);
      case Op.Dot:
        return this.dot(node, idx);
      case Op.Gather:
        return this.gather(node, idx);
      case Op.Assign:
        return src(1);
      case Op.ScatterAdd: case Op.StopGradient: case Op.Barrier: case Op.Composite:
        throw new Error(`lower: ${node.op} must be rewritten before lowering (compiler/schedule/prepare.ts)`);
      default:
        return node satisfies never;
    }
  }

  private pad(node: Node & { op: Op.Pad }, idx: readonly Index[]): ValueId {
    const inShape = node.srcs[0]!.shape;
    let valid: ValueId | undefined;
    const at = idx.map((x, i) => {
      const [before] = node.arg.pads[i]!;
      const shifted = addIndex(x, constIndex(-before));
      const [lo, hi] = range(shifted);
      if (lo >= 0 && hi < inShape[i]!) return shifted;
      const raw = this.ix.emit(shifted);
      const ok = this.kb.alu(Alu.And, DType.Bool, [
        this.kb.alu(Alu.CmpLt, DType.Bool, [raw, this.i32(inShape[i]!)]),
        this.kb.alu(Alu.CmpLt, DType.Bool, [this.i32(-1), raw]),
      ]);
      valid = valid === undefined ? ok : this.kb.alu(Alu.And, DType.Bool, [valid, ok]);
      const clamped = this.kb.alu(Alu.Min, DType.I32, [this.kb.alu(Alu.Max, DType.I32, [raw, this.i32(0)]), this.i32(inShape[i]! - 1)]);
      return this.ix.atom(clamped, 0, inShape[i]! - 1, isUniform(shifted));
    });
    const inner = this.value(node.srcs[0]!, at);
    if (valid === undefined) return inner;
    return this.kb.alu(Alu.Select, node.dtype, [valid, inner, this.kb.const(node.arg.value, node.dtype)]);
  }

  private gather(node: Node & { op: Op.Gather }, idx: readonly Index[]): ValueId {
    const [table, indices] = node.srcs as [Node, Node];
    const axis = node.arg.axis;
    const rank = indices.shape.length;
    const id = this.kb.cast(this.value(indices, idx.slice(axis, axis + rank)), DType.I32);
    const length = table.shape[axis]!;
    const ok = this.kb.alu(Alu.And, DType.Bool, [this.kb.alu(Alu.CmpLt, DType.Bool, [id, this.i32(length)]), this.kb.alu(Alu.CmpLt, DType.Bool, [this.i32(-1), id])]);
    const clamped = this.kb.alu(Alu.Min, DType.I32, [this.kb.alu(Alu.Max, DType.I32, [id, this.i32(0)]), this.i32(length - 1)]);
    const at = [...idx.slice(0, axis), this.ix.atom(clamped, 0, length - 1, false), ...idx.slice(axis + rank)];
    return this.kb.alu(Alu.Select, node.dtype, [ok, this.value(table, at), this.kb.const(0, node.dtype)]);
  }

  private randomBits(node: Node, idx: readonly Index[]): ValueId {
    const keyNode = node.srcs[0]!;
    const key0 = this.value(keyNode, [constIndex(0)]);
    const key1 = this.value(keyNode, [constIndex(1)]);
    const linear = this.ix.emit(this.ix.linearize(idx, node.shape));
    const counter = this.kb.cast(this.kb.alu(Alu.Div, DType.I32, [linear, this.i32(2)]), DType.U32);
    const [w0, w1] = emitThreefry(this.kb, key0, key1, counter, this.kb.const(0, DType.U32));
    const odd = this.kb.alu(Alu.CmpEq, DType.Bool, [this.kb.alu(Alu.Mod, DType.I32, [linear, this.i32(2)]), this.i32(1)]);
    return this.kb.alu(Alu.Select, DType.U32, [odd, w1, w0]);
  }

  /** A per-thread accumulation loop over `count` elements: acc = combine(acc, element(k)). */
  private serialLoop(dtype: DType, init: number, count: number, combine: Alu, element: (k: Index) => ValueId): ValueId {
    const acc = this.kb.variable(this.kb.const(init, dtype));
    this.kb.loop(this.i32(0), this.i32(count), this.i32(1), (k) => {
      const x = element(this.ix.atom(k, 0, Math.max(0, count - 1), false));
      this.kb.assign(acc, this.kb.alu(combine, dtype, [this.kb.read(acc), x]));
    });
    return this.kb.read(acc);
  }

  private reduce(node: ReduceNode, idx: readonly Index[]): ValueId {
    const input = node.srcs[0]!;
    const axes = node.arg.axes;
    const rowShape = axes.map((a) => input.shape[a]!);
    const count = size(rowShape);
    const combine = node.op === Op.ReduceSum ? Alu.Add : Alu.Max;
    const init = node.op === Op.ReduceSum ? 0 : (LOWEST[node.dtype] ?? 0);
    const at = (k: Index) => {
      const within = this.ix.delinearize(k, rowShape);
      let r = 0;
      return idx.map((x, axis) => (axes.includes(axis) ? within[r++]! : x));
    };
    const kept = idx.filter((_, axis) => !axes.includes(axis));
    const cooperative = this.k.kind === 'row' && kept.every(isUniform);
    if (!cooperative) return this.serialLoop(node.dtype, init, count, combine, (k) => this.value(input, at(k)));
    return this.kb.atDepth(this.uniformDepth, () => {
      const lid = this.localId();
      const acc = this.kb.variable(this.kb.const(init, node.dtype));
      this.kb.loop(lid, this.i32(count), this.i32(this.wg), (k) => {
        const x = this.value(input, at(this.ix.atom(k, 0, Math.max(0, count - 1), false)));
        this.kb.assign(acc, this.kb.alu(combine, node.dtype, [this.kb.read(acc), x]));
      });
      const shared = this.kb.shared(node.dtype, this.wg);
      this.kb.sharedStore(shared, lid, this.kb.read(acc));
      this.kb.barrier();
      for (let stride = this.wg / 2; stride >= 1; stride /= 2) {
        this.kb.when(this.kb.alu(Alu.CmpLt, DType.Bool, [lid, this.i32(stride)]), () => {
          const a = this.kb.sharedLoad(shared, lid);
          const b = this.kb.sharedLoad(shared, this.kb.alu(Alu.Add, DType.I32, [lid, this.i32(stride)]));
          this.kb.sharedStore(shared, lid, this.kb.alu(combine, node.dtype, [a, b]));
        });
        this.kb.barrier();
      }
      return this.kb.sharedLoad(shared, this.i32(0));
    });
  }

  private dot(node: Node & { op: Op.Dot }, idx: readonly Index[]): ValueId {
    const [a, b] = node.srcs as [Node, Node];
    const { batch, contract } = node.arg;
    const freeOf = (x: Node, side: 0 | 1) => x.shape.map((_, i) => i).filter((i) => !batch[side].includes(i) && !contract[side].includes(i));
    const freeA = freeOf(a, 0);
    const freeB = freeOf(b, 1);
    const nb = batch[0].length;
    const contractShape = contract[0].map((ax) => a.shape[ax]!);
    const count = size(contractShape);
    const acc = isFloat(node.dtype) ? node.arg.accumulate : node.dtype;
    const operandIndex = (x: Node, side: 0 | 1, free: number[], freeOffset: number, within: Index[]) =>
      x.shape.map((_, axis) => {
        const bi = batch[side].indexOf(axis);
        if (bi >= 0) return idx[bi]!;
        const fi = free.indexOf(axis);
        if (fi >= 0) return idx[freeOffset + fi]!;
        return within[contract[side].indexOf(axis)]!;
      });
    const sum = this.serialLoop(acc, 0, count, Alu.Add, (k) => {
      const within = this.ix.delinearize(k, contractShape);
      const va = this.kb.cast(this.value(a, operandIndex(a, 0, freeA, nb, within)), acc);
      const vb = this.kb.cast(this.value(b, operandIndex(b, 1, freeB, nb + freeA.length, within)), acc);
      return this.kb.alu(Alu.Mul, acc, [va, vb]);
    });
    return this.kb.cast(sum, node.dtype);
  }
}

export function lowerKernel(k: ScheduledKernel, options: LowerOptions): Kernel {
  return new Lowerer(k, options).lower();
}
