// Runtime · one interface for running a compiled program (a train step or a
// forward pass) repeatedly on any device. In: a Graph and initial parameter
// values. Out: a runner whose parameters and optimiser state stay where the
// device keeps them (host arrays for the interpreter, device buffers for WebGPU
// and CUDA); each run feeds inputs and returns the outputs asked for. The whole
// state can be read and written, which is what checkpoints and resume need.

import { compile } from '../../compiler/compile.ts';
import { programWithPtx } from '../cuda/nvrtc.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { Op } from '../../compiler/ir/op.ts';
import type { InterpretOptions } from '../cpu/interpret.ts';
import { runStep } from '../cpu/step.ts';
import { cudaAvailability, cudaDevice } from '../cuda/device.ts';
import { Executor } from '../executor.ts';
import { loadTunedTiles, saveTunedTiles, tuneMatmuls } from '../tune/autotune.ts';
import { webgpuDevice } from '../webgpu/device.ts';

export type StepDevice = 'cpu' | 'webgpu' | 'cuda';
export const STEP_DEVICES: readonly StepDevice[] = ['cpu', 'webgpu', 'cuda'];

export interface StepRunner {
  readonly device: StepDevice;
  /** Every parameter of the program: weights, optimiser moments, EMA, persistent state. */
  readonly paramNames: readonly string[];
  readonly paramShapes: Readonly<Record<string, readonly number[]>>;
  /** The inputs a run takes (a program without randomness has no `rng`). */
  readonly inputNames: readonly string[];
  /** Runs once; returns `read` (default: every output that is not an in-place update). */
  run(inputs: Readonly<Record<string, ArrayLike<number> | number>>, read?: readonly string[]): Promise<Record<string, Float64Array>>;
  readParam(name: string): Promise<Float64Array>;
  writeParam(name: string, values: ArrayLike<number>): void;
  dispose(): void;
}

export interface StepRunnerOptions {
  /** Interpreter precision ('f64' default; 'f32' to compare with a GPU step for step). */
  readonly precision?: InterpretOptions['precision'];
  /**
   * WebGPU: time the matmul tile candidates for this step's kernels on the live adapter
   * first and cache the winners (runtime/tune/autotune.ts). Cached winners are always used.
   */
  readonly tune?: boolean;
}

/** CUDA where a driver and GPU answer, else WebGPU where an adapter exists, else the interpreter. */
export async function bestDevice(): Promise<StepDevice> {
  if (cudaAvailability().ok) return 'cuda';
  try {
    await webgpuDevice();
    return 'webgpu';
  } catch {
    return 'cpu';
  }
}

export async function createStepRunner(device: StepDevice, graph: Graph, params: Readonly<Record<string, ArrayLike<number>>>, options: StepRunnerOptions = {}): Promise<StepRunner> {
  const reported = graph.outputs.filter((o) => o.node.op !== Op.Assign).map((o) => o.name);
  const paramShapes = Object.fromEntries(graph.params.map((p) => [p.arg.name, p.shape]));
  const paramNames = Object.keys(paramShapes);
  const inputNames = graph.inputs.map((n) => n.arg.name);
  const missing = paramNames.filter((name) => !params[name]);
  if (missing.length) throw new Error(`createStepRunner: no initial value for param(s) ${missing.slice(0, 5).map((n) => `"${n}"`).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
  const sizeOf = (name: string) => paramShapes[name]!.reduce((a, b) => a * b, 1);
  const checkWrite = (name: string, values: ArrayLike<number>) => {
    if (!(name in paramShapes)) throw new Error(`writeParam: the program has no param "${name}"`);
    if (values.length !== sizeOf(name)) throw new Error(`writeParam: param "${name}" is [${paramShapes[name]!.join(', ')}] (${sizeOf(name)} values), got ${values.length}`);
  };
  if (device === 'cpu') {
    const state: Record<string, Float64Array> = Object.fromEntries(paramNames.map((name) => [name, Float64Array.from(params[name]!)]));
    const precision = options.precision ?? 'f64';
    return {
      device, paramNames, paramShapes, inputNames,
      run: async (inputs, read = reported) => {
        const out = runStep(graph, state, inputs, { precision });
        return Object.fromEntries(read.map((name) => [name, out[name]!.data]));
      },
      readParam: async (name) => Float64Array.from(state[name]!),
      writeParam: (name, values) => {
        checkWrite(name, values);
        state[name] = Float64Array.from(values);
      },
      dispose: () => {},
    };
  }
  let exec: Executor;
  if (device === 'webgpu') {
    const gpu = await webgpuDevice();
    if (options.tune) saveTunedTiles(gpu.adapterDescription, await tuneMatmuls(gpu, graph, gpu.compileOptions()));
    const { program } = compile(graph, { ...gpu.compileOptions(), tunedTiles: loadTunedTiles(gpu.adapterDescription) });
    exec = await Executor.create(gpu, program);
  } else {
    const cuda = cudaDevice();
    const { program } = compile(graph, cuda.compileOptions());
    exec = await Executor.create(cuda, await programWithPtx(program));
  }
  for (const name of paramNames) exec.setParam(name, params[name]!);
  return {
    device, paramNames, paramShapes, inputNames,
    run: async (inputs, read = reported) => {
      const out = await exec.run(inputs, { read });
      return Object.fromEntries(read.map((name) => [name, out[name]!.data]));
    },
    readParam: (name) => exec.readParam(name),
    writeParam: (name, values) => {
      checkWrite(name, values);
      exec.setParam(name, values);
    },
    dispose: () => exec.dispose(),
  };
}
