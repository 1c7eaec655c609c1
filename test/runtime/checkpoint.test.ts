// kiln checkpoints: parameters (with optimiser state and EMA), step, RNG seed and
// config survive save → load exactly (F64) or rounded to float32 (F32); the
// metadata is the documented safetensors __metadata__ (read back by hand here);
// bad metadata is rejected by name; latestCheckpoint finds the highest step and
// skips temp files, including the one a killed writer leaves behind.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_FORMAT, CheckpointError, latestCheckpoint, loadCheckpoint, saveCheckpoint, type Checkpoint } from '../../runtime/io/checkpoint.ts';
import { SafetensorsFormatError, writeSafetensors } from '../../runtime/io/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The __metadata__ object of a safetensors file, read by hand from the spec layout. */
function rawMetadata(path: string): Record<string, string> {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  return (JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as { __metadata__: Record<string, string> }).__metadata__;
}

function small(step: number, overrides: Partial<Checkpoint> = {}): Checkpoint {
  return {
    tensors: { w: Float64Array.from([1, 2, 3, 4, 5, 6]), 'optim.m.w': new Float64Array(6).fill(0.5) },
    shapes: { w: [2, 3], 'optim.m.w': [2, 3] },
    dtype: 'F64',
    step,
    rng: { seed: 7 },
    config: { model: 'tiny' },
    ...overrides,
  };
}

const names = ['blocks.0.attn.qkv.weight', 'optim.m.blocks.0.attn.qkv.weight', 'optim.v.blocks.0.attn.qkv.weight', 'ema.blocks.0.attn.qkv.weight', 'discriminator/conv.bias', 'step_scale'];

