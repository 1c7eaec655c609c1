// Autodiff · the VJP rule of every primitive: given a node and the cotangent of
// its output, the cotangents of its operands (undefined where none flows). The
// switch is exhaustive over Op, so adding an op fails the typecheck until it has
// a rule here. Rules build ordinary IR, which the compiler fuses like any graph.

import type { Builder } from '../ir/builder.ts';
import { isFloat } from '../ir/dtype.ts';
import type { Node, NodeWith } from '../ir/node.ts';
import { Op } from '../ir/op.ts';

export type Cotangents = readonly (Node | undefined)[];

function inversePermutation(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return inverse;
}

/** Sums `g` over the axes `x` was broadcast along by an expand, back to x's shape. */
function unexpand(b: Builder, g: Node, shape: readonly number[]): Node {
  const axes = shape.map((d, i) => (d === 1 && g.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0);
  return axes.length ? b.sum(g, axes, true) : g;
}

/**
 * dot_general's transpose. Output axes are [batch | free a | free b]; each operand's
 * cotangent is a dot of g with the other operand, permuted back to its axis order.
 */
function dotRule(b: Builder, node: NodeWith<Op.Dot>, g: Node): Cotangents {
  const [lhs, rhs] = node.srcs as [Node, Node];
  const { batch, contract } = node.arg;
  const nb = batch[0].length;
  const freeOf = (x: Node, side: 0 | 1) => x.shape.map((_, i) => i).filter((i) => !batch[side].includes(i) && !contract[side].includes(i));
  const freeL = freeOf(lhs, 0);
  const freeR = freeOf(rhs, 1);
  const gBatch = batch[0].map((_, i) => i);
  const gFreeL = freeL.map((_, i) => nb + i);
  const gFreeR = freeR.map((_, i) => nb + freeL.length + i);

  // result axes of dot(g, other): [batch | g's remaining free | other's contracted axes in ascending order]
  const operandCotangent = (self: Node, side: 0 | 1, other: Node, gKeep: number[], gContract: number[], otherFree: number[]): Node => {
    const otherSide = side === 0 ? 1 : 0;
    const raw = b.dot(g, other, { batch: [gBatch, batch[otherSide]], contract: [gContract, otherFree] });
    const selfFree = side === 0 ? freeL : freeR;
    const sortedOtherContract = [...contract[otherSide]].sort((p, q) => p - q);
    const perm = self.shape.map((_, axis) => {
      const bi = batch[side].indexOf(axis);
      if (bi >= 0) return bi;
      const fi = selfFree.indexOf(axis);
      if (fi >= 0) return nb + fi;
      const ci = contract[side].indexOf(axis);
      return nb + gKeep.length + sortedOtherContract.indexOf(contract[otherSide][ci]!);
    });
    return b.permute(raw, perm);
  };
  return [
    operandCotangent(lhs, 0, rhs, gFreeL, gFreeR, freeR),
    operandCotangent(rhs, 1, lhs, gFreeR, gFreeL, freeL),
  ];
}

function floatOnly(x: Node, ct: Node | undefined): Node | undefined {
  return isFloat(x.dtype) ? ct : undefined;
}

export function primitiveVjp(b: Builder, node: Node, g: Node): Cotangents {
  const [x, y] = node.srcs;
  switch (node.op) {
    case Op.Const: case Op.Iota: case Op.Input: case Op.Param: case Op.RandomBits:
      return [];
    case Op.Neg: return [b.neg(g)];
    case Op.Recip: return [b.neg(b.mul(g, b.square(node)))];
    case Op.Sqrt: return [b.div(b.mul(g, 0.5), node)];
    case Op.Exp2: return [b.mul(b.mul(g, node), Math.LN2)];
    case Op.Log2: return [b.div(g, b.mul(x!, Math.LN2))];
    case Op.Sin: return [b.mul(g, b.cos(x!))];
    case Op.Erf: return [b.mul(g, b.mul(b.exp(b.neg(b.square(x!))), 2 / Math.sqrt(Math.PI)))];
    case Op.Trunc: case Op.Not:
      return [undefined];
    case Op.Add: return [floatOnly(x!, g), floatOnly(y!, g)];
    case Op.Mul: return isFloat(node.dtype) ? [b.mul(g, y!), b.mul(g, x!)] : [undefined, undefined];
    case Op.Max: {
      if (!isFloat(node.dtype)) return [undefined, undefined];
      // Ties split the gradient evenly (JAX's convention), so max(x, x) has gradient 1.
      const share = b.add(b.cast(b.lt(y!, x!), x!.dtype), b.mul(b.cast(b.eq(x!, y!), x!.dtype), 0.5));
      return [b.mul(g, share), b.mul(g, b.sub(1, share))];
    }
    case Op.Mod:
      // Float remainder a − trunc(a/b)·b: d/da = 1, d/db = −trunc(a/b).
      return isFloat(node.dtype) ? [g, b.neg(b.mul(g, b.trunc(b.div(x!, y!))))] : [undefined, undefined];
    case Op.CmpLt: case Op.CmpNe: case Op.IDiv: case Op.And: case Op.Or: case Op.Xor: case Op.Shl: case Op.Shr:
      return [undefined, undefined];
    case Op.Where: return [undefined, b.where(x!, g, 0), b.where(x!, 0, g)];
    case Op.Cast: return [isFloat(x!.dtype) && isFloat(node.dtype) ? b.cast(g, x!.dtype) : undefined];
    case Op.Bitcast: return [undefined];
    case Op.ReduceSum: return [b.expand(g, x!.shape)];
    case Op.ReduceMax: {
      // The gradient goes to the maxima, shared evenly among ties.
      const hit = b.cast(b.eq(x!, b.expand(node, x!.shape)), x!.dtype);
      const ties = b.node(Op.ReduceSum, [hit], { axes: node.arg.axes });
      return [b.mul(hit, b.expand(b.div(g, ties), x!.shape))];
    }
    case Op.Reshape: return [b.reshape(g, x!.shape)];
    case Op.Permute: return [b.permute(g, inversePermutation(node.arg.perm))];
    case Op.Expand: return [b.reshape(unexpand(b, g, x!.shape), x!.shape)];
    case Op.Pad: return [b.shrink(g, node.arg.pads.map(([before], i): [number, number] => [before, before + x!.shape[i]!]))];
    case Op.Shrink: return [b.pad(g, node.arg.ranges.map(([start, end], i): [number, number] => [start, x!.shape[i]! - end]))];
    case Op.Flip: return [b.flip(g, node.arg.axes)];
    case Op.Dot: return isFloat(node.dtype) ? dotRule(b, node, g) : [undefined, undefined];
    case Op.Gather: return [floatOnly(x!, b.scatterAdd(g, y!, node.arg.axis, x!.shape[node.arg.axis]!)), undefined];
    case Op.ScatterAdd: return [floatOnly(x!, b.gather(g, y!, node.arg.axis)), undefined];
    case Op.Assign: case Op.StopGradient:
      return node.op === Op.Assign ? [undefined, undefined] : [undefined];
    case Op.Barrier: return [g];
    case Op.Composite: throw new Error('primitiveVjp: composites are differentiated by compiler/autodiff/composite-rules.ts');
    default: return node satisfies never;
  }
}
