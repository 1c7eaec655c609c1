// Test support · running graphs on the real WebGPU adapter (lavapipe in CI) next
// to the reference interpreter, and comparing at float32 tolerance.

import { expect } from 'vitest';
import { compile, type CompileOptions, type Compiled } from '../../compiler/compile.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { Executor } from '../../runtime/executor.ts';
import { webgpuDevice, type WebGpuDevice } from '../../runtime/webgpu/device.ts';

export type Values = Readonly<Record<string, ArrayLike<number>>>;

export async function gpu(): Promise<WebGpuDevice> {
  return webgpuDevice();
}

export interface GpuRun {
  readonly compiled: Compiled;
  readonly outputs: Record<string, Float64Array>;
}

/** Compiles for the live adapter (its limits and granted features, then `options`), runs once with inputs and params, returns every output. */
export async function runOnGpu(graph: Graph, inputs: Values, params: Values = {}, options: CompileOptions = {}): Promise<GpuRun> {
  const device = await gpu();
  const compiled = compile(graph, { ...device.compileOptions(), ...options });
  const exec = await Executor.create(device, compiled.program);
  for (const [name, values] of Object.entries(params)) if (name in compiled.program.params) exec.setParam(name, values);
  const out = await exec.run(Object.fromEntries(Object.entries(inputs).filter(([name]) => name in compiled.program.inputs)));
  return { compiled, outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data])) };
}

/** |gpu − ref| ≤ tol·(1 + |ref|) elementwise, against the interpreter in float32 mode. */
export async function expectGpuMatchesInterpreter(graph: Graph, inputs: Values, params: Values = {}, tol = 2e-4, options: CompileOptions = {}): Promise<void> {
  const ref = interpret(graph, { inputs, params }, { precision: 'f32' }).outputs;
  const { outputs, compiled } = await runOnGpu(graph, inputs, params, options);
  for (const [name, expected] of Object.entries(ref)) {
    const got = outputs[name]!;
    let worst = 0;
    let at = -1;
    expected.data.forEach((e, i) => {
      const err = Math.abs(got[i]! - e) / (1 + Math.abs(e));
      if (!(err <= worst)) {
        worst = err;
        at = i;
      }
    });
    expect(worst, `output ${name}[${at}]: gpu ${got[at]} vs interpreter ${expected.data[at]}\n${graph.toString()}\n${compiled.program.kernels.map((k) => k.source).join('\n')}`).toBeLessThanOrEqual(tol);
  }
}
