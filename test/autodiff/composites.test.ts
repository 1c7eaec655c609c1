// Autodiff · every composite's gradient against central finite differences in
// float64 (test/support/gradcheck.ts) on random inputs drawn by fast-check: the
// five with their own VJP (softmax, logSoftmax, layerNorm, rmsNorm, attention)
// and the rest, differentiated through their decomposition. The own VJPs are also
// compared with the gradient of their reference decomposition (to 1e-10), and their
// backward passes are differentiated again (grad of grad). The sin-cos tables take
// no inputs and have nothing to differentiate.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMPOSITE_VJPS } from '../../compiler/autodiff/composite-rules.ts';
import { compositeDef } from '../../compiler/composite/registry.ts';
import { Op } from '../../compiler/ir/op.ts';
import {
  DType,
  attention,
  cosineSimilarity,
  embedding,
  gelu,
  grad,
  layerNorm,
  linear,
  logSoftmax,
  modulate,
  mse,
  patchify,
  rmsNorm,
  rope,
  rope1dAngles,
  rope2dAngles,
  ropeAxialAngles,
  ropeMixedAngles,
  silu,
  softmax,
  swiglu,
  timestepEmbedding,
  trace,
  unpatchify,
  type Context,
  type Shape,
  type Tensor,
} from '../../dsl/index.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { awayFromZeroArb, distinctArb, floatsArb, shapeArb, size } from '../support/grad-arbitraries.ts';
import { checkGradients } from '../support/gradcheck.ts';

type F32 = Tensor<Shape, DType.F32>;
type Inputs = Record<string, { shape: readonly number[]; values: readonly number[] }>;

const RUNS = 15;
/** Elements per differentiated input: finite differences cost two interpreter runs each. */


// ---- arbitraries ---------------------------------------------------------------


/** Values for each named shape, drawn by `values` (default: floats in [−3, 3]). */
function inputsArb(shapes: Readonly<Record<string, readonly number[]>>, values: (n: number) => fc.Arbitrary<number[]> = floatsArb): fc.Arbitrary<Inputs> {
  const names = Object.keys(shapes);
  return fc.tuple(...names.map((n) => values(size(shapes[n]!)))).map((vs) => Object.fromEntries(names.map((n, i) => [n, { shape: shapes[n]!, values: vs[i]! }])));
}

/** A fixed pseudo-random cotangent (the harness's kind), so vector outputs are checked on every element. */
function cotangent(n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 0.3) + 0.5);
}

// ---- own VJPs vs their decompositions ------------------------------------------------------

/**
 * Gradients of ⟨y, w⟩ for y = call(inputs) — a composite with its own VJP — and for y = the
 * composite's reference decomposition (compositeDef(kind).decompose on the same operands and
 * attrs), traced into one graph and evaluated on the interpreter.
 */
function ownVjpAndDecomposition(inputs: Inputs, call: (xs: Record<string, F32>) => F32): { own: Float64Array[]; decomposed: Float64Array[] } {
  const names = Object.keys(inputs);
  let outSize = 0;
  const t = trace((ctx) => {
    const xs = Object.fromEntries(names.map((n) => [n, ctx.input(n, inputs[n]!.shape)])) as Record<string, F32>;
    const y = call(xs);
    const node = y.node;
    if (node.op !== Op.Composite) throw new Error(`expected a composite, got ${node.op}`);
    if (!COMPOSITE_VJPS[node.arg.kind]) throw new Error(`${node.arg.kind} has no VJP of its own`);
    const decomposed = ctx.wrap<Shape, DType.F32>(compositeDef(node.arg.kind).decompose(ctx.builder, node.srcs, node.arg.attrs));
    outSize = size(y.shape);
    const w = ctx.input('__w', [outSize] as const);
    const lossOf = (out: F32) => out.reshape([-1]).mul(w).sum();
    const wrt = names.map((n) => xs[n]!);
    const own = grad(lossOf(y), wrt);
    const dec = grad(lossOf(decomposed), wrt);
    return Object.fromEntries([...own.map((g, i) => [`own${i}`, g] as const), ...dec.map((g, i) => [`dec${i}`, g] as const)]);
  });
  const values = Object.fromEntries(names.map((n) => [n, inputs[n]!.values]));
  const outputs = interpret(t.graph, { inputs: { ...values, __w: cotangent(outSize) } }).outputs;
  return {
    own: names.map((_, i) => outputs[`own${i}`]!.data),
    decomposed: names.map((_, i) => outputs[`dec${i}`]!.data),
  };
}

