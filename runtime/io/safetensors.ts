// Runtime io · safetensors files (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data.
// In: bytes or a path; out: named tensors and string metadata, and back again.
// The whole header is validated before any tensor data is read or allocated:
// lengths, dtypes, shapes, offsets, overlaps, holes and duplicate names, so a
// truncated, hostile or merely odd file is rejected with an error that names the
// file, the tensor and the problem, never half-read.
// Writes are atomic: a temp file in the same directory, fsync, rename, fsync of
// the directory. A crash leaves the old file or the new one, never a mix.

import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { f16Bits, f16FromBits } from '../cpu/ops.ts';
import { bf16Round, f16Round } from '../cpu/numeric.ts';

/** What each dtype decodes to. F16 and BF16 widen to float32 (exact); I64/U64 stay 64-bit as bigints. */
interface DataByDType {
  F64: Float64Array;
  F32: Float32Array;
  F16: Float32Array;
  BF16: Float32Array;
  I64: BigInt64Array;
  U64: BigUint64Array;
  I32: Int32Array;
  U32: Uint32Array;
  I16: Int16Array;
  U16: Uint16Array;
  I8: Int8Array;
  U8: Uint8Array;
  /** One byte per element, 0 or 1. */
  BOOL: Uint8Array;
}

export type SafetensorsDType = keyof DataByDType;

const ITEM_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
};
const DTYPES = Object.keys(ITEM_BYTES) as SafetensorsDType[];

export type SafetensorsTensor = {
  [D in SafetensorsDType]: { readonly dtype: D; readonly shape: readonly number[]; readonly data: DataByDType[D] };
}[SafetensorsDType];

/** What the writer accepts: numbers for every dtype (checked to fit), or bigint arrays for I64/U64. */
interface InputByDType extends Record<SafetensorsDType, ArrayLike<number> | BigInt64Array | BigUint64Array> {
  I64: ArrayLike<number> | BigInt64Array;
  U64: ArrayLike<number> | BigUint64Array;
}
export type SafetensorsInput = {
  [D in SafetensorsDType]: { readonly dtype: D; readonly shape: readonly number[]; readonly data: D extends 'I64' | 'U64' ? InputByDType[D] : ArrayLike<number> };
}[SafetensorsDType];

export interface SafetensorsFile {
  /** In data-offset order. */
  readonly tensors: Map<string, SafetensorsTensor>;
  readonly metadata: Record<string, string>;
}

export interface SafetensorsLimits {
  /** Largest header accepted, in bytes (default 100 MiB, as the reference implementation). */
  readonly maxHeaderBytes?: number;
}

export const DEFAULT_MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte range within the data section. */
  readonly begin: number;
  readonly end: number;
}

/** A header that passed every check: entries in data-offset order, covering the data section exactly. */
export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Record<string, string>;
  /** File offset of the data section (8 + header length). */
  readonly dataStart: number;
  readonly dataBytes: number;
}

export class SafetensorsFormatError extends Error {
  override readonly name = 'SafetensorsFormatError';
}

const METADATA_KEY = '__metadata__';
const ENTRY_KEYS = new Set(['dtype', 'shape', 'data_offsets']);

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------
// Header

/**
 * Validates the 8-byte length prefix against the file size and the limit, before
 * anything is allocated for the header. `prefix` holds the first min(8, fileSize) bytes.
 */
export function parseSafetensorsPrefix(prefix: Uint8Array, fileSize: number, source: string, limits: SafetensorsLimits = {}): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsFormatError(`${source}: ${Math.min(fileSize, prefix.length)} bytes is too short for the 8-byte header length (the file is truncated or not safetensors)`);
  }
  const claimed = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  const limit = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  // Compared as numbers only where exact: a u64 claim past 2^53 counts as infinite.
  const length = claimed > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(claimed);
  if (length > limit) {
    throw new SafetensorsFormatError(`${source}: header length ${claimed} exceeds the limit of ${limit} bytes (the file is corrupt or not safetensors; raise maxHeaderBytes only for a trusted file)`);
  }
  if (length > fileSize - 8) {
    throw new SafetensorsFormatError(`${source}: header length ${length} runs past the end of the file (${fileSize} bytes); the file is truncated`);
  }
  return length;
}

