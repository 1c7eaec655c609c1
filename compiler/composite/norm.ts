// Composites · softmax, log-softmax, LayerNorm and RMSNorm over one axis.
// Decompositions subtract a stop-gradient max before exponentiating (softmax is
// shift invariant, so the value and the gradient are unchanged and nothing
// overflows) and take biased variance, as torch.nn.LayerNorm does.

import type { Builder } from '../ir/builder.ts';
import { normalizeAxis } from '../ir/builder.ts';
import { ShapeError } from '../ir/errors.ts';
import { CompositeKind, type Attrs, type Node } from '../ir/node.ts';
import { lastDim, numberAttr, type CompositeDef } from './define.ts';

function shifted(b: Builder, x: Node, axis: number): Node {
  return b.sub(x, b.stopGradient(b.reduceMax(x, axis, true)));
}

export const softmax: CompositeDef = {
  kind: CompositeKind.Softmax,
  arity: [1],
  decompose(b, [x], attrs) {
    const axis = normalizeAxis('softmax', numberAttr(CompositeKind.Softmax, attrs, 'axis'), x!.shape.length, x!.shape);
    const e = b.exp(shifted(b, x!, axis));
    return b.div(e, b.sum(e, axis, true));
  },
};

export const logSoftmax: CompositeDef = {
  kind: CompositeKind.LogSoftmax,
  arity: [1],
  decompose(b, [x], attrs) {
    const axis = normalizeAxis('logSoftmax', numberAttr(CompositeKind.LogSoftmax, attrs, 'axis'), x!.shape.length, x!.shape);
    const s = shifted(b, x!, axis);
    return b.sub(s, b.log(b.sum(b.exp(s), axis, true)));
  },
};

function checkWeight(kind: CompositeKind, x: Node, w: Node | undefined, name: string): void {
  if (w && (w.shape.length !== 1 || w.shape[0] !== lastDim(x))) {
    throw new ShapeError(kind, [x.shape, w.shape], `${name} must be a vector over the last axis (${lastDim(x)})`);
  }
}

/** srcs: [x] without affine, [x, weight] or [x, weight, bias]; normalises the last axis. */
export const layerNorm: CompositeDef = {
  kind: CompositeKind.LayerNorm,
  arity: [1, 2, 3],
  decompose(b, [x, weight, bias], attrs: Attrs) {
    const eps = numberAttr(CompositeKind.LayerNorm, attrs, 'eps');
    checkWeight(CompositeKind.LayerNorm, x!, weight, 'weight');
    checkWeight(CompositeKind.LayerNorm, x!, bias, 'bias');
    const centered = b.sub(x!, b.mean(x!, -1, true));
    const variance = b.mean(b.square(centered), -1, true);
    let y = b.mul(centered, b.rsqrt(b.add(variance, eps)));
    if (weight) y = b.mul(y, weight);
    if (bias) y = b.add(y, bias);
    return y;
  },
};

/** y = x · rsqrt(mean(x²) + eps) · weight over the last axis; srcs [x] or [x, weight]. */
export const rmsNorm: CompositeDef = {
  kind: CompositeKind.RmsNorm,
  arity: [1, 2],
  decompose(b, [x, weight], attrs) {
    const eps = numberAttr(CompositeKind.RmsNorm, attrs, 'eps');
    checkWeight(CompositeKind.RmsNorm, x!, weight, 'weight');
    const y = b.mul(x!, b.rsqrt(b.add(b.mean(b.square(x!), -1, true), eps)));
    return weight ? b.mul(y, weight) : y;
  },
};
