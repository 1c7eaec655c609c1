// Runtime io outputs: the PNG encoder (checked by decoding with pngjs, an
// independent decoder, and against published CRC-32 values), the image grid
// (hand-computed layouts), and the SVG loss plot (a small XML well-formedness
// checker written here, and the polyline structure).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32, encodePng, imageGrid, writePng } from '../../runtime/io/png.ts';
import { lossPlotSvg, movingAverage, writeLossPlot } from '../../runtime/io/plot.ts';

const ascii = (text: string) => new TextEncoder().encode(text);

/** pngjs's RGBA output reduced back to the encoder's 1 or 3 interleaved channels. */
function decodeWithPngjs(bytes: Uint8Array): { width: number; height: number; pixels: (channels: 1 | 3) => Uint8Array; alpha: number[] } {
  const png = PNG.sync.read(Buffer.from(bytes));
  const count = png.width * png.height;
  return {
    width: png.width,
    height: png.height,
    alpha: [...new Set(Array.from({ length: count }, (_, i) => png.data[4 * i + 3]!))],
    pixels: (channels) => Uint8Array.from({ length: count * channels }, (_, i) => png.data[4 * Math.floor(i / channels) + (i % channels)]!),
  };
}

const scratch = mkdtempSync(join(tmpdir(), 'kiln-png-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('CRC-32', () => {
  it('matches the published check value and the IEND chunk CRC', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926); // the standard CRC-32 check value
    expect(crc32(ascii('IEND'))).toBe(0xae426082); // every PNG ends 49 45 4E 44 AE 42 60 82
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('continues across pieces as over the whole', () => {
    const bytes = ascii('the quick brown fox jumps over the lazy dog');
    expect(crc32(bytes.subarray(17), crc32(bytes.subarray(0, 17)))).toBe(crc32(bytes));
  });
});

describe('PNG encoder', () => {
  it('starts with the signature and ends with the IEND chunk', () => {
    const png = encodePng(new Uint8Array([7]), 1, 1, 1);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(Array.from(png.subarray(-12))).toEqual([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  });

  it.each([
    [1, 1, 1],
    [7, 5, 1],
    [13, 3, 3],
    [1, 9, 3],
    [31, 17, 3],
  ] as const)('a %i×%i image with %i channels decodes with pngjs to the exact pixels', (width, height, channels) => {
    // A gradient plus noise makes rows pick different filters.
    const pixels = Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37 + ((i * i) % 11) * 13) & 0xff);
    const decoded = decodeWithPngjs(encodePng(pixels, width, height, channels));
    expect([decoded.width, decoded.height]).toEqual([width, height]);
    expect(decoded.pixels(channels)).toEqual(pixels);
    expect(decoded.alpha).toEqual([255]);
    if (channels === 1) {
      const rgb = decoded.pixels(3);
      expect(Array.from({ length: width * height }, (_, i) => [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]].every((v) => v === pixels[i]))).not.toContain(false);
    }
  });

  it('round-trips random images of random odd and even sizes (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 }), fc.constantFrom(1 as const, 3 as const), fc.integer(), (width, height, channels, seed) => {
        let state = seed >>> 0;
        const pixels = Uint8Array.from({ length: width * height * channels }, () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24));
        expect(decodeWithPngjs(encodePng(pixels, width, height, channels)).pixels(channels)).toEqual(pixels);
      }),
      { numRuns: 60 },
    );
  });

  it.each(['none', 'sub', 'up', 'average', 'paeth'] as const)('every row filtered with "%s" decodes with pngjs to the exact pixels', (filter) => {
    // Random bytes make the Paeth predictor hit its ties (pa = pb, pb = pc), where the choice order matters.
    let state = 12345;
    for (const [width, height, channels] of [[19, 11, 3], [23, 7, 1]] as const) {
      const pixels = Uint8Array.from({ length: width * height * channels }, () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24));
      const png = encodePng(pixels, width, height, channels, { filter });
      expect(decodeWithPngjs(png).pixels(channels)).toEqual(pixels);
    }
  });

  it('writes a file pngjs reads back', () => {
    const path = join(scratch, 'gray.png');
    writePng(path, new Uint8Array([0, 128, 255, 64]), 2, 2, 1);
    expect(decodeWithPngjs(readFileSync(path)).pixels(1)).toEqual(new Uint8Array([0, 128, 255, 64]));
  });

  it('rejects a pixel count that does not match the size', () => {
    expect(() => encodePng(new Uint8Array(5), 2, 2, 1)).toThrow(/5 pixel bytes for a 2×2 image with 1 channels, which needs 4/);
    expect(() => encodePng(new Uint8Array(0), 0, 2, 1)).toThrow(/positive integers/);
  });
});

