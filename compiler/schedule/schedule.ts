// Schedule · kernel boundaries. Chooses which Graph IR values are materialised
// in buffers ("realized"); every realized value is computed by one kernel that
// inlines all non-realized values below it as index math and arithmetic
// (DESIGN.md rules 1–4 and 6):
//   1. elementwise ops and views fuse into their consumer; views never make kernels;
//   2. a value needed by several kernels is recomputed when cheap (no reduce, dot or
//      gather below it and at most 3 buffers read), else realized;
//   3. a dot's operands must be views of buffers (anything else is realized first);
//   4. a reduce fuses with its prologue and with an epilogue of the same row shape
//      (full or reduced): a row softmax or a norm is ONE "row" kernel; a reduce nested
//      in a reduce of another row structure is realized, and so are random bits a
//      reduction would otherwise regenerate on every pass;
//   6. a kernel binding more buffers than the target allows is split.

import type { Graph } from '../ir/graph.ts';
import { size, type Node, type NodeWith } from '../ir/node.ts';
import { Op, isView } from '../ir/op.ts';
import { runPasses } from '../passes/pass.ts';
import { PREPARE_PASSES } from './prepare.ts';

export type ReduceNode = NodeWith<Op.ReduceSum> | NodeWith<Op.ReduceMax>;

export interface ScheduledKernel {
  /** The realized value this kernel writes. */
  readonly root: Node;
  /**
   * 'row': one workgroup per row of the anchor reduce; the workgroup's threads reduce
   * cooperatively and write the row. 'flat': one thread per output element.
   */
  readonly kind: 'flat' | 'row';
  readonly anchor?: ReduceNode;
  /** Buffers this kernel reads (inputs, params, realized values), in first-use order. */
  readonly reads: readonly Node[];
}

export interface Schedule {
  /** The graph after preparation (composites expanded, scatterAdd lowered). */
  readonly graph: Graph;
  readonly kernels: readonly ScheduledKernel[];
  readonly realized: ReadonlySet<number>;
}

export interface ScheduleOptions {
  /** Storage buffers one kernel may bind (WebGPU maxStorageBuffersPerShaderStage). */
  readonly maxBindings: number;
}

const isReduce = (n: Node): n is ReduceNode => n.op === Op.ReduceSum || n.op === Op.ReduceMax;
const isBufferSource = (n: Node) => n.op === Op.Input || n.op === Op.Param;
const isInlineSource = (n: Node) => n.op === Op.Const || n.op === Op.Iota;

function reduceKey(r: ReduceNode): string {
  return `${r.srcs[0]!.shape.join(',')}|${r.arg.axes.join(',')}`;
}

class Scheduler {
  readonly realized = new Set<number>();

  constructor(readonly graph: Graph, readonly options: ScheduleOptions) {}

  isBuffer(n: Node): boolean {
    return isBufferSource(n) || this.realized.has(n.id);
  }

  /** Bumped by every realize: cached regions and reads are valid for one version only. */
  private version = 0;
  private readonly regions = new Map<number, { version: number; nodes: Node[] }>();
  private readonly readCache = new Map<number, { version: number; nodes: Node[] }>();

  private cached(cache: Map<number, { version: number; nodes: Node[] }>, root: Node, compute: (root: Node) => Node[]): Node[] {
    const hit = cache.get(root.id);
    if (hit && hit.version === this.version) return hit.nodes;
    const nodes = compute(root);
    cache.set(root.id, { version: this.version, nodes });
    return nodes;
  }

  /** Nodes computed inline in the kernel of `root`, root first, in DFS pre-order. */
  region(root: Node): Node[] {
    return this.cached(this.regions, root, (r) => this.computeRegion(r));
  }

