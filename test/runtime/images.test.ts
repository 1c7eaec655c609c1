// Runtime data: the image-folder reader. Folders are written here with pngjs and
// jpeg-js (independent encoders); expected pixels are hand-computed (box means,
// bilinear weights, crop windows). Malformed, truncated, oversized and non-image
// files must be rejected with the file's path in the message.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, ImageDataError, imageHeader, readImageFolder } from '../../runtime/data/images.ts';

const root = mkdtempSync(join(tmpdir(), 'kiln-images-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;

/** A fresh folder holding `files` (relative path → bytes or text). */
function folder(files: Record<string, Uint8Array | string>): string {
  const dir = join(root, `case-${folders++}`);
  mkdirSync(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

type Rgb = readonly [number, number, number];

/** RGBA bytes of a width×height image from a per-pixel colour (alpha 255 unless given). */
function rgba(width: number, height: number, color: (x: number, y: number) => Rgb | readonly [number, number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b, a = 255] = color(x, y);
      data.set([r, g, b, a], 4 * (y * width + x));
    }
  }
  return data;
}

function pngOf(width: number, height: number, color: (x: number, y: number) => Rgb | readonly [number, number, number, number], colorType: 0 | 2 | 6 = 6): Uint8Array {
  const png = new PNG({ width, height });
  png.data = rgba(width, height, color);
  return new Uint8Array(PNG.sync.write(png, { colorType })); // a copy: Buffers may sit at an offset in a shared pool
}

function jpegOf(width: number, height: number, color: (x: number, y: number) => Rgb): Uint8Array {
  return new Uint8Array(encodeJpeg({ width, height, data: rgba(width, height, color) }, 100).data);
}

const gray = (value: number): Rgb => [value, value, value];
/** The reader's mapping of a byte value to [−1, 1]. */
const unit = (byte: number) => byte / 127.5 - 1;

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((value, i) => {
    if (Math.abs(actual[i]! - value) > tolerance) throw new Error(`element ${i}: got ${actual[i]}, expected ${value} (±${tolerance})\n  actual   [${Array.from(actual).map((v) => v.toFixed(4)).join(', ')}]\n  expected [${expected.map((v) => v.toFixed(4)).join(', ')}]`);
  });
}

/** Hand-assembles a chunk: length, type, data, CRC (zlib's crc32 is not in Node 20, so a bitwise one). */
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const body = new Uint8Array([...new TextEncoder().encode(type), ...data]);
  let crc = 0xffffffff;
  for (const byte of body) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(body, 4);
  view.setUint32(8 + data.length, (crc ^ 0xffffffff) >>> 0);
  return out;
}

/** An 8-bit gray Adam7-interlaced PNG (filter 0 everywhere), with `extra` junk bytes appended to the pixel stream. */
function interlacedGrayPng(width: number, height: number, pixel: (x: number, y: number) => number, extra = 0): Uint8Array {
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  const raw: number[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const xs: number[] = [];
    for (let x = x0!; x < width; x += dx!) xs.push(x);
    if (xs.length === 0) continue;
    for (let y = y0!; y < height; y += dy!) raw.push(0, ...xs.map((x) => pixel(x, y)));
  }
  raw.push(...new Array<number>(extra).fill(0));
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header.set([8, 0, 0, 0, 1], 8); // depth 8, gray, deflate, filter 0, Adam7
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(Uint8Array.from(raw))), pngChunk('IEND', new Uint8Array(0))];
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

