// Schedule · graph rewrites before kernels are chosen: composites become their
// decompositions (until templates exist for them), scatterAdd becomes a one-hot
// reduction (so no atomics are needed), and the autodiff-only identities
// (stopGradient, barrier) disappear.

import type { Builder } from '../ir/builder.ts';
import { DType } from '../ir/dtype.ts';
import type { Graph } from '../ir/graph.ts';
import type { Node, NodeWith } from '../ir/node.ts';
import { Op } from '../ir/op.ts';
import { expandComposites } from '../passes/expand-composites.ts';
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

export const stripIdentities: Pass = {
  name: 'strip-identities',
  run: (graph) => rewriteGraph(graph, (_, node, srcs) => (node.op === Op.StopGradient || node.op === Op.Barrier ? srcs[0] : undefined)),
};

export const PREPARE_PASSES: readonly Pass[] = [expandComposites, lowerScatterAdd, stripIdentities];

export function prepare(graph: Graph): Graph {
  let g = graph;
  for (const pass of PREPARE_PASSES) g = pass.run(g);
  return g;
}
