// Runtime data · image folders (PNG and JPEG) as a training set. In: a directory
// in the ImageFolder layout (one sub-directory per class, or a flat folder of
// images). Out: (N, C, size, size) float32 images in [−1, 1], int32 labels and
// the class names. Each file's header is validated before any pixel is decoded:
// the format by its magic bytes, the chunk or segment structure, and the declared
// width·height against a pixel limit (a decompression-bomb guard), so a
// truncated, malformed or oversized file is rejected with its path, never skipped.

import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { threefry2x32 } from '../../compiler/ir/random.ts';

export class ImageDataError extends Error {
  override readonly name = 'ImageDataError';
}

/** Images declaring more pixels than this are rejected before decoding. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** File extensions (lower case) the folder reader decodes; other files are listed as skipped. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

export type ImageFormat = 'png' | 'jpeg';

export interface ImageHeader {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

export interface DecodedImage extends ImageHeader {
  /** width·height·4 bytes, RGBA, row-major. */
  readonly rgba: Uint8Array;
}

export interface ImageFolderOptions {
  /** Side of the square output: the shorter side is resized to `size`, then cropped to size×size. */
  readonly size: number;
  readonly channels: 1 | 3;
  /** Where the size×size window sits along the longer side. Default 'center'. */
  readonly crop?: 'center' | 'random';
  /** Seeds the 'random' crop: the window of file i depends on (seed, i) alone. Default 0. */
  readonly seed?: number;
  /** Decompression-bomb guard on declared width·height. Default DEFAULT_MAX_PIXELS. */
  readonly maxPixels?: number;
}

export interface ImageFolder {
  /** (N, C, size, size) row-major, values in [−1, 1]. */
  readonly images: Float32Array;
  readonly shape: readonly [number, number, number, number];
  /** Class id of each image: its sub-directory's index in `classes`; all 0 for a flat folder. */
  readonly labels: Int32Array;
  /** Sorted sub-directory names; empty for a flat folder (unlabelled data). */
  readonly classes: string[];
  /** The decoded files, in image order. */
  readonly files: string[];
  /** Files ignored because their extension is not an image extension. */
  readonly skipped: string[];
}

// ─── headers ──────────────────────────────────────────────────────────────────

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

function hexHead(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function detectFormat(bytes: Uint8Array, source: string): ImageFormat {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const what = bytes.length === 0 ? 'an empty file' : `starts with bytes ${hexHead(bytes)}`;
  throw new ImageDataError(`${source}: not a PNG or JPEG (${what}); image folders may hold only PNG and JPEG files, so convert or remove it`);
}

// Channels per pixel by PNG colour type (gray, RGB, palette, gray+alpha, RGBA).
const PNG_CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

interface PngLayout extends ImageHeader {
  readonly bitsPerPixel: number;
  readonly interlaced: boolean;
  /** The IDAT payloads, in order. */
  readonly idat: Uint8Array[];
}

/** Checks the signature, IHDR and that every chunk lies inside the file up to IEND. */
function pngLayout(bytes: Uint8Array, source: string): PngLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunkType = (at: number) => String.fromCharCode(...bytes.subarray(at + 4, at + 8));
  if (bytes.length < 33 || view.getUint32(8) !== 13 || chunkType(8) !== 'IHDR') {
    throw new ImageDataError(`${source}: malformed PNG: the IHDR chunk is missing or cut short (${bytes.length} bytes); re-export or remove the file`);
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24]!;
  const colorType = bytes[25]!;
  const channels = PNG_CHANNELS[colorType];
  if (width === 0 || height === 0) throw new ImageDataError(`${source}: malformed PNG: IHDR declares a ${width}×${height} image; re-export or remove the file`);
  if (channels === undefined || ![1, 2, 4, 8, 16].includes(depth)) {
    throw new ImageDataError(`${source}: malformed PNG: colour type ${colorType} with bit depth ${depth} is not a PNG pixel format; re-export or remove the file`);
  }
  const idat: Uint8Array[] = [];
  let at = 8;
  for (;;) {
    if (at + 8 > bytes.length) throw new ImageDataError(`${source}: truncated PNG: the file ends at byte ${bytes.length} before the IEND chunk; re-download or re-export it`);
    const length = view.getUint32(at);
    const type = chunkType(at);
    if (length > 0x7fffffff || at + 12 + length > bytes.length) {
      throw new ImageDataError(`${source}: truncated PNG: chunk ${JSON.stringify(type)} at byte ${at} declares ${length} bytes of data, ${Math.max(0, bytes.length - at - 12)} remain; re-download or re-export it`);
    }
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') break;
    at += 12 + length;
  }
  if (idat.length === 0) throw new ImageDataError(`${source}: malformed PNG: no IDAT chunk holds pixel data; re-export or remove the file`);
  return { format: 'png', width, height, bitsPerPixel: channels * depth, interlaced: bytes[28] === 1, idat };
}

