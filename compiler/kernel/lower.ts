// Kernel IR · lowering one scheduled kernel. The root value is evaluated at a
// symbolic index (the thread's output element); every inlined Graph IR node is
// evaluated recursively at an index vector, views transform the index, buffers
// are loaded, and reductions become loops: cooperative across the workgroup
// (shared memory tree) when their row is the same for every thread of it, a
// per-thread loop otherwise. Values are memoised per (node, index), so a row
// statistic is computed once per row and reused by every loop that needs it.
// With the subgroup capability the cooperative combine is a subgroup reduction
// plus ONE barrier (see reduce()); barriers are what a software adapter pays for.
// Template kernels (matmul, fused attention) hand their layout to
// compiler/kernel/templates and read operands back through value(); 'group'
// kernels evaluate several roots per thread, one segment per parameter.

import { DType } from '../ir/dtype.ts';
import { size, type Node } from '../ir/node.ts';
import { Op } from '../ir/op.ts';
import { kernelRoots } from '../schedule/group.ts';
import type { ScheduledKernel, ReduceNode } from '../schedule/schedule.ts';
import { KernelBuilder } from './builder.ts';
import { addIndex, constIndex, IndexEmitter, indexKey, isUniform, range, type Index } from './index.ts';
import { Alu, MIN_SUBGROUP_SIZE, type Kernel, type KernelBuffer, type TargetFeatures, type ValueId } from './ir.ts';
import { emitThreefry } from './threefry.ts';
import type { TemplateContext } from './templates/context.ts';
import { lowerAttention } from './templates/attention.ts';
import { lowerMatmul, type MatmulTile } from './templates/matmul.ts';
import { lowerMatmulMma, mmaEligible } from './templates/matmul-mma.ts';

export interface LowerOptions {
  readonly name: string;
  /** Threads per workgroup (a power of two) of flat kernels, and of row kernels unless rowWorkgroupSize is given. */
  readonly workgroupSize: number;
  /** Threads per row kernel; by default ROW_WORKGROUP_WITH_SUBGROUPS with subgroups, else workgroupSize. */
  readonly rowWorkgroupSize?: number;
  /** Buffer name for a node (inputs, params, realized values). */
  readonly bufferName: (node: Node) => string;
  /** Target capabilities; `subgroups` switches cooperative reductions to subgroup ops. */
  readonly features?: TargetFeatures;
  /** Register tile of the matmul template (compiler/kernel/templates/tiles.ts). */
  /** Threads per workgroup of flat and group kernels (workgroupSize when absent); 256 on a software adapter, where per-workgroup overhead dominates. */
  readonly flatWorkgroupSize?: number;
  readonly matmulTile: MatmulTile;
  /** Buffer storage narrower than the node's dtype (KernelBuffer.storage), e.g. bf16 activations; absent = the node's dtype. */
  readonly storageOf?: (node: Node) => DType.BF16 | undefined;
}

const LOWEST: Partial<Record<DType, number>> = {
  [DType.F32]: -3e38,
  [DType.F16]: -65504,
  [DType.BF16]: -3e38,
  [DType.I32]: -2147483648,
  [DType.U32]: 0,
};

/**
 * Threads per row kernel when subgroups combine the partials: a CUDA warp, and on lavapipe
 * (subgroups of 8) ~20% faster than 64 for layerNorm [4096, 768] (bench/row-reduce.ts:
 * fewer invocations per row, fewer slots to fold); 8 and 16 measured no better than 32.
 */
export const ROW_WORKGROUP_WITH_SUBGROUPS = 32;

/** Dtypes subgroup reductions take on every target (bf16 has no WGSL type; bool is not summed). */
const SUBGROUP_DTYPES: ReadonlySet<DType> = new Set([DType.F32, DType.F16, DType.I32, DType.U32]);