const checkpointArb = (values: fc.Arbitrary<number>) =>
  fc
    .tuple(
      fc.uniqueArray(fc.constantFrom(...names), { maxLength: names.length }),
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
      fc.nat({ max: 2 ** 40 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.jsonValue(),
      fc.dictionary(fc.string().filter((key) => !key.startsWith('kiln.')), fc.string(), { maxKeys: 3 }),
    )
    .chain(([picked, shape, step, seed, config, extra]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return fc.tuple(...picked.map(() => fc.array(values, { minLength: n, maxLength: n }))).map((arrays) => ({
        tensors: Object.fromEntries(picked.map((name, i) => [name, Float64Array.from(arrays[i]!)])),
        shapes: Object.fromEntries(picked.map((name) => [name, shape])),
        step,
        rng: { seed },
        config,
        extra,
      }));
    });

function expectSameValues(got: Float64Array, want: ArrayLike<number>, label: string): void {
  expect(got).toBeInstanceOf(Float64Array);
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Object.is(got[i], want[i]), `${label}[${i}]: ${got[i]} vs ${want[i]}`).toBe(true);
}

describe('checkpoints: save → load', () => {
  it('F64 round-trips every tensor, shape, step, seed, config and extra key exactly', () => {
    const path = join(dir, 'f64.safetensors');
    fc.assert(
      fc.property(checkpointArb(fc.double()), (c) => {
        saveCheckpoint(path, { ...c, dtype: 'F64' });
        const loaded = loadCheckpoint(path);
        expect(loaded.dtype).toBe('F64');
        expect(loaded.step).toBe(c.step);
        expect(loaded.rng).toEqual(c.rng);
        expect(loaded.config).toEqual(JSON.parse(JSON.stringify(c.config)));
        expect({ ...loaded.extra }).toEqual(c.extra);
        expect(Object.keys(loaded.tensors).sort()).toEqual(Object.keys(c.tensors).sort());
        for (const [name, values] of Object.entries(c.tensors)) {
          expect(loaded.shapes[name]).toEqual(c.shapes[name]);
          expectSameValues(loaded.tensors[name]!, values, name);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('F32 stores each value rounded to the nearest float32 (Math.fround) and loads it as float64', () => {
    const path = join(dir, 'f32.safetensors');
    fc.assert(
      fc.property(checkpointArb(fc.double()), (c) => {
        saveCheckpoint(path, { ...c, dtype: 'F32' });
        const loaded = loadCheckpoint(path);
        expect(loaded.dtype).toBe('F32');
        for (const [name, values] of Object.entries(c.tensors)) expectSameValues(loaded.tensors[name]!, Array.from(values, Math.fround), name);
      }),
      { numRuns: 40 },
    );
  });

  it('writes the documented metadata keys', () => {
    const path = join(dir, 'metadata.safetensors');
    saveCheckpoint(path, small(120, { dtype: 'F32', rng: { seed: 3 }, config: { depth: 2, name: 'a' }, extra: { note: 'hello' } }));
    const metadata = rawMetadata(path);
    expect(metadata).toEqual({
      'kiln.format': 'kiln-checkpoint/1',
      'kiln.dtype': 'F32',
      'kiln.step': '120',
      'kiln.rng': expect.any(String),
      'kiln.config': expect.any(String),
      note: 'hello',
    });
    expect(JSON.parse(metadata['kiln.rng']!)).toEqual({ seed: 3 });
    expect(JSON.parse(metadata['kiln.config']!)).toEqual({ depth: 2, name: 'a' });
    expect(CHECKPOINT_FORMAT).toBe('kiln-checkpoint/1');
  });

  it.each<[string, Partial<Checkpoint>, RegExp]>([
    ['a negative step', { step: -1 }, /step -1 is not a non-negative integer/],
    ['a fractional step', { step: 1.5 }, /step 1.5 is not a non-negative integer/],
    ['a seed that is not a number', { rng: { seed: Number.NaN } }, /rng .* has no finite numeric seed/],
    ['a config JSON cannot hold', { config: 10n }, /config is not JSON-serialisable/],
    ['an undefined config', { config: undefined }, /config is not JSON-serialisable/],
    ['an extra key in the kiln namespace', { extra: { 'kiln.step': '5' } }, /extra key 'kiln.step' uses the reserved prefix/],
    ['a tensor without a shape', { shapes: { w: [2, 3] } }, /tensor 'optim.m.w' has no shape/],
    ['a shape without a tensor', { shapes: { w: [2, 3], 'optim.m.w': [2, 3], ghost: [1] } }, /shape given for 'ghost' but no tensor/],
    ['an unknown dtype', { dtype: 'F16' as 'F32' }, /dtype 'F16' is not F32 or F64/],
  ])('saving rejects %s and writes nothing', (_, overrides, message) => {
    const sub = mkdtempSync(join(dir, 'save-'));
    expect(() => saveCheckpoint(join(sub, 'c.safetensors'), small(1, overrides))).toThrow(CheckpointError);
    expect(() => saveCheckpoint(join(sub, 'c.safetensors'), small(1, overrides))).toThrow(message);
    expect(readdirSync(sub)).toEqual([]);
  });

  it('saving rejects values that do not fill the shape (from the safetensors writer)', () => {
    const path = join(dir, 'short.safetensors');
    expect(() => saveCheckpoint(path, small(1, { shapes: { w: [2, 4], 'optim.m.w': [2, 3] } }))).toThrow(SafetensorsFormatError);
    expect(() => saveCheckpoint(path, small(1, { shapes: { w: [2, 4], 'optim.m.w': [2, 3] } }))).toThrow(/tensor 'w': 6 values, but shape \[2, 4\] holds 8/);
  });
});

describe('checkpoints: bad metadata is rejected by name', () => {
  const good = { 'kiln.format': CHECKPOINT_FORMAT, 'kiln.dtype': 'F64', 'kiln.step': '5', 'kiln.rng': '{"seed":1}', 'kiln.config': '{}' };
  const tensor = { w: { dtype: 'F64' as const, shape: [1], data: [1] } };
  it.each<[string, Record<string, string | undefined>, RegExp]>([
    ['no format tag', { 'kiln.format': undefined }, /not a kiln checkpoint \(no kiln.format metadata\)/],
    ['a newer format', { 'kiln.format': 'kiln-checkpoint/2' }, /kiln.format is 'kiln-checkpoint\/2', this kiln reads 'kiln-checkpoint\/1'/],
    ['no dtype', { 'kiln.dtype': undefined }, /kiln.dtype is missing, not F32 or F64/],
    ['a dtype other than F32/F64', { 'kiln.dtype': 'BF16' }, /kiln.dtype is 'BF16', not F32 or F64/],
    ['a tensor whose dtype disagrees', { 'kiln.dtype': 'F32' }, /tensor 'w' is F64, but kiln.dtype says F32/],
    ['no step', { 'kiln.step': undefined }, /kiln.step is missing, not a non-negative integer/],
    ['a negative step', { 'kiln.step': '-1' }, /kiln.step is '-1', not a non-negative integer/],
    ['a fractional step', { 'kiln.step': '1.5' }, /kiln.step is '1.5'/],
    ['a step with a leading zero', { 'kiln.step': '07' }, /kiln.step is '07'/],
    ['a step in exponent form', { 'kiln.step': '1e3' }, /kiln.step is '1e3'/],
    ['a step past 2^53', { 'kiln.step': '99999999999999999999' }, /kiln.step is '99999999999999999999'/],
    ['a step that is not a number', { 'kiln.step': 'five' }, /kiln.step is 'five'/],
    ['rng that is not JSON', { 'kiln.rng': '{seed:1}' }, /kiln.rng is not valid JSON/],
    ['rng without a numeric seed', { 'kiln.rng': '{"seed":"1"}' }, /kiln.rng is \{"seed":"1"\}, which has no finite numeric seed/],
    ['no rng', { 'kiln.rng': undefined }, /no kiln.rng metadata/],
    ['config that is not JSON', { 'kiln.config': '{"a":' }, /kiln.config is not valid JSON/],
    ['no config', { 'kiln.config': undefined }, /no kiln.config metadata/],
  ])('%s', (_, changes, message) => {
    const path = join(dir, 'bad-metadata.safetensors');
    const metadata = Object.fromEntries(Object.entries({ ...good, ...changes }).filter((entry): entry is [string, string] => entry[1] !== undefined));
    writeSafetensors(path, tensor, metadata);
    expect(() => loadCheckpoint(path)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(path)).toThrow(`${path}: `);
    expect(() => loadCheckpoint(path)).toThrow(message);
  });

  it('the unchanged metadata loads (so each case above fails for its own reason)', () => {
    const path = join(dir, 'good-metadata.safetensors');
    writeSafetensors(path, tensor, good);
    expect(loadCheckpoint(path).step).toBe(5);
  });

  it('a file that is not safetensors at all is a SafetensorsFormatError naming it', () => {
    const path = join(dir, 'garbage.safetensors');
    writeFileSync(path, 'not a checkpoint');
    expect(() => loadCheckpoint(path)).toThrow(SafetensorsFormatError);
    expect(() => loadCheckpoint(path)).toThrow(new RegExp(`^${path}: header length \\d+ exceeds the limit`));
  });
});

describe('checkpoints: latestCheckpoint', () => {
  it('is undefined for a missing or empty directory', () => {
    expect(latestCheckpoint(join(dir, 'does-not-exist'))).toBeUndefined();
    expect(latestCheckpoint(mkdtempSync(join(dir, 'empty-')))).toBeUndefined();
  });

  it('picks the highest step from the headers, skipping temp files (a killed write and an unrenamed one), corrupt files and other files', async () => {
    const sub = mkdtempSync(join(dir, 'latest-'));
    // Names deliberately disagree with steps: the step is read from each header.
    saveCheckpoint(join(sub, 'step-0000010.safetensors'), small(10));
    saveCheckpoint(join(sub, 'b.safetensors'), small(30));
    saveCheckpoint(join(sub, 'step-0000020.safetensors'), small(20));
    saveCheckpoint(join(sub, 'last.safetensors'), small(25));
    // A complete checkpoint that was never renamed into place is not committed.
    saveCheckpoint(join(sub, 'staged.safetensors'), small(90));
    copyFileSync(join(sub, 'staged.safetensors'), join(sub, 'step-0000090.safetensors.tmp-1-ab.safetensors'));
    rmSync(join(sub, 'staged.safetensors'));
    // A truncated checkpoint with a higher step, a plain safetensors file, and a stranger.
    saveCheckpoint(join(sub, 'broken.safetensors'), small(99));
    writeFileSync(join(sub, 'broken.safetensors'), readFileSync(join(sub, 'broken.safetensors')).subarray(0, 200));
    writeSafetensors(join(sub, 'weights.safetensors'), { w: { dtype: 'F32', shape: [1], data: [1] } }, { 'kiln.step': '1000' });
    writeFileSync(join(sub, 'notes.txt'), 'step 5000');

    // A writer killed halfway through saving step 40 leaves its temp file.
    const marker = join(sub, 'paused');
    const script = join(dir, 'save-step-40.mts');
    const module = new URL('../../runtime/io/checkpoint.ts', import.meta.url).href;
    writeFileSync(
      script,
      `import { saveCheckpoint } from ${JSON.stringify(module)};\n` +
        `saveCheckpoint(process.argv[2], { tensors: { w: new Float64Array(4096) }, shapes: { w: [4096] }, dtype: 'F64', step: 40, rng: { seed: 7 }, config: {} });\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, join(sub, 'step-0000040.safetensors')], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, KILN_TEST_CHECKPOINT_PAUSE: marker },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    for (let waited = 0; !existsSync(marker); waited += 50) {
      if (waited > 30_000) throw new Error('the writer never reached the pause point');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(readdirSync(sub).filter((name) => name.startsWith('step-0000040.safetensors.tmp-'))).toHaveLength(1);
    expect(existsSync(join(sub, 'step-0000040.safetensors'))).toBe(false);

    const latest = latestCheckpoint(sub);
    expect(latest).toBe(join(sub, 'b.safetensors'));
    expect(loadCheckpoint(latest!).step).toBe(30);
  });

  it('follows new checkpoints as they are written', () => {
    const sub = mkdtempSync(join(dir, 'grow-'));
    for (const step of [5, 15, 10, 40]) {
      saveCheckpoint(join(sub, `step-${String(step).padStart(7, '0')}.safetensors`), small(step));
    }
    expect(latestCheckpoint(sub)).toBe(join(sub, 'step-0000040.safetensors'));
  });
});
