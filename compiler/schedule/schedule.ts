// Schedule · kernel boundaries. Chooses which Graph IR values are materialised
// in buffers ("realized"); every realized value is computed by one kernel that
// inlines all non-realized values below it as index math and arithmetic
// (DESIGN.md rules 1–4 and 6):
//   1. elementwise ops and views fuse into their consumer; views never make kernels;
//   2. a value needed by several kernels is recomputed when cheap (no reduce, dot or
//      gather below it and at most 3 buffers read), else realized;
//   3. a dot's operands are views of buffers or cheap elementwise prologues; an
//      attention template's operands are views of buffers (anything else is realized first);
//   4. a reduce fuses with its prologue and with an epilogue of the same row shape
//      (full or reduced): a row softmax or a norm is ONE "row" kernel; a reduce nested
//      in a reduce of another row structure is realized, and so are random bits a
//      reduction would otherwise regenerate on every pass;
//   5. a dot is a matmul-template kernel that absorbs its elementwise epilogue
//      (bias, activation, gate, residual) when that epilogue is its only reader
//      and reads it element for element;
//   6. a kernel binding more buffers than the target allows is split.
// With library GEMMs (CUDA's cuBLASLt, options.libraryGemm) rules 3 and 5 change for
// float dots: a dot is a kernel of its own, and its operands are strided views of
// buffers, realized first when they are anything else (compiler/schedule/gemm.ts).

import type { Graph } from '../ir/graph.ts';
import { size, type Node, type NodeWith } from '../ir/node.ts';
import { Op, isBinary, isUnary, isView } from '../ir/op.ts';
import { runPasses, type Pass } from '../passes/pass.ts';
import { gemmMatrix, libraryDot, roundGemmOperands, stridedView } from './gemm.ts';
import { groupUpdates } from './group.ts';
import { fuseBiasGradients, PREPARE_PASSES, TEMPLATE_COMPOSITES } from './prepare.ts';

export type ReduceNode = NodeWith<Op.ReduceSum> | NodeWith<Op.ReduceMax>;
/**
 * Where a graph output lives: the node whose buffer holds it and the view ops (base
 * first) the reader applies on the host. An assign output is its whole value (the
 * runtime copies it into the parameter); any other output that is a view of a
 * computed value (o = attention's packed output[..., :dv], a transposed gradient)
 * is read through the view instead of costing a copy kernel, unless it is under
 * half of that value (then a copy is cheaper than the readback).
 */
export function outputStorage(out: { readonly node: Node }, outputs: readonly { readonly node: Node }[] = []): { readonly node: Node; readonly views: readonly Node[] } {
  if (out.node.op === Op.Assign) return { node: out.node.srcs[1]!, views: [] };
  const { base, views } = viewChain(out.node);
  // A small slice of a large buffer (a probe of a few values) gets its own buffer, so reading it
  // does not download the whole base — unless another output reads most of that base anyway.
  const small = (n: Node) => 2 * size(n.shape) < size(base.shape);
  if (small(out.node) && !outputs.some((o) => o.node.op !== Op.Assign && !small(o.node) && viewChain(o.node).base === base)) return { node: out.node, views: [] };
  return { node: base, views };
}

function viewChain(node: Node): { base: Node; views: Node[] } {
  const views: Node[] = [];
  let base = node;
  while (isView(base.op)) {
    views.unshift(base);
    base = base.srcs[0]!;
  }
  return { base, views };
}

export type TemplateNode = NodeWith<Op.Dot> | NodeWith<Op.Composite>;

/** Nodes a kernel template computes: every dot, and the composites prepare keeps whole. */
export const isTemplate = (n: Node): n is TemplateNode => n.op === Op.Dot || (n.op === Op.Composite && TEMPLATE_COMPOSITES.has(n.arg.kind));

export interface ScheduledKernel {
  /** The realized value this kernel writes. */
  readonly root: Node;
  /**
   * 'row': one workgroup per row of the anchor reduce; the workgroup's threads reduce
   * cooperatively and write the row. 'flat': one thread per output element.
   * 'template': a kernel template (matmul for a dot, the fused attention kernels for
   * their composites) computes `template` and writes the root through its epilogue.
   * 'group': several flat kernels in one (compiler/schedule/group.ts): one thread per
   * element of each segment; a segment's roots share their shape and element index.
   */
  readonly kind: 'flat' | 'row' | 'template' | 'group';
  readonly anchor?: ReduceNode;
  readonly template?: TemplateNode;
  /** 'group' only: the roots, by segment; bindings are the roots in this order, then the reads. */
  readonly segments?: readonly (readonly Node[])[];
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
  /** Float dots become library GEMM calls (compiler/schedule/gemm.ts): no prologue or epilogue fusion, strided operands. */
  readonly libraryGemm?: boolean;
}

