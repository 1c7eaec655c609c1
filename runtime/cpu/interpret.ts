// Reference interpreter · runs a Graph on the host: composites are expanded to
// primitives, then each node is evaluated in topological order in float64 (or
// rounded to float32/f16/bf16 after every op on request). It is kiln's executable
// spec: passes, gradients and GPU backends are all tested against it.

import { formatShape } from '../../compiler/ir/errors.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { size, type Node } from '../../compiler/ir/node.ts';
import { Op, isView } from '../../compiler/ir/op.ts';
import { expandComposites } from '../../compiler/passes/expand-composites.ts';
import type { HostTensor } from './host-tensor.ts';
import { normalizer, type Precision } from './numeric.ts';
import * as ops from './ops.ts';

export type HostValue = HostTensor | ArrayLike<number> | number;

export interface InterpretOptions {
  /** 'f64' (default) computes every float in float64; 'f32' rounds to each node's dtype after every op. */
  readonly precision?: Precision;
}

export interface InterpretResult {
  readonly outputs: Record<string, HostTensor>;
  /** New values written by `assign` nodes, keyed by the target param or input name. */
  readonly assigned: Record<string, HostTensor>;
}

function bind(node: Node & { arg: { name: string } }, value: HostValue | undefined, kind: string): Float64Array {
  if (value === undefined) throw new Error(`interpret: missing ${kind} "${node.arg.name}" (${node.dtype}${formatShape(node.shape)})`);
  if (typeof value === 'number') return new Float64Array(size(node.shape)).fill(value);
  if ('data' in value) {
    if (formatShape(value.shape) !== formatShape(node.shape)) {
      throw new Error(`interpret: ${kind} "${node.arg.name}" has shape ${formatShape(value.shape)}, the graph expects ${formatShape(node.shape)}`);
    }
    return value.data;
  }
  if (value.length !== size(node.shape)) {
    throw new Error(`interpret: ${kind} "${node.arg.name}" has ${value.length} values, the graph expects ${formatShape(node.shape)}`);
  }
  return Float64Array.from(value);
}

function evaluate(node: Node, args: readonly Float64Array[], env: InterpretEnv): Float64Array {
  const [x, y, z] = args;
  const inShape = node.srcs[0]?.shape ?? [];
  switch (node.op) {
    case Op.Const: return new Float64Array(size(node.shape)).fill(node.arg.value);
    case Op.Iota: return ops.iota(node);
    case Op.Input: return bind(node, env.inputs?.[node.arg.name], 'input');
    case Op.Param: return bind(node, env.params?.[node.arg.name], 'param');
    case Op.RandomBits: return ops.randomBits(node, x!);
    case Op.Neg: case Op.Recip: case Op.Sqrt: case Op.Exp2: case Op.Log2:
    case Op.Sin: case Op.Trunc: case Op.Erf: case Op.Not:
      return ops.unary(node, x!);
    case Op.Add: case Op.Mul: case Op.Max: case Op.CmpLt: case Op.CmpNe: case Op.IDiv:
    case Op.Mod: case Op.And: case Op.Or: case Op.Xor: case Op.Shl: case Op.Shr:
      return ops.binary(node, x!, y!, node.srcs[0]!.dtype);
    case Op.Where: return ops.where(x!, y!, z!);
    case Op.Cast: return ops.cast(x!, node.srcs[0]!.dtype, node.dtype);
    case Op.Bitcast: return ops.bitcast(x!, node.srcs[0]!.dtype, node.dtype);
    case Op.ReduceSum: case Op.ReduceMax: return ops.reduce(node, x!, inShape);
    case Op.Reshape: case Op.Permute: case Op.Expand: case Op.Pad: case Op.Shrink: case Op.Flip:
      return ops.view(node, x!, inShape);
    case Op.Dot: return ops.dot(node, x!, inShape, y!, node.srcs[1]!.shape);
    case Op.Gather: return ops.gather(node, x!, inShape, y!);
    case Op.ScatterAdd: return ops.scatterAdd(node, x!, y!);
    case Op.Assign: return y!;
    case Op.StopGradient: return x!;
    case Op.Barrier: return x!;
    case Op.Composite: throw new Error('interpret: composites are expanded before evaluation');
    default: return node satisfies never;
  }
}

export interface InterpretEnv {
  readonly inputs?: Readonly<Record<string, HostValue>>;
  readonly params?: Readonly<Record<string, HostValue>>;
}

const expanded = new WeakMap<Graph, Graph>();

/** The graph with composites expanded, computed once per graph (train steps run the same graph every step). */
function primitiveForm(graph: Graph): Graph {
  let primitive = expanded.get(graph);
  if (!primitive) {
    primitive = graph.nodes.some((n) => n.op === Op.Composite) ? expandComposites.run(graph) : graph;
    expanded.set(graph, primitive);
  }
  return primitive;
}

export function interpret(graph: Graph, env: InterpretEnv = {}, options: InterpretOptions = {}): InterpretResult {
  const precision = options.precision ?? 'f64';
  const primitive = primitiveForm(graph);
  const remainingUses = new Map<number, number>();
  for (const node of primitive.nodes) for (const src of node.srcs) remainingUses.set(src.id, (remainingUses.get(src.id) ?? 0) + 1);
  for (const out of primitive.outputs) remainingUses.set(out.node.id, Infinity);
  const values = new Map<number, Float64Array>();
  const assigned: Record<string, HostTensor> = {};
  for (const node of primitive.nodes) {
    let data = evaluate(node, node.srcs.map((s) => values.get(s.id)!), env);
    const round = normalizer(node.dtype, precision);
    // Views, stop-gradient and assign pass values through unchanged; pad's fill value is new, so it is rounded too.
    if (round && (!isView(node.op) || node.op === Op.Pad) && node.op !== Op.StopGradient && node.op !== Op.Barrier && node.op !== Op.Assign) data = data.map(round);
    values.set(node.id, data);
    if (node.op === Op.Assign) {
      const target = node.srcs[0]!;
      if (target.op === Op.Param || target.op === Op.Input) assigned[target.arg.name] = { dtype: node.dtype, shape: node.shape, data };
    }
    for (const src of node.srcs) {
      const left = remainingUses.get(src.id)! - 1;
      remainingUses.set(src.id, left);
      if (left === 0) values.delete(src.id);
    }
  }
  const outputs: Record<string, HostTensor> = {};
  for (const out of primitive.outputs) outputs[out.name] = { dtype: out.node.dtype, shape: out.node.shape, data: values.get(out.node.id)! };
  return { outputs, assigned };
}

/** Runs a graph with one output and returns it. */
export function interpretOne(graph: Graph, env: InterpretEnv = {}, options: InterpretOptions = {}): HostTensor {
  const { outputs } = interpret(graph, env, options);
  const first = graph.outputs[0];
  if (!first || graph.outputs.length !== 1) throw new Error(`interpretOne: graph has ${graph.outputs.length} outputs`);
  return outputs[first.name]!;
}
