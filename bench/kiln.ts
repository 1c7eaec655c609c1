// Bench · kiln under test, through its public pieces only. In: a workload's host
// data. Out: a BenchCase whose run() executes the compiled Program once and reads
// a 4-value probe (or the scalar loss) back. Pipeline: DSL trace (+ valueAndGrad
// or trainStep) → compile(graph, device.compileOptions()) → Executor on kiln's own WebGPU
// device, which requests the adapter's maximum limits. Benchmark data lives in
// parameter buffers, uploaded once, as the peers keep theirs on the device.

import { compile } from '../compiler/compile.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import {
  DType, RNG_INPUT, STEP_INPUT, constantLr, init, initParams, layerNorm, spec, trace, trainStep, valueAndGrad,
  type Context, type ModelOutputs, type Shape, type Tensor,
} from '../dsl/index.ts';
import { SIT_MINI, MAETOK_MINI } from '../models/configs.ts';
import { maetokStage1Loss } from '../models/maetok.ts';
import { diffusionInputs, diffusionLoss } from '../models/sit.ts';
import { patchTeacher } from '../models/teacher.ts';
import { vitBlock } from '../models/vit.ts';
import { Executor } from '../runtime/executor.ts';
import { loadTunedTiles } from '../runtime/tune/autotune.ts';
import { webgpuDevice } from '../runtime/webgpu/device.ts';
import type { BenchCase, Library, Outputs, Prepared } from './harness.ts';
import { BLOCK, type WorkloadData } from './workloads.ts';

type F32 = Tensor<Shape, DType.F32>;

const PROBE = 4;
const DATA_PREFIX = 'data.';

/** The first few values of `t`, a separate tiny output so a timed run reads back 16 bytes. */
function probe(t: F32): F32 {
  const size = t.shape.reduce((a, b) => a * b, 1);
  return t.reshape([size]).slice(0, 0, PROBE) as F32;
}

/** Benchmark data as a parameter (uploaded once, kept on the device). */
function held(ctx: Context, name: string, shape: readonly number[]): F32 {
  return ctx.param(`${DATA_PREFIX}${name}`, shape, init.zeros());
}

async function load(graph: Graph, params: Readonly<Record<string, ArrayLike<number>>>): Promise<Executor> {
  const device = await webgpuDevice();
  // the device's limits, features and adapter class, plus any tiles `npm run tune` cached for this adapter
  const { program } = compile(graph, { ...device.compileOptions(), tunedTiles: loadTunedTiles(device.adapterDescription) });
  const exec = await Executor.create(device, program);
  const missing = Object.keys(program.params).filter((name) => !(name in params));
  if (missing.length > 0) throw new Error(`bench/kiln: no values for params ${missing.join(', ')}`);
  for (const name of Object.keys(program.params)) exec.setParam(name, params[name]!);
  return exec;
}

/** A case that reads `timed` in each run and `checked` once for the comparison. */
function benchCase(exec: Executor, timed: readonly string[], checked: readonly string[], inputs: () => Readonly<Record<string, ArrayLike<number> | number>> = () => ({})): BenchCase {
  return {
    run: async () => {
      await exec.run(inputs(), { read: timed });
    },
    outputs: async (): Promise<Outputs> => {
      const out = await exec.run(inputs(), { read: checked });
      return Object.fromEntries(checked.map((name) => [name, out[name]!.data]));
    },
    dispose: () => exec.dispose(),
  };
}

async function prepareBlock(data: Extract<WorkloadData, { kind: 'block' }>): Promise<BenchCase> {
  const { batch, train } = data;
  const shape = [batch, BLOCK.tokens, BLOCK.width] as const;
  const weightNames: string[] = [];
  const { graph } = trace((ctx): ModelOutputs => {
    const x = held(ctx, 'x', shape);
    const y = vitBlock(ctx, x, { heads: BLOCK.heads, eps: BLOCK.eps, mlpRatio: BLOCK.mlpRatio });
    const weights = [...ctx.declaredParams()].filter(([name]) => !name.startsWith(DATA_PREFIX));
    weightNames.push(...weights.map(([name]) => name));
    if (!train) return { out: y, probe: probe(y) };
    const { value, grads } = valueAndGrad(y.mean(), weights.map(([, t]) => t));
    return { loss: value, ...Object.fromEntries(weights.map(([name], i) => [`grad.${name}`, grads[i]!])) };
  });
  // The peers build the block from data.params: the same names and shapes mean the same architecture.
  const expected = Object.keys(data.params).sort().join(', ');
  if (weightNames.slice().sort().join(', ') !== expected) throw new Error(`bench/kiln: vitBlock declares ${weightNames.join(', ')}, the workload has ${expected}`);
  const params: Record<string, ArrayLike<number>> = { [`${DATA_PREFIX}x`]: data.x };
  for (const [name, p] of Object.entries(data.params)) params[name] = p.values;
  const loaded = await load(graph, params);
  return train
    ? benchCase(loaded, ['loss'], ['loss', ...weightNames.map((n) => `grad.${n}`)])
    : benchCase(loaded, ['probe'], ['out']);
}

