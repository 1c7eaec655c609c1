// Composites · rotary position embedding (spec §1.6). The rotation acts on
// interleaved pairs (2j, 2j+1) of the last axis: (a, b) ← (a·cosφ − b·sinφ,
// b·cosφ + a·sinφ). The angles φ come in as a tensor, so the three RoPE forms
// differ only in how the DSL computes φ (fixed tables, or learnable frequencies
// for MAETok's mixed form, which then get gradients through φ).

import { ShapeError } from '../ir/errors.ts';
import { CompositeKind } from '../ir/node.ts';
import { lastDim, requireRank, type CompositeDef } from './define.ts';

/** srcs [x (..., T, hd), angles broadcastable to (..., T, hd/2)]. */
export const rope: CompositeDef = {
  kind: CompositeKind.Rope,
  arity: [2],
  decompose(b, [x, angles]) {
    requireRank(CompositeKind.Rope, x!, 1);
    const hd = lastDim(x!);
    if (hd % 2 !== 0 || lastDim(angles!) !== hd / 2) {
      throw new ShapeError(CompositeKind.Rope, [x!.shape, angles!.shape], `angles need ${hd / 2} entries (one per pair of an even head dim)`);
    }
    const pairs = b.reshape(x!, [...x!.shape.slice(0, -1), hd / 2, 2]);
    const even = b.reshape(b.slice(pairs, -1, 0, 1), [...x!.shape.slice(0, -1), hd / 2]);
    const odd = b.reshape(b.slice(pairs, -1, 1, 2), [...x!.shape.slice(0, -1), hd / 2]);
    const cos = b.cos(angles!);
    const sin = b.sin(angles!);
    const outEven = b.sub(b.mul(even, cos), b.mul(odd, sin));
    const outOdd = b.add(b.mul(odd, cos), b.mul(even, sin));
    const stacked = b.concat([b.reshape(outEven, [...outEven.shape, 1]), b.reshape(outOdd, [...outOdd.shape, 1])], -1);
    return b.reshape(stacked, x!.shape);
  },
};