const isReduce = (n: Node): n is ReduceNode => n.op === Op.ReduceSum || n.op === Op.ReduceMax;
const isElementwise = (op: Op) => isUnary(op) || isBinary(op) || op === Op.Where || op === Op.Cast || op === Op.Bitcast;
const TRANSCENDENTAL: ReadonlySet<Op> = new Set([Op.Exp2, Op.Log2, Op.Sin, Op.Erf, Op.Sqrt, Op.Recip]);
const isBufferSource = (n: Node) => n.op === Op.Input || n.op === Op.Param;
const isInlineSource = (n: Node) => n.op === Op.Const || n.op === Op.Iota;

function reduceKey(r: ReduceNode): string {
  return `${r.srcs[0]!.shape.join(',')}|${r.arg.axes.join(',')}`;
}

class Scheduler {
  readonly realized = new Set<number>();

  /** Nodes a fusion un-realized once: if a later rule realizes them again, that is final (no oscillation). */
  private readonly unrealizedOnce = new Set<number>();

  constructor(readonly graph: Graph, readonly options: ScheduleOptions) {}

  /** Makes a realized node inline again (epilogue and prologue fusion), at most once per node. */
  private unrealize(n: Node): void {
    this.realized.delete(n.id);
    this.unrealizedOnce.add(n.id);
    this.version++;
  }

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