/**
 * Validates the JSON header (the N bytes after the length prefix) of a file of
 * `fileSize` bytes: every entry, the metadata, and that the tensors tile the data
 * section exactly, as the format requires.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, source: string, limits: SafetensorsLimits = {}): SafetensorsHeader {
  const limit = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (headerBytes.length > limit) throw new SafetensorsFormatError(`${source}: header length ${headerBytes.length} exceeds the limit of ${limit} bytes`);
  const dataStart = 8 + headerBytes.length;
  const dataBytes = fileSize - dataStart;
  if (dataBytes < 0) throw new SafetensorsFormatError(`${source}: header length ${headerBytes.length} runs past the end of the file (${fileSize} bytes); the file is truncated`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsFormatError(`${source}: header is not valid UTF-8 (the file is corrupt or not safetensors)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsFormatError(`${source}: header is not valid JSON (${(error as Error).message}); the file is corrupt or not safetensors`);
  }
  if (!isPlainObject(json)) throw new SafetensorsFormatError(`${source}: header is JSON ${describe(json)}, not an object of tensors`);
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    const what = duplicate.within === undefined ? `tensor name '${duplicate.key}' appears twice in the header` : `key '${duplicate.key}' appears twice in '${duplicate.within}'`;
    throw new SafetensorsFormatError(`${source}: ${what} (JSON keeps only the last, so the file is ambiguous)`);
  }

  const metadata = parseMetadata(json[METADATA_KEY], source);
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name !== METADATA_KEY) entries.push(parseEntry(name, value, dataBytes, source));
  }
  checkTiling(entries, dataBytes, source);
  return { entries, metadata, dataStart, dataBytes };
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (value === undefined) return Object.create(null) as Record<string, string>;
  if (!isPlainObject(value)) throw new SafetensorsFormatError(`${source}: __metadata__ is ${describe(value)}; it must be an object of strings`);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new SafetensorsFormatError(`${source}: __metadata__ '${key}' is ${describe(item)}; metadata values must be strings`);
  }
  // No prototype: a key like "__proto__" or "toString" is plain data, and absent keys read as undefined.
  return Object.assign(Object.create(null) as Record<string, string>, value);
}

function parseEntry(name: string, value: unknown, dataBytes: number, source: string): SafetensorsEntry {
  const at = `${source}: tensor '${name}'`;
  if (!isPlainObject(value)) throw new SafetensorsFormatError(`${at} is ${describe(value)}; an entry is {dtype, shape, data_offsets}`);
  for (const key of Object.keys(value)) {
    if (!ENTRY_KEYS.has(key)) throw new SafetensorsFormatError(`${at} has unknown field '${key}'; an entry is {dtype, shape, data_offsets}`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') throw new SafetensorsFormatError(`${at}: dtype is ${describe(dtype)}, not a string`);
  if (!isDType(dtype)) throw new SafetensorsFormatError(`${at}: dtype '${dtype}' is not supported (kiln reads ${DTYPES.join(', ')})`);
  const numel = checkShape(shape, at);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new SafetensorsFormatError(`${at}: data_offsets is ${describe(offsets)}; it must be [begin, end], two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new SafetensorsFormatError(`${at}: data_offsets [${begin}, ${end}] ends before it begins`);
  if (end > dataBytes) {
    throw new SafetensorsFormatError(`${at}: data_offsets [${begin}, ${end}] runs past the end of the data section (${dataBytes} bytes); the file is truncated`);
  }
  const needed = numel * ITEM_BYTES[dtype];
  if (end - begin !== needed) {
    throw new SafetensorsFormatError(`${at}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${needed} bytes`);
  }
  return { name, dtype, shape: [...(shape as number[])], begin, end };
}

/** Element count of a valid shape; rejects anything else, including counts past 2^53. */
function checkShape(shape: unknown, at: string): number {
  if (!Array.isArray(shape)) throw new SafetensorsFormatError(`${at}: shape is ${describe(shape)}, not an array of dimensions`);
  for (const dim of shape) {
    if (!isCount(dim)) throw new SafetensorsFormatError(`${at}: shape [${shape.map(describe).join(', ')}] has dimension ${describe(dim)}; dimensions are non-negative integers`);
  }
  const dims = shape as number[];
  if (dims.includes(0)) return 0;
  let numel = 1;
  for (const dim of dims) {
    numel *= dim;
    // Past 2^53 / 8 even an I8 tensor could not be addressed, and products lose exactness.
    if (numel > Number.MAX_SAFE_INTEGER / 8) {
      throw new SafetensorsFormatError(`${at}: shape [${dims.join(', ')}] has too many elements (the product overflows); the header is corrupt`);
    }
  }
  return numel;
}

