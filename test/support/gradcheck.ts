// Test support · gradient checking against central finite differences in
// float64. A case is a scalar-valued DSL function of named inputs; the analytic
// gradient comes from grad() traced into the same graph and run on the
// interpreter, the numeric one from (f(x+h) − f(x−h)) / 2h per element.

import { expect } from 'vitest';
import { DType, grad, trace, type Context, type Shape, type Tensor } from '../../dsl/index.ts';
import { expandComposites } from '../../compiler/passes/expand-composites.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

type F32 = Tensor<Shape, DType.F32>;

export interface GradCase {
  /** Differentiable inputs (float) by name, with their values. */
  readonly inputs: Readonly<Record<string, { shape: readonly number[]; values: ArrayLike<number> }>>;
  /** Non-differentiated integer inputs (indices) by name. */
  readonly constants?: Readonly<Record<string, { shape: readonly number[]; values: ArrayLike<number>; dtype: DType }>>;
  /** A scalar (or any-shaped: it is dotted with a fixed random cotangent) function of the inputs. */
  readonly fn: (ctx: Context, inputs: Record<string, F32>, constants: Record<string, Tensor<Shape, DType>>) => Tensor<Shape, DType>;
  readonly params?: Readonly<Record<string, ArrayLike<number>>>;
  /** Fill every traced parameter not in `params` with deterministic values of this scale. */
  readonly randomParams?: number;
  /** Also check the gradients of these traced parameters ('all' for every one). */
  readonly wrtParams?: readonly string[] | 'all';
  /** Check at most this many evenly spaced elements of each tensor (finite differences cost two runs each). */
  readonly maxElements?: number;
}

/** A fixed pseudo-random cotangent so non-scalar outputs are checked on every element. */
function weights(n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 0.3) + 0.5);
}

export function checkGradients(c: GradCase, { h = 1e-5, tolerance = 1e-6 } = {}): void {
  const names = Object.keys(c.inputs);
  const build = (ctx: Context) => {
    const xs = Object.fromEntries(names.map((n) => [n, ctx.input(n, c.inputs[n]!.shape)])) as Record<string, F32>;
    const ks = Object.fromEntries(Object.entries(c.constants ?? {}).map(([n, k]) => [n, ctx.input(n, k.shape, k.dtype)])) as Record<string, Tensor<Shape, DType>>;
    const flat = (c.fn(ctx, xs, ks) as F32).reshape([-1]);
    return { xs, loss: flat.mul(ctx.input('__cotangent', flat.shape)).sum() };
  };
  const lossOnly = trace((ctx) => build(ctx).loss);
  const paramNames = c.wrtParams === 'all' ? lossOnly.params.map((p) => p.name) : (c.wrtParams ?? []);
  const t = trace((ctx) => {
    const { xs, loss } = build(ctx);
    const declared = ctx.declaredParams();
    const params = paramNames.map((n) => declared.get(n)!);
    const grads = grad(loss, [...names.map((n) => xs[n]!), ...params]);
    return { loss, ...Object.fromEntries([...names, ...paramNames].map((n, i) => [`grad_${n}`, grads[i]!])) };
  });
  const outSize = t.graph.inputs.find((i) => i.arg.name === '__cotangent')!.shape[0]!;
  const params: Record<string, Float64Array> = Object.fromEntries(
    lossOnly.params.map((p, k) => [p.name, Float64Array.from(c.params?.[p.name] ?? wave(p.shape.reduce((a, b) => a * b, 1), k + 11).map((v) => v * (c.randomParams ?? 1)))]),
  );
  const base: Record<string, Float64Array> = Object.fromEntries(names.map((n) => [n, Float64Array.from(c.inputs[n]!.values)]));
  const constants = Object.fromEntries(Object.entries(c.constants ?? {}).map(([n, k]) => [n, Float64Array.from(k.values)]));
  const cotangent = weights(outSize);
  const analytic = interpret(t.graph, { inputs: { ...base, ...constants, __cotangent: cotangent }, params }).outputs;
  const primitiveLoss = expandComposites.run(lossOnly.graph);
  const f = (inputs: Record<string, Float64Array>, ps: Record<string, Float64Array>) =>
    interpret(primitiveLoss, { inputs: { ...inputs, ...constants, __cotangent: cotangent }, params: ps }).outputs.out!.data[0]!;
  const variables = [...names.map((n) => ({ name: n, values: base[n]!, isParam: false })), ...paramNames.map((n) => ({ name: n, values: params[n]!, isParam: true }))];
  for (const { name, values: x, isParam } of variables) {
    const g = analytic[`grad_${name}`]!.data;
    const numeric = new Float64Array(x.length);
    const step = c.maxElements && x.length > c.maxElements ? x.length / c.maxElements : 1;
    const checked = new Set(Array.from({ length: Math.min(x.length, c.maxElements ?? x.length) }, (_, k) => Math.floor(k * step)));
    for (let i = 0; i < x.length; i++) {
      if (!checked.has(i)) {
        numeric[i] = g[i]!;
        continue;
      }
      const plus = Float64Array.from(x);
      const minus = Float64Array.from(x);
      plus[i] = x[i]! + h;
      minus[i] = x[i]! - h;
      numeric[i] = isParam
        ? (f(base, { ...params, [name]: plus }) - f(base, { ...params, [name]: minus })) / (2 * h)
        : (f({ ...base, [name]: plus }, params) - f({ ...base, [name]: minus }, params)) / (2 * h);
    }
    const scale = Math.max(1e-3, ...Array.from(numeric, Math.abs), ...Array.from(g, Math.abs));
    const worst = numeric.reduce((m, v, i) => Math.max(m, Math.abs(v - g[i]!)), 0) / scale;
    expect(worst, `gradient of ${name}: analytic [${Array.from(g).slice(0, 6).map((v) => v.toPrecision(6))}…] vs numeric [${Array.from(numeric).slice(0, 6).map((v) => v.toPrecision(6))}…]\n${t.graph.toString()}`).toBeLessThan(tolerance);
  }
}

/** Deterministic values in roughly [−1, 1] (a cheap stand-in when fast-check is not driving). */
export function wave(n: number, seed = 1): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9);
}
