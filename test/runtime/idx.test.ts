// IDX reader: reads the Debian package's Fashion-MNIST, and rejects malformed or
// truncated files with an error naming the problem before reading any data.

import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IdxFormatError, loadFashionMnist, parseIdx } from '../../runtime/data/idx.ts';

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
