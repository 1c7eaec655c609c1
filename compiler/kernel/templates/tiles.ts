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
