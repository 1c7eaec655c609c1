// Autodiff · the fused attention composites (attentionForward with its saved
// log-sum-exp, and the dq / dk‖dv backward composites) differentiate correctly
// through their decompositions, also when their operands depend on each other —
// the case of the attention VJP itself, whose backward composites read the
// forward's packed output (a function of the same q, k, v).

import { describe, it } from 'vitest';
import { makeComposite } from '../../compiler/composite/registry.ts';
import { CompositeKind, type Attrs } from '../../compiler/ir/node.ts';
import { attention, DType, grad, type Shape, type Tensor } from '../../dsl/index.ts';
import { Tensor as TensorClass } from '../../dsl/tensor.ts';
import { checkGradients } from '../support/gradcheck.ts';

type F32 = Tensor<Shape, DType.F32>;

function composite(kind: CompositeKind, srcs: readonly F32[], attrs: Attrs): F32 {
  const owner = srcs[0]!.owner;
  return new TensorClass(makeComposite(owner.builder, kind, srcs.map((t) => t.node), attrs), owner) as F32;
}

const wave = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 0.8 * Math.sin(1.7 * i + seed));
const input = (shape: number[], seed: number) => ({ shape, values: wave(shape.reduce((a, b) => a * b, 1), seed) });
const qkv = { q: input([1, 2, 3], 1), k: input([1, 2, 3], 2), v: input([1, 2, 3], 3), q2: input([1, 2, 3], 4), v2: input([1, 2, 3], 5) };
const backward = { ...qkv, g: input([1, 2, 3], 6), dqd: input([1, 2, 4], 7) };
const scale = { scale: 0.5 };

describe('fused attention composites: gradients match finite differences', () => {
  it('attentionForward (output rows and log-sum-exp)', () => {
    checkGradients({ inputs: qkv, fn: (_, { q, k, v }) => composite(CompositeKind.AttentionForward, [q!, k!, v!], scale).sin().sum() });
  });

  /** The backward composites over operands that depend on each other, as the attention VJP builds them. */
  const backwardOf = (kind: CompositeKind, q: F32, k: F32, v: F32, packed: F32, g: F32, dqDelta: F32) =>
    kind === CompositeKind.AttentionBackwardQuery
      ? composite(kind, [q, k, v, packed, g], scale)
      : composite(kind, [q, k, v, packed, g, dqDelta], scale);

  for (const kind of [CompositeKind.AttentionBackwardQuery, CompositeKind.AttentionBackwardKeyValue]) {
    it(`${kind} whose packed operand is attentionForward over a shared k (operands that depend on each other)`, () => {
      checkGradients({
        inputs: backward,
        fn: (_, { q, k, v, q2, v2, g, dqd }) => {
          const packed = composite(CompositeKind.AttentionForward, [q2!, k!, v2!], scale);
          return backwardOf(kind, q!, k!, v!, packed, g!, dqd!).sin().sum();
        },
      });
    });

    it(`${kind} with one tensor passed as several operands`, () => {
      checkGradients({
        inputs: backward,
        fn: (_, { q, k, v, dqd }) => {
          const packed = composite(CompositeKind.AttentionForward, [q!, k!, v!], scale);
          return backwardOf(kind, q!, k!, v!, packed, v!, dqd!).sin().sum();
        },
      });
    });
  }

  it('second order through the fused backward: d/dq of Σ (∂/∂v Σ sin attention(q, k, v))²', () => {
    checkGradients({
      inputs: qkv,
      fn: (_, { q, k, v }) => {
        const [gv] = grad(attention(q!, k!, v!, 0.5).sin().sum(), [v!]);
        return gv!.square();
      },
    });
  });
});
