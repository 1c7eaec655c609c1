// Runtime data · IDX files (the MNIST / Fashion-MNIST format), raw or gzipped.
// The header is validated before any data is read: magic number, element type,
// dimension count and a payload size that matches the dimensions exactly, so a
// truncated or malformed file is rejected, never half-read. Sizes are bounded by
// `maxBytes` (default 1 GiB): decompression stops there, so a gzip bomb is
// rejected without being inflated, and dimension products are checked before use.

import { readFileSync, statSync } from 'node:fs';
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

export interface IdxOptions {
  /** Largest IDX file accepted, in bytes, after decompression (default 1 GiB). */
  readonly maxBytes?: number;
}

export const DEFAULT_MAX_IDX_BYTES = 2 ** 30;

/** Parses IDX bytes (gzip detected by its magic bytes). `source` names the file in errors. */
export function parseIdx(bytes: Uint8Array, source = 'IDX data', options: IdxOptions = {}): IdxArray {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_IDX_BYTES;
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new IdxFormatError(`${source}: decompresses to more than the limit of ${maxBytes} bytes (a corrupt file or a gzip bomb; raise maxBytes only for a trusted file)`);
      }
      throw new IdxFormatError(`${source}: corrupt gzip stream (${(error as Error).message}); re-download or reinstall the file`);
    }
  }
  if (raw.length > maxBytes) throw new IdxFormatError(`${source}: ${raw.length} bytes is more than the limit of ${maxBytes} bytes`);
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
  // Each factor is below 2^32 and the running product stays under maxBytes (< 2^53), so every step is exact.
  let expected = shape.includes(0) ? 0 : 1;
  for (const dim of expected === 0 ? [] : shape) {
    expected *= dim;
    if (headerSize + expected > maxBytes) {
      throw new IdxFormatError(`${source}: header says [${shape.join(', ')}], a file of more than the limit of ${maxBytes} bytes (a corrupt header; raise maxBytes only for a trusted file)`);
    }
  }
  const payload = raw.length - headerSize;
  if (payload !== expected) {
    throw new IdxFormatError(`${source}: header says [${shape.join(', ')}] = ${expected} bytes of data, the file holds ${payload} (${payload < expected ? 'truncated' : 'trailing bytes'})`);
  }
  return { shape, data: new Uint8Array(raw.subarray(headerSize)) };
}

export function readIdx(path: string, options: IdxOptions = {}): IdxArray {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_IDX_BYTES;
  let bytes: Uint8Array;
  try {
    const size = statSync(path).size;
    if (size > maxBytes) throw new IdxFormatError(`${path}: ${size} bytes is more than the limit of ${maxBytes} bytes`);
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof IdxFormatError) throw error;
    throw new IdxFormatError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseIdx(bytes, path, options);
}

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface LabelledImages {
  /** (count, height, width) bytes. */
  readonly images: IdxArray;
  readonly labels: Uint8Array;
}

/** Loads a Fashion-MNIST split; checks images and labels agree in count. */
export function loadFashionMnist(split: 'train' | 't10k', dir = FASHION_MNIST_DIR, options: IdxOptions = {}): LabelledImages {
  const images = readIdx(`${dir}/${split}-images-idx3-ubyte.gz`, options);
  const labels = readIdx(`${dir}/${split}-labels-idx1-ubyte.gz`, options);
  if (images.shape.length !== 3 || labels.shape.length !== 1 || images.shape[0] !== labels.shape[0]) {
    throw new IdxFormatError(`${dir}: ${split} images [${images.shape.join(', ')}] and labels [${labels.shape.join(', ')}] do not pair up`);
  }
  return { images, labels: labels.data };
}