describe('image folder layout', () => {
  it('labels images by sorted class folder, at any depth, skipping other files', () => {
    const dir = folder({
      'dogs/rex.png': pngOf(6, 4, () => [0, 0, 255]),
      'cats/b.jpg': jpegOf(8, 8, () => [0, 255, 0]),
      'cats/a.png': pngOf(5, 5, () => [255, 0, 0]),
      'dogs/more/fido.jpeg': jpegOf(16, 9, () => gray(128)),
      'dogs/notes.txt': 'not an image',
      'README.md': '# pets',
    });
    const data = readImageFolder(dir, { size: 4, channels: 3 });
    expect(data.classes).toEqual(['cats', 'dogs']);
    expect(data.files.map((f) => f.slice(dir.length + 1))).toEqual(['cats/a.png', 'cats/b.jpg', 'dogs/more/fido.jpeg', 'dogs/rex.png']);
    expect(Array.from(data.labels)).toEqual([0, 0, 1, 1]);
    expect(data.shape).toEqual([4, 3, 4, 4]);
    expect(data.images).toBeInstanceOf(Float32Array);
    expect(data.images.length).toBe(4 * 3 * 4 * 4);
    expect(data.skipped.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['README.md', 'dogs/notes.txt']);
    // Colour planes in R, G, B order: the red square is (1, −1, −1), the green JPEG about (−1, 1, −1).
    expectClose(data.images.subarray(0, 48), [...new Array(16).fill(1), ...new Array(32).fill(-1)]);
    expectClose(data.images.subarray(48, 96), [...new Array(16).fill(-1), ...new Array(16).fill(1), ...new Array(16).fill(-1)], 3 / 127.5);
  });

  it('a flat folder gives label 0 for every image and no class names', () => {
    const dir = folder({ '1.png': pngOf(3, 3, () => gray(0)), '2.png': pngOf(3, 3, () => gray(255)) });
    const data = readImageFolder(dir, { size: 3, channels: 1 });
    expect(data.classes).toEqual([]);
    expect(Array.from(data.labels)).toEqual([0, 0]);
    expectClose(data.images, [...new Array(9).fill(-1), ...new Array(9).fill(1)]);
  });

  it.each([
    ['an empty folder', {}, /no PNG or JPEG files found/],
    ['a folder of text files', { 'a.txt': 'x' }, /no PNG or JPEG files found \(1 other files ignored\)/],
    ['an empty class folder', { 'cats/a.png': pngOf(2, 2, () => gray(1)), 'dogs/readme.txt': 'x' }, /dogs: class folder "dogs" holds no PNG or JPEG files/],
    ['class folders beside loose images', { 'cats/a.png': pngOf(2, 2, () => gray(1)), 'b.png': pngOf(2, 2, () => gray(1)) }, /holds class sub-folders and loose images \(b\.png\)/],
  ])('rejects %s', (_, files, message) => {
    const dir = folder(files);
    expect(() => readImageFolder(dir, { size: 2, channels: 1 })).toThrow(ImageDataError);
    expect(() => readImageFolder(dir, { size: 2, channels: 1 })).toThrow(message);
  });

  it('rejects a missing directory by name', () => {
    expect(() => readImageFolder(join(root, 'nowhere'), { size: 2, channels: 1 })).toThrow(/nowhere: cannot read \(ENOENT\)/);
  });
});

