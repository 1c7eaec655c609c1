// Kernel templates on WebGPU: the matmul template (with fused epilogues) and the
// fused attention kernels (forward with saved log-sum-exp, dq, dk‖dv) match the
// interpreter in float32 — including shapes that are not multiples of the tile
// sizes, Tq ≠ Tk and dv ≠ d — under every tile size autotune may pick.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { MATMUL_TILE_CANDIDATES } from '../../compiler/kernel/templates/tiles.ts';
import { attention, gelu, grad, spec, trace } from '../../dsl/index.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { Executor } from '../../runtime/executor.ts';
import { wave } from '../support/gradcheck.ts';
import { expectGpuMatchesInterpreter, gpu } from '../support/webgpu.ts';

const values = (shapes: Record<string, readonly number[]>) =>
  Object.fromEntries(Object.entries(shapes).map(([name, shape], k) => [name, wave(shape.reduce((a, b) => a * b, 1), k + 2)]));

describe('matmul template', () => {
  it('batched matmul with bias, gelu and residual epilogue, odd sizes, matches the interpreter', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 9 }), async (b, m, k, n) => {
        const shapes = { x: [b, m, k], w: [k, n], bias: [n], r: [b, m, n] };
        const t = trace((_, { x, w, bias, r }) => gelu(x.matmul(w).add(bias)).add(r), {
          x: spec(shapes.x), w: spec(shapes.w), bias: spec(shapes.bias), r: spec(shapes.r),
        });
        await expectGpuMatchesInterpreter(t.graph, values(shapes));
      }),
      { numRuns: 8 },
    );
  });

  it('a weight gradient contracting two axes (Σ over batch and tokens) matches the interpreter', async () => {
    const shapes = { x: [3, 5, 7], g: [3, 5, 6] };
    const t = trace((_, { x, g }) => x.reshape([15, 7]).permute([1, 0] as const).matmul(g.reshape([15, 6])), { x: spec(shapes.x), g: spec(shapes.g) });
    await expectGpuMatchesInterpreter(t.graph, values(shapes));
  });

  it('every tile-size candidate computes the same product', async () => {
    const device = await gpu();
    const shapes = { a: [2, 17, 9], b: [9, 23] };
    const t = trace((_, { a, b }) => a.matmul(b), { a: spec(shapes.a), b: spec(shapes.b) });
    const inputs = values(shapes);
    const ref = interpret(t.graph, { inputs }, { precision: 'f32' }).outputs.out!.data;
    for (const tile of MATMUL_TILE_CANDIDATES) {
      const exec = await Executor.create(device, compile(t.graph, { limits: device.limits, matmulTile: tile }).program);
      const got = (await exec.run(inputs)).out!.data;
      exec.dispose();
      const worst = Math.max(...ref.map((r, i) => Math.abs(got[i]! - r) / (1 + Math.abs(r))));
      expect(worst, `tile ${JSON.stringify(tile)}`).toBeLessThan(1e-5);
    }
  });
});

describe('fused attention kernels', () => {
  const shapes = { q: [2, 3, 5, 4], k: [2, 3, 7, 4], v: [2, 3, 7, 6], g: [2, 3, 5, 6] };
  const specs = { q: spec(shapes.q), k: spec(shapes.k), v: spec(shapes.v), g: spec(shapes.g) };

  it('forward (Tq ≠ Tk, dv ≠ d) matches the interpreter', async () => {
    const t = trace((_, { q, k, v }) => attention(q, k, v), specs);
    await expectGpuMatchesInterpreter(t.graph, values(shapes));
  });

  it('dq, dk and dv match the interpreter', async () => {
    const t = trace((_, { q, k, v, g }) => {
      const [dq, dk, dv] = grad(attention(q, k, v, 0.7).mul(g).sum(), [q, k, v]);
      return { dq: dq!, dk: dk!, dv: dv! };
    }, specs);
    await expectGpuMatchesInterpreter(t.graph, values(shapes));
  });

  it('large scores (a peaked softmax) stay finite and match: the online max is exact', async () => {
    const t = trace((_, { q, k, v }) => attention(q.mul(40), k, v), specs);
    await expectGpuMatchesInterpreter(t.graph, values(shapes), {}, 1e-3);
  });
});
