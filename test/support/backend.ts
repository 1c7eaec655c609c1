// Test support · the backends a primitive suite runs on. Each case builds a graph,
// runs it here, and compares with test/support/naive.ts. Only the reference
// interpreter exists on the host; GPU backends join this list where one is present.

import { Graph } from '../../compiler/ir/graph.ts';
import type { Node } from '../../compiler/ir/node.ts';
import type { HostTensor } from '../../runtime/cpu/host-tensor.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

export type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export interface Backend {
  readonly name: string;
  run(graph: Graph, inputs: Inputs): Readonly<Record<string, HostTensor>>;
}

export const BACKENDS: readonly Backend[] = [
  { name: 'interpreter', run: (graph, inputs) => interpret(graph, { inputs }).outputs },
];

export interface Ran {
  readonly out: HostTensor;
  /** The graph as IR text, printed when an assertion fails. */
  readonly ir: string;
}

/** Runs the graph whose single output is `node`. */
export function runOne(backend: Backend, node: Node, inputs: Inputs): Ran {
  const graph = new Graph([{ name: 'out', node }]);
  const out = backend.run(graph, inputs).out;
  if (!out) throw new Error(`${backend.name} returned no output "out"`);
  return { out, ir: graph.toString() };
}

/** Runs a graph with several named outputs. */
export function runMany(backend: Backend, outputs: Readonly<Record<string, Node>>, inputs: Inputs): { outs: Readonly<Record<string, HostTensor>>; ir: string } {
  const graph = new Graph(Object.entries(outputs).map(([name, node]) => ({ name, node })));
  return { outs: backend.run(graph, inputs), ir: graph.toString() };
}
