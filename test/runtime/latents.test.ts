// Latent dataset and teacher-feature files: what is written reads back exactly;
// a file that is not one, or whose parts disagree, is rejected naming the problem.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LatentFileError, readFeatureFile, readLatentDataset, writeLatentDataset, type LatentDataset } from '../../runtime/data/latents.ts';
import { writeSafetensors } from '../../runtime/io/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-latents-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const set: LatentDataset = {
  latents: Float32Array.from({ length: 3 * 2 * 4 }, (_, i) => i * 0.5 - 3),
  flipped: Float32Array.from({ length: 3 * 2 * 4 }, (_, i) => -i),
  labels: Int32Array.of(4, 0, 9),
  count: 3, tokens: 2, channels: 4, mean: -0.25, std: 1.5, tokenizer: 'MAETok-Tiny', source: 'test',
};

describe('latent dataset files', () => {
  it('round-trip latents, mirrored latents, labels and the statistics', () => {
    const path = join(dir, 'ok.safetensors');
    writeLatentDataset(path, set);
    const back = readLatentDataset(path);
    expect(Array.from(back.latents)).toEqual(Array.from(set.latents));
    expect(Array.from(back.flipped)).toEqual(Array.from(set.flipped));
    expect(Array.from(back.labels)).toEqual([4, 0, 9]);
    expect([back.count, back.tokens, back.channels, back.mean, back.std, back.tokenizer]).toEqual([3, 2, 4, -0.25, 1.5, 'MAETok-Tiny']);
  });

  it('rejects a safetensors file that is not a latent dataset', () => {
    const path = join(dir, 'other.safetensors');
    writeSafetensors(path, { w: { dtype: 'F32', shape: [1], data: [1] } });
    expect(() => readLatentDataset(path)).toThrow(/not a kiln latent dataset.*kiln encode/);
  });

  it('rejects mismatched parts and bad statistics', () => {
    const meta = (info: unknown) => ({ 'kiln.format': 'kiln-latents/1', 'kiln.latents': JSON.stringify(info) });
    const good = { mean: 0, std: 1, tokenizer: 't', source: 's' };
    const latents = { dtype: 'F32' as const, shape: [2, 1, 2], data: [1, 2, 3, 4] };
    const cases: [string, Parameters<typeof writeSafetensors>[1], Record<string, string>, RegExp][] = [
      ['labels', { latents, latents_flipped: latents, labels: { dtype: 'I32', shape: [3], data: [0, 1, 2] } }, meta(good), /3 labels for 2 latents/],
      ['flipped', { latents, latents_flipped: { dtype: 'F32', shape: [2, 2, 1], data: [1, 2, 3, 4] }, labels: { dtype: 'I32', shape: [2], data: [0, 1] } }, meta(good), /latents_flipped \[2, 2, 1\] does not match/],
      ['dtype', { latents: { ...latents, dtype: 'F64' }, latents_flipped: latents, labels: { dtype: 'I32', shape: [2], data: [0, 1] } }, meta(good), /"latents" is F64/],
      ['missing', { latents, labels: { dtype: 'I32', shape: [2], data: [0, 1] } }, meta(good), /no tensor "latents_flipped"/],
      ['std', { latents, latents_flipped: latents, labels: { dtype: 'I32', shape: [2], data: [0, 1] } }, meta({ ...good, std: 0 }), /positive std/],
    ];
    for (const [name, tensors, metadata, message] of cases) {
      const path = join(dir, `${name}.safetensors`);
      writeSafetensors(path, tensors, metadata);
      expect(() => readLatentDataset(path), name).toThrow(LatentFileError);
      expect(() => readLatentDataset(path), name).toThrow(message);
    }
  });
});

describe('teacher-feature files', () => {
  it('read (count, tokens, dim) features and reject any other shape, naming the expected one', () => {
    const path = join(dir, 'features.safetensors');
    writeSafetensors(path, { features: { dtype: 'F16', shape: [2, 3, 4], data: Array.from({ length: 24 }, (_, i) => i / 4) } });
    expect(Array.from(readFeatureFile(path, { count: 2, tokens: 3, dim: 4 }))).toEqual(Array.from({ length: 24 }, (_, i) => i / 4));
    expect(() => readFeatureFile(path, { count: 2, tokens: 49, dim: 4 })).toThrow(/features are \[2, 3, 4\], the dataset and aux target need \[2, 49, 4\]/);
  });
});
