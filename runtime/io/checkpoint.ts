// Runtime io · kiln training checkpoints, stored as safetensors. In: a training
// program's parameters by name (weights, optimiser state `optim.m.<p>` /
// `optim.v.<p>`, EMA `ema.<p>`, all as-is), their shapes, the step, the RNG seed
// and the run's config. Out: the same, with values as float64.
// Metadata keys: kiln.format ("kiln-checkpoint/1"), kiln.dtype (F32 | F64, so an
// empty checkpoint still says what it stores), kiln.step (decimal), kiln.rng and
// kiln.config (JSON), plus caller `extra` keys (which may not start with "kiln.").
// File names are the caller's choice (the training loop writes step-NNNNNNN.safetensors):
// latestCheckpoint reads the step from each file's header, not from its name.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, readSafetensorsHeader, writeSafetensors, type SafetensorsHeader, type SafetensorsInput } from './safetensors.ts';

export const CHECKPOINT_FORMAT = 'kiln-checkpoint/1';

export type CheckpointDType = 'F32' | 'F64';

export interface CheckpointRng {
  readonly seed: number;
}

export interface Checkpoint {
  readonly tensors: Readonly<Record<string, Float64Array | Float32Array>>;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  /** Storage precision; F32 rounds float64 values to nearest. */
  readonly dtype: CheckpointDType;
  readonly step: number;
  readonly rng: CheckpointRng;
  /** Any JSON-serialisable value (the model and run settings). */
  readonly config: unknown;
  readonly extra?: Readonly<Record<string, string>>;
}

export interface LoadedCheckpoint extends Checkpoint {
  readonly tensors: Readonly<Record<string, Float64Array>>;
  readonly extra: Readonly<Record<string, string>>;
}

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

const KEY = { format: 'kiln.format', dtype: 'kiln.dtype', step: 'kiln.step', rng: 'kiln.rng', config: 'kiln.config' } as const;
const RESERVED_PREFIX = 'kiln.';

/**
 * Writes a checkpoint atomically (see writeSafetensors): a crash leaves the previous file intact.
 *
 *   saveCheckpoint('ckpt/step-0000100.safetensors', { tensors, shapes, dtype: 'F32', step: 100, rng: { seed: 0 }, config });
 *   loadCheckpoint('ckpt/step-0000100.safetensors').step; // 100
 */
export function saveCheckpoint(path: string, checkpoint: Checkpoint): void {
  const { dtype, step, rng, extra = {} } = checkpoint;
  const at = `cannot save checkpoint ${path}`;
  if (dtype !== 'F32' && dtype !== 'F64') throw new CheckpointError(`${at}: dtype '${String(dtype)}' is not F32 or F64`);
  if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`${at}: step ${step} is not a non-negative integer`);
  if (!isRng(rng)) throw new CheckpointError(`${at}: rng ${safeJson(rng)} has no finite numeric seed`);
  const config = safeJson(checkpoint.config);
  if (config === undefined) throw new CheckpointError(`${at}: config is not JSON-serialisable (a function, undefined, a bigint or a cycle)`);
  for (const [key, value] of Object.entries(extra)) {
    if (key.startsWith(RESERVED_PREFIX)) throw new CheckpointError(`${at}: extra key '${key}' uses the reserved prefix '${RESERVED_PREFIX}'`);
    if (typeof value !== 'string') throw new CheckpointError(`${at}: extra '${key}' is not a string`);
  }
  const names = Object.keys(checkpoint.tensors);
  for (const name of Object.keys(checkpoint.shapes)) {
    if (!Object.hasOwn(checkpoint.tensors, name)) throw new CheckpointError(`${at}: shape given for '${name}' but no tensor`);
  }
  const tensors: Record<string, SafetensorsInput> = {};
  for (const name of names) {
    if (!Object.hasOwn(checkpoint.shapes, name)) throw new CheckpointError(`${at}: tensor '${name}' has no shape`);
    tensors[name] = { dtype, shape: checkpoint.shapes[name]!, data: checkpoint.tensors[name]! };
  }
  writeSafetensors(path, tensors, {
    ...extra,
    [KEY.format]: CHECKPOINT_FORMAT,
    [KEY.dtype]: dtype,
    [KEY.step]: String(step),
    [KEY.rng]: JSON.stringify(rng),
    [KEY.config]: config,
  });
}