const BINARY_ALU: Partial<Record<Op, Alu>> = {
  [Op.Add]: Alu.Add, [Op.Mul]: Alu.Mul, [Op.Max]: Alu.Max, [Op.CmpLt]: Alu.CmpLt, [Op.CmpNe]: Alu.CmpNe,
  [Op.IDiv]: Alu.Div, [Op.Mod]: Alu.Mod, [Op.And]: Alu.And, [Op.Or]: Alu.Or, [Op.Xor]: Alu.Xor,
  [Op.Shl]: Alu.Shl, [Op.Shr]: Alu.Shr,
};

const UNARY_ALU: Partial<Record<Op, Alu>> = {
  [Op.Neg]: Alu.Neg, [Op.Recip]: Alu.Recip, [Op.Sqrt]: Alu.Sqrt, [Op.Exp2]: Alu.Exp2, [Op.Log2]: Alu.Log2,
  [Op.Sin]: Alu.Sin, [Op.Trunc]: Alu.Trunc, [Op.Erf]: Alu.Erf, [Op.Not]: Alu.Not,
};

class Lowerer implements TemplateContext {
  readonly kb = new KernelBuilder();
  readonly ix = new IndexEmitter(this.kb);
  private readonly memo = new Map<string, ValueId>();
  private readonly bindings = new Map<number, number>();
  readonly buffers: KernelBuffer[] = [];
  /** Depth of the workgroup-uniform scope (inside the row guard) where cooperative reductions go. */
  private uniformDepth = -1;
  private lid: ValueId | undefined;
  private substitution: { readonly node: Node; readonly value: ValueId } | undefined;

  constructor(readonly k: ScheduledKernel, readonly options: LowerOptions) {
    const storage = (node: Node) => {
      const narrow = options.storageOf?.(node);
      return narrow ? { storage: narrow } : {};
    };
    for (const root of kernelRoots(k)) this.buffers.push({ name: options.bufferName(root), dtype: root.dtype, access: 'read_write', size: size(root.shape), ...storage(root) });
    for (const node of k.reads) {
      this.bindings.set(node.id, this.buffers.length);
      this.buffers.push({ name: options.bufferName(node), dtype: node.dtype, access: 'read', size: size(node.shape), ...storage(node) });
    }
  }

  get wg(): number {
    if (this.k.kind !== 'row') return this.options.flatWorkgroupSize ?? this.options.workgroupSize;
    return this.options.rowWorkgroupSize ?? (this.options.features?.subgroups ? ROW_WORKGROUP_WITH_SUBGROUPS : this.options.workgroupSize);
  }

  get root(): Node {
    return this.k.root;
  }

  substitute<T>(node: Node, value: ValueId, body: () => T): T {
    const saved = this.substitution;
    this.substitution = { node, value };
    try {
      return body();
    } finally {
      this.substitution = saved;
    }
  }

