// Autotune: candidate tiles are timed on the live adapter, the winner is never
// slower than the default (which is always a candidate), winners persist per
// device in a cache file written atomically, and compile applies them per kernel.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { DEFAULT_MATMUL_TILES } from '../../compiler/kernel/templates/tiles.ts';
import { spec, trace } from '../../dsl/index.ts';
import { loadTunedTiles, saveTunedTiles, tuneMatmuls } from '../../runtime/tune/autotune.ts';
import { gpu } from '../support/webgpu.ts';

describe('autotune', () => {
  const graph = trace((_, { a, b, c }) => ({ y: a.matmul(b), z: a.matmul(c).exp() }), { a: spec([16, 24]), b: spec([24, 20]), c: spec([24, 8]) }).graph;

  it('times every candidate per matmul kernel; the winner is at most the default tile’s time', async () => {
    const device = await gpu();
    const options = device.compileOptions();
    const small = trace((_, { a, b, c }) => ({ y: a.matmul(b), z: a.matmul(c).exp() }), { a: spec([8, 12]), b: spec([12, 8]), c: spec([12, 4]) }).graph;
    const candidates = [{ tm: 2, tn: 2, threads: 32 }];
    const lines: string[] = [];
    const winners = await tuneMatmuls(device, small, options, { runs: 3, candidates, log: (l) => lines.push(l) });
    expect(winners.size).toBe(2);
    // the adapter's default and the candidate, for both kernels
    expect(lines).toHaveLength(2 * 2);
    expect(lines.filter((l) => l.includes(`${DEFAULT_MATMUL_TILES[options.adapter].tm}x${DEFAULT_MATMUL_TILES[options.adapter].tn}/`))).toHaveLength(2);
    for (const entry of winners.values()) expect(entry.ms).toBeLessThanOrEqual(entry.defaultMs);
  });

  it('winners round-trip through the cache file per device, and compile applies them by kernel key', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-tune-')), 'tune.json');
    const key = compile(graph).program.kernels.find((k) => k.tuneKey?.includes('16x20'))!.tuneKey!;
    saveTunedTiles('adapter A', new Map([[key, { tile: { tm: 2, tn: 5, threads: 8 }, ms: 1, defaultMs: 2 }]]), path);
    saveTunedTiles('adapter B', new Map([[key, { tile: { tm: 1, tn: 1, threads: 4 }, ms: 1, defaultMs: 2 }]]), path);
    const tiles = loadTunedTiles('adapter A', path);
    expect(tiles.get(key)).toEqual({ tm: 2, tn: 5, threads: 8 });
    const kernels = compile(graph, { tunedTiles: tiles }).program.kernels;
    expect(kernels.find((k) => k.tuneKey === key)!.workgroupSize).toBe(8);
    expect(kernels.find((k) => k.tuneKey && k.tuneKey !== key)!.workgroupSize).toBe(DEFAULT_MATMUL_TILES.gpu.threads);
  });

  it('a corrupt or malformed cache file means "nothing tuned", never a crash or a bad tile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tune-'));
    const garbage = join(dir, 'garbage.json');
    writeFileSync(garbage, '{"adapter A": {"k": {"tile": {"tm": 0, "tn": -1, "threads": "x"}}}');
    expect(loadTunedTiles('adapter A', garbage).size).toBe(0);
    const wrongTile = join(dir, 'wrong.json');
    writeFileSync(wrongTile, JSON.stringify({ 'adapter A': { k: { tile: { tm: 0, tn: -1, threads: 'x' } } } }));
    expect(loadTunedTiles('adapter A', wrongTile).size).toBe(0);
    expect(readFileSync(wrongTile, 'utf8')).toContain('adapter A');
  });
});
