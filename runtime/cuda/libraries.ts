// Runtime · CUDA: where the CUDA libraries kiln dlopen()s may live on a machine
// that has the driver but perhaps no toolkit: by soname (LD_LIBRARY_PATH,
// ldconfig), in the toolkit's lib64, and in Python's site-packages, where
// PyTorch's nvidia-* wheels put them (a GPU machine with only the driver and
// PyTorch has NVRTC and cuBLASLt there).

import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CUDA_TOOLKITS = ['/usr/local/cuda', '/opt/cuda'];

export function listFolder(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch {
    return [];
  }
}

/** Python package folders that may hold the nvidia-* CUDA wheels (or PyTorch). KILN_PYTHON_SITE adds one. */
export function sitePackages(env: NodeJS.ProcessEnv = process.env): string[] {
  const roots = ['/usr/lib', '/usr/local/lib', join(homedir(), '.local', 'lib'), ...[env.VIRTUAL_ENV, env.CONDA_PREFIX].filter((p): p is string => !!p).map((p) => join(p, 'lib'))];
  const out: string[] = env.KILN_PYTHON_SITE ? [env.KILN_PYTHON_SITE] : [];
  for (const root of roots) {
    for (const python of listFolder(root).filter((n) => /^python3(\.\d+)?$/.test(n))) {
      for (const kind of ['site-packages', 'dist-packages']) {
        const folder = join(root, python, kind);
        if (existsSync(join(folder, 'nvidia')) || existsSync(join(folder, 'torch'))) out.push(folder);
      }
    }
  }
  return [...new Set(out)];
}

/** Paths for dlopen, in order: bare sonames (the loader's search), then matching files in the toolkits and in `wheelDirs` under each site-packages. */
export function libraryCandidates(sonames: readonly string[], file: RegExp, wheelDirs: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const files = (folder: string) => listFolder(folder).filter((n) => file.test(n)).sort().reverse().map((n) => join(folder, n));
  return [
    ...sonames,
    ...CUDA_TOOLKITS.flatMap((t) => files(join(t, 'lib64'))),
    ...sitePackages(env).flatMap((site) => wheelDirs.flatMap((dir) => files(join(site, dir)))),
  ];
}
