// GPU check · the rehearsal without a GPU: the check cases of a pack (pack.ts)
// run on the Kernel IR simulator (runtime/sim) through the same suite the GPU
// machine runs, so the Programs it will receive (tensor-core kernels, bf16
// activations, the interpreter's expected values and tolerances) are known to
// pass as far as a CPU can tell. Cases with library GEMMs run twice: with their
// GemmCalls computed from the definition (a machine where cuBLASLt loads) and
// with the generated kernels (one where it does not). Exit status 1 if any case
// fails.
//
//   npx tsx scripts/gpu-check/simulate.ts [pack-dir]      (default out/gpu-check)

import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimulatedDevice } from '../../runtime/sim/device.ts';
import type { CheckCase } from './corpus.ts';
import { runChecks } from './suite.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pack = resolve(process.argv[2] ?? join(root, 'out', 'gpu-check'));
const checks = JSON.parse(execFileSync('xz', ['-dc', join(pack, 'check.json.xz')], { maxBuffer: 2 ** 30 }).toString('utf8')) as CheckCase[];
console.log(`kiln gpu-check rehearsal: ${checks.length} check cases from ${pack} on the Kernel IR simulator`);
const { failed } = await runChecks(new SimulatedDevice({ gemm: true }), checks, (line) => console.log(line));
const library = checks.filter((c) => c.program.kernels.some((k) => k.gemm)).map((c) => ({ ...c, name: `${c.name} (generated kernels, no cuBLASLt)` }));
const fallback = await runChecks(new SimulatedDevice(), library, (line) => console.log(line));
process.exit(failed + fallback.failed > 0 ? 1 : 0);
