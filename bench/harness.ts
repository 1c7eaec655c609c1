// Bench · the harness shared by every library. In: a prepared case per library
// and workload (a function that runs once, including a small readback that forces
// completion). Out: timings (median of timed runs after warm-up), the markdown
// table, and the machine description printed with it.

import os from 'node:os';
import type { Workload, WorkloadData } from './workloads.ts';

/** Host values in the reference layout, keyed by output name ('out', 'loss', 'grad.<param>'). */
export type Outputs = Readonly<Record<string, ArrayLike<number>>>;

export interface BenchCase {
  /** One timed run: submit all the work, then read a few values back to the host. */
  run(): Promise<void>;
  /** The outputs compared across libraries (untimed; read in full). */
  outputs(): Promise<Outputs>;
  dispose(): void;
}

export type Prepared = { readonly bench: BenchCase } | { readonly unavailable: string };

/** A library under test: kiln or a peer, each on its own WebGPU adapter and device. */
export interface Library {
  readonly name: string;
  prepare(data: WorkloadData): Promise<Prepared>;
}

export interface Timing {
  readonly samplesMs: readonly number[];
  readonly medianMs: number;
  /** True when the time budget stopped timing before the requested runs. */
  readonly cut: boolean;
}

export type Cell =
  | { readonly status: 'ok'; readonly timing: Timing; /** The first call: compile + run + full readback. */ readonly firstMs: number }
  | { readonly status: 'n/a'; readonly reason: string };

export interface TimingOptions {
  readonly runs: number;
  readonly warmup: number;
  readonly budgetSeconds: number;
  readonly minRuns: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Warm-up runs (untimed) for each case, then timed rounds in which every case
 * runs once, in turn — so a change in the machine's background load hits every
 * library alike. Stops after `runs` rounds, or once the budget (per case) is
 * spent and `minRuns` rounds are done. A case that throws is dropped and reported.
 */
export async function measureInterleaved(cases: ReadonlyMap<string, () => Promise<void>>, options: TimingOptions): Promise<Map<string, Timing | Error>> {
  const active = new Map(cases);
  const results = new Map<string, Timing | Error>();
  const samples = new Map<string, number[]>([...cases.keys()].map((name) => [name, []]));
  const attempt = async (name: string, run: () => Promise<void>, timedRun: boolean): Promise<void> => {
    try {
      const t0 = performance.now();
      await run();
      if (timedRun) samples.get(name)!.push(performance.now() - t0);
    } catch (error) {
      active.delete(name);
      results.set(name, error instanceof Error ? error : new Error(String(error)));
    }
  };
  for (const [name, run] of cases) for (let i = 0; i < options.warmup && active.has(name); i++) await attempt(name, run, false);
  const start = performance.now();
  const budget = options.budgetSeconds * cases.size;
  for (let round = 1; round <= options.runs && active.size > 0; round++) {
    for (const [name, run] of [...active]) await attempt(name, run, true);
    if ((performance.now() - start) / 1000 > budget && round >= Math.min(options.minRuns, options.runs)) break;
  }
  for (const [name, list] of samples) {
    if (results.has(name)) continue;
    results.set(name, { samplesMs: list, medianMs: median(list), cut: list.length < options.runs });
  }
  return results;
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function formatRate(workload: Workload, ms: number): string {
  if (!workload.rate) return '';
  const perSecond = workload.rate.perRun / (ms / 1000) / 1e9;
  return ` · ${perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2)} ${workload.rate.unit}`;
}

export interface Row {
  readonly workload: Workload;
  /** Requested timed runs. */
  readonly runs: number;
  readonly cells: Readonly<Record<string, Cell>>;
}

/**
 * The markdown table: one row per workload, one column per library, then kiln's
 * time divided by the best peer's (below 1: kiln is faster). Reasons for "n/a"
 * become numbered notes under the table.
 */
export function formatTable(rows: readonly Row[], libraries: readonly string[], reference = 'kiln'): string {
  const notes: string[] = [];
  const note = (text: string): string => {
    let index = notes.indexOf(text);
    if (index < 0) index = notes.push(text) - 1;
    return `[${index + 1}]`;
  };
  const peers = libraries.filter((l) => l !== reference);
  const header = ['workload', ...libraries, `${reference} time ÷ best peer time (< 1: ${reference} faster)`];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = libraries.map((library) => {
      const cell = row.cells[library];
      if (!cell) return '—';
      if (cell.status === 'n/a') return `n/a ${note(`${library}, ${row.workload.name}: ${cell.reason}`)}`;
      const { medianMs, samplesMs, cut } = cell.timing;
      return `${formatMs(medianMs)}${formatRate(row.workload, medianMs)}${cut ? ` (${plural(samplesMs.length, 'run')})` : ''}`;
    });
    const mine = row.cells[reference];
    let best: { library: string; ms: number } | undefined;
    for (const peer of peers) {
      const cell = row.cells[peer];
      if (cell?.status === 'ok' && (!best || cell.timing.medianMs < best.ms)) best = { library: peer, ms: cell.timing.medianMs };
    }
    const ratio = mine?.status === 'ok' && best ? `${(mine.timing.medianMs / best.ms).toFixed(2)} (vs ${best.library})` : '—';
    lines.push(`| ${row.workload.title}, ${plural(row.runs, 'run')} | ${cells.join(' | ')} | ${ratio} |`);
  }
  if (notes.length > 0) lines.push('', ...notes.map((text, i) => `[${i + 1}] ${text}`));
  return lines.join('\n');
}

/** The first call of each case (compile or jit + one run + reading every output back), which the main table leaves out. */
export function formatFirstCalls(rows: readonly Row[], libraries: readonly string[]): string {
  const header = ['workload', ...libraries];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = libraries.map((library) => {
      const cell = row.cells[library];
      return cell?.status === 'ok' ? formatMs(cell.firstMs) : 'n/a';
    });
    lines.push(`| ${row.workload.title} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function machineDescription(): string {
  const cpus = os.cpus();
  const memory = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${memory} GiB RAM, Node ${process.version}`;
}
