// Passes · what a pass is: a named Graph → Graph function. runPasses applies a
// list in order and verifies the graph after each one, so a broken rewrite is
// caught at the pass that made it, with the pass's name in the error.

import type { Graph } from '../ir/graph.ts';
import { verifyGraph } from '../ir/verify.ts';

export interface Pass {
  readonly name: string;
  run(graph: Graph): Graph;
}

export function runPasses(graph: Graph, passes: readonly Pass[]): Graph {
  let current = graph;
  for (const pass of passes) {
    current = pass.run(current);
    try {
      verifyGraph(current);
    } catch (error) {
      throw new Error(`after pass "${pass.name}": ${(error as Error).message}\n${current.toString()}`);
    }
  }
  return current;
}
