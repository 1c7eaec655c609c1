// Runtime data · IDX files (the MNIST / Fashion-MNIST format), raw or gzipped.
// The header is validated before any data is read: magic number, element type,
// dimension count and a payload size that matches the dimensions exactly, so a
// truncated or malformed file is rejected, never half-read.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  readonly shape: readonly number[];
  /** Unsigned bytes in row-major order (the only element type Fashion-MNIST uses). */
  readonly data: Uint8Array;
}

const UBYTE = 0x08;

export class IdxFormatError extends Error {
  override readonly name = 'IdxFormatError';
}

/** Parses IDX bytes (gzip detected by its magic bytes). `source` names the file in errors. */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (error) {
      throw new IdxFormatError(`${source}: corrupt gzip stream (${(error as Error).message}); re-download or reinstall the file`);
    }
  }
  if (raw.length < 4) throw new IdxFormatError(`${source}: ${raw.length} bytes is too short for an IDX header`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint16(0) !== 0) throw new IdxFormatError(`${source}: bad magic 0x${view.getUint32(0).toString(16)} (an IDX file starts with two zero bytes)`);
  const type = raw[2]!;
  const rank = raw[3]!;
  if (type !== UBYTE) throw new IdxFormatError(`${source}: element type 0x${type.toString(16)} is not supported (only unsigned bytes, 0x08)`);
  if (rank === 0 || rank > 4) throw new IdxFormatError(`${source}: ${rank} dimensions is not a valid IDX image or label file`);
  const headerSize = 4 + 4 * rank;
  if (raw.length < headerSize) throw new IdxFormatError(`${source}: header needs ${headerSize} bytes, the file has ${raw.length}`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const expected = shape.reduce((a, b) => a * b, 1);
  const payload = raw.length - headerSize;
  if (payload !== expected) {
    throw new IdxFormatError(`${source}: header says [${shape.join(', ')}] = ${expected} bytes of data, the file holds ${payload} (${payload < expected ? 'truncated' : 'trailing bytes'})`);
  }
  return { shape, data: new Uint8Array(raw.subarray(headerSize)) };
}

export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new IdxFormatError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseIdx(bytes, path);
}

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface LabelledImages {
  /** (count, height, width) bytes. */
  readonly images: IdxArray;
  readonly labels: Uint8Array;
}

/** Loads a Fashion-MNIST split; checks images and labels agree in count. */
export function loadFashionMnist(split: 'train' | 't10k', dir = FASHION_MNIST_DIR): LabelledImages {
  const images = readIdx(`${dir}/${split}-images-idx3-ubyte.gz`);
  const labels = readIdx(`${dir}/${split}-labels-idx1-ubyte.gz`);
  if (images.shape.length !== 3 || labels.shape.length !== 1 || images.shape[0] !== labels.shape[0]) {
    throw new IdxFormatError(`${dir}: ${split} images [${images.shape.join(', ')}] and labels [${labels.shape.join(', ')}] do not pair up`);
  }
  return { images, labels: labels.data };
}