// Adam7 passes as (x start, y start, x step, y step).
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** Bytes of filtered scanlines the IDAT stream must inflate to. */
function pngRawSize(layout: PngLayout): number {
  const rows = (width: number, height: number) => (width > 0 && height > 0 ? height * (1 + Math.ceil((width * layout.bitsPerPixel) / 8)) : 0);
  if (!layout.interlaced) return rows(layout.width, layout.height);
  return ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((layout.width - x0) / dx), Math.ceil((layout.height - y0) / dy)), 0);
}

/** Finds the frame header (SOFn) by walking the marker segments that precede the scan. */
function jpegHeader(bytes: Uint8Array, source: string): ImageHeader {
  const truncated = (at: number) => new ImageDataError(`${source}: truncated JPEG: the file ends at byte ${bytes.length} inside the header (segment at byte ${at}); re-download or re-export it`);
  let at = 2;
  for (;;) {
    if (at + 2 > bytes.length) throw truncated(at);
    if (bytes[at] !== 0xff) throw new ImageDataError(`${source}: malformed JPEG: expected a marker at byte ${at}, found 0x${bytes[at]!.toString(16)}; re-export or remove the file`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) { at += 1; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; } // no length
    if (marker === 0xd9 || marker === 0xda) throw new ImageDataError(`${source}: malformed JPEG: ${marker === 0xd9 ? 'end of image' : 'scan data'} before any frame header; re-export or remove the file`);
    if (at + 4 > bytes.length) throw truncated(at);
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2 || at + 2 + length > bytes.length) throw truncated(at);
    // SOF0–SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (length < 8) throw new ImageDataError(`${source}: malformed JPEG: frame header of ${length} bytes; re-export or remove the file`);
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!;
      const width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      if (width === 0 || height === 0) throw new ImageDataError(`${source}: JPEG declares a ${width}×${height} frame (a height set later by a DNL marker is not supported); re-export the file`);
      return { format: 'jpeg', width, height };
    }
    at += 2 + length;
  }
}

/**
 * Reads format and size from the header alone, validating its structure.
 * @example
 *   imageHeader(readFileSync('cat.png'), 'cat.png') // { format: 'png', width: 640, height: 480 }
 */
export function imageHeader(bytes: Uint8Array, source = 'image data'): ImageHeader {
  const { format, width, height } = detectFormat(bytes, source) === 'png' ? pngLayout(bytes, source) : jpegHeader(bytes, source);
  return { format, width, height };
}

function checkPixels(header: ImageHeader, maxPixels: number, source: string): void {
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new ImageDataError(`${source}: ${header.format.toUpperCase()} declares ${header.width}×${header.height} = ${(pixels / 1e6).toFixed(1)} megapixels, over the limit of ${(maxPixels / 1e6).toFixed(1)} (a decompression-bomb guard); downscale the file or raise maxPixels`);
  }
}

/**
 * Decodes a PNG or JPEG to 8-bit RGBA after validating its header and pixel count.
 * @example
 *   decodeImage(readFileSync('cat.jpg'), 'cat.jpg').rgba // width·height·4 bytes
 */
export function decodeImage(bytes: Uint8Array, source = 'image data', options: { readonly maxPixels?: number } = {}): DecodedImage {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const format = detectFormat(bytes, source);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    const layout = pngLayout(bytes, source);
    checkPixels(layout, maxPixels, source);
    // pngjs bounds the inflated size of plain PNGs but not of interlaced ones, so
    // an interlaced stream is test-inflated under the exact size it must have.
    if (layout.interlaced) {
      try {
        inflateSync(Buffer.concat(layout.idat), { maxOutputLength: pngRawSize(layout) + 1 });
      } catch (error) {
        throw new ImageDataError(`${source}: corrupt PNG: the pixel stream does not inflate to the ${pngRawSize(layout)} bytes its header implies (${(error as Error).message}); re-export or remove the file`);
      }
    }
    let png: { width: number; height: number; data: Uint8Array };
    try {
      png = PNG.sync.read(buffer);
    } catch (error) {
      throw new ImageDataError(`${source}: corrupt PNG (${(error as Error).message}); re-download, re-export or remove the file`);
    }
    return { format, width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  }
  const header = jpegHeader(bytes, source);
  checkPixels(header, maxPixels, source);
  let jpeg: { width: number; height: number; data: Uint8Array };
  try {
    jpeg = decodeJpeg(buffer, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxResolutionInMP: maxPixels / 1e6 });
  } catch (error) {
    throw new ImageDataError(`${source}: corrupt or truncated JPEG (${(error as Error).message}); re-download, re-export or remove the file`);
  }
  if (jpeg.width !== header.width || jpeg.height !== header.height) {
    throw new ImageDataError(`${source}: corrupt JPEG: decoded ${jpeg.width}×${jpeg.height}, the header declares ${header.width}×${header.height}; re-export or remove the file`);
  }
  return { format, width: jpeg.width, height: jpeg.height, rgba: jpeg.data };
}

