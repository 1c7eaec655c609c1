// Runtime · autotune. In: a graph and a live device. Out: the fastest matmul tile
// per kernel (keyed by compile's tune key), measured on that device, and a
// persistent cache of winners keyed by device and kernel. Each candidate tile
// (compiler/kernel/templates/tiles.ts; the adapter's default is always one) is
// compiled into the whole program once; every matmul kernel of it is then timed
// alone: its own buffers, a warm-up dispatch, the median of several dispatches.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { compile, type CompileOptions } from '../../compiler/compile.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import type { MatmulTile } from '../../compiler/kernel/templates/matmul.ts';
import { DEFAULT_MATMUL_TILES, MATMUL_TILE_CANDIDATES } from '../../compiler/kernel/templates/tiles.ts';
import type { Program, ProgramKernel } from '../../compiler/program.ts';
import type { Device } from '../device.ts';

export interface TuneOptions {
  /** Dispatches timed per candidate (median reported); default 5. */
  readonly runs?: number;
  readonly candidates?: readonly MatmulTile[];
  readonly log?: (line: string) => void;
}

export interface TuneEntry {
  readonly tile: MatmulTile;
  /** Median milliseconds of the winner and of the adapter's default tile. */
  readonly ms: number;
  readonly defaultMs: number;
}

/** Times one kernel of a program alone on the device: median ms over `runs` dispatches after one warm-up. */
export async function timeKernel(device: Device, program: Program, kernel: ProgramKernel, runs: number): Promise<number> {
  const buffers = kernel.bindings.map((id) => {
    const b = program.buffers.find((x) => x.id === id)!;
    const buffer = device.allocate(`tune:${b.name}`, b.dtype, b.size);
    device.upload(buffer, Float64Array.from({ length: b.size }, (_, i) => ((i * 7919) % 1009) / 1009 - 0.5));
    return buffer;
  });
  try {
    const bound = device.bind(await device.compile(kernel), buffers, kernel.grid);
    const times: number[] = [];
    for (let r = 0; r <= runs; r++) {
      const start = performance.now();
      device.submit([{ kind: 'dispatch', kernel: bound }]);
      await device.synchronize();
      if (r > 0) times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  } finally {
    for (const b of buffers) device.release(b);
  }
}

/** Measures every candidate tile for every matmul kernel of `graph`; returns the winner per tune key. */
export async function tuneMatmuls(device: Device, graph: Graph, compileOptions: CompileOptions, options: TuneOptions = {}): Promise<Map<string, TuneEntry>> {
  const runs = options.runs ?? 5;
  const fallback = DEFAULT_MATMUL_TILES[compileOptions.adapter ?? 'gpu'];
  const candidates = [fallback, ...(options.candidates ?? MATMUL_TILE_CANDIDATES).filter((t) => JSON.stringify(t) !== JSON.stringify(fallback))];
  const timings = new Map<string, { tile: MatmulTile; ms: number }[]>();
  for (const tile of candidates) {
    const { program } = compile(graph, { ...compileOptions, matmulTile: tile, tunedTiles: new Map() });
    for (const kernel of program.kernels) {
      // a GemmCall runs on cuBLASLt wherever the program was compiled for it: its tile is never used
      if (!kernel.tuneKey || kernel.gemm) continue;
      const ms = await timeKernel(device, program, kernel, runs);
      timings.set(kernel.tuneKey, [...(timings.get(kernel.tuneKey) ?? []), { tile, ms }]);
      options.log?.(`  ${kernel.tuneKey}  tile ${tile.tm}x${tile.tn}/${tile.threads}: ${ms.toFixed(3)} ms`);
    }
  }
  const winners = new Map<string, TuneEntry>();
  for (const [key, list] of timings) {
    const best = list.reduce((a, b) => (b.ms < a.ms ? b : a));
    winners.set(key, { tile: best.tile, ms: best.ms, defaultMs: list[0]!.ms });
  }
  return winners;
}

/** Where winners persist: KILN_TUNE_CACHE, else ~/.cache/kiln/tune.json. */
export function tuneCachePath(): string {
  return process.env.KILN_TUNE_CACHE ?? join(homedir(), '.cache', 'kiln', 'tune.json');
}

type CacheFile = Record<string, Record<string, TuneEntry>>;

function readCache(path: string): CacheFile {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as CacheFile) : {};
  } catch {
    // a missing or unreadable cache only means nothing is tuned yet
    return {};
  }
}

/** Cached tiles for one device, as compile's `tunedTiles`. */
export function loadTunedTiles(deviceKey: string, path = tuneCachePath()): Map<string, MatmulTile> {
  const entries = readCache(path)[deviceKey] ?? {};
  const valid = (t: MatmulTile) => [t.tm, t.tn, t.threads].every((v) => Number.isInteger(v) && v > 0);
  return new Map(Object.entries(entries).filter(([, e]) => e && valid(e.tile)).map(([key, e]) => [key, e.tile]));
}

/** Merges winners into the cache (written to a temporary file and renamed, so a crash never leaves half a file). */
export function saveTunedTiles(deviceKey: string, winners: ReadonlyMap<string, TuneEntry>, path = tuneCachePath()): void {
  const cache = readCache(path);
  cache[deviceKey] = { ...(cache[deviceKey] ?? {}), ...Object.fromEntries(winners) };
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(cache, null, 1));
  renameSync(temporary, path);
}
