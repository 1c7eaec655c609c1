// Test support · fast-check arbitraries for finite-difference gradient tests:
// small shapes (FD costs two runs per element) and values kept away from the
// kinks and ties where a gradient is not defined.

import fc from 'fast-check';
import { valuesArb } from './composite-helpers.ts';

/** Elements per differentiated input: each costs two interpreter runs. */
export const MAX_SIZE = 24;

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function shapeArb(minRank: number, maxRank: number, maxDim = 4): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank }).filter((s) => size(s) <= MAX_SIZE);
}

export function floatsArb(length: number, min = -3, max = 3): fc.Arbitrary<number[]> {
  return valuesArb(length, min, max).map((a) => Array.from(a));
}

/** Floats in ±[floor, max]: keeps kinks at 0 (|x|, relu) outside the FD window, and vectors away from zero. */
export function awayFromZeroArb(length: number, floor: number, max: number): fc.Arbitrary<number[]> {
  const signed = fc.tuple(fc.double({ min: floor, max, noNaN: true }), fc.boolean()).map(([m, negative]) => (negative ? -m : m));
  return fc.array(signed, { minLength: length, maxLength: length });
}

/** `length` floats differing pairwise by ≥ 0.1 (a shuffled increasing run): max never ties, normalised rows never collapse. */
export function distinctArb(length: number, maxStep = 0.4): fc.Arbitrary<number[]> {
  return fc
    .tuple(
      fc.double({ min: -2, max: 0, noNaN: true }),
      fc.array(fc.double({ min: 0.1, max: maxStep, noNaN: true }), { minLength: length, maxLength: length }),
      fc.array(fc.nat(), { minLength: length, maxLength: length }),
    )
    .map(([start, steps, keys]) => {
      let acc = start;
      const sorted = steps.map((s) => (acc += s));
      return keys
        .map((k, i) => [k, i] as const)
        .sort((p, q) => p[0] - q[0] || p[1] - q[1])
        .map(([, i]) => sorted[i]!);
    });
}
