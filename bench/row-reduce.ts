// Bench · row reductions with and without subgroups (a standalone script, not a
// test). In: nothing (a seeded layerNorm [4096, 768] with weight and bias). Out:
// one line per configuration — subgroups off/on × workgroup size — with the
// median of 5 timed runs after 2 warm-up runs (configurations timed round robin),
// and the largest difference from the shared-memory-tree result (the reduction
// order differs, the values must not).
//
//   npx tsx bench/row-reduce.ts [rows] [width]        (RUNS=n for more timed runs)
//
// Data lives in a parameter buffer uploaded once; a timed run is one submission
// of the compiled program plus queue completion, with nothing read back.

import { compile } from '../compiler/compile.ts';
import { init, layerNorm, trace } from '../dsl/index.ts';
import { Executor } from '../runtime/executor.ts';
import { webgpuDevice } from '../runtime/webgpu/device.ts';

const ROWS = Number(process.argv[2] ?? 4096);
const WIDTH = Number(process.argv[3] ?? 768);
const WARMUP = 2;
const RUNS = Number(process.env.RUNS ?? 5);

const graph = trace((ctx) => {
  const x = ctx.param('x', [ROWS, WIDTH], init.zeros());
  const weight = ctx.param('weight', [WIDTH], init.zeros());
  const bias = ctx.param('bias', [WIDTH], init.zeros());
  return { y: layerNorm(x, { weight, bias, eps: 1e-6 }) };
}, {}).graph;

/** Deterministic values in [-2, 2) with a per-row offset, so the mean matters. */
function values(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2 + Math.floor(i / WIDTH) % 7;
  });
}

const device = await webgpuDevice();
const target = device.compileOptions();
console.log(`device: ${device.adapterDescription}; features: ${JSON.stringify(target.features)}; layerNorm [${ROWS}, ${WIDTH}]`);
const data = { x: values(ROWS * WIDTH, 1), weight: values(WIDTH, 2), bias: values(WIDTH, 3) };

const configs = [
  { subgroups: false, workgroupSize: 64 },
  { subgroups: false, workgroupSize: 256 },
  ...(target.features.subgroups ? [8, 16, 32, 64, 128, 256].map((workgroupSize) => ({ subgroups: true, workgroupSize })) : []),
];
const cases = [];
for (const { subgroups, workgroupSize } of configs) {
  const { program } = compile(graph, { ...target, features: { ...target.features, subgroups }, workgroupSize });
  const barriers = program.kernels.reduce((n, k) => n + k.ir.body.filter((i) => i.kind === 'barrier').length, 0);
  const exec = await Executor.create(device, program);
  for (const [name, v] of Object.entries(data)) exec.setParam(name, v);
  const label = `subgroups ${subgroups ? 'on ' : 'off'}  workgroup ${String(workgroupSize).padStart(3)}  barriers ${String(barriers).padStart(2)}`;
  cases.push({ label, exec, samples: [] as number[] });
}
const once = async (exec: Executor): Promise<number> => {
  const t0 = performance.now();
  await exec.run({}, { read: [] });
  await device.synchronize();
  return performance.now() - t0;
};
// Round robin, so a change in machine load affects every configuration alike.
for (let round = 0; round < WARMUP + RUNS; round++) {
  for (const c of cases) {
    const ms = await once(c.exec);
    if (round >= WARMUP) c.samples.push(ms);
  }
}
let reference: Float64Array | undefined;
for (const { label, exec, samples } of cases) {
  samples.sort((a, b) => a - b);
  const y = (await exec.run({})).y!.data;
  reference ??= y;
  let diff = 0;
  for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i]! - reference[i]!));
  exec.dispose();
  console.log(`${label}  median ${samples[samples.length >> 1]!.toFixed(1)} ms  (${samples.map((s) => s.toFixed(1)).join(', ')})  max |Δ| ${diff.toExponential(1)}`);
}
process.exit(0);
