// GPU check · deterministic values shared by the packing side (corpus.ts) and the
// GPU side (run.ts), so large benchmark parameters are generated where they are
// used instead of carried as JSON.

export type Values = Record<string, number[]>;

/** n float32 values of a sine wave: bounded, no NaN, no denormals; `k` shifts the phase. */
export function wave(n: number, k: number, scale = 1): number[] {
  return Array.from({ length: n }, (_, i) => Math.fround(scale * Math.sin(i * 0.7311 + k * 1.37)));
}

/** Values for a bench case's params (name → element count), one at a time: small waves; timing does not depend on them. */
export function* benchValues(params: Readonly<Record<string, number>>): Generator<[string, Float32Array]> {
  let k = 0;
  for (const [name, n] of Object.entries(params)) {
    k++;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = 0.05 * Math.sin(i * 0.7311 + k * 1.37);
    yield [name, values];
  }
}