function expectSameGradients(inputs: Inputs, call: (xs: Record<string, F32>) => F32): void {
  const { own, decomposed } = ownVjpAndDecomposition(inputs, call);
  Object.keys(inputs).forEach((name, k) => {
    const a = own[k]!;
    const b = decomposed[k]!;
    const scale = Math.max(1, ...Array.from(b, Math.abs));
    const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0) / scale;
    expect(worst, `${name}: own VJP [${Array.from(a).slice(0, 6)}…] vs decomposition [${Array.from(b).slice(0, 6)}…]`).toBeLessThan(1e-10);
  });
}

// ---- softmax family --------------------------------------------------------------------------

/** A shape (rank 1–3) with an axis written positively or negatively. */
const shapeAxisArb = shapeArb(1, 3).chain((shape) => fc.record({ shape: fc.constant(shape), axis: fc.integer({ min: -shape.length, max: shape.length - 1 }) }));

describe('softmax and logSoftmax: gradients match finite differences', () => {
  it('softmax over any axis', () => {
    const arb = shapeAxisArb.chain(({ shape, axis }) => inputsArb({ x: shape }).map((inputs) => ({ inputs, axis })));
    fc.assert(fc.property(arb, ({ inputs, axis }) => checkGradients({ inputs, fn: (_ctx, { x }) => softmax(x!, axis) })), { numRuns: RUNS });
  });

  it('logSoftmax over any axis', () => {
    const arb = shapeAxisArb.chain(({ shape, axis }) => inputsArb({ x: shape }).map((inputs) => ({ inputs, axis })));
    fc.assert(fc.property(arb, ({ inputs, axis }) => checkGradients({ inputs, fn: (_ctx, { x }) => logSoftmax(x!, axis) })), { numRuns: RUNS });
  });

  it('a cross-entropy built from logSoftmax (through a second composite use of the same logits)', () => {
    const arb = inputsArb({ logits: [3, 4] });
    fc.assert(
      fc.property(arb, (inputs) =>
        checkGradients({ inputs, fn: (_ctx, { logits }) => logSoftmax(logits!).mul(softmax(logits!.mul(0.5))).sum(-1).neg().mean() }),
      ),
      { numRuns: RUNS },
    );
  });
});

// ---- norms --------------------------------------------------------------------------------------

/** x (…, D) with distinct values per row and a weight/bias over D. */
const normArb = fc
  .tuple(fc.constantFrom([3], [2, 4], [2, 2, 3], [4, 5], [1, 6]), fc.constantFrom(1e-5, 1e-3, 0.1))
  .chain(([shape, eps]) => {
    const d = shape[shape.length - 1]!;
    return fc.record({
      x: distinctArb(size(shape)).map((values) => ({ shape, values })),
      weight: floatsArb(d, -2, 2).map((values) => ({ shape: [d], values })),
      bias: floatsArb(d, -2, 2).map((values) => ({ shape: [d], values })),
      eps: fc.constant(eps),
    });
  });

describe('layerNorm and rmsNorm: gradients match finite differences', () => {
  it('layerNorm without affine', () => {
    fc.assert(fc.property(normArb, ({ x, eps }) => checkGradients({ inputs: { x }, fn: (_ctx, i) => layerNorm(i.x!, { eps }) })), { numRuns: RUNS });
  });

  it('layerNorm with a weight', () => {
    fc.assert(
      fc.property(normArb, ({ x, weight, eps }) => checkGradients({ inputs: { x, weight }, fn: (_ctx, i) => layerNorm(i.x!, { weight: i.weight!, eps }) })),
      { numRuns: RUNS },
    );
  });

  it('layerNorm with a weight and a bias', () => {
    fc.assert(
      fc.property(normArb, ({ x, weight, bias, eps }) =>
        checkGradients({ inputs: { x, weight, bias }, fn: (_ctx, i) => layerNorm(i.x!, { weight: i.weight!, bias: i.bias!, eps }) }),
      ),
      { numRuns: RUNS },
    );
  });

  it('rmsNorm without a weight', () => {
    fc.assert(fc.property(normArb, ({ x, eps }) => checkGradients({ inputs: { x }, fn: (_ctx, i) => rmsNorm(i.x!, { eps }) })), { numRuns: RUNS });
  });

  it('rmsNorm with a weight', () => {
    fc.assert(
      fc.property(normArb, ({ x, weight, eps }) => checkGradients({ inputs: { x, weight }, fn: (_ctx, i) => rmsNorm(i.x!, { weight: i.weight!, eps }) })),
      { numRuns: RUNS },
    );
  });
});

