// GPU check · deterministic values shared by the packing side (corpus.ts) and the
// GPU side (run.ts), so large benchmark parameters are generated where they are
// used instead of carried as JSON.

export type Values = Record<string, number[]>;

/** n float32 values of a sine wave: bounded, no NaN, no denormals; `k` shifts the phase. */
export function wave(n: number, k: number, scale = 1): number[] {
  return Array.from({ length: n }, (_, i) => Math.fround(scale * Math.sin(i * 0.7311 + k * 1.37)));
}

/** Values for a bench case's params (name → element count): small waves; timing does not depend on them. */
export function benchValues(params: Readonly<Record<string, number>>): Values {
  return Object.fromEntries(Object.entries(params).map(([name, n], k) => [name, wave(n, k + 1, 0.05)]));
}