/** The format requires tensors to tile the data section: no overlaps, no holes, no trailing bytes. */
function checkTiling(entries: SafetensorsEntry[], dataBytes: number, source: string): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: SafetensorsEntry | undefined;
  for (const entry of entries) {
    if (entry.begin < covered) {
      throw new SafetensorsFormatError(`${source}: tensor '${entry.name}' bytes [${entry.begin}, ${entry.end}) overlap tensor '${previous!.name}' [${previous!.begin}, ${previous!.end}); the header is corrupt`);
    }
    if (entry.begin > covered) {
      throw new SafetensorsFormatError(`${source}: data bytes [${covered}, ${entry.begin}) before tensor '${entry.name}' belong to no tensor (a hole); the header is corrupt`);
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataBytes) {
    throw new SafetensorsFormatError(`${source}: ${dataBytes - covered} trailing data bytes after the last tensor belong to no tensor; the file is corrupt`);
  }
}

/**
 * JSON.parse silently keeps the last of two equal keys; this scan finds them.
 * `text` is already known to be valid JSON, so only strings and brackets matter.
 * `within` names the top-level key enclosing the duplicate (undefined at top level).
 */
function findDuplicateKey(text: string): { key: string; within: string | undefined } | undefined {
  const stack: { keys: Set<string> | undefined; expectKey: boolean }[] = [];
  let topKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const top = stack.at(-1);
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) return { key, within: stack.length === 1 ? undefined : topKey };
        top.keys.add(key);
        top.expectKey = false;
        if (stack.length === 1) topKey = key;
      }
    } else if (c === '{') stack.push({ keys: new Set(), expectKey: true });
    else if (c === '[') stack.push({ keys: undefined, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Data

function decodeTensor(entry: SafetensorsEntry, bytes: Uint8Array, source: string): SafetensorsTensor {
  // A copy: tensors in a file need not be aligned, and the result must not alias the input.
  const copy = bytes.slice();
  toHostOrder(copy, ITEM_BYTES[entry.dtype]);
  const { buffer } = copy;
  const shape = entry.shape;
  switch (entry.dtype) {
    case 'F64': return { dtype: 'F64', shape, data: new Float64Array(buffer) };
    case 'F32': return { dtype: 'F32', shape, data: new Float32Array(buffer) };
    case 'F16': return { dtype: 'F16', shape, data: Float32Array.from(new Uint16Array(buffer), f16FromBits) };
    case 'BF16': {
      const wide = new Uint32Array(copy.length / 2);
      new Uint16Array(buffer).forEach((bits, i) => { wide[i] = bits << 16; });
      return { dtype: 'BF16', shape, data: new Float32Array(wide.buffer) };
    }
    case 'I64': return { dtype: 'I64', shape, data: new BigInt64Array(buffer) };
    case 'U64': return { dtype: 'U64', shape, data: new BigUint64Array(buffer) };
    case 'I32': return { dtype: 'I32', shape, data: new Int32Array(buffer) };
    case 'U32': return { dtype: 'U32', shape, data: new Uint32Array(buffer) };
    case 'I16': return { dtype: 'I16', shape, data: new Int16Array(buffer) };
    case 'U16': return { dtype: 'U16', shape, data: new Uint16Array(buffer) };
    case 'I8': return { dtype: 'I8', shape, data: new Int8Array(buffer) };
    case 'U8': return { dtype: 'U8', shape, data: copy };
    case 'BOOL': {
      const bad = copy.findIndex((b) => b > 1);
      if (bad >= 0) throw new SafetensorsFormatError(`${source}: tensor '${entry.name}' is BOOL but element ${bad} is byte ${copy[bad]} (booleans are 0 or 1); the file is corrupt`);
      return { dtype: 'BOOL', shape, data: copy };
    }
    default: return entry.dtype satisfies never;
  }
}

/** Safetensors is little-endian; swap in place on a big-endian host (a no-op everywhere kiln runs). */
function toHostOrder(bytes: Uint8Array, itemBytes: number): void {
  if (HOST_LITTLE_ENDIAN || itemBytes === 1) return;
  for (let i = 0; i < bytes.length; i += itemBytes) bytes.subarray(i, i + itemBytes).reverse();
}

function decodeAll(header: SafetensorsHeader, bytesOf: (entry: SafetensorsEntry) => Uint8Array, source: string): SafetensorsFile {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of header.entries) tensors.set(entry.name, decodeTensor(entry, bytesOf(entry), source));
  return { tensors, metadata: header.metadata };
}

/** Parses a whole safetensors file held in memory. `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors data', limits: SafetensorsLimits = {}): SafetensorsFile {
  const headerLength = parseSafetensorsPrefix(bytes.subarray(0, 8), bytes.length, source, limits);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLength), bytes.length, source, limits);
  return decodeAll(header, (entry) => bytes.subarray(header.dataStart + entry.begin, header.dataStart + entry.end), source);
}

// ---------------------------------------------------------------------------
// Files

function withFile<T>(path: string, body: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new SafetensorsFormatError(`${path}: cannot open (${errorCode(error)}); check the path and permissions`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new SafetensorsFormatError(`${path}: not a regular file`);
    return body(fd, stat.size);
  } finally {
    closeSync(fd);
  }
}

/** Reads exactly `length` bytes at `position`; a short read means the file shrank under us. */
function readExactly(fd: number, position: number, length: number, path: string): Uint8Array {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, bytes, done, length - done, position + done);
    } catch (error) {
      throw new SafetensorsFormatError(`${path}: cannot read (${errorCode(error)})`);
    }
    if (n === 0) throw new SafetensorsFormatError(`${path}: file ended at byte ${position + done}, expected ${position + length} (did it change while being read?)`);
    done += n;
  }
  return bytes;
}

