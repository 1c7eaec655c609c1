// Composites · linear layers. linear follows torch.nn.Linear's layout (weight
// [out, in]) so parameters load from reference state dicts unchanged.

import { ShapeError } from '../ir/errors.ts';
import { CompositeKind } from '../ir/node.ts';
import { lastDim, requireRank, type CompositeDef } from './define.ts';

/** srcs [x (..., in), weight (out, in)] or with bias (out). */
export const linear: CompositeDef = {
  kind: CompositeKind.Linear,
  arity: [2, 3],
  decompose(b, [x, weight, bias]) {
    requireRank(CompositeKind.Linear, x!, 1);
    if (weight!.shape.length !== 2 || weight!.shape[1] !== lastDim(x!)) {
      throw new ShapeError(CompositeKind.Linear, [x!.shape, weight!.shape], `weight must be [out, ${lastDim(x!)}]`);
    }
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== weight!.shape[0])) {
      throw new ShapeError(CompositeKind.Linear, [weight!.shape, bias.shape], `bias must be [${weight!.shape[0]}]`);
    }
    const y = b.dot(x!, weight!, { batch: [[], []], contract: [[x!.shape.length - 1], [1]] });
    return bias ? b.add(y, bias) : y;
  },
};