// ─── resize and crop ──────────────────────────────────────────────────────────

/** For each output index: the first source index and the weights of consecutive source samples. */
interface AxisTaps {
  readonly first: Int32Array;
  readonly weights: Float64Array[];
}

/**
 * Taps for outputs start…start+count−1 of resampling `input` samples to `output`.
 * Shrinking averages the source interval each output pixel covers (area, exact
 * box means at integer factors); growing interpolates linearly between the two
 * nearest source centres (half-pixel centres, edges clamped).
 */
function axisTaps(input: number, output: number, start: number, count: number): AxisTaps {
  const first = new Int32Array(count);
  const weights: Float64Array[] = [];
  const scale = input / output;
  for (let k = 0; k < count; k++) {
    const j = start + k;
    if (output < input) {
      const lo = j * scale;
      const hi = Math.min(input, (j + 1) * scale);
      const from = Math.floor(lo);
      const to = Math.min(input, Math.ceil(hi));
      const taps = new Float64Array(to - from);
      for (let i = from; i < to; i++) taps[i - from] = Math.max(0, Math.min(hi, i + 1) - Math.max(lo, i)) / (hi - lo);
      first[k] = from;
      weights.push(taps);
    } else {
      const x = Math.min(input - 1, Math.max(0, (j + 0.5) * scale - 0.5));
      const from = Math.min(Math.floor(x), Math.max(0, input - 2));
      const t = x - from;
      first[k] = from;
      weights.push(input === 1 ? new Float64Array([1]) : new Float64Array([1 - t, t]));
    }
  }
  return { first, weights };
}

/** Resized (height, width) with the shorter side equal to `size` (torchvision's Resize(int) rule). */
function resizedSize(height: number, width: number, size: number): [number, number] {
  return height <= width ? [size, Math.max(size, Math.floor((size * width) / height))] : [Math.max(size, Math.floor((size * height) / width)), size];
}

// Second key word of the crop stream; separate from the shuffle and augmentation streams.
const FOLDER_CROP_KEY = 0xc509;

/**
 * Resizes, crops and converts one decoded image into `out` at `offset` as (C, size, size) in [−1, 1].
 * Gray is ITU-R 601 luma (PIL's "L"); alpha is dropped, as PIL's convert('RGB') does.
 */
function resizeCrop(image: DecodedImage, size: number, channels: 1 | 3, window: [number, number], out: Float32Array, offset: number): void {
  const [resizedHeight, resizedWidth] = resizedSize(image.height, image.width, size);
  const rows = axisTaps(image.height, resizedHeight, window[0], size);
  const columns = axisTaps(image.width, resizedWidth, window[1], size);
  const rowLo = rows.first[0]!;
  const rowHi = rows.first[size - 1]! + rows.weights[size - 1]!.length;
  const { rgba, width } = image;
  const sample = channels === 1
    ? (pixel: number) => 0.299 * rgba[pixel]! + 0.587 * rgba[pixel + 1]! + 0.114 * rgba[pixel + 2]!
    : (pixel: number, channel: number) => rgba[pixel + channel]!;
  // Horizontal pass over the source rows the vertical taps read: (rows, size, channels).
  const across = new Float64Array((rowHi - rowLo) * size * channels);
  for (let y = rowLo; y < rowHi; y++) {
    for (let x = 0; x < size; x++) {
      const taps = columns.weights[x]!;
      const from = columns.first[x]!;
      for (let channel = 0; channel < channels; channel++) {
        let acc = 0;
        for (let t = 0; t < taps.length; t++) acc += taps[t]! * sample(4 * (y * width + from + t), channel);
        across[((y - rowLo) * size + x) * channels + channel] = acc;
      }
    }
  }
  for (let y = 0; y < size; y++) {
    const taps = rows.weights[y]!;
    const from = rows.first[y]! - rowLo;
    for (let x = 0; x < size; x++) {
      for (let channel = 0; channel < channels; channel++) {
        let acc = 0;
        for (let t = 0; t < taps.length; t++) acc += taps[t]! * across[((from + t) * size + x) * channels + channel]!;
        out[offset + (channel * size + y) * size + x] = acc / 127.5 - 1;
      }
    }
  }
}

