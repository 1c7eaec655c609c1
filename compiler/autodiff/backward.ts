// Autodiff · reverse mode over the Graph IR. backward() walks the graph from the
// seeded outputs in reverse topological order, applies each node's VJP rule and
// sums cotangents, building the gradient as new nodes in the same builder: the
// result is one joint forward+backward graph. Composites use their own VJP when
// they carry one, else the VJP of their decomposition. Checkpointed regions are
// recomputed from barrier'd inputs instead of reusing their forward values.

import { decompose } from '../composite/registry.ts';
import type { Builder } from '../ir/builder.ts';
import { isFloat } from '../ir/dtype.ts';
import type { Node } from '../ir/node.ts';
import { Op } from '../ir/op.ts';
import { COMPOSITE_VJPS } from './composite-rules.ts';
import { primitiveVjp, type Cotangents } from './primitive-rules.ts';

/** A checkpointed region: its output is recomputed from its inputs during the backward pass. */
export interface CheckpointRegion {
  readonly inputs: readonly Node[];
  readonly output: Node;
  /** Rebuilds the region over new input nodes (the traced function, called again). */
  recompute(inputs: readonly Node[]): Node;
}

export interface BackwardOptions {
  /** Regions keyed by their output node id. */
  readonly regions?: ReadonlyMap<number, CheckpointRegion>;
}

function vjpOf(b: Builder, node: Node, g: Node, options: BackwardOptions): Cotangents {
  if (node.op !== Op.Composite) return primitiveVjp(b, node, g);
  const own = COMPOSITE_VJPS[node.arg.kind];
  if (own) return own(b, node, g);
  const expanded = decompose(b, node, node.srcs);
  const cts = backward(b, [[expanded, g]], node.srcs, options);
  // A node passed twice (attention(x, x, x)) gets its cotangent once: the caller accumulates per position.
  return cts.map((ct, i) => (node.srcs.indexOf(node.srcs[i]!) === i ? ct : undefined));
}

/**
 * Recomputes a region from barrier'd copies of its inputs and differentiates the copy. The
 * region may close over outer values (parameters, or anything built outside it): those the
 * outer sweep differentiates are leaves here too, and receive their cotangents directly.
 */
function regionVjp(b: Builder, region: CheckpointRegion, g: Node, options: BackwardOptions, outerRelevant: ReadonlySet<number>): { srcs: readonly Node[]; cts: Cotangents } {
  const fresh = region.inputs.map((input) => b.barrier(input));
  const output = region.recompute(fresh);
  const freshIds = new Set(fresh.map((f) => f.id));
  const closedOver = orderAbove([output], freshIds).filter((n) => !freshIds.has(n.id) && outerRelevant.has(n.id));
  const cts = backward(b, [[output, g]], [...fresh, ...closedOver], options);
  return { srcs: [...region.inputs, ...closedOver], cts };
}

/** Topological order of the nodes between `roots` and the `leaves` (whose operands are not visited). */
function orderAbove(roots: readonly Node[], leaves: ReadonlySet<number>): Node[] {
  const order: Node[] = [];
  const seen = new Set<number>();
  const stack: { node: Node; next: number }[] = [];
  for (const root of roots) {
    if (seen.has(root.id)) continue;
    seen.add(root.id);
    stack.push({ node: root, next: 0 });
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const src = leaves.has(top.node.id) ? undefined : top.node.srcs[top.next++];
      if (src === undefined) {
        stack.pop();
        order.push(top.node);
      } else if (!seen.has(src.id)) {
        seen.add(src.id);
        stack.push({ node: src, next: 0 });
      }
    }
  }
  return order;
}

/**
 * Cotangents of `wrt` for the seeded outputs (pairs of output node and its cotangent).
 * The wrt nodes are leaves: nothing below them is visited. Returns undefined for a wrt
 * node no seed depends on.
 */
export function backward(b: Builder, seeds: readonly (readonly [Node, Node])[], wrt: readonly Node[], options: BackwardOptions = {}): (Node | undefined)[] {
  const targets = new Set(wrt.map((w) => w.id));
  const order = orderAbove(seeds.map(([node]) => node), targets);
  const relevant = new Set<number>();
  for (const node of order) {
    if (targets.has(node.id) || node.srcs.some((s) => relevant.has(s.id))) relevant.add(node.id);
  }
  const cotangents = new Map<number, Node>();
  const accumulate = (node: Node, ct: Node) => {
    const prev = cotangents.get(node.id);
    cotangents.set(node.id, prev ? b.add(prev, ct) : ct);
  };
  for (const [node, ct] of seeds) accumulate(node, ct);
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    const g = cotangents.get(node.id);
    // wrt nodes are leaves: their own VJP belongs to the caller (a composite's operands may depend on each other).
    if (!g || targets.has(node.id) || !relevant.has(node.id) || !isFloat(node.dtype)) continue;
    const region = options.regions?.get(node.id);
    const { srcs, cts } = region ? regionVjp(b, region, g, options, relevant) : { srcs: node.srcs, cts: vjpOf(b, node, g, options) };
    srcs.forEach((src, k) => {
      const ct = cts[k];
      if (ct && relevant.has(src.id) && isFloat(src.dtype)) accumulate(src, ct);
    });
  }
  return wrt.map((w) => cotangents.get(w.id));
}

/** Gradients of a scalar `loss` with respect to `wrt`; zeros where the loss does not depend on one. */
export function gradients(b: Builder, loss: Node, wrt: readonly Node[], options: BackwardOptions = {}): Node[] {
  if (loss.shape.length !== 0) throw new Error(`grad: the loss must be a scalar, got shape [${loss.shape.join(',')}] (reduce it first, e.g. .mean())`);
  const grads = backward(b, [[loss, b.const(1, loss.dtype)]], wrt, options);
  return grads.map((g, i) => g ?? b.const(0, wrt[i]!.dtype, wrt[i]!.shape));
}
