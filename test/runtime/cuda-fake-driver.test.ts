// The CUDA addon and CudaDevice against a fake driver and a fake cuBLASLt
// (test/support/fake-libcuda.c and fake-libcublaslt.c, built here with cc and
// loaded through LD_LIBRARY_PATH in a child process): the Executor's multi-step
// run is captured into a CUDA graph once and replayed on each later run, copies and
// bytes round-trip in every dtype's storage layout, driver errors name the call,
// the CUDA error and the JIT log, and GemmCalls run as cuBLASLt matmuls (the
// column-major mapping, transposes, offsets, shared and strided batches, bf16 and
// f32 outputs, captured and replayed) with the results their definition gives.
// Real kernels run only on a GPU (scripts/gpu-check.sh); this pins everything
// around them.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../../runtime/cuda/device.ts';

const compiler = ['cc', 'gcc'].find((cc) => spawnSync(cc, ['--version']).status === 0);
const addon = loadAddon();
const skip = !compiler ? 'no C compiler (cc) to build the fake driver' : 'error' in addon ? addon.error : '';
const dir = mkdtempSync(join(tmpdir(), 'kiln-fake-cuda-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!!skip)(`CudaDevice on a fake driver${skip ? ` [skipped: ${skip}]` : ''}`, () => {
  let built = false;
  const observed = (env: Record<string, string> = {}): Record<string, unknown> => {
    if (!built) {
      execFileSync(compiler!, ['-shared', '-fPIC', '-o', join(dir, 'libcuda.so.1'), join(__dirname, '..', 'support', 'fake-libcuda.c')]);
      execFileSync(compiler!, ['-shared', '-fPIC', '-o', join(dir, 'libcublasLt.so.13'), join(__dirname, '..', 'support', 'fake-libcublaslt.c'), '-ldl']);
      built = true;
    }
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'support', 'fake-driver-run.ts')], {
      encoding: 'utf8',
      env: { ...process.env, ...env, LD_LIBRARY_PATH: `${dir}${process.env.LD_LIBRARY_PATH ? `:${process.env.LD_LIBRARY_PATH}` : ''}` },
      timeout: 60_000,
    });
    expect(child.status, child.stderr).toBe(0);
    return JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  };
  let result: Record<string, unknown> | undefined;
  const get = (): Record<string, unknown> => (result ??= observed());

  it('opens the device through available() and init()', () => {
    expect(get().availability).toEqual({ ok: true, driverVersion: 13000, devices: 1 });
    expect(get().description).toBe('kiln fake GPU (sm_90, 132 SMs, 1 GiB, cuBLASLt 13.1.0)');
  });

  it('captures a multi-step run once and replays it: launch, copy, launch per run, in order', () => {
    // Each fake launch adds 1 to out[0]; the copy step moves out into p between the two launches.
    expect(get().first).toEqual([2, 0, 0, 0]);
    expect(get().paramAfterFirst).toEqual([1, 0, 0, 0]);
    expect(get().second).toEqual([4, 0, 0, 0]);
    expect(get().paramAfterSecond).toEqual([3, 0, 0, 0]);
    expect(get().paramSet).toEqual([5, -6, 7, 2147483647]);
  });

  it('uploads and downloads every storage layout (f32, f16, bf16, u32, bool as u32 words)', () => {
    expect(get().roundTrips).toEqual({
      f32: [1.5, 0, 3.000000645916e-39, 1.0000000150474662e30],
      f16: [1.5, -2, 65504, 1.1920928955078125e-7],
      bf16: [1.5, -2, 3.00405527047391e38, 0.10009765625],
      u32: [0, 1, 4294967295, 7],
      bool: [1, 0, 1, 1],
    });
  });

  it('reports driver errors with the kernel, the call, the CUDA error and the JIT log', () => {
    expect(get().badPtx).toBe('kernel bump: kiln cuda: cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (218): a PTX JIT compilation failed\nptxas fatal: fake driver found no .entry');
    expect(get().badLaunch).toBe('kiln cuda: cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE (1): fake driver error');
  });

  it('loads cuBLASLt by soname, and says which paths failed when none loads', () => {
    expect(get().missingLibrary).toMatchObject({ ok: false, reason: expect.stringMatching(/no cuBLASLt library could be loaded:\n {2}\/nonexistent\/libcublasLt\.so\.13: /) });
    expect(get().gemmLibrary).toEqual({ ok: true, path: 'libcublasLt.so.13', version: '13.1.0' });
    expect(get().compileGemm).toBe('library');
  });

  it('runs GemmCalls as cuBLASLt matmuls inside the captured step, with the values their definition gives', () => {
    const runs = get().gemmRuns as { got: { h: number[]; y: number[] }; want: { h: number[]; y: number[] } }[];
    expect(runs).toHaveLength(2);
    // the second run replays the graph on new inputs: results follow them (not what the capture saw)
    expect(runs[1]!.want.h).not.toEqual(runs[0]!.want.h);
    for (const run of runs) expect(run.got).toEqual(run.want);
    expect(get().gemmKernelKinds).toEqual(['CudaGemmKernel', 'CudaGemmKernel']);
  });

  it('rejects a GEMM operand reaching past its buffer at bind(), and uses the kernels without cuBLASLt', () => {
    expect(get().pastTheEnd).toBe('kernel gemm_h: GEMM operand a reaches past x (30 elements)');
    expect(get().withoutLibrary).toEqual({ gemm: 'kernel', kernel: 'CudaKernel' });
  });

  it('runs the generated kernel, and says so once per GEMM shape, when cuBLASLt has no algorithm for it', () => {
    expect(get().declined).toEqual({
      kernels: ['CudaKernel', 'CudaKernel'],
      warnings: ['kernel gemm_long (and any other with this GEMM): kiln cuda: cuBLASLt has no algorithm for this GEMM (m 1, n 1, k 1001, batch 1, f32 out); running the generated kernel instead'],
    });
  });

  it('runs every GemmCall as its generated kernel, with one warning, when cuBLASLt loads but cannot start', () => {
    expect(observed({ KILN_FAKE_CUBLASLT: 'create-fails' })).toEqual({
      kinds: ['CudaKernel', 'CudaKernel'],
      warnings: ['kiln cuda: cublasLtCreate failed: CUBLAS_STATUS_NOT_INITIALIZED (1): cuBLASLt cannot start here, so every GemmCall runs as its generated kernel'],
      gemmLibrary: { ok: false, reason: 'kiln cuda: cublasLtCreate failed: CUBLAS_STATUS_NOT_INITIALIZED (1)' },
      compileGemm: 'kernel',
    });
  });
});
