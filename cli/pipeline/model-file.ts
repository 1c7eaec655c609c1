// CLI pipeline · trained weights between commands: a safetensors file with the
// inference weights (F32) and, in its metadata, what they are (`kiln.model`:
// kind and config as JSON), so `kiln encode --tokenizer out/tokenizer.safetensors`
// needs no other flag to rebuild the model.

import { readSafetensors, writeSafetensors } from '../../runtime/io/safetensors.ts';
import { InputError } from '../flags.ts';

export type ModelKind = 'classifier' | 'tokenizer' | 'diffusion';

export interface ModelFile<C> {
  readonly kind: ModelKind;
  readonly config: C;
  readonly params: Record<string, Float64Array>;
  /** Kind-specific values (the latent statistics of a diffusion model, the tokenizer variant). */
  readonly extra: Record<string, unknown>;
}

export function saveModel<C>(path: string, model: ModelFile<C>, shapes: Readonly<Record<string, readonly number[]>>): void {
  const tensors = Object.fromEntries(Object.entries(model.params).map(([name, data]) => {
    const shape = shapes[name] ?? [data.length];
    return [name, { dtype: 'F32' as const, shape, data }];
  }));
  writeSafetensors(path, tensors, { 'kiln.model': JSON.stringify({ kind: model.kind, config: model.config, extra: model.extra }) });
}

export function loadModel<C>(path: string, kind: ModelKind): ModelFile<C> {
  const file = readSafetensors(path);
  let info: { kind?: unknown; config?: unknown; extra?: unknown };
  try {
    info = JSON.parse(file.metadata['kiln.model'] ?? 'null') ?? {};
  } catch {
    throw new InputError(`${path}: kiln.model metadata is not JSON (was it written by kiln?)`);
  }
  if (info.kind !== kind) throw new InputError(`${path}: holds a ${String(info.kind ?? 'non-kiln')} model, this command needs a ${kind} (see kiln --help for which command writes it)`);
  const params: Record<string, Float64Array> = {};
  for (const [name, t] of file.tensors) {
    if (t.dtype !== 'F32') throw new InputError(`${path}: tensor "${name}" is ${t.dtype}; kiln model files hold F32`);
    params[name] = Float64Array.from(t.data as Float32Array);
  }
  return { kind, config: info.config as C, params, extra: (info.extra ?? {}) as Record<string, unknown> };
}
