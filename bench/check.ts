// Bench · the side-by-side correctness check run before any timing. In: each
// library's outputs for the same inputs (reference layout). Out: nothing when
// kiln, every peer and — where one exists — a float64 host oracle agree at
// sampled positions within 1e-3 relative; otherwise an Error naming the output,
// the position and the values. A benchmark of a wrong result is worthless.

import type { Outputs } from './harness.ts';
import { elementwiseReference, type WorkloadData } from './workloads.ts';

export const TOLERANCE = 1e-3;
const SAMPLES = 48;

/** First, last and evenly strided positions (stride coprime-ish to row lengths). */
export function sampleIndices(size: number, count = SAMPLES): number[] {
  const picked = new Set<number>([0, size - 1]);
  for (let i = 1; picked.size < Math.min(count, size); i++) picked.add(Math.floor((i * 0.6180339887498949 * size) % size));
  return [...picked].sort((a, b) => a - b);
}

/** The float64 value of output `name` at `index`, where the host can compute it cheaply. */
function oracle(data: WorkloadData, name: string): ((index: number) => number) | undefined {
  if (name !== 'out') return undefined;
  switch (data.kind) {
    case 'matmul': {
      const { n, a, b } = data;
      return (index) => {
        const row = Math.floor(index / n);
        const col = index % n;
        let acc = 0;
        for (let k = 0; k < n; k++) acc += a[row * n + k]! * b[k * n + col]!;
        return acc;
      };
    }
    case 'elementwise':
      return (index) => elementwiseReference(data.x[index]!);
    case 'layernorm': {
      const { cols, eps, x, weight, bias } = data;
      return (index) => {
        const row = Math.floor(index / cols);
        const col = index % cols;
        let mean = 0;
        for (let c = 0; c < cols; c++) mean += x[row * cols + c]!;
        mean /= cols;
        let variance = 0;
        for (let c = 0; c < cols; c++) variance += (x[row * cols + c]! - mean) ** 2;
        variance /= cols;
        return ((x[index]! - mean) / Math.sqrt(variance + eps)) * weight[col]! + bias[col]!;
      };
    }
    case 'block':
    case 'model':
      return undefined;
    default:
      return data satisfies never;
  }
}

interface Worst {
  error: number;
  index: number;
  got: number;
  want: number;
}

/** Worst |got − want| / max(|want|, rms of the wanted samples) over the sampled positions. */
function worstError(got: ArrayLike<number>, want: (index: number) => number, indices: readonly number[]): Worst {
  const wanted = indices.map(want);
  const rms = Math.sqrt(wanted.reduce((acc, v) => acc + v * v, 0) / wanted.length);
  const worst: Worst = { error: 0, index: -1, got: NaN, want: NaN };
  indices.forEach((index, i) => {
    const value = got[index]!;
    const scale = Math.max(Math.abs(wanted[i]!), rms, Number.MIN_VALUE);
    const error = Math.abs(value - wanted[i]!) / scale;
    // written so that NaN counts as the worst possible error
    if (!(error <= worst.error)) Object.assign(worst, { error: Number.isNaN(error) ? Infinity : error, index, got: value, want: wanted[i]! });
  });
  return worst;
}

/**
 * Compares every library with the host oracle (where there is one) and every
 * library with `reference` (kiln), output by output. Returns a one-line summary;
 * throws when any pair disagrees beyond TOLERANCE.
 */
export function verify(workload: string, data: WorkloadData, results: ReadonlyMap<string, Outputs>, reference = 'kiln'): string {
  const base = results.get(reference);
  if (!base) return `${workload}: not checked (${reference} did not run)`;
  const failures: string[] = [];
  let worstSeen = 0;
  for (const [name, baseValues] of Object.entries(base)) {
    const indices = sampleIndices(baseValues.length);
    const pairs: [string, ArrayLike<number>, (i: number) => number][] = [];
    const exact = oracle(data, name);
    for (const [library, outputs] of results) {
      const values = outputs[name];
      if (!values) {
        failures.push(`${library} returned no "${name}"`);
        continue;
      }
      if (values.length !== baseValues.length) {
        failures.push(`${library} "${name}" has ${values.length} values, ${reference} has ${baseValues.length}`);
        continue;
      }
      if (exact) pairs.push([`${library} vs host float64`, values, exact]);
      if (library !== reference) pairs.push([`${library} vs ${reference}`, values, (i) => baseValues[i]!]);
    }
    for (const [label, values, want] of pairs) {
      const worst = worstError(values, want, indices);
      worstSeen = Math.max(worstSeen, worst.error);
      if (worst.error > TOLERANCE) failures.push(`${label}, "${name}"[${worst.index}]: ${worst.got} vs ${worst.want} (relative error ${worst.error.toExponential(2)})`);
    }
  }
  if (failures.length > 0) throw new Error(`bench: ${workload}: results disagree beyond ${TOLERANCE} relative — refusing to time a wrong result:\n  ${failures.join('\n  ')}`);
  const names = Object.keys(base);
  const grads = names.filter((n) => n.startsWith('grad.')).length;
  const what = grads > 0 ? [...names.filter((n) => !n.startsWith('grad.')), `${grads} gradients`].join(' + ') : names.join(', ');
  const exact = oracle(data, 'out') !== undefined;
  if (results.size === 1 && !exact) return `${workload}: only ${reference} ran; ${what} not compared`;
  const who = [...results.keys()].join(', ');
  return `${workload}: ${who}${exact ? ' and a float64 host oracle' : ''} agree on ${what} (worst relative error ${worstSeen.toExponential(1)})`;
}
