// Graph IR · the verifier: re-derives every node's type from its operands with the
// same rules the builder used (inferType, or the composite's decomposition) and
// checks graph-level invariants. Hand-built or pass-rewritten graphs that break a
// rule are rejected with the offending node's line of the printout.

import { compositeType } from '../composite/registry.ts';
import { IRError, ShapeError, formatShape } from './errors.ts';
import type { Graph } from './graph.ts';
import { inferType } from './infer.ts';
import type { Node, TypeOf } from './node.ts';
import { Op } from './op.ts';
import { formatArg } from './print.ts';

function describe(node: Node): string {
  const arg = formatArg(node);
  return `node ${node.id} (${node.op === Op.Composite ? node.arg.kind : node.op}${arg ? ` ${arg}` : ''}) : ${node.dtype}${formatShape(node.shape)}`;
}

function expectedType(node: Node): TypeOf {
  if (node.op === Op.Composite) return compositeType(node.arg.kind, node.srcs, node.arg.attrs);
  return inferType(node.op, node.srcs, node.arg);
}

export function verifyGraph(graph: Graph): void {
  const position = new Map<number, number>();
  graph.nodes.forEach((n, i) => position.set(n.id, i));
  for (const node of graph.nodes) {
    for (const src of node.srcs) {
      if ((position.get(src.id) ?? Infinity) >= position.get(node.id)!) throw new IRError(`${describe(node)}: operand ${src.id} is not defined before use`);
    }
    let expected: TypeOf;
    try {
      expected = expectedType(node);
    } catch (error) {
      if (error instanceof ShapeError) throw new IRError(`${describe(node)}: ${error.detail}`);
      throw error;
    }
    if (expected.dtype !== node.dtype) throw new IRError(`${describe(node)}: dtype should be ${expected.dtype}`);
    if (formatShape(expected.shape) !== formatShape(node.shape)) throw new IRError(`${describe(node)}: shape should be ${formatShape(expected.shape)}`);
    if (node.op === Op.Assign && node.srcs[0]!.op !== Op.Param && node.srcs[0]!.op !== Op.Input) {
      throw new IRError(`${describe(node)}: assign target must be a param or input`);
    }
  }
  const declared = new Map<string, Node>();
  for (const free of [...graph.inputs, ...graph.params]) {
    const key = `${free.op}:${free.arg.name}`;
    const other = declared.get(key);
    if (other) throw new IRError(`${free.op} "${free.arg.name}" is declared twice with different types: ${describe(other)} and ${describe(free)}`);
    declared.set(key, free);
  }
  const names = new Set<string>();
  for (const out of graph.outputs) {
    if (names.has(out.name)) throw new IRError(`output "${out.name}" appears twice`);
    names.add(out.name);
  }
}
