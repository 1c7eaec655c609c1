// Graph IR · nodes. A node is immutable and hash-consed by its NodeTable: building
// the same (op, srcs, arg) twice returns the same node, so common subexpression
// elimination is free. Each op's argument type is fixed by OpArgs, and `Node` is a
// discriminated union on `op`, so a switch over node.op narrows node.arg.

import type { DType } from './dtype.ts';
import type { Shape } from './errors.ts';
import { Op } from './op.ts';

export type NodeId = number & { readonly __brand: 'NodeId' };

/** Names the composites kiln knows; their decompositions live in compiler/composite. */
export enum CompositeKind {
  Softmax = 'softmax',
  LogSoftmax = 'logSoftmax',
  LayerNorm = 'layerNorm',
  RmsNorm = 'rmsNorm',
  Gelu = 'gelu',
  Silu = 'silu',
  Swiglu = 'swiglu',
  Linear = 'linear',
  Modulate = 'modulate',
  Attention = 'attention',
  AttentionForward = 'attentionForward',
  AttentionBackwardQuery = 'attentionBackwardQuery',
  AttentionBackwardKeyValue = 'attentionBackwardKeyValue',
  Rope = 'rope',
  Patchify = 'patchify',
  Unpatchify = 'unpatchify',
  Embedding = 'embedding',
  TimestepEmbedding = 'timestepEmbedding',
  SinCos1d = 'sincos1d',
  SinCos2d = 'sincos2d',
  Mse = 'mse',
  CosineSimilarity = 'cosineSimilarity',
}

export type AttrValue = number | string | boolean | readonly number[];
export type Attrs = Readonly<Record<string, AttrValue>>;

export interface DotDims {
  /** Batch axes of a and of b, paired in order; they lead the output. */
  readonly batch: readonly [readonly number[], readonly number[]];
  /** Contracted axes of a and of b, paired in order. */
  readonly contract: readonly [readonly number[], readonly number[]];
  /** The dtype sums are accumulated in (f32 for every float input). */
  readonly accumulate: DType;
}

export interface OpArgs {
  [Op.Const]: { readonly value: number; readonly dtype: DType; readonly shape: Shape };
  [Op.Iota]: { readonly axis: number; readonly dtype: DType; readonly shape: Shape };
  [Op.Input]: { readonly name: string; readonly dtype: DType; readonly shape: Shape };
  [Op.Param]: { readonly name: string; readonly dtype: DType; readonly shape: Shape };
  /** Threefry-2x32 bits for every element of `shape` from a u32[2] key (see random.ts). */
  [Op.RandomBits]: { readonly shape: Shape };
  [Op.Neg]: null;
  [Op.Recip]: null;
  [Op.Sqrt]: null;
  [Op.Exp2]: null;
  [Op.Log2]: null;
  [Op.Sin]: null;
  [Op.Trunc]: null;
  [Op.Erf]: null;
  [Op.Not]: null;
  [Op.Add]: null;
  [Op.Mul]: null;
  [Op.Max]: null;
  [Op.CmpLt]: null;
  [Op.CmpNe]: null;
  [Op.IDiv]: null;
  [Op.Mod]: null;
  [Op.And]: null;
  [Op.Or]: null;
  [Op.Xor]: null;
  [Op.Shl]: null;
  [Op.Shr]: null;
  [Op.Where]: null;
  [Op.Cast]: { readonly dtype: DType };
  [Op.Bitcast]: { readonly dtype: DType };
  [Op.ReduceSum]: { readonly axes: readonly number[] };
  [Op.ReduceMax]: { readonly axes: readonly number[] };
  [Op.Reshape]: { readonly shape: Shape };
  [Op.Permute]: { readonly perm: readonly number[] };
  [Op.Expand]: { readonly shape: Shape };
  /** Per axis [before, after] padding, filled with `value`. */
  [Op.Pad]: { readonly pads: readonly (readonly [number, number])[]; readonly value: number };
  /** Per axis [start, end) kept. */
  [Op.Shrink]: { readonly ranges: readonly (readonly [number, number])[] };
  [Op.Flip]: { readonly axes: readonly number[] };
  [Op.Dot]: DotDims;
  /** out = table.shape[:axis] ++ indices.shape ++ table.shape[axis+1:] */
  [Op.Gather]: { readonly axis: number };
  /** The transpose of Gather: sums updates into a zero tensor whose `axis` has length `size`. */
  [Op.ScatterAdd]: { readonly axis: number; readonly size: number };
  [Op.Assign]: null;
  [Op.StopGradient]: null;
  [Op.Barrier]: null;
  [Op.Composite]: { readonly kind: CompositeKind; readonly attrs: Attrs };
}

interface NodeOf<O extends Op> {
  readonly id: NodeId;
  readonly op: O;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly srcs: readonly Node[];
  readonly arg: OpArgs[O];
}

export type Node = { [O in Op]: NodeOf<O> }[Op];
export type NodeWith<O extends Op> = NodeOf<O>;

export interface TypeOf {
  readonly dtype: DType;
  readonly shape: Shape;
}

export function size(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major element strides of `shape` (the layout of every buffer). */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i]!;
  }
  return strides;
}

function stableJson(value: unknown): string {
  if (Object.is(value, -0)) return '-0';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

/** Interns nodes: the key is (op, dtype, shape, source ids, argument). */
export class NodeTable {
  private readonly byKey = new Map<string, Node>();
  private nextId = 0;

  intern<O extends Op>(op: O, type: TypeOf, srcs: readonly Node[], arg: OpArgs[O]): NodeWith<O> {
    const key = `${op}|${type.dtype}|${type.shape.join(',')}|${srcs.map((s) => s.id).join(',')}|${stableJson(arg)}`;
    const existing = this.byKey.get(key);
    if (existing) return existing as NodeWith<O>;
    const node = Object.freeze({
      id: this.nextId++ as NodeId,
      op,
      dtype: type.dtype,
      shape: Object.freeze([...type.shape]),
      srcs: Object.freeze([...srcs]),
      arg,
    }) as NodeWith<O>;
    this.byKey.set(key, node as Node);
    return node;
  }

  get count(): number {
    return this.byKey.size;
  }
}
