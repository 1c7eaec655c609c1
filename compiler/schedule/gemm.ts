// Schedule · library GEMMs (cuBLASLt on CUDA). In: a prepared graph whose dots
// are to run as vendor GEMM calls. Out: the graph with each such dot's operands
// rounded to bf16 explicitly (so they are realized as bf16 buffers, as PyTorch's
// autocast casts a linear layer's inputs), and, for a scheduled dot kernel, the
// GemmCall a device hands to its library: every operand a strided batch of
// matrices in its buffer, the output a dense [batch, m, n] block.
//
// A library call reads plain buffers, so an operand is usable only as a strided
// view: the view chain from the dot to the operand's buffer must be permutes,
// expands, shrinks and reshapes that keep strides (numpy's no-copy reshape),
// and its batch, row and column axes must each collapse to one stride, with
// rows or columns contiguous (cuBLASLt's row- or column-major matrices).
// Anything else (a pad, a flip, a prologue) is realized by its own kernel first.

import { DType, isFloat } from '../ir/dtype.ts';
import type { Graph } from '../ir/graph.ts';
import { contiguousStrides, size, type DotDims, type Node, type NodeWith } from '../ir/node.ts';
import { Op, isView } from '../ir/op.ts';
import { rebuild } from '../passes/expand-composites.ts';
import { rewriteGraph } from '../passes/rewrite.ts';
import type { Pass } from '../passes/pass.ts';

/** A batch of rows × cols matrices in a buffer: element (b, r, c) is at offset + b·batchStride + r·rowStride + c·colStride. */
export interface GemmMatrix {
  /** Index of the buffer among the kernel's bindings. */
  readonly binding: number;
  readonly offset: number;
  readonly batchStride: number;
  readonly rowStride: number;
  readonly colStride: number;
}

/**
 * One kernel as a library GEMM: out[b, i, j] = Σ_l a[b, i, l] · b[b, l, j] for b < batch, i < m, j < n, l < k,
 * with a and b stored as bf16, f32 accumulation, and out dense row-major [batch, m, n] in binding 0.
 */
export interface GemmCall {
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** m × k matrices. */
  readonly a: GemmMatrix;
  /** k × n matrices. */
  readonly b: GemmMatrix;
  /** Storage of the operands (always bf16: the tensor-core dtype policy). */
  readonly operands: DType.BF16;
  /** Storage of the output buffer. */
  readonly out: DType.BF16 | DType.F32;
}

/** A node's values as a strided view of another node's row-major buffer. */
export interface StridedView {
  readonly base: Node;
  readonly offset: number;
  readonly strides: readonly number[];
}

/** Strides of `to` viewing the same elements as (from, strides) without a copy, or undefined (numpy's no-copy reshape rule). */
function reshapeStrides(from: readonly number[], strides: readonly number[], to: readonly number[]): number[] | undefined {
  const oldDims: number[] = [];
  const oldStrides: number[] = [];
  from.forEach((d, i) => {
    if (d !== 1) {
      oldDims.push(d);
      oldStrides.push(strides[i]!);
    }
  });
  const out = new Array<number>(to.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < to.length && oi < oldDims.length) {
    let oj = oi + 1;
    let nj = ni + 1;
    let newProduct = to[ni]!;
    let oldProduct = oldDims[oi]!;
    while (newProduct !== oldProduct) {
      if (newProduct < oldProduct) newProduct *= to[nj++]!;
      else oldProduct *= oldDims[oj++]!;
    }
    // the old axes of this group must be one contiguous run to be re-split freely
    for (let o = oi; o < oj - 1; o++) if (oldStrides[o] !== oldDims[o + 1]! * oldStrides[o + 1]!) return undefined;
    out[nj - 1] = oldStrides[oj - 1]!;
    for (let n = nj - 1; n > ni; n--) out[n - 1] = out[n]! * to[n]!;
    ni = nj;
    oi = oj;
  }
  return out;
}

/**
 * `node` as a strided view of the first non-view node under it (`stop` ends the walk earlier, at a node that
 * will be a buffer), or undefined when a view in between is not strided.
 */
export function stridedView(node: Node, stop: (n: Node) => boolean = () => false): StridedView | undefined {
  const chain: Node[] = [];
  let base = node;
  while (isView(base.op) && !stop(base)) {
    chain.push(base);
    base = base.srcs[0]!;
  }
  let strides = contiguousStrides(base.shape);
  let offset = 0;
  for (const view of chain.reverse()) {
    const inShape = view.srcs[0]!.shape;
    switch (view.op) {
      case Op.Reshape: {
        const next = reshapeStrides(inShape, strides, view.shape);
        if (!next) return undefined;
        strides = next;
        break;
      }
      case Op.Permute:
        strides = view.arg.perm.map((p) => strides[p]!);
        break;
      case Op.Expand:
        strides = strides.map((s, i) => (inShape[i] === 1 && view.shape[i] !== 1 ? 0 : s));
        break;
      case Op.Shrink:
        offset += view.arg.ranges.reduce((acc, [start], i) => acc + start * strides[i]!, 0);
        break;
      default:
        return undefined; // pad (fills values) and flip (negative strides) are not strided views of their source
    }
  }
  return { base, offset, strides };
}