  private computeRegion(root: Node): Node[] {
    const out: Node[] = [];
    const seen = new Set<number>();
    const stack = [root];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      out.push(n);
      for (let i = n.srcs.length - 1; i >= 0; i--) {
        const s = n.srcs[i]!;
        if (!this.isBuffer(s)) stack.push(s);
      }
    }
    return out;
  }

  /** Buffers read by the inline region of `root`. */
  reads(root: Node): Node[] {
    return this.cached(this.readCache, root, (r) => this.computeReads(r));
  }

  private computeReads(root: Node): Node[] {
    const out: Node[] = [];
    const seen = new Set<number>();
    for (const n of this.region(root)) {
      for (const s of n.srcs) {
        if (this.isBuffer(s) && !seen.has(s.id)) {
          seen.add(s.id);
          out.push(s);
        }
      }
    }
    if (isBufferSource(root) && !this.realized.has(root.id)) return [root];
    return out;
  }

  expensive(n: Node): boolean {
    const region = this.region(n);
    return region.some((m) => isReduce(m) || m.op === Op.Dot || m.op === Op.Gather) || this.reads(n).length > 3;
  }

  realize(n: Node): boolean {
    if (this.realized.has(n.id) || isBufferSource(n)) return false;
    this.realized.add(n.id);
    this.version++;
    return true;
  }

  /** The first non-view, non-cast node under a chain of views and casts. */
  private viewBase(n: Node): Node {
    let m = n;
    while (isView(m.op) || m.op === Op.Cast) m = m.srcs[0]!;
    return m;
  }

  seed(): void {
    for (const out of this.graph.outputs) {
      const value = out.node.op === Op.Assign ? out.node.srcs[1]! : out.node;
      this.realize(value);
    }
    for (const n of this.graph.nodes) {
      if (n.op !== Op.Dot) continue;
      this.realize(n);
      for (const operand of n.srcs) {
        const base = this.viewBase(operand);
        if (!isInlineSource(base)) this.realize(base);
      }
    }
  }

  /** One round of the fusion rules; true if anything new was realized. */
  refine(): boolean {
    let changed = false;
    const roots = this.graph.nodes.filter((n) => this.realized.has(n.id));
    const users = new Map<number, Set<number>>();
    for (const root of roots) {
      for (const n of this.region(root).slice(1)) {
        if (!users.has(n.id)) users.set(n.id, new Set());
        users.get(n.id)!.add(root.id);
      }
    }
    for (const n of this.graph.nodes) {
      if ((users.get(n.id)?.size ?? 0) >= 2 && !isInlineSource(n) && this.expensive(n)) changed = this.realize(n) || changed;
    }
    if (changed) return true;
    for (const root of roots) {
      const region = this.region(root);
      const reduces = region.filter(isReduce);
      for (const outer of reduces) {
        for (const inner of this.region(outer).slice(1)) {
          // a reduce inside another reduce's input with a different row structure varies along that loop
          if (isReduce(inner) && reduceKey(inner) !== reduceKey(outer)) changed = this.realize(inner) || changed;
          // Threefry is ~100 ALU ops per element: inside a reduction it would be redone on every pass
          if (inner.op === Op.RandomBits) changed = this.realize(inner) || changed;
        }
      }
      if (changed) return true;
      if (reduces.length === 0 || region[0]!.op === Op.Dot) continue;
      const anchor = this.anchorOf(root, reduces);
      for (const r of reduces) {
        if (!anchor || reduceKey(r) !== reduceKey(anchor)) changed = this.realize(r) || changed;
      }
    }
    return changed;
  }

  anchorOf(root: Node, reduces: readonly ReduceNode[]): ReduceNode | undefined {
    const out = size(root.shape);
    return reduces.find((r) => {
      const inSize = size(r.srcs[0]!.shape);
      const rowSize = r.arg.axes.reduce((a, ax) => a * r.srcs[0]!.shape[ax]!, 1);
      return out === inSize || out * rowSize === inSize;
    });
  }

  /** Rule 6: realize the widest inlined operand until each kernel fits the binding limit. */
  splitForBindings(): boolean {
    let changed = false;
    for (const root of this.graph.nodes.filter((n) => this.realized.has(n.id))) {
      while (this.reads(root).length + 1 > this.options.maxBindings) {
        const candidates = this.region(root).slice(1).filter((n) => !isInlineSource(n));
        const widest = candidates.sort((a, b) => this.reads(b).length - this.reads(a).length)[0];
        if (!widest || !this.realize(widest)) throw new Error(`schedule: cannot split a kernel reading ${this.reads(root).length} buffers under the limit of ${this.options.maxBindings}`);
        changed = true;
      }
    }
    return changed;
  }

  kernels(): ScheduledKernel[] {
    const out: ScheduledKernel[] = [];
    for (const root of this.graph.nodes) {
      if (!this.realized.has(root.id)) continue;
      const reduces = root.op === Op.Dot ? [] : this.region(root).filter(isReduce);
      const anchor = reduces.length ? this.anchorOf(root, reduces) : undefined;
      out.push({ root, kind: anchor ? 'row' : 'flat', ...(anchor ? { anchor } : {}), reads: this.reads(root) });
    }
    return out;
  }
}

export function schedule(graph: Graph, options: ScheduleOptions): Schedule {
  const prepared = runPasses(graph, PREPARE_PASSES);
  const s = new Scheduler(prepared, options);
  s.seed();
  for (let round = 0; round < 10_000; round++) {
    if (!s.refine() && !s.splitForBindings()) break;
  }
  return { graph: prepared, kernels: s.kernels(), realized: s.realized };
}

export function printSchedule(sched: Schedule): string {
  const local = new Map<number, number>();
  sched.graph.nodes.forEach((n, i) => local.set(n.id, i));
  return sched.kernels
    .map((k, i) => `kernel ${i}: ${k.kind} %${local.get(k.root.id)} ${k.root.op}:${k.root.dtype}[${k.root.shape.join(',')}]${k.anchor ? ` anchor %${local.get(k.anchor.id)}` : ''} reads ${k.reads.map((r) => `%${local.get(r.id)}`).join(' ')}`)
    .join('\n');
}