// ---- activations, linear, modulate -------------------------------------------------------------

describe('activations, linear and modulate: gradients match finite differences', () => {
  const elementwise = shapeArb(1, 3).chain((shape) => inputsArb({ x: shape }));

  it('gelu, exact (erf) form', () => {
    fc.assert(fc.property(elementwise, (inputs) => checkGradients({ inputs, fn: (_ctx, { x }) => gelu(x!) })), { numRuns: RUNS });
  });

  it('gelu, tanh approximation', () => {
    fc.assert(fc.property(elementwise, (inputs) => checkGradients({ inputs, fn: (_ctx, { x }) => gelu(x!, 'tanh') })), { numRuns: RUNS });
  });

  it('silu', () => {
    fc.assert(fc.property(elementwise, (inputs) => checkGradients({ inputs, fn: (_ctx, { x }) => silu(x!) })), { numRuns: RUNS });
  });

  it('swiglu (halves the last axis)', () => {
    const arb = fc.constantFrom([2], [3, 4], [2, 2, 6], [4, 2]).chain((shape) => inputsArb({ x: shape }));
    fc.assert(fc.property(arb, (inputs) => checkGradients({ inputs, fn: (_ctx, { x }) => swiglu(x!) })), { numRuns: RUNS });
  });

  const linearShapes: readonly (readonly [readonly number[], number])[] = [
    [[2, 3], 4],
    [[2, 2, 3], 2],
    [[3], 5],
    [[4, 4], 3],
  ];

  it('linear without a bias', () => {
    const arb = fc.constantFrom(...linearShapes).chain(([x, out]) => inputsArb({ x, weight: [out, x[x.length - 1]!] }));
    fc.assert(fc.property(arb, (inputs) => checkGradients({ inputs, fn: (_ctx, { x, weight }) => linear(x!, weight!) })), { numRuns: RUNS });
  });

  it('linear with a bias', () => {
    const arb = fc.constantFrom(...linearShapes).chain(([x, out]) => inputsArb({ x, weight: [out, x[x.length - 1]!], bias: [out] }));
    fc.assert(fc.property(arb, (inputs) => checkGradients({ inputs, fn: (_ctx, { x, weight, bias }) => linear(x!, weight!, bias!) })), { numRuns: RUNS });
  });

  it('modulate with shift and scale broadcast against x', () => {
    const shapes: readonly Readonly<Record<string, readonly number[]>>[] = [
      { x: [2, 3, 2], shift: [2, 1, 2], scale: [2, 1, 2] },
      { x: [2, 3, 4], shift: [4], scale: [2, 1, 4] },
      { x: [3, 4], shift: [1, 4], scale: [3, 1] },
    ];
    const arb = fc.constantFrom(...shapes).chain((s) => inputsArb(s));
    fc.assert(fc.property(arb, (inputs) => checkGradients({ inputs, fn: (_ctx, { x, shift, scale }) => modulate(x!, shift!, scale!) })), { numRuns: RUNS });
  });
});

// ---- attention ------------------------------------------------------------------------------------

