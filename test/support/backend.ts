// Test support · the backends a primitive suite runs on. Each case builds a graph,
// runs it here, and compares with test/support/naive.ts. The reference interpreter
// always runs; `cuda` runs where the CUDA driver, the addon and nvcc all exist and
// is otherwise listed as a skipped describe block whose title says why.

import { describe } from 'vitest';
import { compile, CUDA_F32_FEATURES } from '../../compiler/compile.ts';
import { findNvcc, missingNvccMessage, withPtxSync } from '../../compiler/codegen/ptx.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import type { Node } from '../../compiler/ir/node.ts';
import { hostTensor, type HostTensor } from '../../runtime/cpu/host-tensor.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { cudaAvailability, cudaDevice } from '../../runtime/cuda/device.ts';

export type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export interface Backend {
  readonly name: string;
  /** Arithmetic the backend carries out in: float64 (the interpreter) or float32 (GPUs). */
  readonly precision: 'f64' | 'f32';
  run(graph: Graph, inputs: Inputs): Readonly<Record<string, HostTensor>>;
}

/** A backend with the reason it cannot run on this machine, if any. */
export interface BackendEntry {
  readonly backend: Backend;
  readonly skip?: string;
}

const interpreter: Backend = { name: 'interpreter', precision: 'f64', run: (graph, inputs) => interpret(graph, { inputs }).outputs };

/** Compiles for CUDA (PTX through nvcc), runs once on the driver synchronously, reads every output. */
function runCuda(graph: Graph, inputs: Inputs): Readonly<Record<string, HostTensor>> {
  const device = cudaDevice();
  // f32 math (no tensor cores): the suite compares with the interpreter at f32 tolerance; test/compiler/mma.test.ts covers the bf16 policy
  const program = withPtxSync(compile(graph, { target: 'cuda', features: CUDA_F32_FEATURES }).program);
  const buffers = program.buffers.map((b) => device.allocate(b.name, b.dtype, b.size));
  try {
    for (const [name, id] of Object.entries(program.inputs)) {
      const values = inputs[name];
      if (!values) throw new Error(`cuda backend: missing input ${name}`);
      device.upload(buffers[id]!, values);
    }
    const kernels = program.kernels.map((k) => device.bind(device.compileSync(k), k.bindings.map((id) => buffers[id]!), k.grid));
    device.submit(program.steps.map((s) => (s.kind === 'dispatch'
      ? { kind: 'dispatch' as const, kernel: kernels[s.kernel]! }
      : { kind: 'copy' as const, from: buffers[s.from]!, to: buffers[s.to]! })));
    const names = Object.keys(program.outputs);
    const data = device.downloadSync(names.map((n) => buffers[program.outputs[n]!]!));
    return Object.fromEntries(names.map((n, i) => {
      const b = program.buffers[program.outputs[n]!]!;
      return [n, hostTensor(b.shape, data[i]!, b.dtype)];
    }));
  } finally {
    for (const b of buffers) device.release(b);
  }
}

function cudaSkip(): string | undefined {
  const status = cudaAvailability();
  if (!status.ok) return status.reason;
  return findNvcc() ? undefined : missingNvccMessage();
}

export const ALL_BACKENDS: readonly BackendEntry[] = [
  { backend: interpreter },
  { backend: { name: 'cuda', precision: 'f32', run: runCuda }, ...(cudaSkip() ? { skip: cudaSkip()! } : {}) },
];

/** The backends that can run here. */
export const BACKENDS: readonly Backend[] = ALL_BACKENDS.filter((b) => !b.skip).map((b) => b.backend);

/**
 * describe.each over every backend: one block per backend, `$name` in the title
 * replaced by its name; a backend that cannot run here gets a skipped block whose
 * title ends with the reason, so the report shows it.
 */
export function describeBackends(title: string, body: (backend: Backend) => void): void {
  for (const { backend, skip } of ALL_BACKENDS) {
    const named = title.replaceAll('$name', backend.name);
    if (skip) describe.skip(`${named} [skipped: ${skip}]`, () => body(backend));
    else describe(named, () => body(backend));
  }
}

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