function cropWindow(height: number, width: number, size: number, crop: 'center' | 'random', seed: number, index: number): [number, number] {
  const [resizedHeight, resizedWidth] = resizedSize(height, width, size);
  const spareRows = resizedHeight - size;
  const spareColumns = resizedWidth - size;
  if (crop === 'center') return [Math.floor(spareRows / 2), Math.floor(spareColumns / 2)];
  const [rowBits, columnBits] = threefry2x32(seed, FOLDER_CROP_KEY, index, 0);
  return [Math.floor((rowBits / 4294967296) * (spareRows + 1)), Math.floor((columnBits / 4294967296) * (spareColumns + 1))];
}

// ─── the folder ───────────────────────────────────────────────────────────────

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    throw new ImageDataError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Sorted non-hidden entry names (code-unit order, as Python's sorted() on names). */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => !name.startsWith('.')).sort();
  } catch (error) {
    throw new ImageDataError(`${dir}: cannot read the directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Image files under `dir`, depth first in sorted order; following links, never twice into one directory. */
function imageFiles(dir: string, skipped: string[], visited = new Set<string>()): string[] {
  const real = realpathSync(dir);
  if (visited.has(real)) return [];
  visited.add(real);
  const found: string[] = [];
  for (const name of entries(dir)) {
    const path = join(dir, name);
    if (isDirectory(path)) found.push(...imageFiles(path, skipped, visited));
    else if (IMAGE_EXTENSIONS.includes(extname(name).toLowerCase())) found.push(path);
    else skipped.push(path);
  }
  return found;
}

function checkOptions(options: ImageFolderOptions): void {
  const { size, channels, crop = 'center', seed = 0, maxPixels = DEFAULT_MAX_PIXELS } = options;
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`image size must be a positive integer, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`channels must be 1 (gray) or 3 (RGB), got ${String(channels)}`);
  if (crop !== 'center' && crop !== 'random') throw new RangeError(`crop must be 'center' or 'random', got ${String(crop)}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2³²), got ${seed}`);
  if (!(maxPixels > 0)) throw new RangeError(`maxPixels must be positive, got ${maxPixels}`);
}

/**
 * Reads an image folder: class sub-directories (sorted names → ids 0, 1, …, as torchvision's
 * ImageFolder) holding PNG and JPEG files at any depth, or a flat folder of images (labels 0, no classes).
 * Hidden entries (names starting with '.') are ignored; files with other extensions are listed in `skipped`.
 * EXIF orientation is not applied (as PIL's plain open does not).
 * @example
 *   const { images, labels, classes } = readImageFolder('data/pets', { size: 64, channels: 3 });
 *   // images: (N, 3, 64, 64) in [−1, 1]; classes: ['cat', 'dog']
 */
export function readImageFolder(dir: string, options: ImageFolderOptions): ImageFolder {
  checkOptions(options);
  const { size, channels, crop = 'center', seed = 0, maxPixels = DEFAULT_MAX_PIXELS } = options;
  if (!isDirectory(dir)) throw new ImageDataError(`${dir}: not a directory; pass a folder of images or of class sub-folders`);
  const names = entries(dir);
  const classes = names.filter((name) => isDirectory(join(dir, name)));
  const skipped: string[] = [];
  const files: string[] = [];
  const labelList: number[] = [];
  if (classes.length > 0) {
    const loose = names.filter((name) => !classes.includes(name) && IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()));
    if (loose.length > 0) {
      throw new ImageDataError(`${dir}: holds class sub-folders and loose images (${loose.slice(0, 3).join(', ')}${loose.length > 3 ? ', …' : ''}); move the images into a class folder or the class folders out`);
    }
    skipped.push(...names.filter((name) => !classes.includes(name)).map((name) => join(dir, name)));
    classes.forEach((name, label) => {
      const found = imageFiles(join(dir, name), skipped);
      if (found.length === 0) throw new ImageDataError(`${join(dir, name)}: class folder "${name}" holds no PNG or JPEG files; add images or remove the folder`);
      files.push(...found);
      labelList.push(...found.map(() => label));
    });
  } else {
    files.push(...imageFiles(dir, skipped));
    labelList.push(...files.map(() => 0));
  }
  if (files.length === 0) throw new ImageDataError(`${dir}: no PNG or JPEG files found${skipped.length ? ` (${skipped.length} other files ignored)` : ''}; point at a folder of images or of class sub-folders`);
  const plane = channels * size * size;
  if (files.length * plane > 2 ** 31 - 1) {
    throw new ImageDataError(`${dir}: ${files.length} images of ${channels}×${size}×${size} need ${files.length * plane} floats, more than one array holds; lower the size or split the folder`);
  }
  const images = new Float32Array(files.length * plane);
  files.forEach((path, index) => {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new ImageDataError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const image = decodeImage(bytes, path, { maxPixels });
    resizeCrop(image, size, channels, cropWindow(image.height, image.width, size, crop, seed, index), images, index * plane);
  });
  return { images, shape: [files.length, channels, size, size], labels: Int32Array.from(labelList), classes, files, skipped };
}
