// Composites · losses: mean squared error over every element, and cosine
// similarity along one axis, dot / (max(‖a‖, eps)·max(‖b‖, eps)) so a zero vector
// gives 0 instead of NaN.

import { normalizeAxis } from '../ir/builder.ts';
import { ShapeError } from '../ir/errors.ts';
import { CompositeKind } from '../ir/node.ts';
import { numberAttr, type CompositeDef } from './define.ts';

export const mse: CompositeDef = {
  kind: CompositeKind.Mse,
  arity: [2],
  decompose(b, [a, target]) {
    if (a!.shape.length !== target!.shape.length || a!.shape.some((d, i) => d !== target!.shape[i])) {
      throw new ShapeError(CompositeKind.Mse, [a!.shape, target!.shape], 'prediction and target shapes differ');
    }
    return b.mean(b.square(b.sub(a!, target!)));
  },
};

export const cosineSimilarity: CompositeDef = {
  kind: CompositeKind.CosineSimilarity,
  arity: [2],
  decompose(b, [x, y], attrs) {
    const axis = normalizeAxis('cosineSimilarity', numberAttr(CompositeKind.CosineSimilarity, attrs, 'axis'), x!.shape.length, x!.shape);
    const eps = numberAttr(CompositeKind.CosineSimilarity, attrs, 'eps');
    const norm = (t: typeof x) => b.max(b.sqrt(b.sum(b.square(t!), axis)), eps);
    return b.div(b.sum(b.mul(x!, y!), axis), b.mul(norm(x), norm(y)));
  },
};
