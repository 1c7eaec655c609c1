// The training loop: a run killed while it writes a checkpoint leaves the last
// good one loadable, and resuming from it reproduces the uninterrupted run's
// losses exactly; a non-finite loss stops the run naming the step and the
// checkpoint; every step is logged.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { latestCheckpoint, loadCheckpoint } from '../../runtime/io/checkpoint.ts';
import { checkpointPath, stepKey, trainLoop, TrainingDivergedError } from '../../runtime/train/loop.ts';
import type { StepRunner } from '../../runtime/train/step-runner.ts';

const root = mkdtempSync(join(tmpdir(), 'kiln-loop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface ChildResult { readonly losses: Map<number, number>; readonly killed: boolean }

/** Runs test/support/train-child.ts; with `killAtMarker`, SIGKILLs it once the marker file appears. */
function child(dir: string, total: number, pause?: number, killAtMarker?: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', 'test/support/train-child.ts', dir, String(total), ...(pause === undefined ? [] : [String(pause)])];
    const proc = spawn(process.execPath, args, { env: { ...process.env, ...(killAtMarker ? { KILN_CHILD_PAUSE_MARKER: killAtMarker } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const poll = killAtMarker ? setInterval(() => { if (existsSync(killAtMarker)) proc.kill('SIGKILL'); }, 20) : undefined;
    proc.on('close', (code, signal) => {
      if (poll) clearInterval(poll);
      if (code !== 0 && signal !== 'SIGKILL') return reject(new Error(`child exited ${code}: ${err}`));
      const losses = new Map<number, number>();
      for (const line of out.split('\n').filter((l) => l.startsWith('{'))) {
        const { step, loss } = JSON.parse(line) as { step: number; loss: number };
        losses.set(step, loss);
      }
      resolve({ losses, killed: signal === 'SIGKILL' });
    });
  });
}

describe('training loop: kill during a checkpoint write, then resume', () => {
  it('the last good checkpoint loads and the resumed run reproduces the uninterrupted losses exactly', async () => {
    const straight = await child(join(root, 'straight'), 6);
    expect([...straight.losses.keys()]).toEqual([1, 2, 3, 4, 5, 6]);

    const dir = join(root, 'killed');
    const marker = join(root, 'paused');
    const killed = await child(dir, 6, 4, marker);
    expect(killed.killed).toBe(true);
    expect(existsSync(marker)).toBe(true);
    // the step-4 checkpoint never reached its name; its half-written temp file did not replace anything
    expect(existsSync(checkpointPath(dir, 4))).toBe(false);
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(true);
    const last = latestCheckpoint(dir);
    expect(last).toBe(checkpointPath(dir, 2));
    const saved = loadCheckpoint(last!);
    expect(saved.step).toBe(2);
    expect(Object.keys(saved.tensors).some((n) => n.startsWith('optim.m.'))).toBe(true);
    expect(Object.keys(saved.tensors).some((n) => n.startsWith('ema.'))).toBe(true);

    const resumed = await child(dir, 6);
    expect([...resumed.losses.keys()]).toEqual([3, 4, 5, 6]);
    for (const s of [3, 4, 5, 6]) expect(resumed.losses.get(s)).toBe(straight.losses.get(s));
    // the killed run and the straight one agree before the kill too (same seed, same batches)
    for (const s of [1, 2, 3, 4]) expect(killed.losses.get(s)).toBe(straight.losses.get(s));
  }, 240_000);
});

/** A runner whose loss is scripted: the loop's logic without a compiled program. */
function scripted(losses: number[]): StepRunner {
  let calls = 0;
  return {
    device: 'cpu', paramNames: ['w'], paramShapes: { w: [1] }, inputNames: ['x', 'step', 'rng'],
    run: async (inputs) => {
      expect(inputs.step).toBe(calls + 1);
      return { loss: Float64Array.of(losses[calls++]!) };
    },
    readParam: async () => Float64Array.of(calls),
    writeParam: () => {},
    dispose: () => {},
  };
}

describe('training loop: logs and divergence', () => {
  it('stops at the first non-finite loss, naming the step and the last good checkpoint', async () => {
    const dir = join(root, 'nan');
    const run = trainLoop({ label: 't', runner: scripted([1, 0.5, 0.25, NaN, 0.1]), totalSteps: 5, seed: 0, batch: () => ({ x: [0] }), progress: null, checkpoint: { dir, every: 2, config: {}, dtype: 'F32' } });
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as TrainingDivergedError).step).toBe(4);
    expect((error as Error).message).toContain('step 4: loss is NaN');
    expect((error as Error).message).toContain(checkpointPath(dir, 2));
    expect(latestCheckpoint(dir)).toBe(checkpointPath(dir, 2));
  });

  it('writes one JSON line per step with every scalar output, and evaluations in between', async () => {
    const jsonl = join(root, 'log', 'run.jsonl');
    await trainLoop({ label: 't', runner: scripted([3, 2, 1]), totalSteps: 3, seed: 0, batch: () => ({ x: [0] }), progress: null, jsonl, evaluate: { every: 2, run: async (s) => ({ metric: s * 10 }) } });
    const lines = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([{ step: 1, loss: 3 }, { step: 2, loss: 2 }, { step: 2, eval: { metric: 20 } }, { step: 3, loss: 1 }, { step: 3, eval: { metric: 30 } }]);
  });

  it('derives each step\'s RNG key from (seed, step) alone', () => {
    expect(Array.from(stepKey(5, 9))).toEqual(Array.from(stepKey(5, 9)));
    expect(Array.from(stepKey(5, 9))).not.toEqual(Array.from(stepKey(5, 10)));
    expect(Array.from(stepKey(5, 9))).not.toEqual(Array.from(stepKey(6, 9)));
  });
});
