// Reference interpreter · running a training step on the host: the step's
// assign outputs are written back into the parameter store, which is what a
// device runtime does in place with its buffers.

import type { Graph } from '../../compiler/ir/graph.ts';
import { Op } from '../../compiler/ir/op.ts';
import type { HostTensor } from './host-tensor.ts';
import { interpret, type HostValue, type InterpretOptions } from './interpret.ts';

/**
 * Runs one step: reads parameters from `state`, writes every assigned value back into it,
 * and returns the other outputs (loss, gradient norm, metrics).
 */
export function runStep(graph: Graph, state: Record<string, Float64Array>, inputs: Readonly<Record<string, HostValue>>, options: InterpretOptions = {}): Record<string, HostTensor> {
  const { outputs, assigned } = interpret(graph, { inputs, params: state }, options);
  for (const [name, value] of Object.entries(assigned)) state[name] = value.data;
  const updates = new Set(graph.outputs.filter((o) => o.node.op === Op.Assign).map((o) => o.name));
  return Object.fromEntries(Object.entries(outputs).filter(([name]) => !updates.has(name)));
}
