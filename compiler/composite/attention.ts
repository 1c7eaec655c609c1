// Composites · scaled dot-product attention and the pieces its fused kernels
// compute. `attention` is softmax((q·scale)kᵀ)v over the last two axes (leading
// axes are batch axes of both dots). It is a view of `attentionForward`, which
// also returns each query row's log-sum-exp in one packed tensor [..., Tq, dv+1]
// (FlashAttention saves it for the backward pass). The backward pass is two
// kernels: `attentionBackwardQuery` ([dq | Δ] with Δ = rowsum(g⊙o), as
// [..., Tq, d+1]) and `attentionBackwardKeyValue` (dk and dv packed as
// [..., Tk, d+dv], reading Δ from the first); both recompute P = exp(s·qkᵀ − lse)
// instead of storing it. The decompositions below
// are the reference the templates (compiler/kernel/templates/attention.ts) are
// tested against.

import type { Builder } from '../ir/builder.ts';
import { ShapeError } from '../ir/errors.ts';
import { CompositeKind, type Attrs, type Node } from '../ir/node.ts';
import { makeComposite } from './registry.ts';
import { lastDim, numberAttr, requireRank, type CompositeDef } from './define.ts';

function checkQkv(kind: CompositeKind, q: Node, k: Node, v: Node): void {
  for (const t of [q, k, v]) requireRank(kind, t, 2);
  const rank = q.shape.length;
  const lead = q.shape.slice(0, -2);
  const same = (s: readonly number[]) => s.length === rank && s.slice(0, -2).every((d, i) => d === lead[i]);
  if (!same(k.shape) || !same(v.shape) || lastDim(q) !== lastDim(k) || k.shape[rank - 2] !== v.shape[rank - 2]) {
    throw new ShapeError(kind, [q.shape, k.shape, v.shape], 'expects q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv)');
  }
}

/** Batched a·bᵀ-style products over the leading axes, contracting axis `ca` of a with `cb` of b. */
function bmm(b: Builder, x: Node, y: Node, ca: number, cb: number): Node {
  const batch = x.shape.slice(0, -2).map((_, i) => i);
  return b.dot(x, y, { batch: [batch, batch], contract: [[ca], [cb]] });
}

/** The last axis of x from `start` (exclusive end `end`). */
function lastSlice(b: Builder, x: Node, start: number, end: number): Node {
  return b.slice(x, x.shape.length - 1, start, end);
}

/** Scores s·qkᵀ and P = exp(scores − lse) for the backward decompositions. */
function probabilities(b: Builder, q: Node, k: Node, packed: Node, scale: number): Node {
  const rank = q.shape.length;
  const scores = bmm(b, b.mul(q, scale), k, rank - 1, rank - 1);
  const lse = lastSlice(b, packed, lastDim(packed) - 1, lastDim(packed));
  return b.exp(b.sub(scores, lse));
}

/** srcs [q, k, v]; attrs.scale multiplies q. */
export const attention: CompositeDef = {
  kind: CompositeKind.Attention,
  arity: [3],
  decompose(b, [q, k, v], attrs) {
    checkQkv(CompositeKind.Attention, q!, k!, v!);
    const packed = makeComposite(b, CompositeKind.AttentionForward, [q!, k!, v!], attrs);
    return lastSlice(b, packed, 0, lastDim(v!));
  },
};

/** srcs [q, k, v] → [..., Tq, dv+1]: the output rows, then each row's natural-log log-sum-exp of the scores. */
export const attentionForward: CompositeDef = {
  kind: CompositeKind.AttentionForward,
  arity: [3],
  decompose(b, [q, k, v], attrs) {
    const scale = numberAttr(CompositeKind.AttentionForward, attrs, 'scale');
    checkQkv(CompositeKind.AttentionForward, q!, k!, v!);
    const rank = q!.shape.length;
    const scores = bmm(b, b.mul(q!, scale), k!, rank - 1, rank - 1);
    // the shift is a constant for differentiation (as in softmax): lse and o do not depend on it
    const max = b.stopGradient(b.reduceMax(scores, -1, true));
    const e = b.exp(b.sub(scores, max));
    const total = b.sum(e, -1, true);
    const o = bmm(b, b.div(e, total), v!, rank - 1, rank - 2);
    return b.concat([o, b.add(max, b.log(total))], rank - 1);
  },
};

