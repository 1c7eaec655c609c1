// Graph IR · a traced program: named outputs plus every node reachable from them,
// in topological order (sources before users). Inputs and params are the graph's
// free variables, listed in first-use order. Passes take a Graph and return one.

import { Op } from './op.ts';
import type { Node, NodeWith } from './node.ts';
import { printGraph } from './print.ts';

export interface GraphOutput {
  readonly name: string;
  readonly node: Node;
}

export class Graph {
  readonly nodes: readonly Node[];
  readonly inputs: readonly NodeWith<Op.Input>[];
  readonly params: readonly NodeWith<Op.Param>[];

  constructor(readonly outputs: readonly GraphOutput[]) {
    this.nodes = topoSort(outputs.map((o) => o.node));
    this.inputs = this.nodes.filter((n): n is NodeWith<Op.Input> => n.op === Op.Input);
    this.params = this.nodes.filter((n): n is NodeWith<Op.Param> => n.op === Op.Param);
  }

  output(name: string): Node {
    const found = this.outputs.find((o) => o.name === name);
    if (!found) throw new Error(`graph has no output "${name}" (outputs: ${this.outputs.map((o) => o.name).join(', ')})`);
    return found.node;
  }

  toString(): string {
    return printGraph(this);
  }
}

/** Post-order DFS without recursion (model graphs are deep enough to overflow the JS stack). */
export function topoSort(roots: readonly Node[]): Node[] {
  const order: Node[] = [];
  const state = new Map<number, 'open' | 'done'>();
  const stack: { node: Node; next: number }[] = [];
  for (const root of roots) {
    if (state.has(root.id)) continue;
    stack.push({ node: root, next: 0 });
    state.set(root.id, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const src = top.node.srcs[top.next++];
      if (src === undefined) {
        stack.pop();
        state.set(top.node.id, 'done');
        order.push(top.node);
      } else if (!state.has(src.id)) {
        state.set(src.id, 'open');
        stack.push({ node: src, next: 0 });
      } else if (state.get(src.id) === 'open') {
        throw new Error(`cycle through node ${src.id} (${src.op})`);
      }
    }
  }
  return order;
}
