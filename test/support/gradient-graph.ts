// Test support · the gradient graph of a block: inputs declared from a shape table,
// loss = mean(y·sin y) (every output element matters, non-linearly), and the
// gradients of every input and parameter as outputs. Shared by the WebGPU and the
// CUDA suites so both compile the same programs.

import type { Graph } from '../../compiler/ir/graph.ts';
import { grad, trace, type Context, type DType, type Shape, type Tensor, type Traced } from '../../dsl/index.ts';

type F32 = Tensor<Shape, DType.F32>;

export function gradientTrace(inputs: Record<string, readonly number[]>, fn: (ctx: Context, xs: Record<string, F32>) => F32): Traced {
  return trace((ctx) => {
    const xs = Object.fromEntries(Object.entries(inputs).map(([name, shape]) => [name, ctx.input(name, shape)])) as Record<string, F32>;
    const y = fn(ctx, xs);
    const loss = y.mul(y.sin()).mean();
    const params = [...ctx.declaredParams()];
    const grads = grad(loss, [...Object.values(xs), ...params.map(([, p]) => p)]);
    return { loss, ...Object.fromEntries(grads.map((g, i) => [`g${i}`, g])) };
  });
}

export function gradientGraph(inputs: Record<string, readonly number[]>, fn: (ctx: Context, xs: Record<string, F32>) => F32): Graph {
  return gradientTrace(inputs, fn).graph;
}
