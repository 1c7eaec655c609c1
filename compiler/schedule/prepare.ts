// Schedule · graph rewrites before kernels are chosen: composites become their
// decompositions except those a kernel template lowers (TEMPLATE_COMPOSITES:
// the fused attention kernels), scatterAdd becomes a one-hot
// reduction (so no atomics are needed), and the autodiff-only identities
// (stopGradient, barrier) disappear.

import type { Builder } from '../ir/builder.ts';
import { DType } from '../ir/dtype.ts';
import type { Graph } from '../ir/graph.ts';
import { CompositeKind, type Node, type NodeWith } from '../ir/node.ts';
import { Op } from '../ir/op.ts';
import { expandCompositesExcept } from '../passes/expand-composites.ts';
import type { Pass } from '../passes/pass.ts';
import { rewriteGraph } from '../passes/rewrite.ts';

/**
 * scatterAdd(u, idx, axis, V)[pre, v, post] = Σ_j [idx_j = v] · u[pre, j, post]: a reduce over j
 * of a select, which the scheduler fuses into one kernel (one row per output element).
 */
function scatterAsReduce(b: Builder, node: NodeWith<Op.ScatterAdd>, [updates, indices]: readonly Node[]): Node {
  const { axis, size: length } = node.arg;
  const pre = updates!.shape.slice(0, axis);
  const count = indices!.shape.reduce((a, c) => a * c, 1);
  const post = updates!.shape.slice(axis + indices!.shape.length);
  const p = pre.reduce((a, c) => a * c, 1);
  const q = post.reduce((a, c) => a * c, 1);
  const full = [p, length, count, q];
  const u = b.expand(b.reshape(updates!, [p, 1, count, q]), full);
  const ids = b.expand(b.reshape(b.cast(indices!, DType.I32), [1, 1, count, 1]), full);
  const hit = b.eq(ids, b.iota(full, 1, DType.I32));
  const summed = b.sum(b.where(hit, u, 0), 2);
  return b.reshape(summed, node.shape);
}

export const lowerScatterAdd: Pass = {
  name: 'lower-scatter-add',
  run: (graph) => rewriteGraph(graph, (b, node, srcs) => (node.op === Op.ScatterAdd ? scatterAsReduce(b, node, srcs) : undefined)),
};

/** A weight gradient dot(g, x) (or dot(x, g)) and the bias gradient Σ g over the same contracted axes. */
interface BiasPair {
  readonly dot: NodeWith<Op.Dot>;
  readonly side: 0 | 1;
  readonly reduce: Node;
}

function biasPairs(graph: Graph): Map<number, BiasPair> {
  const dotsByOperand = new Map<number, { dot: NodeWith<Op.Dot>; side: 0 | 1 }[]>();
  for (const n of graph.nodes) {
    if (n.op !== Op.Dot || n.arg.batch[0].length > 0) continue;
    n.srcs.forEach((src, side) => {
      const other = n.srcs[1 - side]!;
      // the other operand needs exactly one free axis to carry the ones column
      if (other.shape.length !== n.arg.contract[1 - side]!.length + 1) return;
      const list = dotsByOperand.get(src.id) ?? [];
      list.push({ dot: n, side: side as 0 | 1 });
      dotsByOperand.set(src.id, list);
    });
  }
  const pairs = new Map<number, BiasPair>();
  const used = new Set<number>();
  for (const n of graph.nodes) {
    if (n.op !== Op.ReduceSum) continue;
    const axes = [...n.arg.axes].sort((a, b) => a - b).join();
    const match = (dotsByOperand.get(n.srcs[0]!.id) ?? []).find(({ dot, side }) => !used.has(dot.id) && [...dot.arg.contract[side]].sort((a, b) => a - b).join() === axes);
    if (!match) continue;
    used.add(match.dot.id);
    pairs.set(match.dot.id, { ...match, reduce: n });
    pairs.set(n.id, { ...match, reduce: n });
  }
  return pairs;
}

/**
 * Σ g (a bias gradient) rides along with the weight gradient dot(g, x): x gets a
 * column of ones (a pad view, no kernel) and the one matmul yields [dW | db]. Both
 * become views of it, so a linear layer's parameter gradients cost one kernel, not
 * two. Applies when the dot comes first in the graph (its output is built before
 * the reduce needs it), which is the order the VJP of linear produces.
 */
export const fuseBiasGradients: Pass = {
  name: 'fuse-bias-gradients',
  run(graph) {
    const pairs = biasPairs(graph);
    if (pairs.size === 0) return graph;
    const fused = new Map<number, Node>();
    return rewriteGraph(graph, (b, node, srcs) => {
      const pair = pairs.get(node.id);
      if (!pair) return undefined;
      const { dot, side } = pair;
      const freeAxisOf = (x: Node, s: 0 | 1) => x.shape.findIndex((_, i) => !dot.arg.contract[s].includes(i));
      if (node === dot) {
        const other = srcs[1 - side]!;
        const free = freeAxisOf(other, (1 - side) as 0 | 1);
        const pads = other.shape.map((_, i) => (i === free ? [0, 1] as const : [0, 0] as const));
        const operands = [...srcs];
        operands[1 - side] = b.pad(other, pads, 1);
        const product = b.dot(operands[0]!, operands[1]!, { batch: [[], []], contract: dot.arg.contract, accumulate: dot.arg.accumulate });
        fused.set(dot.id, product);
        // the ones column is the last index of the other operand's free axis in the product
        const axis = side === 0 ? product.shape.length - 1 : 0;
        return b.slice(product, axis, 0, product.shape[axis]! - 1);
      }
      const product = fused.get(dot.id);
      if (!product) return undefined;
      const axis = side === 0 ? product.shape.length - 1 : 0;
      return b.reshape(b.slice(product, axis, product.shape[axis]! - 1, product.shape[axis]!), node.shape);
    });
  },
};

export const stripIdentities: Pass = {
  name: 'strip-identities',
  run: (graph) => rewriteGraph(graph, (_, node, srcs) => (node.op === Op.StopGradient || node.op === Op.Barrier ? srcs[0] : undefined)),
};

/** Composites a kernel template lowers (compiler/kernel/templates). */
export const TEMPLATE_COMPOSITES: ReadonlySet<CompositeKind> = new Set([
  CompositeKind.Attention,
  CompositeKind.AttentionForward,
  CompositeKind.AttentionBackwardQuery,
  CompositeKind.AttentionBackwardKeyValue,
]);

/**
 * Template composites stay whole, except an attention whose attentionForward (same
 * operands) is in the graph because a backward pass reads its log-sum-exp: that
 * attention becomes a view of the one forward kernel's output.
 */
function keepForTemplate(node: NodeWith<Op.Composite>, graph: Graph): boolean {
  if (!TEMPLATE_COMPOSITES.has(node.arg.kind)) return false;
  if (node.arg.kind !== CompositeKind.Attention) return true;
  return !graph.nodes.some((n) => n.op === Op.Composite && n.arg.kind === CompositeKind.AttentionForward && n.srcs.length === 3 && n.srcs.every((s, i) => s === node.srcs[i]));
}

export const PREPARE_PASSES: readonly Pass[] = [expandCompositesExcept('expand-composites (keeping templates)', keepForTemplate), stripIdentities, fuseBiasGradients, lowerScatterAdd];

export function prepare(graph: Graph): Graph {
  let g = graph;
  for (const pass of PREPARE_PASSES) g = pass.run(g);
  return g;
}