describe('image grid', () => {
  it('tiles two 2×2 gray images with padding 1, mapping [−1, 1] to bytes and clamping', () => {
    const images = new Float32Array([-1, 0, 1, 3, /* second */ -5, 0.5, -0.5, 1]);
    const grid = imageGrid(images, { n: 2, channels: 1, height: 2, width: 2, columns: 2, padding: 1, padValue: 9 });
    expect([grid.width, grid.height, grid.channels]).toEqual([7, 4, 1]);
    // (v + 1)·127.5 rounded half up: −1→0, 0→128, 1→255, 3→255 (clamped), −5→0, 0.5→191, −0.5→64.
    // prettier-ignore
    expect(Array.from(grid.pixels)).toEqual([
      9, 9,   9,   9, 9,   9,   9,
      9, 0,   128, 9, 0,   191, 9,
      9, 255, 255, 9, 64,  255, 9,
      9, 9,   9,   9, 9,   9,   9,
    ]);
  });

  it('interleaves RGB planes and leaves empty cells as padding', () => {
    // Three 1×1 RGB images in a 2-column grid without padding: 2×2 pixels, the last cell empty.
    const images = new Float64Array([1, -1, -1, /* */ -1, 1, -1, /* */ -1, -1, 1]);
    const grid = imageGrid(images, { n: 3, channels: 3, height: 1, width: 1, columns: 2, padding: 0 });
    expect(Array.from(grid.pixels)).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0]);
    expect(decodeWithPngjs(encodePng(grid.pixels, grid.width, grid.height, grid.channels)).pixels(3)).toEqual(grid.pixels);
  });

  it('defaults to ⌈√n⌉ columns and padding 2', () => {
    const grid = imageGrid(new Float32Array(5 * 3 * 4), { n: 5, channels: 1, height: 3, width: 4 });
    expect([grid.width, grid.height]).toEqual([3 * 4 + 4 * 2, 2 * 3 + 3 * 2]);
  });

  it('rejects images whose length does not match the shape', () => {
    expect(() => imageGrid(new Float32Array(7), { n: 2, channels: 1, height: 2, width: 2 })).toThrow(/images hold 7 values/);
  });
});

// ─── SVG ──────────────────────────────────────────────────────────────────────