/** One stride for axes read as a row-major block, or undefined when they are not one run; 0 for a block of one element. */
function collapse(extents: readonly number[], strides: readonly number[]): number | undefined {
  const axes = extents.map((e, i) => ({ e, s: strides[i]! })).filter((a) => a.e !== 1);
  for (let i = 0; i < axes.length - 1; i++) if (axes[i]!.s !== axes[i + 1]!.s * axes[i + 1]!.e) return undefined;
  return axes.length ? axes[axes.length - 1]!.s : 0;
}

/**
 * Operand `side` of `dot` (viewed as `view`) as a batch of matrices (m × k for side 0, k × n for side 1), or undefined
 * when its axes do not collapse or neither its rows nor its columns are contiguous.
 */
export function gemmMatrix(dot: NodeWith<Op.Dot>, side: 0 | 1, view: StridedView, binding: number): GemmMatrix | undefined {
  return operandMatrix(dot.srcs[side]!.shape, dot.arg, side, view, binding);
}

function operandMatrix(shape: readonly number[], dims: DotDims, side: 0 | 1, view: StridedView, binding: number): GemmMatrix | undefined {
  const { batch, contract } = dims;
  const free = shape.map((_, i) => i).filter((i) => !batch[side].includes(i) && !contract[side].includes(i));
  const group = (axes: readonly number[]) => ({ extent: size(axes.map((a) => shape[a]!)), stride: collapse(axes.map((a) => shape[a]!), axes.map((a) => view.strides[a]!)) });
  const b = group(batch[side]);
  const f = group(free);
  const c = group(contract[side]);
  if (b.stride === undefined || f.stride === undefined || c.stride === undefined) return undefined;
  const [rows, cols] = side === 0 ? [f, c] : [c, f];
  const layout = matrixStrides(rows.extent, cols.extent, rows.stride!, cols.stride!);
  if (!layout) return undefined;
  return { binding, offset: view.offset, batchStride: b.extent === 1 ? 0 : b.stride, ...layout };
}

/**
 * Row and column strides a BLAS accepts: one of them 1 and the other at least the contiguous extent (the leading
 * dimension). Axes of extent 1 take whichever stride makes the matrix qualify.
 */
function matrixStrides(rows: number, cols: number, rowStride: number, colStride: number): { rowStride: number; colStride: number } | undefined {
  let r = rowStride;
  let c = colStride;
  if (rows === 1 && cols === 1) return { rowStride: 1, colStride: 1 };
  if (cols === 1) c = r === 1 ? rows : 1;
  else if (rows === 1) r = c === 1 ? cols : 1;
  if (c === 1 && r >= cols) return { rowStride: r, colStride: 1 };
  if (r === 1 && c >= rows) return { rowStride: 1, colStride: c };
  return undefined;
}

/** Dots a library GEMM computes: float operands accumulated in f32 (integer dots stay kernels). */
export function libraryDot(node: Node): node is NodeWith<Op.Dot> {
  return node.op === Op.Dot && isFloat(node.dtype) && node.arg.accumulate === DType.F32 && node.srcs.every((s) => isFloat(s.dtype));
}

/** bf16 round trip, cast(cast(x, bf16), f32): exact in bf16 storage, so the compile stores it narrow whatever kernel writes it. */
export function isBf16RoundTrip(node: Node): boolean {
  return node.op === Op.Cast && node.dtype === DType.F32 && node.srcs[0]!.op === Op.Cast && node.srcs[0]!.dtype === DType.BF16;
}

/**
 * The library-GEMM rewrite: each f32 operand of a library dot is rounded to bf16 (cast(cast(x, bf16), f32)), the
 * rounding the tensor-core kernels apply as they load. Under a strided view chain the rounding goes on the viewed
 * node, so a weight read plain by the forward pass and transposed by the backward one is rounded (and stored) once.
 * An operand that is already bf16 or rounded, or a view of another dot's output (stored bf16 by the dtype policy),
 * is left as it is. Pinned by test/compiler/library-gemm.test.ts (the interpreter on the rewritten graph is its oracle).
 */
export const roundGemmOperands: Pass = {
  name: 'round-gemm-operands',
  run: (graph: Graph) =>
    rewriteGraph(graph, (b, node, srcs) => {
      if (!libraryDot(node)) return undefined;
      const round = (x: Node) => b.cast(b.cast(x, DType.BF16), DType.F32);
      const rounded = srcs.map((s, side) => {
        if (s.dtype !== DType.F32) return s;
        const chain: Node[] = [];
        let base = s;
        while (isView(base.op)) {
          chain.unshift(base);
          base = base.srcs[0]!;
        }
        if (base.op === Op.Dot || isBf16RoundTrip(base)) return s;
        // rounding under the views only pays when the GEMM can read those views (else the operand is copied anyway)
        const view = stridedView(s);
        if (!view || !operandMatrix(s.shape, node.arg, side as 0 | 1, view, 0)) return round(s);
        return chain.reduce((x, view) => rebuild(b, view, [x]), round(base));
      });
      return b.dot(rounded[0]!, rounded[1]!, node.arg);
    }),
};
