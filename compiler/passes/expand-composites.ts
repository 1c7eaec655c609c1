// Passes · composite resolution: replaces every composite node by its reference
// decomposition, repeatedly, until only primitives remain. The interpreter and
// gradient checks run this; GPU backends keep composites they have templates for.

import { decompose } from '../composite/registry.ts';
import { Builder } from '../ir/builder.ts';
import { Graph } from '../ir/graph.ts';
import type { Node, NodeWith } from '../ir/node.ts';
import { Op } from '../ir/op.ts';
import type { Pass } from './pass.ts';

/** Rebuilds `node` in `b` over new operands: the one generic node copy every rewrite uses. */
export function rebuild(b: Builder, node: Node, srcs: readonly Node[]): Node {
  if (node.op === Op.Composite) return b.compositeNode(node.arg.kind, srcs, node.arg.attrs, node);
  return b.node(node.op, srcs, node.arg as never) as Node;
}

/** Decides, for one composite node of the graph being expanded, whether it stays whole. */
export type KeepComposite = (node: NodeWith<Op.Composite>, graph: Graph) => boolean;

function expandOnce(graph: Graph, b: Builder, keep: KeepComposite): { graph: Graph; expanded: number } {
  const mapped = new Map<number, Node>();
  let expanded = 0;
  for (const node of graph.nodes) {
    const srcs = node.srcs.map((s) => mapped.get(s.id)!);
    if (node.op === Op.Composite && !keep(node, graph)) {
      mapped.set(node.id, decompose(b, node, srcs));
      expanded++;
    } else {
      mapped.set(node.id, rebuild(b, node, srcs));
    }
  }
  return { graph: new Graph(graph.outputs.map((o) => ({ name: o.name, node: mapped.get(o.node.id)! }))), expanded };
}

/** Expands every composite `keep` rejects (a backend keeps those it lowers with a kernel template). */
export function expandCompositesExcept(name: string, keep: KeepComposite): Pass {
  return {
    name,
    run(graph) {
      const b = new Builder();
      let current = graph;
      for (;;) {
        const { graph: next, expanded } = expandOnce(current, b, keep);
        current = next;
        if (expanded === 0) return current;
      }
    },
  };
}

export const expandComposites: Pass = expandCompositesExcept('expand-composites', () => false);
