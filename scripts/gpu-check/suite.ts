// GPU check · the check suite proper: each case's CUDA Program run twice on a
// device (on CUDA the first run captures a graph, the second replays it) and its
// outputs compared with the interpreter's elementwise, |got − want| ≤ tol·(1 + |want|).
// run.ts runs it on the GPU machine's CudaDevice; simulate.ts on the Kernel IR
// simulator here, as the rehearsal.

import type { Device } from '../../runtime/device.ts';
import { Executor } from '../../runtime/executor.ts';
import type { CheckCase } from './corpus.ts';

function worstError(got: Float64Array, want: readonly number[]): { error: number; at: number } {
  let error = 0;
  let at = -1;
  want.forEach((w, i) => {
    const e = Math.abs(got[i]! - w) / (1 + Math.abs(w));
    if (!(e <= error)) {
      error = e;
      at = i;
    }
  });
  return { error, at };
}

/** One line per case (`ok` / `FAIL`), then `cuda suite: N passed, N failed`. */
export async function runChecks(device: Device, checks: readonly CheckCase[], log: (line: string) => void): Promise<{ passed: number; failed: number }> {
  let passed = 0;
  let failed = 0;
  for (const c of checks) {
    const started = performance.now();
    try {
      const exec = await Executor.create(device, c.program);
      for (const [name, values] of Object.entries(c.params)) if (name in c.program.params) exec.setParam(name, values);
      const inputs = Object.fromEntries(Object.entries(c.inputs).filter(([name]) => name in c.program.inputs));
      for (const pass of ['captured', 'replayed']) {
        if (pass === 'replayed') for (const [name, values] of Object.entries(c.params)) if (name in c.program.params) exec.setParam(name, values);
        const out = await exec.run(inputs, { read: Object.keys(c.expected) });
        const problems = Object.entries(c.expected).map(([name, want]) => ({ name, ...worstError(out[name]!.data, want) }))
          .filter((r) => !(r.error <= c.tolerance));
        if (problems.length > 0) {
          const p = problems[0]!;
          throw new Error(`${pass} run: output ${p.name}[${p.at}] = ${out[p.name]!.data[p.at]}, interpreter ${c.expected[p.name]![p.at]} (relative error ${p.error.toExponential(2)} > ${c.tolerance})`);
        }
      }
      exec.dispose();
      passed++;
      log(`ok   ${c.name} (${c.program.kernels.length} kernels, ${(performance.now() - started).toFixed(0)} ms)`);
    } catch (error) {
      failed++;
      log(`FAIL ${c.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  log(`cuda suite: ${passed} passed, ${failed} failed`);
  return { passed, failed };
}