  i32(v: number): ValueId {
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
    let workgroupSize = this.wg;
    if (this.k.kind === 'group') {
      workgroups = this.group(this.k.segments!);
    } else if (this.k.kind === 'template') {
      const template = this.k.template!;
      const mma = this.options.features?.mma;
      ({ workgroups, workgroupSize } = template.op === Op.Dot
        ? (mma && mmaEligible(template) ? lowerMatmulMma(this, template, mma) : lowerMatmul(this, template, this.options.matmulTile))
        : lowerAttention(this, template, mma));
    } else if (this.k.kind === 'flat') {
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
    return { name: this.options.name, buffers: this.buffers, workgroupSize, workgroups, body: this.kb.finish() };
  }

  /**
   * A group kernel: one thread per element of the concatenated segments; each thread
   * finds its segment and evaluates all of that segment's roots at its element, so the
   * values they share (a gradient, the moments) are loaded and computed once.
   */
  private group(segments: readonly (readonly Node[])[]): number {
    const total = segments.reduce((acc, seg) => acc + size(seg[0]!.shape), 0);
    const gid = this.kb.special('globalId');
    let offset = 0;
    let binding = 0;
    for (const segment of segments) {
      const n = size(segment[0]!.shape);
      const start = offset;
      const first = binding;
      const inside = this.kb.alu(Alu.And, DType.Bool, [
        this.kb.alu(Alu.CmpLt, DType.Bool, [this.i32(start - 1), gid]),
        this.kb.alu(Alu.CmpLt, DType.Bool, [gid, this.i32(start + n)]),
      ]);
      this.kb.when(inside, () => {
        const local = this.kb.alu(Alu.Sub, DType.I32, [gid, this.i32(start)]);
        const linear = this.ix.atom(local, 0, Math.max(0, n - 1), false);
        segment.forEach((root, r) => this.kb.store(first + r, local, this.value(root, this.ix.delinearize(linear, root.shape))));
      });
      offset += n;
      binding += segment.length;
    }
    return Math.max(1, Math.ceil(total / this.wg));
  }

  /** The value of `node` at index vector `idx` (one Index per axis of node.shape). */
  value(node: Node, idx: readonly Index[]): ValueId {
    if (this.substitution?.node === node) return this.substitution.value;
    const key = `${node.id}@${indexKey(idx)}`;
    const hit = this.memo.get(key);
    if (hit !== undefined && this.kb.visible(hit)) return hit;
    const v = this.compute(node, idx);
    this.memo.set(key, v);
    return v;
  }

  private compute(node: Node, idx: readonly Index[]): ValueId {
    const binding = this.bindings.get(node.id);
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
        throw new Error('lower: a dot is always computed by the matmul template (the scheduler realizes it or makes it a template root)');
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
    if (!cooperative) {
      // Hoisted to where its row index is defined: a row statistic in a matmul prologue is computed once per row, not once per k.
      const depth = Math.max(0, ...kept.flatMap((x) => [...x.terms.values()].map((t) => this.kb.depthOf(t.atom.id))));
      return this.kb.atDepth(depth, () => this.serialLoop(node.dtype, init, count, combine, (k) => this.value(input, at(k))));
    }
    return this.kb.atDepth(this.uniformDepth, () => {
      const lid = this.localId();
      const acc = this.kb.variable(this.kb.const(init, node.dtype));
      this.kb.loop(lid, this.i32(count), this.i32(this.wg), (k) => {
        const x = this.value(input, at(this.ix.atom(k, 0, Math.max(0, count - 1), false)));
        this.kb.assign(acc, this.kb.alu(combine, node.dtype, [this.kb.read(acc), x]));
      });
      if (this.options.features?.subgroups && SUBGROUP_DTYPES.has(node.dtype)) return this.subgroupCombine(combine, this.kb.read(acc));
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

  /**
   * Combines one partial per thread across the workgroup with subgroup ops and one barrier:
   * each subgroup reduces its lanes, lane 0 writes the result to slot subgroupId, and after the
   * barrier every thread folds the subgroupCount slots in the same order (so all agree). Any
   * subgroup size works: the slots are sized for the smallest (MIN_SUBGROUP_SIZE).
   */
  private subgroupCombine(combine: Alu.Add | Alu.Max, partial: ValueId): ValueId {
    const dtype = this.kb.dtypeOf(partial);
    const reduced = this.kb.subgroupReduce(combine, partial);
    const slots = this.kb.shared(dtype, Math.ceil(this.wg / MIN_SUBGROUP_SIZE));
    this.kb.when(this.kb.alu(Alu.CmpEq, DType.Bool, [this.kb.special('subgroupLane'), this.i32(0)]), () => {
      this.kb.sharedStore(slots, this.kb.special('subgroupId'), reduced);
    });
    this.kb.barrier();
    const total = this.kb.variable(this.kb.sharedLoad(slots, this.i32(0)));
    this.kb.loop(this.i32(1), this.kb.special('subgroupCount'), this.i32(1), (j) => {
      this.kb.assign(total, this.kb.alu(combine, dtype, [this.kb.read(total), this.kb.sharedLoad(slots, j)]));
    });
    return this.kb.read(total);
  }

}

export function lowerKernel(k: ScheduledKernel, options: LowerOptions): Kernel {
  return new Lowerer(k, options).lower();
}