describe('resize and crop', () => {
  it.each([
    ['shrinks', 10, 6, 4],
    ['grows', 3, 5, 8],
    ['keeps', 7, 7, 7],
  ])('a constant image stays constant when the reader %s it (%i×%i → %i)', (_, width, height, size) => {
    const dir = folder({ 'c.png': pngOf(width, height, () => [200, 100, 50, 0]) }); // alpha 0 is dropped, not composited
    const data = readImageFolder(dir, { size, channels: 3 });
    const plane = size * size;
    expectClose(data.images, [...new Array(plane).fill(unit(200)), ...new Array(plane).fill(unit(100)), ...new Array(plane).fill(unit(50))]);
  });

  it('a constant JPEG stays constant (within JPEG rounding)', () => {
    const dir = folder({ 'c.jpg': jpegOf(24, 16, () => gray(90)) });
    expectClose(readImageFolder(dir, { size: 5, channels: 1 }).images, new Array(25).fill(unit(90)), 2 / 127.5);
  });

  it('a 2× downscale averages each 2×2 block (area), by hand', () => {
    // prettier-ignore
    const values = [
      10,  30,  0,   4,
      50,  70,  8,   12,
      255, 255, 100, 0,
      0,   1,   0,   0,
    ];
    const dir = folder({ 'checker.png': pngOf(4, 4, (x, y) => gray(values[y * 4 + x]!), 0) });
    // Block means: (10+30+50+70)/4 = 40, (0+4+8+12)/4 = 6, (255+255+0+1)/4 = 127.75, (100+0+0+0)/4 = 25.
    expectClose(readImageFolder(dir, { size: 2, channels: 1 }).images, [40, 6, 127.75, 25].map(unit));
  });

  it('a 3→2 downscale weights partly covered pixels by their overlap, by hand', () => {
    // One row per pixel pair would change the shorter side, so use a 3×3 image of a column ramp:
    // output column 0 covers source [0, 1.5): (1·0 + ½·90)/1.5 = 30; column 1 covers [1.5, 3): (½·90 + 1·180)/1.5 = 150.
    const dir = folder({ 'ramp.png': pngOf(3, 3, (x) => gray(90 * x)) });
    expectClose(readImageFolder(dir, { size: 2, channels: 1 }).images, [30, 150, 30, 150].map(unit));
  });

  it('a 2× upscale interpolates bilinearly between pixel centres, by hand', () => {
    // Source [[0, 80], [160, 240]]; per axis, outputs sit at source positions −¼ (clamped to 0), ¼, ¾, 1¼ (clamped to 1):
    // weights (1, 0), (¾, ¼), (¼, ¾), (0, 1). Rows: [0, 20, 60, 80] and [160, 180, 220, 240], then the same down the columns.
    const dir = folder({ 'up.png': pngOf(2, 2, (x, y) => gray([0, 80, 160, 240][y * 2 + x]!)) });
    // prettier-ignore
    const expected = [
      0,   20,  60,  80,
      40,  60,  100, 120,
      120, 140, 180, 200,
      160, 180, 220, 240,
    ];
    expectClose(readImageFolder(dir, { size: 4, channels: 1 }).images, expected.map(unit));
  });

  it('converts colour to gray with ITU-R 601 luma (PIL\'s "L")', () => {
    const dir = folder({ 'a.png': pngOf(2, 2, () => [255, 0, 0]), 'b.png': pngOf(2, 2, () => [0, 255, 0]), 'c.png': pngOf(2, 2, () => [10, 20, 30]) });
    const luma = [0.299 * 255, 0.587 * 255, 0.299 * 10 + 0.587 * 20 + 0.114 * 30];
    expectClose(readImageFolder(dir, { size: 2, channels: 1 }).images, luma.flatMap((l) => new Array(4).fill(unit(l))));
  });

  it('the center crop keeps the middle of the longer side, by hand', () => {
    // 6 wide, 2 tall, size 2: no resize; spare 4 columns, 2 each side → columns 2 and 3.
    const dir = folder({ 'wide.png': pngOf(6, 2, (x) => gray(10 * x)) });
    expectClose(readImageFolder(dir, { size: 2, channels: 1 }).images, [20, 30, 20, 30].map(unit));
    const odd = folder({ 'odd.png': pngOf(5, 2, (x) => gray(10 * x)) }); // spare 3 columns: 1 left, 2 right
    expectClose(readImageFolder(odd, { size: 2, channels: 1 }).images, [10, 20, 10, 20].map(unit));
    const tall = folder({ 'tall.png': pngOf(2, 5, (_, y) => gray(10 * y)) }); // spare 3 rows: 1 above, 2 below
    expectClose(readImageFolder(tall, { size: 2, channels: 1 }).images, [10, 10, 20, 20].map(unit));
  });

  it('the random crop is a window of the image, fixed by (seed, file), varying across files and seeds', () => {
    const files = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`${String(i).padStart(2, '0')}.png`, pngOf(6, 2, (x) => gray(10 * x))]));
    const dir = folder(files);
    const starts = (seed: number) => {
      const { images } = readImageFolder(dir, { size: 2, channels: 1, crop: 'random', seed });
      return Array.from({ length: 12 }, (_, i) => {
        const window = Array.from(images.subarray(4 * i, 4 * i + 4), (v) => Math.round((v + 1) * 127.5));
        const start = window[0]! / 10;
        expect(window).toEqual([10 * start, 10 * start + 10, 10 * start, 10 * start + 10]);
        expect(start).toBeGreaterThanOrEqual(0);
        expect(start).toBeLessThanOrEqual(4);
        return start;
      });
    };
    expect(starts(1)).toEqual(starts(1));
    expect(new Set(starts(1)).size).toBeGreaterThan(1);
    expect(starts(2)).not.toEqual(starts(1));
  });

  it('decodes interlaced PNGs', () => {
    const pixel = (x: number, y: number) => (x * 29 + y * 53) % 256;
    const decoded = decodeImage(interlacedGrayPng(11, 9, pixel), 'adam7.png');
    expect([decoded.width, decoded.height]).toEqual([11, 9]);
    for (let y = 0; y < 9; y++) for (let x = 0; x < 11; x++) expect(decoded.rgba[4 * (y * 11 + x)]).toBe(pixel(x, y));
  });
});

