// Runtime io · PNG output, dependency-free. In: 8-bit gray or RGB pixels, or
// float images in [−1, 1] to tile into a grid. Out: PNG file bytes (signature,
// IHDR, one zlib IDAT, IEND; each chunk with its CRC-32), or a file on disk.
// Rows are filtered with the per-row heuristic the PNG spec recommends (the
// filter with the smallest sum of absolute signed bytes), then deflated.

import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

export type PngChannels = 1 | 3;

/** Row filter: one of the five PNG filter types for every row, or the per-row heuristic. */
export type PngFilter = 'none' | 'sub' | 'up' | 'average' | 'paeth' | 'adaptive';

const FILTER_TYPES: readonly PngFilter[] = ['none', 'sub', 'up', 'average', 'paeth'];

// CRC-32 as PNG (and zlib, gzip) define it: reflected polynomial 0xEDB88320.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 of `bytes`; pass a previous result as `crc` to continue over more bytes.
 * @example
 *   crc32(new TextEncoder().encode('IEND')) // 0xae426082
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** length, type, data, CRC over type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filter types 0–4 (None, Sub, Up, Average, Paeth); one byte per pixel channel. */
function filterRow(type: number, row: Uint8Array, previous: Uint8Array, stride: number, out: Uint8Array): void {
  for (let i = 0; i < row.length; i++) {
    const left = i >= stride ? row[i - stride]! : 0;
    const up = previous[i]!;
    const upLeft = i >= stride ? previous[i - stride]! : 0;
    const value = row[i]!;
    switch (type) {
      case 0: out[i] = value; break;
      case 1: out[i] = value - left; break;
      case 2: out[i] = value - up; break;
      case 3: out[i] = value - ((left + up) >> 1); break;
      default: out[i] = value - paeth(left, up, upLeft);
    }
  }
}

function checkImage(length: number, width: number, height: number, channels: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new RangeError(`PNG size must be positive integers below 2³¹, got ${width}×${height}`);
  }
  if (channels !== 1 && channels !== 3) throw new RangeError(`PNG channels must be 1 (gray) or 3 (RGB), got ${channels}`);
  if (length !== width * height * channels) throw new RangeError(`${length} pixel bytes for a ${width}×${height} image with ${channels} channels, which needs ${width * height * channels}`);
}

/**
 * Encodes 8-bit pixels (row-major, channels interleaved) as PNG file bytes.
 * @example
 *   encodePng(new Uint8Array([0, 255]), 2, 1, 1) // a 2×1 black-and-white gray PNG
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: PngChannels, options: { readonly filter?: PngFilter } = {}): Uint8Array {
  checkImage(pixels.length, width, height, channels);
  const filter = options.filter ?? 'adaptive';
  if (filter !== 'adaptive' && !FILTER_TYPES.includes(filter)) throw new RangeError(`unknown PNG filter ${JSON.stringify(filter)} (${FILTER_TYPES.join(', ')} or adaptive)`);
  const forced = FILTER_TYPES.indexOf(filter);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = channels === 1 ? 0 : 2; // colour type: gray or truecolour
  // bytes 10–12: deflate compression, adaptive filtering, no interlace (all 0)
  const stride = width * channels;
  const filtered = new Uint8Array(height * (stride + 1));
  const candidate = new Uint8Array(stride);
  let previous: Uint8Array = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    let bestType = Math.max(0, forced);
    let bestCost = Infinity;
    for (let type = 0; type <= 4 && forced < 0; type++) {
      filterRow(type, row, previous, channels, candidate);
      let cost = 0;
      for (let i = 0; i < stride; i++) cost += candidate[i]! < 128 ? candidate[i]! : 256 - candidate[i]!;
      if (cost < bestCost) [bestCost, bestType] = [cost, type];
    }
    filtered[y * (stride + 1)] = bestType;
    filterRow(bestType, row, previous, channels, filtered.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    previous = row;
  }
  const parts = [SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(filtered)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Writes `encodePng(pixels, …)` to `path`.
 * @example
 *   writePng('samples.png', grid.pixels, grid.width, grid.height, grid.channels)
 */
export function writePng(path: string, pixels: Uint8Array, width: number, height: number, channels: PngChannels, options: { readonly filter?: PngFilter } = {}): void {
  writeFileSync(path, encodePng(pixels, width, height, channels, options));
}

export interface GridOptions {
  /** Number of images in the (n, channels, height, width) input. */
  readonly n: number;
  readonly channels: PngChannels;
  readonly height: number;
  readonly width: number;
  /** Images per grid row. Default ⌈√n⌉. */
  readonly columns?: number;
  /** Pixels between images and around the border. Default 2. */
  readonly padding?: number;
  /** Byte value of the padding. Default 0 (black). */
  readonly padValue?: number;
}

export interface Grid {
  /** height·width·channels bytes, row-major, channels interleaved: ready for encodePng. */
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: PngChannels;
}

/** [−1, 1] → 0…255, clamped, rounding half up (torchvision's save_image rule); NaN → 0. */
function toByte(value: number): number {
  const scaled = Math.floor((value + 1) * 127.5 + 0.5);
  return scaled >= 255 ? 255 : scaled > 0 ? scaled : 0;
}

/**
 * Tiles (n, channels, height, width) images in [−1, 1] into one 8-bit picture, row by row.
 * @example
 *   const grid = imageGrid(samples, { n: 16, channels: 1, height: 28, width: 28 }); // 4×4 tiles
 *   writePng('samples.png', grid.pixels, grid.width, grid.height, grid.channels);
 */
export function imageGrid(images: Float32Array | Float64Array, options: GridOptions): Grid {
  const { n, channels, height, width } = options;
  const columns = options.columns ?? Math.max(1, Math.ceil(Math.sqrt(n)));
  const padding = options.padding ?? 2;
  const padValue = options.padValue ?? 0;
  for (const [name, value, minimum] of [['n', n, 1], ['height', height, 1], ['width', width, 1], ['columns', columns, 1], ['padding', padding, 0]] as const) {
    if (!Number.isSafeInteger(value) || value < minimum) throw new RangeError(`image grid ${name} must be an integer ≥ ${minimum}, got ${value}`);
  }
  if (channels !== 1 && channels !== 3) throw new RangeError(`image grid channels must be 1 or 3, got ${channels}`);
  if (!Number.isInteger(padValue) || padValue < 0 || padValue > 255) throw new RangeError(`padValue must be a byte 0…255, got ${padValue}`);
  if (images.length !== n * channels * height * width) {
    throw new RangeError(`images hold ${images.length} values, (n, channels, height, width) = (${n}, ${channels}, ${height}, ${width}) needs ${n * channels * height * width}`);
  }
  const rows = Math.ceil(n / columns);
  const gridWidth = columns * width + (columns + 1) * padding;
  const gridHeight = rows * height + (rows + 1) * padding;
  const pixels = new Uint8Array(gridWidth * gridHeight * channels).fill(padValue);
  for (let i = 0; i < n; i++) {
    const top = padding + Math.floor(i / columns) * (height + padding);
    const left = padding + (i % columns) * (width + padding);
    for (let channel = 0; channel < channels; channel++) {
      const plane = (i * channels + channel) * height * width;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          pixels[((top + y) * gridWidth + left + x) * channels + channel] = toByte(images[plane + y * width + x]!);
        }
      }
    }
  }
  // Cells after the last image in the final row keep the padding value.
  return { pixels, width: gridWidth, height: gridHeight, channels };
}
