// The full-size training steps — SiT-XL and LightningDiT-XL at batch 32 on 128×32
// latents, MAETok-B stage 1 at 256² — trace, differentiate and compile for WebGPU
// (the local adapter's own limits and features) and for CUDA, and their kernels
// pass the target compilers with zero messages. Each program is one run of
// scripts/validate-full-size.ts in a child process (compile() is synchronous and
// takes 10–120 s at this size; in the test worker it would starve vitest's RPC),
// cut to fit CI: every distinct WGSL source is validated (Tint alone is cheap), but
// nvcc sees a per-kind sample of the distinct CUDA sources, covering every kind.
// Without nvcc that part is skipped, and the test names say why.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findNvcc, missingNvccMessage } from '../../compiler/codegen/ptx.ts';
import { FULL_SIZE_PROGRAMS, formatFailures, type FullSizeResult, type ProgramId } from '../../scripts/validate-full-size.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'validate-full-size.ts');
const NVCC = findNvcc();
const NVCC_PART = NVCC ? 'a per-kind sample of the distinct CUDA sources compiles with nvcc' : `CUDA compiles [nvcc part skipped: ${missingNvccMessage()}]`;
/** Distinct CUDA sources per program sent to nvcc: one nvcc run (a chunk is 64), every kind covered. */
const NVCC_SAMPLE = 32;
/** Longest first, so that with two cores both finish at about the same time. */
const ORDER: readonly ProgramId[] = ['maetok-b', 'sit-xl', 'lightningdit-xl'];

const scratch = mkdtempSync(join(tmpdir(), 'kiln-full-size-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** At most `count` callers run at once; the rest wait in order. */
function slots(count: number): <T>(work: () => Promise<T>) => Promise<T> {
  let free = count;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}
const slot = slots(Math.max(1, Math.min(ORDER.length, availableParallelism())));

/** Runs the script for one program; resolves with its exit status, its stderr (progress) and the JSON report. */
function runScript(id: ProgramId): Promise<{ status: number | null; log: string; result?: FullSizeResult }> {
  const out = join(scratch, `${id}.json`);
  const args = ['--import', 'tsx', SCRIPT, '--only', id, '--json', out, ...(NVCC ? ['--nvcc-sample', String(NVCC_SAMPLE)] : ['--skip-nvcc'])];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 540_000 });
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
    child.on('close', (status) => {
      let result: FullSizeResult | undefined;
      try {
        result = JSON.parse(readFileSync(out, 'utf8')) as FullSizeResult;
      } catch {
        result = undefined;
      }
      resolve({ status, log, ...(result ? { result } : {}) });
    });
  });
}

describe.concurrent('full-size training steps compile for WebGPU and CUDA', () => {
  for (const id of ORDER) {
    const program = FULL_SIZE_PROGRAMS.find((p) => p.id === id)!;
    it(`${program.title} (batch ${program.batch}): every distinct WGSL source validates with zero messages; ${NVCC_PART}`, async () => {
      const { status, log, result } = await slot(() => runScript(id));
      expect(result, `the script wrote no report (exit status ${status}):\n${log.slice(-6000)}`).toBeDefined();
      const report = result!.reports[0]!;
      expect(report.failures, formatFailures([report])).toEqual([]);
      expect(status, log.slice(-6000)).toBe(0);
      const { webgpu, cuda } = report;
      for (const target of [webgpu!, cuda!]) {
        expect(target.kernels).toBeGreaterThan(0);
        expect(target.distinct).toBeGreaterThan(0);
        expect(target.distinct).toBeLessThanOrEqual(target.kernels);
      }
      expect(webgpu!.validated).toBe(webgpu!.distinct);
      if (NVCC) {
        expect(cuda!.validated).toBe(Math.min(NVCC_SAMPLE, cuda!.distinct));
        expect(cuda!.validatedKinds).toBe(cuda!.kinds);
      }
    }, 600_000);
  }
});
