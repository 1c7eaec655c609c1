// IDX reader: reads the Debian package's Fashion-MNIST, and rejects malformed or
// truncated files with an error naming the problem before reading any data.
// Fuzzed: truncations, garbage, oversized dimension claims and gzip bombs are all
// IdxFormatErrors, never another exception, and never inflated past the limit.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_IDX_BYTES, IdxFormatError, loadFashionMnist, parseIdx, readIdx } from '../../runtime/data/idx.ts';

function idx(dims: number[], payload: number[], type = 0x08): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  return new Uint8Array([...header, ...payload]);
}

describe('IDX reader', () => {
  it('reads the Fashion-MNIST test split: 10000 images of 28×28 with labels 0–9', () => {
    const { images, labels } = loadFashionMnist('t10k');
    expect(images.shape).toEqual([10000, 28, 28]);
    expect(labels.length).toBe(10000);
    expect(Math.max(...labels)).toBe(9);
    expect(new Set(labels).size).toBe(10);
  });

  it('parses raw and gzipped bytes alike', () => {
    const raw = idx([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(parseIdx(raw)).toEqual({ shape: [2, 3], data: new Uint8Array([1, 2, 3, 4, 5, 6]) });
    expect(parseIdx(gzipSync(raw))).toEqual(parseIdx(raw));
  });

  it.each([
    ['a truncated payload', idx([2, 3], [1, 2, 3]), /truncated/],
    ['trailing bytes', idx([2], [1, 2, 3]), /trailing bytes/],
    ['a bad magic number', new Uint8Array([1, 2, 8, 1, 0, 0, 0, 1, 5]), /bad magic/],
    ['an unsupported element type', idx([1], [0, 0, 0, 0], 0x0d), /element type 0xd/],
    ['a header cut short', idx([2, 3], []).slice(0, 7), /header needs 12 bytes/],
    ['a corrupt gzip stream', new Uint8Array([0x1f, 0x8b, 1, 2, 3]), /corrupt gzip/],
  ])('rejects %s', (_, bytes, message) => {
    expect(() => parseIdx(bytes, 'sample.idx')).toThrow(IdxFormatError);
    expect(() => parseIdx(bytes, 'sample.idx')).toThrow(message);
  });

  it('names a missing file', () => {
    expect(() => loadFashionMnist('train', '/nonexistent-dir')).toThrow(/nonexistent-dir\/train-images-idx3-ubyte.gz: cannot read \(ENOENT\)/);
  });
});

/** Parses or rejects with IdxFormatError naming the source; any other exception fails the property. */
function parsesOrRejects(bytes: Uint8Array, maxBytes?: number): boolean {
  try {
    parseIdx(bytes, 'fuzz.idx', maxBytes === undefined ? {} : { maxBytes });
    return true;
  } catch (error) {
    if (error instanceof IdxFormatError && error.message.startsWith('fuzz.idx: ')) return false;
    throw error;
  }
}

function rejection(bytes: Uint8Array, maxBytes?: number): IdxFormatError {
  try {
    parseIdx(bytes, 'fuzz.idx', maxBytes === undefined ? {} : { maxBytes });
  } catch (error) {
    if (error instanceof IdxFormatError) return error;
    throw error;
  }
  throw new Error('parsed without error');
}

describe('IDX reader under fuzzing', () => {
  const valid = idx([2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

  it('every truncation of a valid file, raw or gzipped, is an IdxFormatError', () => {
    for (const whole of [valid, new Uint8Array(gzipSync(valid))]) {
      expect(parsesOrRejects(whole)).toBe(true);
      for (let length = 0; length < whole.length; length++) {
        expect(rejection(whole.subarray(0, length)).message, `prefix of ${length} bytes`).toMatch(/too short|header needs|truncated|corrupt gzip/);
      }
    }
  });

  it('random bytes, and random bytes after a plausible header, never escape as another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => { parsesOrRejects(bytes); }), { numRuns: 500 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 64 }), (rank, rest) => {
        parsesOrRejects(new Uint8Array([0, 0, 8, rank, ...rest]));
      }),
      { numRuns: 500 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => { parsesOrRejects(gzipSync(bytes)); }), { numRuns: 200 });
  });

  it('any dimension claim parses exactly when the payload matches it, and claims past the limit are refused up front', () => {
    const maxBytes = 4096;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 64 }),
        (dims, payload) => {
          const claimed = dims.reduce((a, b) => a * BigInt(b), 1n);
          const headerBytes = BigInt(4 + 4 * dims.length);
          const bytes = idx(dims, Array.from({ length: payload }, (_, i) => i & 0xff));
          if (headerBytes + claimed > BigInt(maxBytes)) expect(rejection(bytes, maxBytes).message).toMatch(/a file of more than the limit of 4096 bytes/);
          else if (claimed === BigInt(payload)) expect(parseIdx(bytes, 'fuzz.idx', { maxBytes }).data.length).toBe(payload);
          else expect(rejection(bytes, maxBytes).message).toMatch(/truncated|trailing bytes/);
        },
      ),
      { numRuns: 500 },
    );
    expect(rejection(idx([2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1], [])).message).toMatch(
      new RegExp(`header says \\[4294967295, 4294967295, 4294967295, 4294967295\\], a file of more than the limit of ${DEFAULT_MAX_IDX_BYTES} bytes`),
    );
  });

  it('a gzip bomb is refused once it inflates past maxBytes, not inflated in full', () => {
    const size = 8 * 1024 * 1024;
    const header = idx([size], []);
    const plain = new Uint8Array(header.length + size);
    plain.set(header);
    const bomb = gzipSync(plain);
    expect(bomb.length).toBeLessThan(size / 500);
    expect(rejection(bomb, 1024 * 1024).message).toMatch(/decompresses to more than the limit of 1048576 bytes/);
    // With a limit that admits it, the same bytes are a valid file: the refusal above is the limit's doing.
    expect(parseIdx(bomb, 'bomb.idx', { maxBytes: 2 * size }).shape).toEqual([size]);
  });

  it('readIdx refuses a file larger than maxBytes before reading it, and passes the limit to parsing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-idx-'));
    try {
      const path = join(dir, 'big.idx');
      writeFileSync(path, idx([100], new Array<number>(100).fill(1)));
      expect(() => readIdx(path, { maxBytes: 50 })).toThrow(IdxFormatError);
      expect(() => readIdx(path, { maxBytes: 50 })).toThrow(`${path}: 108 bytes is more than the limit of 50 bytes`);
      expect(readIdx(path, { maxBytes: 108 }).shape).toEqual([100]);
      // A short file whose header claims more than the limit is refused by the claim, before the size check.
      const claim = join(dir, 'claim.idx');
      writeFileSync(claim, idx([100], [1, 2, 3, 4]));
      expect(() => readIdx(claim, { maxBytes: 50 })).toThrow(`${claim}: header says [100], a file of more than the limit of 50 bytes`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
