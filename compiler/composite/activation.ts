// Composites · activations and the adaLN modulate: GELU (exact erf form and the
// tanh approximation, spec §0), SiLU, SwiGLU (spec §1.2: silu of the first half
// times the second half) and modulate(x, shift, scale) = x·(1+scale) + shift.

import { ShapeError } from '../ir/errors.ts';
import { CompositeKind } from '../ir/node.ts';
import { lastDim, stringAttr, type CompositeDef } from './define.ts';

export const gelu: CompositeDef = {
  kind: CompositeKind.Gelu,
  arity: [1],
  decompose(b, [x], attrs) {
    const approximate = stringAttr(CompositeKind.Gelu, attrs, 'approximate');
    if (approximate === 'none') return b.mul(b.mul(x!, 0.5), b.add(b.erf(b.mul(x!, Math.SQRT1_2)), 1));
    if (approximate !== 'tanh') throw new ShapeError(CompositeKind.Gelu, [x!.shape], `approximate must be "none" or "tanh", got "${approximate}"`);
    const inner = b.mul(b.add(x!, b.mul(b.mul(b.square(x!), x!), 0.044715)), Math.sqrt(2 / Math.PI));
    return b.mul(b.mul(x!, 0.5), b.add(b.tanh(inner), 1));
  },
};

export const silu: CompositeDef = {
  kind: CompositeKind.Silu,
  arity: [1],
  decompose: (b, [x]) => b.mul(x!, b.sigmoid(x!)),
};

export const swiglu: CompositeDef = {
  kind: CompositeKind.Swiglu,
  arity: [1],
  decompose(b, [x]) {
    const width = lastDim(x!);
    if (width % 2 !== 0) throw new ShapeError(CompositeKind.Swiglu, [x!.shape], 'last axis must be even (it holds [a | b])');
    const a = b.slice(x!, -1, 0, width / 2);
    const gate = b.slice(x!, -1, width / 2, width);
    return b.mul(b.mul(a, b.sigmoid(a)), gate);
  },
};

/** shift and scale broadcast against x (e.g. (B,1,D) against (B,T,D)). */
export const modulate: CompositeDef = {
  kind: CompositeKind.Modulate,
  arity: [3],
  decompose: (b, [x, shift, scale]) => b.add(b.mul(x!, b.add(scale!, 1)), shift!),
};