describe('attention: gradients match finite differences', () => {
  /** q (B, H, Tq, d), k (B, H, Tk, d), v (B, H, Tk, dv) with Tq ≠ Tk and dv ≠ d. */
  const attentionShapes: readonly Readonly<Record<string, readonly number[]>>[] = [
    { q: [1, 2, 2, 3], k: [1, 2, 4, 3], v: [1, 2, 4, 2] },
    { q: [2, 1, 3, 2], k: [2, 1, 2, 2], v: [2, 1, 2, 4] },
    { q: [1, 1, 4, 2], k: [1, 1, 3, 2], v: [1, 1, 3, 1] },
  ];
  const arb = fc.record({ inputs: fc.constantFrom(...attentionShapes).chain((s) => inputsArb(s, (n) => floatsArb(n, -2, 2))), scale: fc.double({ min: 0.2, max: 1.5, noNaN: true }) });

  it('with a custom scale', () => {
    fc.assert(fc.property(arb, ({ inputs, scale }) => checkGradients({ inputs, fn: (_ctx, { q, k, v }) => attention(q!, k!, v!, scale) })), { numRuns: RUNS });
  });

  it('with the default scale d^(−1/2), q, k and v all from one input (shared operand)', () => {
    const shared = inputsArb({ x: [1, 2, 3, 4] }, (n) => floatsArb(n, -2, 2));
    fc.assert(
      fc.property(shared, (inputs) =>
        checkGradients({ inputs, fn: (_ctx, { x }) => attention(x!, x!.mul(0.5), x!.sin().slice(-1, 0, 3)) }),
      ),
      { numRuns: 5 },
    );
  });
});

// ---- own VJP = gradient of the decomposition ---------------------------------------------------

describe('composites with their own VJP give the gradient of their decomposition (to 1e-10)', () => {
  it('softmax and logSoftmax over any axis', () => {
    const arb = shapeAxisArb.chain(({ shape, axis }) => inputsArb({ x: shape }).map((inputs) => ({ inputs, axis })));
    fc.assert(
      fc.property(arb, ({ inputs, axis }) => {
        expectSameGradients(inputs, ({ x }) => softmax(x!, axis));
        expectSameGradients(inputs, ({ x }) => logSoftmax(x!, axis));
      }),
      { numRuns: RUNS },
    );
  });

  it('layerNorm (no affine, weight, weight + bias) and rmsNorm (with and without weight)', () => {
    fc.assert(
      fc.property(normArb, ({ x, weight, bias, eps }) => {
        expectSameGradients({ x }, (i) => layerNorm(i.x!, { eps }));
        expectSameGradients({ x, weight }, (i) => layerNorm(i.x!, { weight: i.weight!, eps }));
        expectSameGradients({ x, weight, bias }, (i) => layerNorm(i.x!, { weight: i.weight!, bias: i.bias!, eps }));
        expectSameGradients({ x }, (i) => rmsNorm(i.x!, { eps }));
        expectSameGradients({ x, weight }, (i) => rmsNorm(i.x!, { weight: i.weight!, eps }));
      }),
      { numRuns: RUNS },
    );
  });

  it('attention with Tq ≠ Tk, dv ≠ d and a custom scale', () => {
    const arb = fc.record({
      inputs: inputsArb({ q: [2, 2, 3, 4], k: [2, 2, 5, 4], v: [2, 2, 5, 3] }, (n) => floatsArb(n, -2, 2)),
      scale: fc.double({ min: 0.2, max: 1.5, noNaN: true }),
    });
    fc.assert(fc.property(arb, ({ inputs, scale }) => expectSameGradients(inputs, ({ q, k, v }) => attention(q!, k!, v!, scale))), { numRuns: RUNS });
  });
});

// ---- second order -------------------------------------------------------------------------------

describe('the backward of an own VJP is itself differentiable (grad of grad matches finite differences)', () => {
  const arb = inputsArb({ x: [2, 3], w: [3] }, distinctArb);
  const cases: readonly (readonly [string, (x: F32, w: F32) => F32])[] = [
    ['softmax', (x, w) => softmax(x).mul(w)],
    ['logSoftmax', (x, w) => logSoftmax(x, 0).mul(w)],
    ['layerNorm', (x, w) => layerNorm(x, { weight: w })],
    ['rmsNorm', (x, w) => rmsNorm(x, { weight: w })],
    ['attention', (x, w) => attention(x.reshape([1, 2, 3]), x.sin().reshape([1, 2, 3]), w.reshape([1, 3, 1]).expand([1, 3, 2]).reshape([1, 2, 3]))],
  ];
  for (const [name, f] of cases) {
    it(`${name}: d/dx of Σ (∂/∂x Σ sin f(x, w))², and its mixed derivative in w`, () => {
      fc.assert(
        fc.property(arb, (inputs) =>
          checkGradients({
            inputs,
            fn: (_ctx, { x, w }) => {
              const [gx] = grad(f(x!, w!).sin().sum(), [x!]);
              return gx!.square();
            },
          }),
        ),
        { numRuns: 5 },
      );
    });
  }
});