function readHeader(fd: number, size: number, path: string, limits: SafetensorsLimits): SafetensorsHeader {
  const headerLength = parseSafetensorsPrefix(readExactly(fd, 0, Math.min(8, size), path), size, path, limits);
  return parseSafetensorsHeader(readExactly(fd, 8, headerLength, path), size, path, limits);
}

/** Reads and validates only the header of a file (cheap: no tensor data is read). */
export function readSafetensorsHeader(path: string, limits: SafetensorsLimits = {}): SafetensorsHeader {
  return withFile(path, (fd, size) => readHeader(fd, size, path, limits));
}

/** Reads a safetensors file: the header is validated against the file size before any tensor data is read. */
export function readSafetensors(path: string, limits: SafetensorsLimits = {}): SafetensorsFile {
  return withFile(path, (fd, size) => {
    const header = readHeader(fd, size, path, limits);
    return decodeAll(header, (entry) => readExactly(fd, header.dataStart + entry.begin, entry.end - entry.begin, path), path);
  });
}

// ---------------------------------------------------------------------------
// Writing

/** The integer range each integer dtype holds when given as numbers (I64/U64 as numbers: the safe integers). */
const INTEGER_RANGE: Partial<Record<SafetensorsDType, readonly [number, number]>> = {
  I64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], U64: [0, Number.MAX_SAFE_INTEGER],
  I32: [-(2 ** 31), 2 ** 31 - 1], U32: [0, 2 ** 32 - 1], I16: [-(2 ** 15), 2 ** 15 - 1], U16: [0, 2 ** 16 - 1],
  I8: [-128, 127], U8: [0, 255], BOOL: [0, 1],
};

/** Checks a tensor before anything is written (dtype, shape, count, every value fits); returns its byte size. */
function checkInput(name: string, tensor: SafetensorsInput, path: string): number {
  const at = `cannot write ${path}: tensor '${name}'`;
  if (!isDType(tensor.dtype)) throw new SafetensorsFormatError(`${at}: dtype '${String(tensor.dtype)}' is not one of ${DTYPES.join(', ')}`);
  const numel = checkShape(tensor.shape, at);
  const { data } = tensor;
  if (data.length !== numel) throw new SafetensorsFormatError(`${at}: ${data.length} values, but shape [${tensor.shape.join(', ')}] holds ${numel}`);
  const range = INTEGER_RANGE[tensor.dtype];
  if (range && !(data instanceof BigInt64Array || data instanceof BigUint64Array)) {
    const [min, max] = range;
    for (let i = 0; i < numel; i++) {
      const v = data[i]!;
      if (!Number.isInteger(v) || v < min || v > max) throw new SafetensorsFormatError(`${at}: element ${i} is ${v}, which ${tensor.dtype} cannot hold`);
    }
  }
  return numel * ITEM_BYTES[tensor.dtype];
}

