// Autodiff · VJPs that composites carry themselves: the ones where
// differentiating the decomposition would be wasteful or numerically worse
// (softmax family, norms, attention). Every other composite is differentiated
// through its reference decomposition. Each rule recomputes the cheap
// statistics it needs from the operands rather than keeping them alive.

import { makeComposite } from '../composite/registry.ts';
import type { Builder } from '../ir/builder.ts';
import { normalizeAxis } from '../ir/builder.ts';
import { CompositeKind, type Node, type NodeWith } from '../ir/node.ts';
import type { Op } from '../ir/op.ts';
import type { Cotangents } from './primitive-rules.ts';

type CompositeVjp = (b: Builder, node: NodeWith<Op.Composite>, g: Node) => Cotangents;

const leadingAxes = (x: Node) => x.shape.slice(0, -1).map((_, i) => i);

function axisOf(node: NodeWith<Op.Composite>): number {
  const x = node.srcs[0]!;
  return normalizeAxis(node.arg.kind, node.arg.attrs.axis as number, x.shape.length, x.shape);
}

/** dx = y ⊙ (g − Σ g⊙y) */
const softmaxVjp: CompositeVjp = (b, node, g) => {
  const axis = axisOf(node);
  return [b.mul(node, b.sub(g, b.sum(b.mul(g, node), axis, true)))];
};

/** dx = g − softmax(x) ⊙ Σ g */
const logSoftmaxVjp: CompositeVjp = (b, node, g) => {
  const axis = axisOf(node);
  return [b.sub(g, b.mul(b.exp(node), b.sum(g, axis, true)))];
};

/** With x̂ = (x−μ)·r: dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)), ĝ = g⊙w; dw = Σ g⊙x̂, db = Σ g. */
const layerNormVjp: CompositeVjp = (b, node, g) => {
  const [x, weight, bias] = node.srcs as [Node, Node | undefined, Node | undefined];
  const eps = node.arg.attrs.eps as number;
  const centered = b.sub(x, b.mean(x, -1, true));
  const rstd = b.rsqrt(b.add(b.mean(b.square(centered), -1, true), eps));
  const xhat = b.mul(centered, rstd);
  const gHat = weight ? b.mul(g, weight) : g;
  const gx = b.mul(rstd, b.sub(b.sub(gHat, b.mean(gHat, -1, true)), b.mul(xhat, b.mean(b.mul(gHat, xhat), -1, true))));
  const lead = leadingAxes(x);
  return [gx, weight && b.sum(b.mul(g, xhat), lead), bias && b.sum(g, lead)];
};

/** With r = rsqrt(mean(x²)+eps), x̂ = x·r: dx = r·(ĝ − x̂·mean(ĝ⊙x̂)), dw = Σ g⊙x̂. */
const rmsNormVjp: CompositeVjp = (b, node, g) => {
  const [x, weight] = node.srcs as [Node, Node | undefined];
  const eps = node.arg.attrs.eps as number;
  const r = b.rsqrt(b.add(b.mean(b.square(x), -1, true), eps));
  const xhat = b.mul(x, r);
  const gHat = weight ? b.mul(g, weight) : g;
  const gx = b.mul(r, b.sub(gHat, b.mul(xhat, b.mean(b.mul(gHat, xhat), -1, true))));
  return [gx, weight && b.sum(b.mul(g, xhat), leadingAxes(x))];
};

/**
 * FlashAttention's backward as two kernels: [dq | Δ] with Δ = rowsum(g⊙o), then
 * [dk | dv]; both recompute P = exp(s·qkᵀ − lse) from the log-sum-exp the forward
 * saved (the same attentionForward node, by hash-consing).
 */
const attentionVjp: CompositeVjp = (b, node, g) => {
  const [q, k, v] = node.srcs as [Node, Node, Node];
  const attrs = node.arg.attrs;
  const packed = makeComposite(b, CompositeKind.AttentionForward, [q, k, v], attrs);
  const dqDelta = makeComposite(b, CompositeKind.AttentionBackwardQuery, [q, k, v, packed, g], attrs);
  const dkv = makeComposite(b, CompositeKind.AttentionBackwardKeyValue, [q, k, v, packed, g, dqDelta], attrs);
  const last = q.shape.length - 1;
  const d = q.shape[last]!;
  return [b.slice(dqDelta, last, 0, d), b.slice(dkv, last, 0, d), b.slice(dkv, last, d, d + v.shape[last]!)];
};

/** Composites with their own VJP; the rest fall back to their decomposition. */
export const COMPOSITE_VJPS: Partial<Record<CompositeKind, CompositeVjp>> = {
  [CompositeKind.Softmax]: softmaxVjp,
  [CompositeKind.LogSoftmax]: logSoftmaxVjp,
  [CompositeKind.LayerNorm]: layerNormVjp,
  [CompositeKind.RmsNorm]: rmsNormVjp,
  [CompositeKind.Attention]: attentionVjp,
};