  /** The region of `root`, optionally as if `unrealized` were not a buffer (to try a fusion without committing it). */
  private computeRegion(root: Node, unrealized?: Node): Node[] {
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
        if (s === unrealized || !this.isBuffer(s)) stack.push(s);
      }
    }
    return out;
  }

  /** Buffers an inline region reads. */
  private readsOf(region: readonly Node[]): Node[] {
    const inside = new Set(region.map((n) => n.id));
    const out: Node[] = [];
    const seen = new Set<number>();
    for (const n of region) {
      for (const s of n.srcs) {
        if (!inside.has(s.id) && !seen.has(s.id)) {
          seen.add(s.id);
          out.push(s);
        }
      }
    }
    return out;
  }

  /** Buffers read by the inline region of `root`. */
  reads(root: Node): Node[] {
    return this.cached(this.readCache, root, (r) => this.computeReads(r));
  }

  private computeReads(root: Node): Node[] {
    if (isBufferSource(root) && !this.realized.has(root.id)) return [root];
    return this.readsOf(this.region(root));
  }

  expensive(n: Node): boolean {
    const region = this.region(n);
    return region.some((m) => isReduce(m) || isTemplate(m) || m.op === Op.Gather) || this.reads(n).length > 3;
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
    for (const out of this.graph.outputs) this.realize(outputStorage(out, this.graph.outputs).node);
    const templates = this.graph.nodes.filter(isTemplate);
    for (const n of templates) this.realize(n);
    for (const n of templates) {
      if (this.isLibrary(n)) {
        const dot = n as NodeWith<Op.Dot>;
        dot.srcs.forEach((operand, side) => this.realize(this.libraryOperand(dot, side as 0 | 1, operand)));
        continue;
      }
      for (const operand of n.srcs) {
        const base = this.viewBase(operand);
        if (!isInlineSource(base)) this.realize(base);
      }
    }
  }

  /** A dot the library computes: its own kernel, operands read as strided matrices. */
  isLibrary(n: Node): boolean {
    return !!this.options.libraryGemm && libraryDot(n);
  }

  /** What a library dot's operand reads: the buffer under a strided view chain, else the operand realized whole. */
  private libraryOperand(dot: NodeWith<Op.Dot>, side: 0 | 1, operand: Node): Node {
    const view = stridedView(operand);
    return view && !isInlineSource(view.base) && gemmMatrix(dot, side, view, 0) ? view.base : operand;
  }

  /**
   * Rule 5's prologues, decided after epilogues: a realized dot operand read by no other
   * kernel stops being a buffer when it is cheap to recompute at each load.
   */
  absorbPrologues(): boolean {
    const outputs = new Set(this.graph.outputs.map((o) => outputStorage(o, this.graph.outputs).node.id));
    const roots = this.graph.nodes.filter((n) => this.realized.has(n.id));
    const uses = new Map<number, { dot: NodeWith<Op.Dot>; side: number; operand: Node }[]>();
    const readers = new Map<number, number>();
    const byId = new Map<number, Node>();
    for (const root of roots) {
      for (const r of this.reads(root)) readers.set(r.id, (readers.get(r.id) ?? 0) + 1);
      const dot = this.region(root).find((n): n is NodeWith<Op.Dot> => n.op === Op.Dot);
      if (dot && this.isLibrary(dot)) continue;
      dot?.srcs.forEach((operand, side) => {
        const base = this.viewBase(operand);
        byId.set(base.id, base);
        uses.set(base.id, [...(uses.get(base.id) ?? []), { dot, side, operand }]);
      });
    }
    let changed = false;
    for (const [id, list] of uses) {
      const base = byId.get(id)!;
      // every kernel reading it must be a matmul loading it as an operand
      if (!this.realized.has(base.id) || this.unrealizedOnce.has(base.id) || outputs.has(base.id) || isTemplate(base) || readers.get(base.id) !== list.length) continue;
      // row statistics are recomputed per reader only when there is one reader
      const single = list.length === 1;
      const ok = list.every(({ dot, side, operand }) => {
        const region = this.computeRegion(operand, base);
        return this.cheapPrologue(dot, side, operand, region) && (single || !region.some(isReduce));
      });
      if (!ok) continue;
      this.unrealize(base);
      changed = true;
    }
    return changed;
  }

  /**
   * Whether a dot operand is cheap to recompute at each load: elementwise math over at
   * most 4 buffers with no transcendental per element (a cast, the concatenation of dq,
   * dk, dv, a modulated layerNorm) and no template inside (a dot that took the math as its
   * epilogue computes it once per element instead). Attention operands stay views:
   * the attention templates reload k and v once per query row.
   */
  private cheapPrologue(dot: NodeWith<Op.Dot>, side: number, operand: Node, region: readonly Node[]): boolean {
    const reads = this.readsOf(region);
    const contracted = new Set(dot.arg.contract[side]!.map((ax) => operand.shape.length - 1 - ax));
    // A reduce is allowed when it reduces exactly the contracted axes (counted from the end, so
    // keep-dims reshapes line up): a norm's row statistics, which the template computes once per row.
    const rowStatistic = (m: Node) => isReduce(m) && m.srcs[0]!.shape.length === operand.shape.length &&
      m.arg.axes.length === contracted.size && m.arg.axes.every((ax) => contracted.has(operand.shape.length - 1 - ax));
    // A transcendental (GELU's erf, SiLU's exp, RoPE's sin and cos of a broadcast angle table)
    // would be recomputed at each of the operand's N/tn loads: 25× slower dW of MAETok's
    // RoPE'd qkv on lavapipe. One applied to row statistics (a norm's rsqrt of its variance)
    // is per row and stays.
    const inRegion = new Set(region.map((m) => m.id));
    const onStatistics = new Map<number, boolean>();
    const dependsOnReduce = (m: Node): boolean => {
      const known = onStatistics.get(m.id);
      if (known !== undefined) return known;
      const result = isReduce(m) || (inRegion.has(m.id) && m.srcs.some(dependsOnReduce));
      onStatistics.set(m.id, result);
      return result;
    };
    const perElementTranscendental = (m: Node) => TRANSCENDENTAL.has(m.op) && !dependsOnReduce(m);
    return region.every((m) => (!isReduce(m) || rowStatistic(m)) && !isTemplate(m) && m.op !== Op.Gather && m.op !== Op.RandomBits && !perElementTranscendental(m)) &&
      reads.length <= 4;
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
      // a template kernel's reduces are prologue row statistics, computed per row by the template
      if (reduces.length === 0 || region.some(isTemplate)) continue;
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

  /**
   * Rule 5: a dot read only by one flat kernel, which reaches it through elementwise
   * ops and reshapes of the same size (so the epilogue reads it element for element),
   * stops being a buffer and becomes that kernel's template.
   */
  fuseEpilogues(): boolean {
    const outputs = new Set(this.graph.outputs.map((o) => outputStorage(o, this.graph.outputs).node.id));
    const roots = this.graph.nodes.filter((n) => this.realized.has(n.id));
    const readers = new Map<number, Node[]>();
    for (const root of roots) for (const r of this.reads(root)) readers.set(r.id, [...(readers.get(r.id) ?? []), root]);
    let changed = false;
    for (const dot of roots) {
      if (dot.op !== Op.Dot || this.isLibrary(dot) || outputs.has(dot.id) || this.unrealizedOnce.has(dot.id)) continue;
      const users = readers.get(dot.id) ?? [];
      if (users.length !== 1) continue;
      const user = users[0]!;
      if (size(user.shape) !== size(dot.shape) || !this.readsElementwise(user, dot)) continue;
      // Later candidates see the updated region (the version bump), so no kernel absorbs two dots.
      this.unrealize(dot);
      changed = true;
    }
    return changed;
  }

  /** Whether every path from `root` to `target` inside root's region is elementwise or a reshape, all of target's size, with no reduce or other dot in the region. */
  private readsElementwise(root: Node, target: Node): boolean {
    const region = this.region(root);
    if (region.some((n) => isReduce(n) || isTemplate(n))) return false;
    const reaches = new Map<number, boolean>();
    const reach = (n: Node): boolean => {
      if (n === target) return true;
      const known = reaches.get(n.id);
      if (known !== undefined) return known;
      const r = !this.isBuffer(n) && n.srcs.some(reach);
      reaches.set(n.id, r);
      return r;
    };
    const total = size(target.shape);
    return region.every((n) => !reach(n) || (size(n.shape) === total && (isElementwise(n.op) || n.op === Op.Reshape)));
  }

  kernels(): ScheduledKernel[] {
    const out: ScheduledKernel[] = [];
    for (const root of this.graph.nodes) {
      if (!this.realized.has(root.id)) continue;
      const template = this.region(root).find(isTemplate);
      if (template) {
        out.push({ root, kind: 'template', template, reads: this.reads(root) });
        continue;
      }
      const reduces = this.region(root).filter(isReduce);
      const anchor = reduces.length ? this.anchorOf(root, reduces) : undefined;
      out.push({ root, kind: anchor ? 'row' : 'flat', ...(anchor ? { anchor } : {}), reads: this.reads(root) });
    }
    return out;
  }
}

