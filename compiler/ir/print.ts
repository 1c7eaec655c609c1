// Graph IR · the text printer. One line per node in topological order,
// `%i:dtype[shape] = op %a %b key=value`, numbered from 0 per graph so two
// printouts of equal graphs are equal text. Test failures print this, not objects.

import { formatShape } from './errors.ts';
import { Op } from './op.ts';
import type { Node } from './node.ts';
import type { Graph } from './graph.ts';

function list(xs: readonly number[]): string {
  return formatShape(xs);
}

/** The `key=value` tail of a node's line; exhaustive so a new op must decide how it prints. */
export function formatArg(node: Node): string {
  switch (node.op) {
    case Op.Const:
      return `${node.arg.value}`;
    case Op.Iota:
      return `axis=${node.arg.axis}`;
    case Op.Input:
    case Op.Param:
      return JSON.stringify(node.arg.name);
    case Op.RandomBits:
    case Op.Reshape:
    case Op.Expand:
      return '';
    case Op.Neg: case Op.Recip: case Op.Sqrt: case Op.Exp2: case Op.Log2: case Op.Sin: case Op.Trunc:
    case Op.Erf: case Op.Not: case Op.Add: case Op.Mul: case Op.Max: case Op.CmpLt: case Op.CmpNe:
    case Op.IDiv: case Op.Mod: case Op.And: case Op.Or: case Op.Xor: case Op.Shl: case Op.Shr:
    case Op.Where: case Op.Assign: case Op.StopGradient: case Op.Barrier:
      return '';
    case Op.Cast:
    case Op.Bitcast:
      return '';
    case Op.ReduceSum:
    case Op.ReduceMax:
      return `axes=${list(node.arg.axes)}`;
    case Op.Permute:
      return `perm=${list(node.arg.perm)}`;
    case Op.Pad:
      return `pads=[${node.arg.pads.map(([a, b]) => `${a}:${b}`).join(',')}]${node.arg.value !== 0 ? ` value=${node.arg.value}` : ''}`;
    case Op.Shrink:
      return `ranges=[${node.arg.ranges.map(([a, b]) => `${a}:${b}`).join(',')}]`;
    case Op.Flip:
      return `axes=${list(node.arg.axes)}`;
    case Op.Dot: {
      const { batch, contract, accumulate } = node.arg;
      const batchText = batch[0].length ? `batch=${list(batch[0])}x${list(batch[1])} ` : '';
      return `${batchText}contract=${list(contract[0])}x${list(contract[1])} acc=${accumulate}`;
    }
    case Op.Gather:
      return `axis=${node.arg.axis}`;
    case Op.ScatterAdd:
      return `axis=${node.arg.axis} size=${node.arg.size}`;
    case Op.Composite:
      return Object.entries(node.arg.attrs)
        .map(([k, v]) => `${k}=${Array.isArray(v) ? list(v) : String(v)}`)
        .join(' ');
    default:
      return node satisfies never;
  }
}

function opName(node: Node): string {
  return node.op === Op.Composite ? `${node.arg.kind}` : node.op;
}

export function printNodes(nodes: readonly Node[], outputs: readonly { name: string; node: Node }[]): string {
  const local = new Map<number, number>();
  nodes.forEach((n, i) => local.set(n.id, i));
  const ref = (n: Node): string => `%${local.get(n.id) ?? `?${n.id}`}`;
  const lines = nodes.map((n) => {
    const srcs = n.srcs.map(ref).join(' ');
    const arg = formatArg(n);
    const rhs = [opName(n), srcs, arg].filter((part) => part !== '').join(' ');
    return `  ${ref(n)}:${n.dtype}${formatShape(n.shape)} = ${rhs}`;
  });
  lines.push(`  return ${outputs.map((o) => `${o.name}=${ref(o.node)}`).join(', ')}`);
  return `graph {\n${lines.join('\n')}\n}`;
}

export function printGraph(graph: Graph): string {
  return printNodes(graph.nodes, graph.outputs);
}