// ---- rope --------------------------------------------------------------------------------------------

describe('rope: gradients match finite differences for every angle form', () => {
  it('1D angles (fixed table, gradient wrt x)', () => {
    const arb = fc.constantFrom([2, 3, 4], [5, 4], [1, 2, 8]).chain((shape) => inputsArb({ x: shape }));
    fc.assert(
      fc.property(arb, (inputs) =>
        checkGradients({
          inputs,
          fn: (ctx, { x }) => {
            const [t, hd] = x!.shape.slice(-2) as [number, number];
            return rope(x!, rope1dAngles(ctx, t, hd));
          },
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('LightningDiT 2D angles (gradient wrt x)', () => {
    const arb = fc.constantFrom({ grid: [2, 2], hd: 4, lead: [1] }, { grid: [2, 3], hd: 4, lead: [] }, { grid: [1, 2], hd: 8, lead: [1] }).chain((c) =>
      inputsArb({ x: [...c.lead, c.grid[0]! * c.grid[1]!, c.hd] }).map((inputs) => ({ inputs, ...c })),
    );
    fc.assert(
      fc.property(arb, ({ inputs, grid, hd }) => checkGradients({ inputs, fn: (ctx, { x }) => rope(x!, rope2dAngles(ctx, grid[0]!, grid[1]!, hd)) })),
      { numRuns: RUNS },
    );
  });

  it('MAETok axial angles (gradient wrt x)', () => {
    const arb = fc.constantFrom({ grid: [2, 2], hd: 4 }, { grid: [3, 2], hd: 4 }, { grid: [2, 1], hd: 8 }).chain((c) =>
      inputsArb({ x: [c.grid[0]! * c.grid[1]!, c.hd] }).map((inputs) => ({ inputs, ...c })),
    );
    fc.assert(
      fc.property(arb, ({ inputs, grid, hd }) => checkGradients({ inputs, fn: (ctx, { x }) => rope(x!, ropeAxialAngles(ctx, grid[0]!, grid[1]!, hd)) })),
      { numRuns: RUNS },
    );
  });

  it('MAETok mixed angles: gradients flow into the learnable frequencies as well as x', () => {
    // x (heads, gridH·gridW, hd), freqs (2, heads·hd/2)
    const configs = [
      { heads: 2, hd: 2, grid: [2, 2] },
      { heads: 1, hd: 4, grid: [2, 2] },
      { heads: 2, hd: 4, grid: [2, 1] },
      { heads: 3, hd: 2, grid: [2, 2] },
    ] as const;
    const arb = fc.constantFrom(...configs).chain((c) =>
      fc
        .record({
          x: floatsArb(c.heads * c.grid[0] * c.grid[1] * c.hd),
          freqs: floatsArb(2 * c.heads * (c.hd / 2), -1.5, 1.5),
        })
        .map((v) => ({ c, v })),
    );
    fc.assert(
      fc.property(arb, ({ c, v }) =>
        checkGradients({
          inputs: { x: { shape: [c.heads, c.grid[0] * c.grid[1], c.hd], values: v.x }, freqs: { shape: [2, c.heads * (c.hd / 2)], values: v.freqs } },
          fn: (ctx, { x, freqs }) => rope(x!, ropeMixedAngles(ctx, freqs!, c.grid[0], c.grid[1], c.heads)),
        }),
      ),
      { numRuns: 12 },
    );
  });
});

// ---- embeddings ---------------------------------------------------------------------------------------

describe('patchify, unpatchify, embedding and timestepEmbedding: gradients match finite differences', () => {
  it('patchify', () => {
    const arb = fc.constantFrom({ shape: [1, 1, 4, 4], patch: 2 }, { shape: [2, 2, 2, 2], patch: 2 }, { shape: [1, 3, 2, 4], patch: 2 }, { shape: [1, 2, 3, 3], patch: 3 }).chain((c) =>
      inputsArb({ x: c.shape }).map((inputs) => ({ inputs, patch: c.patch })),
    );
    fc.assert(fc.property(arb, ({ inputs, patch }) => checkGradients({ inputs, fn: (_ctx, { x }) => patchify(x!, patch).sin() })), { numRuns: RUNS });
  });

  it('unpatchify', () => {
    const arb = fc
      .constantFrom(
        { shape: [1, 4, 4], grid: { patch: 2, gridH: 2, gridW: 2 } },
        { shape: [2, 2, 4], grid: { patch: 2, gridH: 1, gridW: 2 } },
        { shape: [1, 2, 8], grid: { patch: 2, gridH: 2, gridW: 1 } },
        { shape: [1, 2, 9], grid: { patch: 3, gridH: 1, gridW: 2 } },
      )
      .chain((c) => inputsArb({ x: c.shape }).map((inputs) => ({ inputs, grid: c.grid })));
    fc.assert(fc.property(arb, ({ inputs, grid }) => checkGradients({ inputs, fn: (_ctx, { x }) => unpatchify(x!, grid).square() })), { numRuns: RUNS });
  });

  it('patchify then unpatchify is a permutation: the gradient of Σ w·y is w permuted back', () => {
    const arb = inputsArb({ x: [1, 2, 2, 4] });
    fc.assert(
      fc.property(arb, (inputs) =>
        checkGradients({
          inputs,
          fn: (_ctx, { x }) => {
            const tokens = patchify(x!, 2); // (1, 2, 8) in (ch, py, px) order
            return unpatchify(tokens.mul(tokens), { patch: 2, gridH: 1, gridW: 2 });
          },
        }),
      ),
      { numRuns: 5 },
    );
  });

  it('embedding wrt the table, with repeated and out-of-range ids', () => {
    const arb = fc.record({
      table: floatsArb(15),
      ids: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 5, maxLength: 5 }).map((ids) => [...ids, ids[0]!]),
      outOfRange: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ table, ids, outOfRange }) =>
        checkGradients({
          inputs: { table: { shape: [5, 3], values: table } },
          constants: { ids: { shape: [2, 3], values: outOfRange ? [...ids.slice(0, 5), 9] : ids, dtype: DType.I32 } },
          fn: (_ctx, { table: t }, { ids: i }) => embedding(t!, i as Tensor<Shape, DType.I32>).square(),
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it('timestepEmbedding wrt t (even and odd dims, two max periods)', () => {
    const arb = fc.record({
      t: fc.array(fc.double({ min: 0, max: 20, noNaN: true }), { minLength: 3, maxLength: 3 }),
      dim: fc.constantFrom(4, 6, 7),
      maxPeriod: fc.constantFrom(10000, 100),
    });
    fc.assert(
      fc.property(arb, ({ t, dim, maxPeriod }) =>
        checkGradients({ inputs: { t: { shape: [3], values: t } }, fn: (_ctx, { t: tt }) => timestepEmbedding(tt!, dim, maxPeriod) }),
      ),
      { numRuns: RUNS },
    );
  });
});

// ---- losses -------------------------------------------------------------------------------------------

describe('losses: gradients match finite differences', () => {
  it('mse wrt both the prediction and the target', () => {
    const arb = shapeArb(1, 3).chain((shape) => inputsArb({ a: shape, b: shape }));
    fc.assert(fc.property(arb, (inputs) => checkGradients({ inputs, fn: (_ctx, { a, b }) => mse(a!, b!) })), { numRuns: RUNS });
  });

  it('cosineSimilarity along any axis (vectors away from zero)', () => {
    const arb = fc
      .constantFrom([2, 3], [3, 2, 2], [4], [2, 5])
      .chain((shape) =>
        fc.record({ inputs: inputsArb({ a: shape, b: shape }, (n) => awayFromZeroArb(n, 0.2, 2)), axis: fc.integer({ min: -shape.length, max: shape.length - 1 }) }),
      );
    fc.assert(fc.property(arb, ({ inputs, axis }) => checkGradients({ inputs, fn: (_ctx, { a, b }) => cosineSimilarity(a!, b!, axis) })), { numRuns: RUNS });
  });

  it('a small training loss: mse(linear(layerNorm(x)), target) wrt every operand', () => {
    const arb = inputsArb({ x: [3, 4], weight: [2, 4], bias: [2], target: [3, 2] }, (n) => distinctArb(n));
    fc.assert(
      fc.property(arb, (inputs) =>
        checkGradients({ inputs, fn: (_ctx: Context, { x, weight, bias, target }) => mse(linear(layerNorm(x!), weight!, bias!), target!) }),
      ),
      { numRuns: 5 },
    );
  });
});