/**
 * With library GEMMs: no bias-gradient fusion (its ones column makes a weight gradient's leading dimensions N + 1,
 * odd, where cuBLASLt's tensor-core kernels want 16-byte multiples; the bias gradient is its own column sum), and
 * GEMM operands rounded to bf16. Pinned by test/compiler/library-gemm.test.ts.
 */
const LIBRARY_PREPARE_PASSES: readonly Pass[] = [...PREPARE_PASSES.filter((p) => p !== fuseBiasGradients), roundGemmOperands];

export function schedule(graph: Graph, options: ScheduleOptions): Schedule {
  const prepared = runPasses(graph, options.libraryGemm ? LIBRARY_PREPARE_PASSES : PREPARE_PASSES);
  const s = new Scheduler(prepared, options);
  s.seed();
  for (let round = 0; round < 10_000; round++) {
    if (!s.refine() && !s.splitForBindings() && !s.fuseEpilogues() && !s.absorbPrologues()) break;
  }
  return { graph: prepared, kernels: groupUpdates(prepared.outputs, s.kernels(), options.maxBindings), realized: s.realized };
}

export function printSchedule(sched: Schedule): string {
  const local = new Map<number, number>();
  sched.graph.nodes.forEach((n, i) => local.set(n.id, i));
  return sched.kernels
    .map((k, i) => `kernel ${i}: ${k.kind} ${k.segments ? k.segments.map((seg) => seg.map((r) => `%${local.get(r.id)}`).join(',')).join(' | ') + ' ' : ''}%${local.get(k.root.id)} ${k.root.op}:${k.root.dtype}[${k.root.shape.join(',')}]${k.anchor ? ` anchor %${local.get(k.anchor.id)}` : ''} reads ${k.reads.map((r) => `%${local.get(r.id)}`).join(' ')}`)
    .join('\n');
}