interface BackwardOperands {
  readonly q: Node;
  readonly k: Node;
  readonly v: Node;
  readonly packed: Node;
  readonly g: Node;
  readonly scale: number;
}

function backwardOperands(kind: CompositeKind, srcs: readonly Node[], attrs: Attrs): BackwardOperands {
  const [q, k, v, packed, g] = srcs as [Node, Node, Node, Node, Node];
  checkQkv(kind, q, k, v);
  const tq = q.shape[q.shape.length - 2]!;
  const dv = lastDim(v);
  const rowShape = [...q.shape.slice(0, -1)];
  if (packed.shape.join() !== [...rowShape, dv + 1].join() || g.shape.join() !== [...rowShape, dv].join()) {
    throw new ShapeError(kind, [packed.shape, g.shape], `expects packed [..., ${tq}, ${dv + 1}] and g [..., ${tq}, ${dv}]`);
  }
  return { q, k, v, packed, g, scale: numberAttr(kind, attrs, 'scale') };
}

/** dS = P⊙(g·vᵀ − Δ). */
function scoreGradient(b: Builder, { q, k, v, packed, g, scale }: BackwardOperands, delta: Node): { p: Node; dScores: Node } {
  const rank = q.shape.length;
  const p = probabilities(b, q, k, packed, scale);
  return { p, dScores: b.mul(p, b.sub(bmm(b, g, v, rank - 1, rank - 1), delta)) };
}

/** srcs [q, k, v, packed, g] → [..., Tq, d+1]: dq = s·(P⊙(g·vᵀ − Δ))·k, then Δ = rowsum(g⊙o). */
export const attentionBackwardQuery: CompositeDef = {
  kind: CompositeKind.AttentionBackwardQuery,
  arity: [5],
  decompose(b, srcs, attrs) {
    const operands = backwardOperands(CompositeKind.AttentionBackwardQuery, srcs, attrs);
    const { q, k, v, packed, g, scale } = operands;
    const rank = q.shape.length;
    const delta = b.sum(b.mul(g, lastSlice(b, packed, 0, lastDim(v))), -1, true);
    const { dScores } = scoreGradient(b, operands, delta);
    return b.concat([b.mul(bmm(b, dScores, k, rank - 1, rank - 2), scale), delta], rank - 1);
  },
};

/** srcs [q, k, v, packed, g, dqΔ] (the attentionBackwardQuery output) → [..., Tk, d+dv]: dk = s·dSᵀ·q, then dv = Pᵀ·g. */
export const attentionBackwardKeyValue: CompositeDef = {
  kind: CompositeKind.AttentionBackwardKeyValue,
  arity: [6],
  decompose(b, srcs, attrs) {
    const operands = backwardOperands(CompositeKind.AttentionBackwardKeyValue, srcs, attrs);
    const { q, g, scale } = operands;
    const rank = q.shape.length;
    const dqDelta = srcs[5]!;
    if (dqDelta.shape.join() !== [...q.shape.slice(0, -1), lastDim(q) + 1].join()) {
      throw new ShapeError(CompositeKind.AttentionBackwardKeyValue, [q.shape, dqDelta.shape], `expects dqΔ [..., ${lastDim(q) + 1}]`);
    }
    const { p, dScores } = scoreGradient(b, operands, lastSlice(b, dqDelta, lastDim(q), lastDim(q) + 1));
    const dk = b.mul(bmm(b, dScores, q, rank - 2, rank - 2), scale);
    return b.concat([dk, bmm(b, p, g, rank - 2, rank - 2)], rank - 1);
  },
};
