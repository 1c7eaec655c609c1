// Schedule · horizontal fusion of optimizer updates. In: the kernel list and the
// graph's assign outputs. Out: the same list where the flat kernels computing
// assigned values (AdamW's m, v and parameter, the EMA) become multi-output
// 'group' kernels: one segment per parameter (its m, v, param and EMA share the
// element index, so the gradient and moments are loaded once and shared), many
// parameters per kernel — one kernel per parameter group when the target's
// binding limit allows, split greedily where it does not.

import { size, type Node } from '../ir/node.ts';
import { Op } from '../ir/op.ts';
import type { ScheduledKernel } from './schedule.ts';

/** Every value a kernel writes: the segments' roots for a group, else its one root. */
export function kernelRoots(k: ScheduledKernel): readonly Node[] {
  return k.segments ? k.segments.flat() : [k.root];
}

class UnionFind {
  private readonly parent: number[];
  constructor(n: number) {
    this.parent = Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    while (this.parent[i] !== i) i = this.parent[i] = this.parent[this.parent[i]!]!;
    return i;
  }
  union(a: number, b: number): void {
    this.parent[this.find(a)] = this.find(b);
  }
}

export function groupUpdates(outputs: readonly { readonly node: Node }[], kernels: readonly ScheduledKernel[], maxBindings: number): ScheduledKernel[] {
  const assigned = new Set(outputs.filter((o) => o.node.op === Op.Assign).map((o) => o.node.srcs[1]!.id));
  let members = new Set(kernels.filter((k) => k.kind === 'flat' && assigned.has(k.root.id)).map((k) => k.root.id));
  // a member read by a kernel outside the group would have to run before the group: keep it out
  for (let changed = true; changed;) {
    changed = false;
    for (const k of kernels) {
      if (members.has(k.root.id)) continue;
      for (const r of k.reads) if (members.delete(r.id)) changed = true;
    }
  }
  const candidates = kernels.filter((k) => members.has(k.root.id));
  if (candidates.length < 2) return [...kernels];
  members = new Set(candidates.map((k) => k.root.id));

  // segments: same shape and sharing a tensor (the gradient) or reading one another
  const uf = new UnionFind(candidates.length);
  const index = new Map(candidates.map((k, i) => [k.root.id, i] as const));
  const byRead = new Map<number, number>();
  candidates.forEach((k, i) => {
    for (const r of k.reads) {
      const other = index.get(r.id);
      if (other !== undefined && candidates[other]!.root.shape.join() === k.root.shape.join()) uf.union(i, other);
      if (other !== undefined || size(r.shape) <= 1) continue;
      const key = byRead.get(r.id);
      if (key === undefined) byRead.set(r.id, i);
      else if (candidates[key]!.root.shape.join() === k.root.shape.join()) uf.union(i, key);
    }
  });
  const segmentsByRoot = new Map<number, ScheduledKernel[]>();
  candidates.forEach((k, i) => {
    const list = segmentsByRoot.get(uf.find(i)) ?? [];
    list.push(k);
    segmentsByRoot.set(uf.find(i), list);
  });

  // greedy packing under the binding limit (a segment that alone exceeds it stays separate kernels)
  const groups: ScheduledKernel[][][] = [];
  let current: ScheduledKernel[][] = [];
  const bindings = (segments: readonly ScheduledKernel[][]) => {
    const roots = new Set(segments.flat().map((k) => k.root.id));
    const reads = new Set(segments.flat().flatMap((k) => k.reads.map((r) => r.id)).filter((id) => !roots.has(id)));
    return roots.size + reads.size;
  };
  for (const segment of segmentsByRoot.values()) {
    if (bindings([...current, segment]) <= maxBindings) current.push(segment);
    else {
      if (current.length) groups.push(current);
      current = bindings([segment]) <= maxBindings ? [segment] : [];
    }
  }
  if (current.length) groups.push(current);

  const grouped = new Map<number, number>();
  groups.forEach((g, gi) => g.flat().forEach((k) => grouped.set(k.root.id, gi)));
  const lastMember = new Map<number, number>();
  kernels.forEach((k, i) => {
    const gi = grouped.get(k.root.id);
    if (gi !== undefined) lastMember.set(gi, i);
  });
  const out: ScheduledKernel[] = [];
  kernels.forEach((k, i) => {
    const gi = grouped.get(k.root.id);
    if (gi === undefined) {
      out.push(k);
      return;
    }
    if (lastMember.get(gi) !== i) return;
    const segments = groups[gi]!.map((segment) => segment.map((m) => m.root));
    const roots = new Set(segments.flat().map((r) => r.id));
    const reads: Node[] = [];
    const seen = new Set<number>();
    for (const m of groups[gi]!.flat()) {
      for (const r of m.reads) {
        if (roots.has(r.id) || seen.has(r.id)) continue;
        seen.add(r.id);
        reads.push(r);
      }
    }
    out.push({ root: segments[0]![0]!, kind: 'group', segments, reads });
  });
  return out;
}
