// Kernel IR · default schedules: the matmul template's register tile and the
// flat kernels' workgroup size per adapter class, and the candidates autotune times. A software adapter (lavapipe: each
// workgroup runs on one CPU thread, invocations in 8-wide SIMD lanes) wants
// small workgroups and large per-thread tiles; hardware GPUs want wide
// workgroups for occupancy. The default is always among the candidates.

import type { MatmulTile } from './matmul.ts';

/** What the compiler knows of the adapter: WebGPU's adapter.info.architecture is "software" on lavapipe. */
export type AdapterClass = 'software' | 'gpu';

export const DEFAULT_MATMUL_TILES: Readonly<Record<AdapterClass, MatmulTile>> = {
  software: { tm: 8, tn: 8, threads: 16 },
  gpu: { tm: 4, tn: 4, threads: 64 },
};

/**
 * The default tile of one matmul. lavapipe JIT-compiles every distinct kernel at its first
 * dispatch, and an 8×8 register tile's unrolled body costs LLVM ~2.3× the time of a 4×4 one
 * (SiT-Mini train step, cold: 171 s vs 73 s; warm steps 0.47 s vs 0.55 s). Only outputs big
 * enough to amortise that get the large tile on a software adapter.
 */
export function defaultMatmulTile(adapter: AdapterClass, outputElements: number): MatmulTile {
  return adapter === 'software' && outputElements < SOFTWARE_LARGE_TILE_MIN_OUTPUT ? SOFTWARE_SMALL_TILE : DEFAULT_MATMUL_TILES[adapter];
}

const SOFTWARE_SMALL_TILE: MatmulTile = { tm: 4, tn: 4, threads: 16 };
/** 1024×1024 outputs (the bench's matmul) keep 8×8; a Mini model's [512, 384] do not. */
const SOFTWARE_LARGE_TILE_MIN_OUTPUT = 1 << 20;

/** Threads per workgroup of flat (elementwise) kernels: lavapipe pays per workgroup, so fewer, larger ones (measured 2× on a 4M-element chain). */
export const DEFAULT_FLAT_WORKGROUP: Readonly<Record<AdapterClass, number>> = { software: 256, gpu: 64 };

/** Threads per workgroup of row kernels with subgroups on a software adapter: one 8-lane subgroup. */
export const SOFTWARE_ROW_WORKGROUP = 8;

export const MATMUL_TILE_CANDIDATES: readonly MatmulTile[] = [
  { tm: 4, tn: 4, threads: 64 },
  { tm: 4, tn: 4, threads: 16 },
  { tm: 8, tn: 8, threads: 16 },
  { tm: 8, tn: 8, threads: 64 },
  { tm: 4, tn: 8, threads: 32 },
  { tm: 8, tn: 4, threads: 32 },
  { tm: 4, tn: 16, threads: 8 },
  { tm: 16, tn: 4, threads: 8 },
  // neighbouring threads on neighbouring columns: coalesced loads on hardware GPUs
  { tm: 4, tn: 4, threads: 64, lanes: 8 },
  { tm: 8, tn: 4, threads: 64, lanes: 32 },
];