describe('rejecting bad files by name', () => {
  const good = () => pngOf(8, 8, (x, y) => gray((x * 31 + y * 7) % 256));

  it.each([
    ['a truncated PNG', () => good().subarray(0, 60), /bad\.png: truncated PNG/],
    ['a PNG cut inside its header', () => good().subarray(0, 20), /bad\.png: malformed PNG: the IHDR chunk is missing or cut short/],
    ['a text file named .png', () => new TextEncoder().encode('hello, I am text'), /bad\.png: not a PNG or JPEG \(starts with bytes 68 65 6c 6c 6f 2c 20 49\)/],
    ['an empty file named .png', () => new Uint8Array(0), /bad\.png: not a PNG or JPEG \(an empty file\)/],
    ['a PNG with a corrupted pixel chunk', () => {
      const bytes = good().slice();
      bytes[45] = bytes[45]! ^ 0xff; // inside the IDAT data: the CRC no longer matches
      return bytes;
    }, /bad\.png: corrupt PNG/],
  ])('rejects %s', (_, bytes, message) => {
    const dir = folder({ 'cls/ok.png': good(), 'cls/bad.png': bytes() });
    expect(() => readImageFolder(dir, { size: 4, channels: 1 })).toThrow(ImageDataError);
    expect(() => readImageFolder(dir, { size: 4, channels: 1 })).toThrow(message);
  });

  it('rejects a truncated JPEG and a JPEG cut inside its header', () => {
    const jpeg = jpegOf(16, 16, (x, y) => gray((x * 16 + y * 3) % 256));
    const cut = folder({ 'photo.jpg': jpeg.subarray(0, Math.floor(jpeg.length * 0.7)) });
    expect(() => readImageFolder(cut, { size: 4, channels: 3 })).toThrow(/photo\.jpg: corrupt or truncated JPEG/);
    const header = folder({ 'photo.jpg': jpeg.subarray(0, 30) });
    expect(() => readImageFolder(header, { size: 4, channels: 3 })).toThrow(/photo\.jpg: truncated JPEG: the file ends at byte 30 inside the header/);
  });

  it('rejects a PNG declaring more than 50 megapixels before decoding it', () => {
    const bytes = good().slice();
    const view = new DataView(bytes.buffer);
    view.setUint32(16, 10_000); // IHDR width
    view.setUint32(20, 6_000); // IHDR height: 60 MP (the CRC is now wrong too, so decoding would fail differently)
    const dir = folder({ 'bomb.png': bytes });
    expect(() => readImageFolder(dir, { size: 4, channels: 1 })).toThrow(/bomb\.png: PNG declares 10000×6000 = 60\.0 megapixels, over the limit of 50\.0/);
    expect(imageHeader(bytes, 'bomb.png')).toEqual({ format: 'png', width: 10_000, height: 6_000 });
  });

  it('rejects a JPEG declaring more than 50 megapixels before decoding it', () => {
    const bytes = jpegOf(8, 8, () => gray(50)).slice();
    // Find the baseline frame header FF C0 and patch its height and width (bytes 5–8 of the segment).
    const sof = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc0);
    expect(sof).toBeGreaterThan(0);
    bytes.set([0xea, 0x60, 0x03, 0xe8], sof + 5); // height 60000, width 1000
    const dir = folder({ 'bomb.jpg': bytes });
    expect(() => readImageFolder(dir, { size: 4, channels: 1 })).toThrow(/bomb\.jpg: JPEG declares 1000×60000 = 60\.0 megapixels/);
  });

  it('honours a lower pixel limit', () => {
    const dir = folder({ 'small.png': good() });
    expect(() => readImageFolder(dir, { size: 4, channels: 1, maxPixels: 63 })).toThrow(/small\.png: PNG declares 8×8 = 0\.0 megapixels, over the limit/);
    expect(readImageFolder(dir, { size: 4, channels: 1, maxPixels: 64 }).shape).toEqual([1, 1, 4, 4]);
  });

  it('rejects an interlaced PNG whose pixel stream inflates past its declared size', () => {
    const pixel = () => 7;
    expect(() => decodeImage(interlacedGrayPng(5, 5, pixel, 10_000), 'zip-bomb.png')).toThrow(/zip-bomb\.png: corrupt PNG: the pixel stream does not inflate to the \d+ bytes its header implies/);
    expect(decodeImage(interlacedGrayPng(5, 5, pixel), 'fine.png').rgba[0]).toBe(7);
  });

  it('reads the written files unchanged (the fixtures are what the tests think they are)', () => {
    const dir = folder({ 'x.png': good() });
    expect(PNG.sync.read(Buffer.from(readFileSync(join(dir, 'x.png')))).width).toBe(8);
  });
});