/** Reads a checkpoint; values come back as float64 (exact for both storage dtypes). */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const file = readSafetensors(path);
  const info = checkpointInfo(path, file.metadata, [...file.tensors].map(([name, tensor]) => ({ name, dtype: tensor.dtype })));
  const tensors = Object.create(null) as Record<string, Float64Array>;
  const shapes = Object.create(null) as Record<string, readonly number[]>;
  for (const [name, tensor] of file.tensors) {
    tensors[name] = tensor.data instanceof Float64Array ? tensor.data : Float64Array.from(tensor.data as Float32Array);
    shapes[name] = tensor.shape;
  }
  return { tensors, shapes, ...info };
}

/**
 * The path of the checkpoint with the highest step among the `*.safetensors` files
 * in `dir` (only headers are read). Files that are not valid kiln checkpoints, and
 * temp files left by an interrupted write (`*.tmp-*`), are skipped. Ties go to the
 * name that sorts first. Undefined when there is none or `dir` does not exist.
 */
export function latestCheckpoint(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(`${dir}: cannot list checkpoints (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let best: { path: string; step: number } | undefined;
  for (const name of names.sort()) {
    if (!name.endsWith('.safetensors') || name.includes('.tmp-')) continue;
    const path = join(dir, name);
    let step: number;
    try {
      const header = readSafetensorsHeader(path);
      step = checkpointInfo(path, header.metadata, header.entries).step;
    } catch {
      continue; // corrupt, truncated or not a kiln checkpoint: not a candidate
    }
    if (!best || step > best.step) best = { path, step };
  }
  return best?.path;
}

type CheckpointInfo = Omit<LoadedCheckpoint, 'tensors' | 'shapes'>;

/** Validates kiln's metadata and that every tensor has the declared dtype. */
function checkpointInfo(path: string, metadata: Record<string, string>, entries: readonly Pick<SafetensorsHeader['entries'][number], 'name' | 'dtype'>[]): CheckpointInfo {
  const at = `${path}: not a kiln checkpoint`;
  const format = metadata[KEY.format];
  if (format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(format === undefined ? `${at} (no ${KEY.format} metadata)` : `${at}: ${KEY.format} is '${format}', this kiln reads '${CHECKPOINT_FORMAT}'`);
  }
  const dtype = metadata[KEY.dtype];
  if (dtype !== 'F32' && dtype !== 'F64') throw new CheckpointError(`${path}: ${KEY.dtype} is ${quote(dtype)}, not F32 or F64`);
  for (const entry of entries) {
    if (entry.dtype !== dtype) throw new CheckpointError(`${path}: tensor '${entry.name}' is ${entry.dtype}, but ${KEY.dtype} says ${dtype}`);
  }
  const stepText = metadata[KEY.step];
  const step = stepText !== undefined && /^(0|[1-9][0-9]*)$/.test(stepText) ? Number(stepText) : NaN;
  if (!Number.isSafeInteger(step)) throw new CheckpointError(`${path}: ${KEY.step} is ${quote(stepText)}, not a non-negative integer`);
  const rng = parseJson(path, KEY.rng, metadata[KEY.rng]);
  if (!isRng(rng)) throw new CheckpointError(`${path}: ${KEY.rng} is ${metadata[KEY.rng]}, which has no finite numeric seed`);
  const config = parseJson(path, KEY.config, metadata[KEY.config]);
  const extra = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(metadata)) if (!key.startsWith(RESERVED_PREFIX)) extra[key] = value;
  return { dtype, step, rng, config, extra };
}

function parseJson(path: string, key: string, text: string | undefined): unknown {
  if (text === undefined) throw new CheckpointError(`${path}: no ${key} metadata (the checkpoint is incomplete)`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${path}: ${key} is not valid JSON (${(error as Error).message})`);
  }
}

function isRng(rng: unknown): rng is CheckpointRng {
  return typeof rng === 'object' && rng !== null && typeof (rng as { seed?: unknown }).seed === 'number' && Number.isFinite((rng as CheckpointRng).seed);
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

function quote(text: string | undefined): string {
  return text === undefined ? 'missing' : `'${text}'`;
}
