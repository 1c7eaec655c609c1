// Runtime · CUDA: PTX for a Program on the machine that runs it. nvcc when it is
// installed (compiler/codegen/ptx.ts); otherwise NVRTC, the runtime compiler
// library, dlopen()ed by the CUDA addon: a GPU machine with only the driver and
// PyTorch has no nvcc but does have libnvrtc (PyTorch's wheels depend on
// nvidia-cuda-nvrtc). The library is searched in KILN_NVRTC, then by soname
// (LD_LIBRARY_PATH, ldconfig), then in the toolkit's folder and Python's
// site-packages; the CUDA headers the kernels include (cuda_fp16.h, cuda_bf16.h)
// in KILN_CUDA_INCLUDE, the toolkit, or the nvidia-* wheels beside libnvrtc.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findNvcc, missingNvccMessage, withPtx, type CudaSourceCompiler, type PtxOptions } from '../../compiler/codegen/ptx.ts';
import type { Program } from '../../compiler/program.ts';
import { loadAddon } from './device.ts';
import { CUDA_TOOLKITS, libraryCandidates, listFolder } from './libraries.ts';

export type NvrtcStatus =
  | { readonly ok: true; readonly path: string; readonly version: string; readonly includes: readonly string[]; readonly compiler: CudaSourceCompiler }
  | { readonly ok: false; readonly reason: string };

const SONAMES = ['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so'];

/** Where to look for libnvrtc, in order (paths for dlopen; bare sonames use the loader's search). */
export function nvrtcCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.KILN_NVRTC) return [env.KILN_NVRTC];
  return libraryCandidates(SONAMES, /^libnvrtc\.so(\.\d+)*$/, ['nvidia/cuda_nvrtc/lib', 'nvidia/cu13/lib'], env);
}

/** Folders holding cuda_fp16.h for NVRTC's include path. */
export function cudaIncludeDirs(nvrtcPath: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const candidates = [
    ...(env.KILN_CUDA_INCLUDE ? [env.KILN_CUDA_INCLUDE] : []),
    ...CUDA_TOOLKITS.map((t) => join(t, 'include')),
    // wheels: site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.* → site-packages/nvidia/*/include
    ...(nvrtcPath.includes('/nvidia/') ? listFolder(join(dirname(nvrtcPath), '..', '..')).map((pkg) => join(dirname(nvrtcPath), '..', '..', pkg, 'include')) : []),
  ];
  return [...new Set(candidates)].filter((d) => existsSync(join(d, 'cuda_fp16.h')));
}

/** NVRTC as a CudaSourceCompiler, or why it cannot be used. Warnings fail the compile, as nvcc's -Werror does for kiln. */
export function nvrtcStatus(env: NodeJS.ProcessEnv = process.env): NvrtcStatus {
  const found = loadAddon();
  if ('error' in found) return { ok: false, reason: found.error };
  const loaded = found.addon.nvrtcLoad(nvrtcCandidates(env));
  if (!loaded.ok) return { ok: false, reason: `${loaded.reason}\n(set KILN_NVRTC to libnvrtc.so's path)` };
  const includes = cudaIncludeDirs(loaded.path, env);
  const compiler: CudaSourceCompiler = (source, arch) => {
    const options = [`--gpu-architecture=${arch.replace(/^sm_/, 'compute_')}`, '--std=c++17', ...includes.map((d) => `--include-path=${d}`)];
    const { ptx, log } = found.addon.nvrtcCompile(source, 'kiln.cu', options);
    if (/\bwarning\b/.test(log)) throw new Error(`NVRTC ${loaded.version} warned (kiln requires zero warnings):\n${log}`);
    return ptx;
  };
  return { ok: true, path: loaded.path, version: loaded.version, includes, compiler };
}

/**
 * `program` with PTX on every kernel: through nvcc when it is found (PtxOptions.nvcc,
 * KILN_NVCC, PATH), else through NVRTC; an error names what is missing for both.
 */
export async function programWithPtx(program: Program, options: PtxOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<Program> {
  if (findNvcc(options, env)) return withPtx(program, options);
  const nvrtc = nvrtcStatus(env);
  if (!nvrtc.ok) throw new Error(`${missingNvccMessage(options, env)}\nNVRTC, the fallback, is unavailable too: ${nvrtc.reason}`);
  return withPtx(program, { ...options, compiler: nvrtc.compiler });
}
