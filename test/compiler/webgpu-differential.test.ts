// Differential property test: random graphs of primitives and composites
// (broadcasts, views, reductions, dots, gathers, scatters) compiled to WGSL and
// run on the real WebGPU adapter match the reference interpreter (float32).

import fc from 'fast-check';
import { describe, it } from 'vitest';
import { buildGraph, inputValues, recipeArb } from '../support/random-graph.ts';
import { expectGpuMatchesInterpreter } from '../support/webgpu.ts';

describe('compiled WGSL matches the interpreter on random graphs', () => {
  it('agrees on 200 random graphs', async () => {
    await fc.assert(
      fc.asyncProperty(recipeArb, fc.nat(), async (recipe, seed) => {
        const { graph, inputs } = buildGraph(recipe);
        await expectGpuMatchesInterpreter(graph, inputValues(inputs, seed));
      }),
      { numRuns: 200, seed: 20261128 },
    );
  }, 300_000);
});