interface XmlElement {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

/**
 * A strict little XML checker: one root element, properly nested and closed tags,
 * quoted and unique attributes, only the five predefined entities (or numeric ones),
 * no bare '<' or '&' in text. Throws on the first violation.
 */
function parseXml(source: string): XmlElement {
  const checkText = (text: string, where: number) => {
    if (text.includes('<')) throw new Error(`bare '<' in text at ${where}`);
    for (const match of text.matchAll(/&([^;]*);?/g)) {
      if (!match[0].endsWith(';') || !/^(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+)$/.test(match[1]!)) throw new Error(`bad entity ${JSON.stringify(match[0])} at ${where}`);
    }
  };
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let at = 0;
  if (source.startsWith('<?xml')) at = source.indexOf('?>') + 2;
  while (at < source.length) {
    const open = source.indexOf('<', at);
    const text = source.slice(at, open < 0 ? source.length : open);
    checkText(text, at);
    if (stack.length) stack[stack.length - 1]!.text += text;
    else if (text.trim()) throw new Error(`text outside the root element at ${at}`);
    if (open < 0) break;
    const close = source.indexOf('>', open);
    if (close < 0) throw new Error(`unclosed tag at ${open}`);
    const tag = source.slice(open + 1, close);
    at = close + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const top = stack.pop();
      if (!top || top.name !== name) throw new Error(`</${name}> at ${open} closes <${top?.name ?? 'nothing'}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const nameMatch = /^([A-Za-z_][\w.:-]*)/.exec(body);
    if (!nameMatch) throw new Error(`bad tag name at ${open}`);
    const attributes: Record<string, string> = {};
    let rest = body.slice(nameMatch[1]!.length);
    while (rest.trim()) {
      const attribute = /^\s+([A-Za-z_][\w.:-]*)="([^"]*)"/.exec(rest);
      if (!attribute) throw new Error(`malformed attribute near ${JSON.stringify(rest.slice(0, 30))} at ${open}`);
      if (attribute[1]! in attributes) throw new Error(`duplicate attribute ${attribute[1]} at ${open}`);
      checkText(attribute[2]!, open);
      attributes[attribute[1]!] = attribute[2]!;
      rest = rest.slice(attribute[0].length);
    }
    const element: XmlElement = { name: nameMatch[1]!, attributes, children: [], text: '' };
    if (stack.length) stack[stack.length - 1]!.children.push(element);
    else if (root) throw new Error(`second root element <${element.name}> at ${open}`);
    else root = element;
    if (!selfClosing) stack.push(element);
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new Error('no root element');
  return root;
}

function descendants(element: XmlElement, name: string): XmlElement[] {
  return element.children.flatMap((child) => [...(child.name === name ? [child] : []), ...descendants(child, name)]);
}

describe('the XML checker used below', () => {
  it.each([
    ['an unclosed element', '<svg><g></svg>'],
    ['a bare ampersand', '<svg><text>a & b</text></svg>'],
    ['an unquoted attribute', '<svg width=3></svg>'],
    ['two roots', '<svg/><svg/>'],
    ['a duplicate attribute', '<svg a="1" a="2"/>'],
  ])('rejects %s', (_, xml) => {
    expect(() => parseXml(xml)).toThrow();
  });
});

describe('loss plot SVG', () => {
  const series = [
    { name: 'train <ema & raw>', values: [2.3, 1.9, 1.4, 1.1, 0.9, 0.8, 0.72] },
    { name: 'val', values: [2.4, 2.0, 1.6] },
  ];

  it('is well-formed XML with an svg root, the escaped title and one polyline per series', () => {
    const svg = lossPlotSvg(series, { title: 'loss "SiT" & co', width: 500, height: 300 });
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    expect(root.attributes).toMatchObject({ xmlns: 'http://www.w3.org/2000/svg', width: '500', height: '300' });
    const polylines = descendants(root, 'polyline');
    expect(polylines.map((p) => p.attributes['data-series'])).toEqual(['train &lt;ema &amp; raw&gt;', 'val']);
    expect(polylines.map((p) => p.attributes.points!.trim().split(/\s+/).length)).toEqual([7, 3]);
    expect(descendants(root, 'text').map((t) => t.text)).toContain('loss &quot;SiT&quot; &amp; co');
  });

  it('draws points left to right inside the plot area, lower losses lower on the page', () => {
    const root = parseXml(lossPlotSvg(series, { title: 't', width: 640, height: 400 }));
    const points = descendants(root, 'polyline')[0]!.attributes.points!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    for (const [x, y] of points) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(640);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(400);
    }
    for (let i = 1; i < points.length; i++) {
      expect(points[i]![0]).toBeGreaterThan(points[i - 1]![0]);
      expect(points[i]![1]).toBeGreaterThan(points[i - 1]![1]); // falling loss: SVG y grows downwards
    }
  });

  it('has tick labels on both axes; a log axis labels powers of ten', () => {
    const linear = parseXml(lossPlotSvg([{ name: 'a', values: [0.5, 1, 1.5, 2, 2.5] }], { title: 't' }));
    const labels = descendants(linear, 'text').map((t) => t.text);
    expect(labels).toEqual(expect.arrayContaining(['1', '2', '5']));
    const log = parseXml(lossPlotSvg([{ name: 'a', values: [100, 10, 1, 0.1, 0.01] }], { title: 't', logY: true }));
    expect(descendants(log, 'text').map((t) => t.text)).toEqual(expect.arrayContaining(['100', '10', '1', '0.1', '0.01']));
  });

  it('leaves out non-finite values, and non-positive ones on a log axis', () => {
    const root = parseXml(lossPlotSvg([{ name: 'a', values: [1, NaN, 0.5, Infinity, 0, 0.25] }], { title: 't', logY: true }));
    expect(descendants(root, 'polyline')[0]!.attributes.points!.split(' ')).toHaveLength(3);
  });

  it('with smoothing draws the raw and the moving-average line per series', () => {
    const root = parseXml(lossPlotSvg(series, { title: 't', smoothing: 3 }));
    const polylines = descendants(root, 'polyline');
    expect(polylines).toHaveLength(4);
    expect(polylines.map((p) => p.attributes.points!.split(' ').length)).toEqual([7, 7, 3, 3]);
    expect(movingAverage([1, 2, 3, 4, 5], 3)).toEqual([1, 1.5, 2, 3, 4]);
    expect(movingAverage([1, NaN, 3], 2)).toEqual([1, NaN, 3]);
  });

  it('stays well-formed for empty and constant series', () => {
    expect(() => parseXml(lossPlotSvg([], { title: 'nothing yet' }))).not.toThrow();
    const root = parseXml(lossPlotSvg([{ name: 'flat', values: [1, 1, 1] }, { name: 'empty', values: [] }], { title: 't', logY: true }));
    expect(descendants(root, 'polyline').map((p) => p.attributes.points)).toHaveLength(2);
    for (const p of descendants(root, 'polyline')) expect(p.attributes.points).not.toMatch(/NaN|Infinity/);
  });

  it('writes the document to a file', () => {
    const path = join(scratch, 'loss.svg');
    writeLossPlot(path, series, { title: 't' });
    expect(readFileSync(path, 'utf8')).toBe(lossPlotSvg(series, { title: 't' }));
  });
});
