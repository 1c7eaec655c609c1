// GPU check · the side that runs on the GPU machine, bundled by pack.ts into one
// .mjs for the Node binary carried along (the machine has the CUDA driver, no Node,
// no nvcc). In: check.json and bench.json (CUDA Programs with PTX, made by pack.ts)
// and an output folder. Out: one line per check case and the closing line
// `cuda suite: N passed, N failed`, then kiln's median time per bench case in
// <out>/kiln-bench.json (bench/torch/bench.py times the same workloads in PyTorch).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Executor } from '../../runtime/executor.ts';
import { cudaAvailability, cudaDevice } from '../../runtime/cuda/device.ts';
import type { BenchCase, CheckCase } from './corpus.ts';
import { runChecks } from './suite.ts';
import { benchValues } from './values.ts';

const [checkPath, benchPath, outDir] = process.argv.slice(2);
if (!checkPath || !benchPath || !outDir) throw new Error('usage: run.mjs check.json bench.json out-dir');

const status = cudaAvailability();
if (!status.ok) {
  console.error(`kiln gpu-check: CUDA is unavailable: ${status.reason}`);
  process.exit(2);
}
const device = cudaDevice();
console.log(`kiln gpu-check on ${device.description}, driver ${status.driverVersion}`);
console.log(device.gemmLibrary.ok ? `GemmCalls on ${device.gemmLibrary.path}` : `cuBLASLt not loaded (GemmCalls run as generated kernels): ${device.gemmLibrary.reason}`);

const checks = JSON.parse(readFileSync(checkPath, 'utf8')) as CheckCase[];
const { failed } = await runChecks(device, checks, (line) => console.log(line));

const results: Record<string, { title: string; ms: number; runs: number; gflops?: number } | { title: string; error: string }> = {};
const benches = JSON.parse(readFileSync(benchPath, 'utf8')) as BenchCase[];
for (const b of benches) {
  try {
    const loadStarted = performance.now();
    const exec = await Executor.create(device, b.program);
    // one parameter at a time: SiT-XL's 675M values at once would not fit Node's heap
    for (const [name, values] of benchValues(b.params)) if (name in b.program.params) exec.setParam(name, values);
    const run = (): Promise<unknown> => exec.run(b.inputs, { read: b.read });
    const firstStarted = performance.now();
    await run();
    const first = performance.now() - firstStarted;
    console.log(`bench ${b.name}: ${b.program.kernels.length} kernels loaded in ${((firstStarted - loadStarted) / 1000).toFixed(1)} s, first run (graph capture) ${first.toFixed(0)} ms`);
    // a full-size step of a second or more: fewer warm-up and timed runs, so the one call stays inside its limit
    const slow = first > 1000;
    for (let i = 0; i < (slow ? 1 : 2); i++) await run();
    const times: number[] = [];
    const budget = performance.now() + 5000;
    while (times.length < (slow ? 3 : 5) || (times.length < 50 && performance.now() < budget)) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const ms = times[Math.floor(times.length / 2)]!;
    results[b.name] = { title: b.title, ms, runs: times.length, ...(b.flops ? { gflops: b.flops / ms / 1e6 } : {}) };
    console.log(`bench ${b.name}: median ${ms.toFixed(3)} ms over ${times.length} runs`);
    exec.dispose();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    results[b.name] = { title: b.title, error: message };
    console.log(`bench ${b.name} FAILED: ${message}`);
  }
}
writeFileSync(join(outDir, 'kiln-bench.json'), JSON.stringify(results, null, 2));
process.exit(failed > 0 ? 1 : 0);
