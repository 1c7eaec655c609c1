// safetensors reader and writer: files built byte by byte from the format spec
// (8-byte little-endian header length, UTF-8 JSON header, data section) decode to
// the right values for every dtype; write → read round-trips; the writer is atomic
// (a process killed mid-write leaves the old file); and every malformed file —
// truncated, overlapping, holed, mis-sized, mistyped or plain garbage — is
// rejected with a SafetensorsFormatError naming the file and the problem, never
// another exception.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SafetensorsFormatError,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
  type SafetensorsDType,
  type SafetensorsInput,
} from '../../runtime/io/safetensors.ts';

const SOURCE = 'sample.safetensors';
const dir = mkdtempSync(join(tmpdir(), 'kiln-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** u64 little-endian, byte by byte. */
function le64(n: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
}

/** A file as the spec lays it out: header length, header text (plus `pad` spaces), data. */
function file(header: unknown, data: ArrayLike<number> = [], pad = 0): Uint8Array {
  const text = (typeof header === 'string' ? header : JSON.stringify(header)) + ' '.repeat(pad);
  const json = new TextEncoder().encode(text);
  return new Uint8Array([...le64(BigInt(json.length)), ...json, ...Array.from(data)]);
}

function withHeaderLength(bytes: Uint8Array, length: bigint): Uint8Array {
  const out = bytes.slice();
  out.set(le64(length), 0);
  return out;
}

/** The rejection of `bytes`; fails the test if they parse or if anything but a SafetensorsFormatError is thrown. */
function rejection(bytes: Uint8Array, limits?: { maxHeaderBytes?: number }): SafetensorsFormatError {
  try {
    parseSafetensors(bytes, SOURCE, limits);
  } catch (error) {
    if (error instanceof SafetensorsFormatError) {
      expect(error.message.startsWith(`${SOURCE}: `)).toBe(true);
      return error;
    }
    throw error;
  }
  throw new Error(`parsed without error: ${new TextDecoder().decode(bytes.subarray(8))}`);
}

/** Parses or rejects with SafetensorsFormatError; any other exception fails the property. */
function parsesOrRejects(bytes: Uint8Array): boolean {
  try {
    parseSafetensors(bytes, SOURCE);
    return true;
  } catch (error) {
    if (error instanceof SafetensorsFormatError) return false;
    throw error;
  }
}

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

const u8 = (shape: number[], begin: number, end: number) => ({ dtype: 'U8', shape, data_offsets: [begin, end] });

/** A small valid file: metadata, an F32 pair and three bytes. */
const VALID = file({ __metadata__: { note: 'kept' }, x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: u8([3], 8, 11) }, [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 7, 8, 9]);

describe('safetensors: decoding hand-built files', () => {
  // Bit patterns from IEEE 754 / bfloat16 / two's complement, little-endian.
  const cases: [SafetensorsDType, number[], number[], ArrayLike<number | bigint>, string][] = [
    ['F64', [2], [0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0xd0, 0xbf], [1.5, -0.25], 'Float64Array'],
    ['F32', [2], [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0], [1, -2.5], 'Float32Array'],
    ['F16', [2, 3], [0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c, 0x55, 0x35], [1, -2, 65504, 2 ** -24, Infinity, 0.333251953125], 'Float32Array'],
    ['BF16', [3], [0x80, 0x3f, 0x40, 0xc0, 0x49, 0x40], [1, -3, 3.140625], 'Float32Array'],
    ['I64', [2], [...le64(0xffffffffffffffffn), ...le64(2n ** 40n)], [-1n, 2n ** 40n], 'BigInt64Array'],
    ['U64', [1], le64(0xffffffffffffffffn), [2n ** 64n - 1n], 'BigUint64Array'],
    ['I32', [2], [0xfe, 0xff, 0xff, 0xff, 4, 3, 2, 1], [-2, 0x01020304], 'Int32Array'],
    ['U32', [1], [0xff, 0xff, 0xff, 0xff], [4294967295], 'Uint32Array'],
    ['I16', [2], [0xff, 0xff, 0x00, 0x80], [-1, -32768], 'Int16Array'],
    ['U16', [1], [0xff, 0xff], [65535], 'Uint16Array'],
    ['I8', [2], [0x80, 0x7f], [-128, 127], 'Int8Array'],
    ['U8', [2], [0, 255], [0, 255], 'Uint8Array'],
    ['BOOL', [3], [1, 0, 1], [1, 0, 1], 'Uint8Array'],
  ];
  it.each(cases)('%s %j decodes to the values its bits encode', (dtype, shape, bytes, values, kind) => {
    const parsed = parseSafetensors(file({ t: { dtype, shape, data_offsets: [0, bytes.length] } }, bytes), SOURCE);
    const tensor = parsed.tensors.get('t')!;
    expect(tensor.dtype).toBe(dtype);
    expect(tensor.shape).toEqual(shape);
    expect(tensor.data.constructor.name).toBe(kind);
    expect(Array.from(tensor.data as ArrayLike<number | bigint>)).toEqual(Array.from(values));
  });

  it('reads tensors at unaligned offsets, scalars, empty tensors, metadata and space padding', () => {
    const bytes = file(
      {
        __metadata__: { format: 'pt', 'a key': 'a value' },
        bytes: u8([3], 0, 3),
        scalar: { dtype: 'F32', shape: [], data_offsets: [3, 7] },
        empty: { dtype: 'F64', shape: [4, 0], data_offsets: [7, 7] },
        wide: { dtype: 'I32', shape: [1, 1], data_offsets: [7, 11] },
      },
      [1, 2, 3, 0, 0, 0x80, 0xbf, 0xff, 0xff, 0xff, 0x7f],
      5,
    );
    const { tensors, metadata } = parseSafetensors(bytes, SOURCE);
    expect({ ...metadata }).toEqual({ format: 'pt', 'a key': 'a value' });
    expect([...tensors.keys()].sort()).toEqual(['bytes', 'empty', 'scalar', 'wide']);
    expect(Array.from(tensors.get('scalar')!.data as Float32Array)).toEqual([-1]);
    expect(tensors.get('empty')!.data.length).toBe(0);
    expect(Array.from(tensors.get('wide')!.data as Int32Array)).toEqual([2 ** 31 - 1]);
  });

  it('an empty header with no data is a valid, empty file', () => {
    const parsed = parseSafetensors(file({}), SOURCE);
    expect(parsed.tensors.size).toBe(0);
    expect({ ...parsed.metadata }).toEqual({});
  });

  it('decoded tensors are copies, not views of the input', () => {
    const bytes = VALID.slice();
    const x = parseSafetensors(bytes, SOURCE).tensors.get('x')!;
    bytes.fill(0);
    expect(Array.from(x.data as Float32Array)).toEqual([1, -2.5]);
  });
});

describe('safetensors: writing', () => {
  it('lays out the file as the spec says: sorted names, space-padded header, contiguous data', () => {
    const path = join(dir, 'layout.safetensors');
    writeSafetensors(path, { b: { dtype: 'F32', shape: [2], data: [1, -2.5] }, a: { dtype: 'U8', shape: [3], data: [1, 2, 3] } }, { k: 'v' });
    const bytes = readFileSync(path);
    const length = Number(bytes.readBigUInt64LE(0));
    expect(length % 8).toBe(0);
    const text = bytes.subarray(8, 8 + length).toString('utf8');
    const json = text.trimEnd();
    expect(text.slice(json.length)).toMatch(/^ *$/);
    const header = JSON.parse(json) as Record<string, unknown>;
    expect(Object.keys(header)).toEqual(['__metadata__', 'a', 'b']);
    expect(header).toEqual({
      __metadata__: { k: 'v' },
      a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
      b: { dtype: 'F32', shape: [2], data_offsets: [3, 11] },
    });
    expect([...bytes.subarray(8 + length)]).toEqual([1, 2, 3, 0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0]);
  });

  it('rounds F16 and BF16 to nearest, ties to even, by bit pattern', () => {
    const path = join(dir, 'halves.safetensors');
    // 1 + 2^-11 is halfway between f16 0x3c00 and 0x3c01 (even: 0x3c00); 1 + 3·2^-11 between 0x3c01 and 0x3c02.
    writeSafetensors(path, {
      h: { dtype: 'F16', shape: [3], data: [1 / 3, 1 + 2 ** -11, 1 + 3 * 2 ** -11] },
      b: { dtype: 'BF16', shape: [2], data: [1 + 2 ** -8, 1 + 3 * 2 ** -8] },
    });
    const bytes = readFileSync(path);
    const data = bytes.subarray(8 + Number(bytes.readBigUInt64LE(0)));
    const halves = Array.from({ length: data.length / 2 }, (_, i) => data.readUInt16LE(2 * i));
    // Sorted names: b (BF16) first, then h (F16).
    expect(halves).toEqual([0x3f80, 0x3f82, 0x3555, 0x3c00, 0x3c02]);
  });

  const tensorArb: fc.Arbitrary<SafetensorsInput> = fc
    .tuple(
      fc.constantFrom<SafetensorsDType>('F64', 'F32', 'F16', 'BF16', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL'),
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
    )
    .chain(([dtype, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: n, maxLength: n });
      const int = (min: number, max: number) => values(fc.integer({ min, max }));
      const data: fc.Arbitrary<SafetensorsInput['data']> = {
        F64: values(fc.double()).map((v) => Float64Array.from(v)),
        F32: values(fc.float()),
        F16: int(-2048, 2048), // every integer up to 2^11 is exact in f16
        BF16: int(-256, 256), // and up to 2^8 in bf16
        I64: values(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })).map((v) => BigInt64Array.from(v)),
        U64: values(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map((v) => BigUint64Array.from(v)),
        I32: int(-(2 ** 31), 2 ** 31 - 1),
        U32: int(0, 2 ** 32 - 1),
        I16: int(-(2 ** 15), 2 ** 15 - 1),
        U16: int(0, 2 ** 16 - 1),
        I8: int(-128, 127),
        U8: int(0, 255),
        BOOL: int(0, 1),
      }[dtype];
      return data.map((d) => ({ dtype, shape, data: d }) as SafetensorsInput);
    });

  it('write → read preserves names, dtypes, shapes, values (bit for bit) and metadata', () => {
    const path = join(dir, 'roundtrip.safetensors');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string().filter((s) => s !== '__metadata__'), tensorArb), { selector: ([name]) => name, maxLength: 5 }),
        fc.uniqueArray(fc.tuple(fc.string(), fc.string()), { selector: ([key]) => key, maxLength: 4 }),
        (entries, metaEntries) => {
          writeSafetensors(path, Object.fromEntries(entries), Object.fromEntries(metaEntries));
          const read = readSafetensors(path);
          expect(Object.entries(read.metadata).sort(byKey)).toEqual([...metaEntries].sort(byKey));
          expect([...read.tensors.keys()].sort()).toEqual(entries.map(([name]) => name).sort());
          for (const [name, tensor] of entries) {
            const got = read.tensors.get(name)!;
            expect(got.dtype).toBe(tensor.dtype);
            expect(got.shape).toEqual(tensor.shape);
            const want = Array.from(tensor.data as ArrayLike<number | bigint>);
            const have = Array.from(got.data as ArrayLike<number | bigint>);
            expect(have.length).toBe(want.length);
            // Object.is: NaN equals NaN, and -0 must stay -0.
            have.forEach((v, i) => expect(Object.is(v, want[i]) || v === want[i], `${name}[${i}]: ${String(v)} vs ${String(want[i])}`).toBe(true));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('replaces an existing file and leaves no temp files behind', () => {
    const sub = mkdtempSync(join(dir, 'replace-'));
    const path = join(sub, 'model.safetensors');
    writeSafetensors(path, { w: { dtype: 'F32', shape: [2], data: [1, 2] } });
    writeSafetensors(path, { w: { dtype: 'F32', shape: [3], data: [3, 4, 5] }, v: { dtype: 'U8', shape: [1], data: [9] } });
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
    const read = readSafetensors(path);
    expect(Array.from(read.tensors.get('w')!.data as Float32Array)).toEqual([3, 4, 5]);
    expect(Array.from(read.tensors.get('v')!.data as Uint8Array)).toEqual([9]);
  });

  it.each<[string, Record<string, SafetensorsInput>, Record<string, string>, RegExp]>([
    ['too few values for the shape', { w: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3] } }, {}, /tensor 'w': 3 values, but shape \[2, 2\] holds 4/],
    ['an I32 value out of range', { w: { dtype: 'I32', shape: [1], data: [2 ** 31] } }, {}, /element 0 is 2147483648, which I32 cannot hold/],
    ['a fractional U8', { w: { dtype: 'U8', shape: [1], data: [1.5] } }, {}, /element 0 is 1.5, which U8 cannot hold/],
    ['a BOOL that is not 0 or 1', { w: { dtype: 'BOOL', shape: [1], data: [2] } }, {}, /which BOOL cannot hold/],
    ['an I64 past 2^53 given as a number', { w: { dtype: 'I64', shape: [1], data: [2 ** 60] } }, {}, /which I64 cannot hold/],
    ['a negative dimension', { w: { dtype: 'U8', shape: [-1], data: [] } }, {}, /dimension -1/],
    ['the reserved name __metadata__', { __metadata__: { dtype: 'U8', shape: [0], data: [] } }, {}, /'__metadata__' is reserved/],
    ['a non-string metadata value', {}, { k: 1 as unknown as string }, /metadata 'k' is 1/],
  ])('rejects %s before creating any file', (_, tensors, metadata, message) => {
    const sub = mkdtempSync(join(dir, 'reject-'));
    const path = join(sub, 'bad.safetensors');
    expect(() => writeSafetensors(path, tensors, metadata)).toThrow(SafetensorsFormatError);
    expect(() => writeSafetensors(path, tensors, metadata)).toThrow(message);
    expect(readdirSync(sub)).toEqual([]);
  });

  it('names the path when the directory does not exist', () => {
    const path = join(dir, 'no-such-dir', 'x.safetensors');
    expect(() => writeSafetensors(path, {})).toThrow(`cannot write ${path}`);
    expect(() => writeSafetensors(path, {})).toThrow(/ENOENT/);
  });

  it('a process killed halfway through a write leaves the old file intact (only a temp file is partial)', async () => {
    const sub = mkdtempSync(join(dir, 'crash-'));
    const path = join(sub, 'model.safetensors');
    const marker = join(sub, 'paused');
    const n = 4096;
    writeSafetensors(path, { w: { dtype: 'F64', shape: [n], data: new Float64Array(n).fill(1) } });
    const size = statSync(path).size;
    const script = join(sub, 'writer.mts');
    const module = new URL('../../runtime/io/safetensors.ts', import.meta.url).href;
    writeFileSync(script, `import { writeSafetensors } from ${JSON.stringify(module)};\nwriteSafetensors(process.argv[2], { w: { dtype: 'F64', shape: [${n}], data: new Float64Array(${n}).fill(2) } });\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', script, path], {
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

    const read = readSafetensors(path);
    expect((read.tensors.get('w')!.data as Float64Array).every((v) => v === 1)).toBe(true);
    const temps = readdirSync(sub).filter((name) => name.startsWith('model.safetensors.tmp-'));
    expect(temps).toEqual([expect.stringMatching(new RegExp(`^model\\.safetensors\\.tmp-${child.pid}-[0-9a-f]+$`))]);
    // Same shape, same header: the full new file would be as large as the old one.
    expect(statSync(join(sub, temps[0]!)).size).toBe(Math.floor(size / 2));
    expect(() => readSafetensors(join(sub, temps[0]!))).toThrow(SafetensorsFormatError);
  });
});

describe('safetensors: reading files', () => {
  it('names a missing file and a directory', () => {
    const missing = join(dir, 'missing.safetensors');
    expect(() => readSafetensors(missing)).toThrow(SafetensorsFormatError);
    expect(() => readSafetensors(missing)).toThrow(`${missing}: cannot open (ENOENT)`);
    expect(() => readSafetensors(dir)).toThrow(`${dir}: not a regular file`);
  });

  it('every truncation of a valid file on disk is rejected by name', () => {
    const path = join(dir, 'truncated.safetensors');
    for (let length = 0; length < VALID.length; length++) {
      writeFileSync(path, VALID.subarray(0, length));
      let error: unknown;
      try {
        readSafetensors(path);
      } catch (caught) {
        error = caught;
      }
      expect(error, `prefix of ${length} bytes`).toBeInstanceOf(SafetensorsFormatError);
      expect((error as Error).message).toMatch(new RegExp(`^${path}: .*(too short|truncated)`));
    }
    writeFileSync(path, VALID);
    expect(readSafetensors(path).tensors.size).toBe(2);
  });

  it('a header length of 2^60 in a tiny file is rejected without allocating', () => {
    const path = join(dir, 'huge-claim.safetensors');
    writeFileSync(path, withHeaderLength(VALID, 2n ** 60n));
    expect(() => readSafetensors(path)).toThrow(/header length 1152921504606846976 exceeds the limit of 104857600 bytes/);
  });
});

describe('safetensors: every malformed file is a SafetensorsFormatError naming the problem', () => {
  it('the valid base file parses', () => {
    expect(parsesOrRejects(VALID)).toBe(true);
  });

  it('every prefix of a valid file', () => {
    for (let length = 0; length < VALID.length; length++) {
      expect(rejection(VALID.subarray(0, length)).message, `prefix of ${length} bytes`).toMatch(/too short|truncated/);
    }
  });

  it('header lengths past the end of the file or past the limit', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: BigInt(VALID.length - 8 + 1), max: 2n ** 64n - 1n }), (length) => {
        expect(rejection(withHeaderLength(VALID, length)).message).toMatch(/header length \d+ (exceeds the limit|runs past the end of the file)/);
      }),
    );
    expect(rejection(withHeaderLength(VALID, BigInt(VALID.length))).message).toMatch(/header length \d+ runs past the end of the file/);
    expect(rejection(VALID, { maxHeaderBytes: 16 }).message).toMatch(/exceeds the limit of 16 bytes/);
  });

  it('header lengths that cut the JSON short or swallow data', () => {
    const length = Number(Buffer.from(VALID).readBigUInt64LE(0));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: VALID.length - 8 }).filter((n) => n !== length), (n) => {
        expect(rejection(withHeaderLength(VALID, BigInt(n))).message).toMatch(/not valid UTF-8|not valid JSON|runs past the end|trailing|hole/);
      }),
    );
  });

  it('overlapping tensors', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.nat(), (a, b, s) => {
        const start = s % a;
        const bytes = file({ x: u8([a], 0, a), y: u8([b], start, start + b) }, new Uint8Array(Math.max(a, start + b)));
        expect(rejection(bytes).message).toMatch(/tensor '[xy]' bytes \[\d+, \d+\) overlap tensor '[xy]'/);
      }),
    );
  });

  it('offsets past the end of the data section', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), (begin, n, short) => {
        const end = begin + n;
        const bytes = file({ x: u8([n], begin, end) }, new Uint8Array(Math.max(0, end - short)));
        expect(rejection(bytes).message).toMatch(/tensor 'x': data_offsets \[\d+, \d+\] runs past the end of the data section/);
      }),
    );
  });

  it('holes and trailing bytes in the data section', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 10 }), (a, gap, b) => {
        const hole = file({ x: u8([a], 0, a), y: u8([b], a + gap, a + gap + b) }, new Uint8Array(a + gap + b));
        expect(rejection(hole).message).toMatch(/data bytes \[\d+, \d+\) before tensor '[xy]' belong to no tensor \(a hole\)/);
        const trailing = file({ x: u8([a], 0, a) }, new Uint8Array(a + gap));
        expect(rejection(trailing).message).toMatch(new RegExp(`${gap} trailing data bytes`));
      }),
    );
    expect(rejection(file({}, [1, 2])).message).toMatch(/2 trailing data bytes/);
  });

  it('byte counts that do not match shape × item size', () => {
    const sizes: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(sizes)), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.integer({ min: 0, max: 300 }), (dtype, shape, bytes) => {
        const needed = shape.reduce((a, b) => a * b, 1) * sizes[dtype]!;
        fc.pre(bytes !== needed);
        const message = rejection(file({ t: { dtype, shape, data_offsets: [0, bytes] } }, new Uint8Array(bytes))).message;
        expect(message).toMatch(new RegExp(`tensor 't': data_offsets \\[0, ${bytes}\\] hold ${bytes} bytes, but shape .* of ${dtype} needs ${needed} bytes`));
      }),
    );
  });

  it('unknown and mistyped dtypes', () => {
    const known = new Set(['F64', 'F32', 'F16', 'BF16', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL']);
    fc.assert(
      fc.property(fc.oneof(fc.string().filter((s) => !known.has(s)), fc.constantFrom('F8_E4M3', 'f32', 'float32', '__proto__'), fc.jsonValue().filter((v) => typeof v !== 'string')), (dtype) => {
        expect(rejection(file({ t: { dtype, shape: [], data_offsets: [0, 0] } })).message).toMatch(/tensor 't': dtype .*(is not supported|not a string)/);
      }),
    );
  });

  it('negative, fractional, huge and non-numeric dimensions, and shapes whose product overflows', () => {
    const badDim = fc.oneof(
      fc.integer({ max: -1 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
      fc.constantFrom(2 ** 53, 1e300, -0.5),
      fc.string(),
      fc.constant(null),
      fc.boolean(),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }), badDim, fc.nat(2), (dims, bad, at) => {
        const shape = [...dims];
        shape.splice(at % (dims.length + 1), 0, bad as number);
        expect(rejection(file({ t: { dtype: 'U8', shape, data_offsets: [0, 0] } })).message).toMatch(/tensor 't': shape .* has dimension/);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 2 ** 20, max: 2 ** 52 }), { minLength: 3, maxLength: 4 }), (shape) => {
        expect(rejection(file({ t: { dtype: 'U8', shape, data_offsets: [0, 0] } })).message).toMatch(/tensor 't': shape .* has too many elements \(the product overflows\)/);
      }),
    );
    for (const shape of [3, 'abc', null, { 0: 1 }]) {
      expect(rejection(file({ t: { dtype: 'U8', shape, data_offsets: [0, 0] } })).message).toMatch(/tensor 't': shape is .*, not an array/);
    }
  });

  it('malformed data_offsets and entries', () => {
    const badOffsets = fc.oneof(
      fc.jsonValue().filter((v) => !Array.isArray(v)),
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }).filter((a) => a.length !== 2),
      fc.tuple(fc.oneof(fc.integer({ max: -1 }), fc.constant(0.5), fc.string()), fc.integer({ min: 0, max: 5 })),
    );
    fc.assert(
      fc.property(badOffsets, (offsets) => {
        expect(rejection(file({ t: { dtype: 'U8', shape: [0], data_offsets: offsets } })).message).toMatch(/tensor 't': data_offsets is .*; it must be \[begin, end\]/);
      }),
    );
    expect(rejection(file({ t: u8([0], 3, 2) }, [0, 0, 0])).message).toMatch(/tensor 't': data_offsets \[3, 2\] ends before it begins/);
    expect(rejection(file({ t: { ...u8([0], 0, 0), extra: 1 } })).message).toMatch(/tensor 't' has unknown field 'extra'/);
    expect(rejection(file({ t: [1, 2] })).message).toMatch(/tensor 't' is \[1,2\]; an entry is/);
    expect(rejection(file({ t: { shape: [0], data_offsets: [0, 0] } })).message).toMatch(/tensor 't': dtype is missing/);
  });

  it('headers that are not UTF-8, not JSON, or not an object', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        fc.pre(!valid);
        expect(rejection(file(text)).message).toMatch(/header is not valid JSON/);
      }),
    );
    expect(rejection(file('{"a":1}').map((b, i) => (i === 9 ? 0xff : b))).message).toMatch(/header is not valid UTF-8/);
    for (const json of ['[]', 'null', '1', '"x"', 'true']) expect(rejection(file(json)).message).toMatch(/header is JSON .*, not an object of tensors/);
  });

  it('duplicate tensor names and duplicate keys, however they are spelled', () => {
    const entry = '{"dtype":"U8","shape":[0],"data_offsets":[0,0]}';
    fc.assert(
      fc.property(fc.uniqueArray(fc.string().filter((s) => s !== '__metadata__'), { minLength: 1, maxLength: 5 }), fc.nat(), (names, pick) => {
        const duplicate = names[pick % names.length]!;
        const text = `{${[...names, duplicate].map((name) => `${JSON.stringify(name)}:${entry}`).join(',')}}`;
        expect(rejection(file(text)).message).toContain(`tensor name '${duplicate}' appears twice in the header`);
      }),
    );
    expect(rejection(file(`{"x":${entry},"\\u0078":${entry}}`)).message).toMatch(/tensor name 'x' appears twice in the header/);
    expect(rejection(file(`{"x":{"dtype":"U8","dtype":"I8","shape":[0],"data_offsets":[0,0]}}`)).message).toMatch(/key 'dtype' appears twice in 'x'/);
    expect(rejection(file(`{"__metadata__":{"a":"1","a":"2"}}`)).message).toMatch(/key 'a' appears twice in '__metadata__'/);
    // Keys that look like JSON syntax inside strings do not confuse the scan.
    expect(parsesOrRejects(file(`{"a\\"{,[":${entry},"__metadata__":{"}\\\\":"{\\"x\\":1}"}}`))).toBe(true);
  });

  it('metadata that is not an object of strings', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue().filter((v) => typeof v !== 'string'), (key, value) => {
        expect(rejection(file({ __metadata__: { [key]: value } })).message).toMatch(/__metadata__ '.*' is .*; metadata values must be strings/s);
      }),
    );
    for (const metadata of [null, [], 'x', 1]) expect(rejection(file({ __metadata__: metadata })).message).toMatch(/__metadata__ is .*; it must be an object of strings/);
  });

  it('BOOL bytes other than 0 and 1', () => {
    expect(rejection(file({ b: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, [1, 2])).message).toMatch(/tensor 'b' is BOOL but element 1 is byte 2/);
  });

  it('random garbage, random headers and random corruptions never escape as another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => { parsesOrRejects(bytes); }), { numRuns: 300 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 50 }), (header, data) => {
        parsesOrRejects(new Uint8Array([...le64(BigInt(header.length)), ...header, ...data]));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.uint8Array({ maxLength: 16 }), (header, data) => {
        parsesOrRejects(file(header, data));
      }),
      { numRuns: 300 },
    );
    const entryArb = fc.record({ dtype: fc.oneof(fc.constantFrom('F32', 'U8', 'BF16', 'I64'), fc.jsonValue()), shape: fc.oneof(fc.array(fc.integer({ min: -1, max: 4 }), { maxLength: 3 }), fc.jsonValue()), data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -1, max: 40 }), fc.integer({ min: -1, max: 40 })), fc.jsonValue()) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 3 }), entryArb, { maxKeys: 4 }), fc.uint8Array({ maxLength: 40 }), (header, data) => {
        parsesOrRejects(file(header, data));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(VALID.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
        const bytes = VALID.slice();
        for (const [at, value] of edits) bytes[at] = value;
        parsesOrRejects(bytes);
      }),
      { numRuns: 500 },
    );
  });
});
