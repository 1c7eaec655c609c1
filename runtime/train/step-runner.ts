// Runtime · one interface for running a compiled step (a train step or a forward
// pass) repeatedly on any device. Parameters and optimiser state are loaded once
// and stay where the device keeps them (host arrays for the interpreter, device
// buffers for WebGPU); each run feeds inputs and returns the non-assign outputs.

import { compile } from '../../compiler/compile.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { Op } from '../../compiler/ir/op.ts';
import type { InterpretOptions } from '../cpu/interpret.ts';
import { runStep } from '../cpu/step.ts';
import { Executor } from '../executor.ts';
import { loadTunedTiles, saveTunedTiles, tuneMatmuls } from '../tune/autotune.ts';
import { webgpuDevice } from '../webgpu/device.ts';

export type StepDevice = 'cpu' | 'webgpu';

export interface StepRunner {
  readonly device: StepDevice;
  /** Runs one step; returns the outputs that are not in-place updates. */
  run(inputs: Readonly<Record<string, ArrayLike<number> | number>>): Promise<Record<string, Float64Array>>;
  readParam(name: string): Promise<Float64Array>;
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

export async function createStepRunner(device: StepDevice, graph: Graph, params: Readonly<Record<string, Float64Array>>, options: StepRunnerOptions = {}): Promise<StepRunner> {
  const reported = graph.outputs.filter((o) => o.node.op !== Op.Assign).map((o) => o.name);
  if (device === 'cpu') {
    const state: Record<string, Float64Array> = { ...params };
    const precision = options.precision ?? 'f64';
    return {
      device,
      run: async (inputs) => {
        const out = runStep(graph, state, inputs, { precision });
        return Object.fromEntries(reported.map((name) => [name, out[name]!.data]));
      },
      readParam: async (name) => state[name]!,
    };
  }
  const gpu = await webgpuDevice();
  if (options.tune) saveTunedTiles(gpu.adapterDescription, await tuneMatmuls(gpu, graph, gpu.compileOptions()));
  const { program } = compile(graph, { ...gpu.compileOptions(), tunedTiles: loadTunedTiles(gpu.adapterDescription) });
  const exec = await Executor.create(gpu, program);
  for (const name of Object.keys(program.params)) {
    const values = params[name];
    if (!values) throw new Error(`createStepRunner: no initial value for param "${name}"`);
    exec.setParam(name, values);
  }
  return {
    device,
    run: async (inputs) => {
      const out = await exec.run(inputs, { read: reported });
      return Object.fromEntries(reported.map((name) => [name, out[name]!.data]));
    },
    readParam: (name) => exec.readParam(name),
  };
}
