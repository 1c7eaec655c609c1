// Composites · linear layers and scaled dot-product attention.
// linear follows torch.nn.Linear's layout (weight [out, in]) so parameters load
// from reference state dicts unchanged. attention is softmax((q·scale)kᵀ)v over
// the last two axes; leading axes (batch, heads) are batch axes of both dots.

import { ShapeError } from '../ir/errors.ts';
import { CompositeKind } from '../ir/node.ts';
import { makeComposite } from './registry.ts';
import { lastDim, numberAttr, requireRank, type CompositeDef } from './define.ts';

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

/** srcs [q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv)]; attrs.scale multiplies q. */
export const attention: CompositeDef = {
  kind: CompositeKind.Attention,
  arity: [3],
  decompose(b, [q, k, v], attrs) {
    const scale = numberAttr(CompositeKind.Attention, attrs, 'scale');
    for (const t of [q!, k!, v!]) requireRank(CompositeKind.Attention, t, 2);
    const rank = q!.shape.length;
    const lead = q!.shape.slice(0, -2);
    const same = (s: readonly number[]) => s.length === rank && s.slice(0, -2).every((d, i) => d === lead[i]);
    if (!same(k!.shape) || !same(v!.shape) || lastDim(q!) !== lastDim(k!) || k!.shape[rank - 2] !== v!.shape[rank - 2]) {
      throw new ShapeError(CompositeKind.Attention, [q!.shape, k!.shape, v!.shape], 'expects q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv)');
    }
    const batch = lead.map((_, i) => i);
    const scores = b.dot(b.mul(q!, scale), k!, { batch: [batch, batch], contract: [[rank - 1], [rank - 1]] });
    const probs = makeComposite(b, CompositeKind.Softmax, [scores], { axis: -1 });
    return b.dot(probs, v!, { batch: [batch, batch], contract: [[rank - 1], [rank - 2]] });
  },
};
