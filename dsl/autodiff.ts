// DSL · differentiation inside a trace. grad/valueAndGrad/vjp add the backward
// pass to the same graph (compiler/autodiff), so a training step is one joint
// forward+backward program. checkpoint marks a region to recompute in the
// backward pass instead of keeping its activations.

import { backward, gradients } from '../compiler/autodiff/backward.ts';
import type { DType } from '../compiler/ir/dtype.ts';
import { ShapeError } from '../compiler/ir/errors.ts';
import type { Shape } from './shape.ts';
import { Tensor } from './tensor.ts';

type Erased = Tensor<Shape, DType>;

/**
 * Gradients of a scalar loss with respect to each tensor in `wrt` (zeros where it does not depend on one).
 * @example const [gw, gb] = grad(loss, [w, b]);
 *          const updated = w.sub(gw.mul(lr));
 */
export function grad<const W extends readonly Erased[]>(loss: Tensor<Shape, DType>, wrt: W): { [K in keyof W]: W[K] } {
  const owner = loss.owner;
  const nodes = gradients(owner.builder, loss.node, wrt.map((w) => w.node), { regions: owner.regions });
  return nodes.map((node) => new Tensor(node, owner)) as unknown as { [K in keyof W]: W[K] };
}

/**
 * The loss itself and its gradients.
 * @example const { value, grads } = valueAndGrad(loss, params);
 *          return { loss: value, ...grads };
 */
export function valueAndGrad<const W extends readonly Erased[]>(loss: Tensor<Shape, DType>, wrt: W): { value: Tensor<Shape, DType>; grads: { [K in keyof W]: W[K] } } {
  return { value: loss, grads: grad(loss, wrt) };
}

/**
 * Vector-Jacobian product: cotangents of `wrt` for output `y` with cotangent `ct` (y's shape).
 * @example const [dx] = vjp(y, [x], dy);
 */
export function vjp<const W extends readonly Erased[]>(y: Tensor<Shape, DType>, wrt: W, ct: Tensor<Shape, DType>): { [K in keyof W]: W[K] } {
  if (ct.shape.length !== y.shape.length || ct.shape.some((d, i) => d !== y.shape[i]) || ct.dtype !== y.dtype) {
    throw new ShapeError('vjp', [y.shape, ct.shape], 'the cotangent must have the output’s shape and dtype');
  }
  const owner = y.owner;
  const nodes = backward(owner.builder, [[y.node, ct.node]], wrt.map((w) => w.node), { regions: owner.regions });
  return nodes.map((node, i) => new Tensor(node ?? owner.builder.const(0, wrt[i]!.dtype, wrt[i]!.shape), owner)) as unknown as { [K in keyof W]: W[K] };
}

/**
 * Runs `fn` now and marks its result as a checkpointed region: the backward pass recomputes
 * it from `inputs` rather than keeping the activations inside it alive.
 * @example const h = checkpoint((x) => block(ctx.child(`blocks.${i}`), x), [h0]);
 */
export function checkpoint<const I extends readonly Erased[], S extends Shape, D extends DType>(fn: (...inputs: I) => Tensor<S, D>, inputs: I): Tensor<S, D> {
  const first = inputs[0];
  if (!first) throw new Error('checkpoint: needs at least one input tensor');
  const owner = first.owner;
  const rngStart = owner.rngCount;
  const output = fn(...inputs);
  const replay = (nodes: readonly Tensor['node'][]) => {
    const resume = owner.rngCount;
    owner.rngCount = rngStart;
    try {
      return fn(...(nodes.map((n) => new Tensor(n, owner)) as unknown as I)).node;
    } finally {
      owner.rngCount = resume;
    }
  };
  owner.regions.set(output.node.id, { inputs: inputs.map((t) => t.node), output: output.node, recompute: replay });
  return output;
}
