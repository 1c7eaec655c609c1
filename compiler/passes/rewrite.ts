// Passes · the one generic graph rewriter: rebuilds every node bottom-up in a
// fresh builder, letting a rule replace a node given its rewritten operands.
// Passes are rule functions over this walk.

import { Builder } from '../ir/builder.ts';
import { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { rebuild } from './expand-composites.ts';

/** A rewrite rule: a replacement for `node` (built in `b` over the new `srcs`), or undefined to keep it. */
export type Rule = (b: Builder, node: Node, srcs: readonly Node[]) => Node | undefined;

export function rewriteGraph(graph: Graph, rule: Rule): Graph {
  const b = new Builder();
  const mapped = new Map<number, Node>();
  for (const node of graph.nodes) {
    const srcs = node.srcs.map((s) => mapped.get(s.id)!);
    mapped.set(node.id, rule(b, node, srcs) ?? rebuild(b, node, srcs));
  }
  return new Graph(graph.outputs.map((o) => ({ name: o.name, node: mapped.get(o.node.id)! })));
}