/** Little-endian bytes of a tensor that passed checkInput. */
function encodeTensor(tensor: SafetensorsInput): Uint8Array {
  const bytes = new Uint8Array(tensor.data.length * ITEM_BYTES[tensor.dtype]);
  const { buffer } = bytes;
  switch (tensor.dtype) {
    case 'F64': new Float64Array(buffer).set(tensor.data); break;
    case 'F32': new Float32Array(buffer).set(tensor.data); break;
    case 'F16': {
      const out = new Uint16Array(buffer);
      for (let i = 0; i < out.length; i++) out[i] = f16Bits(f16Round(tensor.data[i]!));
      break;
    }
    case 'BF16': {
      const out = new Uint16Array(buffer);
      const wide = new Float32Array(1);
      const wideBits = new Uint32Array(wide.buffer);
      for (let i = 0; i < out.length; i++) {
        wide[0] = bf16Round(tensor.data[i]!);
        out[i] = wideBits[0]! >>> 16;
      }
      break;
    }
    case 'I64': new BigInt64Array(buffer).set(tensor.data instanceof BigInt64Array ? tensor.data : Array.from(tensor.data, BigInt)); break;
    case 'U64': new BigUint64Array(buffer).set(tensor.data instanceof BigUint64Array ? tensor.data : Array.from(tensor.data, BigInt)); break;
    case 'I32': new Int32Array(buffer).set(tensor.data); break;
    case 'U32': new Uint32Array(buffer).set(tensor.data); break;
    case 'I16': new Int16Array(buffer).set(tensor.data); break;
    case 'U16': new Uint16Array(buffer).set(tensor.data); break;
    case 'I8': new Int8Array(buffer).set(tensor.data); break;
    case 'U8': case 'BOOL': bytes.set(tensor.data); break;
    default: return tensor satisfies never;
  }
  toHostOrder(bytes, ITEM_BYTES[tensor.dtype]);
  return bytes;
}

/**
 * Writes tensors (stored in sorted name order) and string metadata to `path`
 * atomically: a temp file `<path>.tmp-<pid>-<random>` in the same directory is
 * written and fsynced, renamed over `path`, and the directory is fsynced.
 *
 *   writeSafetensors('w.safetensors', { w: { dtype: 'F32', shape: [2], data: [1, 2] } });
 *   readSafetensors('w.safetensors').tensors.get('w')!.data; // Float32Array [1, 2]
 */
export function writeSafetensors(path: string, tensors: Readonly<Record<string, SafetensorsInput>>, metadata: Readonly<Record<string, string>> = {}): void {
  const names = Object.keys(tensors).sort();
  const header: [string, unknown][] = [];
  if (Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new SafetensorsFormatError(`cannot write ${path}: metadata '${key}' is ${describe(value)}; metadata values must be strings`);
    }
    header.push([METADATA_KEY, metadata]);
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new SafetensorsFormatError(`cannot write ${path}: '${METADATA_KEY}' is reserved and cannot name a tensor`);
    const tensor = tensors[name]!;
    const size = checkInput(name, tensor, path);
    header.push([name, { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + size] }]);
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(header)));
  // Spaces pad the header so the data section starts 8-byte aligned, as the reference writer does.
  const headerLength = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + headerLength).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  // Tensors are encoded one at a time as they are written, so only one encoded copy is alive.
  function* chunks(): Generator<Uint8Array> {
    yield head;
    for (const name of names) yield encodeTensor(tensors[name]!);
  }
  writeAtomically(path, head.length + offset, chunks());
}

function writeAtomically(path: string, total: number, chunks: Iterable<Uint8Array>): void {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let fd: number;
  try {
    fd = openSync(temp, 'wx');
  } catch (error) {
    throw new Error(`cannot write ${path}: cannot create ${temp} (${errorCode(error)}); check that the directory exists and is writable`, { cause: error });
  }
  try {
    try {
      const pauseAt = process.env.KILN_TEST_CHECKPOINT_PAUSE ? Math.floor(total / 2) : -1;
      let written = 0;
      for (const chunk of chunks) {
        let done = 0;
        while (done < chunk.length) {
          // Stop at the pause point exactly, so the test hook sees half the bytes on disk.
          const end = written < pauseAt && pauseAt < written + chunk.length - done ? pauseAt - written + done : chunk.length;
          const n = writeSync(fd, chunk, done, end - done);
          done += n;
          written += n;
          if (written === pauseAt) pauseForTest(fd);
        }
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    try { unlinkSync(temp); } catch { /* already renamed or gone */ }
    throw new Error(`cannot write ${path}: ${errorCode(error)}`, { cause: error });
  }
  // The rename is durable only once the directory entry is on disk.
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (error) {
    throw new Error(`cannot write ${path}: the file is in place but its directory could not be synced (${errorCode(error)})`, { cause: error });
  }
}

/**
 * TEST HOOK (crash safety): with KILN_TEST_CHECKPOINT_PAUSE=<marker path>, the
 * writer stops after half its bytes reach the temp file, creates the marker and
 * blocks for up to 60 s so a test can SIGKILL the process mid-write.
 */
function pauseForTest(fd: number): void {
  fsyncSync(fd);
  writeFileSync(process.env.KILN_TEST_CHECKPOINT_PAUSE!, '');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}

// ---------------------------------------------------------------------------

function isDType(dtype: unknown): dtype is SafetensorsDType {
  return typeof dtype === 'string' && Object.hasOwn(ITEM_BYTES, dtype);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, readable rendering of a JSON value for error messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'number') return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