/** One whole training step of a model config (forward + backward + clip + AdamW), fed fresh rng each run. */
async function prepareModel(data: Extract<WorkloadData, { kind: 'model' }>): Promise<BenchCase> {
  const { batch } = data;
  const options = { schedule: constantLr(1e-4), clip: 1.0 };
  const step = data.model === 'sit-mini'
    ? trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, SIT_MINI), diffusionInputs(SIT_MINI, batch), options)
    : trainStep(
      (ctx, { images }) => maetokStage1Loss(ctx, images, MAETOK_MINI, { teachers: { dino: patchTeacher('dino', MAETOK_MINI.patch, 32) } }),
      { images: spec([batch, MAETOK_MINI.imageChannels, MAETOK_MINI.imageSize, MAETOK_MINI.imageSize] as const) },
      options,
    );
  const exec = await load(step.graph, initParams(step.params, 0));
  // Fixed data (latents and labels, or images); the step number and the rng key advance each run.
  const fixed: Record<string, Float64Array> = {};
  for (const [name, id] of Object.entries(exec.program.inputs)) {
    if (name === STEP_INPUT || name === RNG_INPUT) continue;
    const buffer = exec.program.buffers.find((b) => b.id === id)!;
    fixed[name] = buffer.dtype === DType.I32
      ? Float64Array.from({ length: buffer.size }, (_, i) => i % 10)
      : Float64Array.from({ length: buffer.size }, (_, i) => Math.sin(i * 0.37));
  }
  let count = 0;
  const inputs = () => {
    count += 1;
    const values: Record<string, ArrayLike<number> | number> = { ...fixed };
    if (STEP_INPUT in exec.program.inputs) values[STEP_INPUT] = count;
    if (RNG_INPUT in exec.program.inputs) values[RNG_INPUT] = [7, count];
    return values;
  };
  const bench = benchCase(exec, ['loss'], ['loss'], inputs);
  return {
    ...bench,
    outputs: async () => {
      const out = await bench.outputs();
      const loss = out.loss![0]!;
      if (!Number.isFinite(loss)) throw new Error(`bench/kiln: ${data.model} training step gave a non-finite loss ${loss}`);
      return out;
    },
  };
}

async function prepare(data: WorkloadData): Promise<Prepared> {
  switch (data.kind) {
    case 'matmul': {
      const { n } = data;
      const { graph } = trace((ctx) => {
        const c = held(ctx, 'a', [n, n]).matmul(held(ctx, 'b', [n, n])) as F32;
        return { out: c, probe: probe(c) };
      });
      return { bench: benchCase(await load(graph, { 'data.a': data.a, 'data.b': data.b }), ['probe'], ['out']) };
    }
    case 'elementwise': {
      const { graph } = trace((ctx) => {
        const x = held(ctx, 'x', [data.x.length]);
        const f = x.mul(1.5).add(0.25).sin().mul(x).exp().add(x);
        const y = f.mul(f).add(1).sqrt().sub(x) as F32;
        return { out: y, probe: probe(y) };
      });
      return { bench: benchCase(await load(graph, { 'data.x': data.x }), ['probe'], ['out']) };
    }
    case 'layernorm': {
      const { rows, cols, eps } = data;
      const { graph } = trace((ctx) => {
        const y = layerNorm(held(ctx, 'x', [rows, cols]), { eps, weight: held(ctx, 'weight', [cols]), bias: held(ctx, 'bias', [cols]) });
        return { out: y, probe: probe(y) };
      });
      return { bench: benchCase(await load(graph, { 'data.x': data.x, 'data.weight': data.weight, 'data.bias': data.bias }), ['probe'], ['out']) };
    }
    case 'block':
      return { bench: await prepareBlock(data) };
    case 'model':
      return { bench: await prepareModel(data) };
    default:
      return data satisfies never;
  }
}

export const kiln: Library = { name: 'kiln', prepare };
