// Kernel IR · the fused attention templates (FlashAttention-style, one thread per
// row). In: a scheduled template kernel for attentionForward, attentionBackwardQuery
// or attentionBackwardKeyValue (compiler/composite/attention.ts defines what each
// computes). Out: Kernel IR. Forward: each thread keeps its query row, a running
// max and sum and its output row in registers and streams the keys once (online
// softmax in the exp2 domain), then writes o (attention) or [o | lse]
// (attentionForward, when a backward pass needs the log-sum-exp). Backward: the dq
// thread computes Δ = g·o for its query row and streams keys, writing [dq | Δ];
// the dk‖dv thread streams queries for its key row, reading each row's Δ; both recompute P = exp(s·q·k − lse) from the saved log-sum-exp, so the
// Tq×Tk score matrix never exists in memory. No workgroup memory, no barriers.
// With tensor cores all three run as warp tiles instead (attention-mma.ts,
// attention-mma-backward.ts).

import { DType } from '../../ir/dtype.ts';
import { CompositeKind, size, type Node, type NodeWith } from '../../ir/node.ts';
import type { Op } from '../../ir/op.ts';
import { constIndex, type Index } from '../index.ts';
import { Alu, type MmaOperand, type ValueId } from '../ir.ts';
import { attentionMmaEligible, lowerAttentionMma } from './attention-mma.ts';
import { lowerAttentionBackwardKeyValueMma, lowerAttentionBackwardQueryMma } from './attention-mma-backward.ts';
import type { TemplateContext, TemplateLaunch } from './context.ts';

const LOG2E = Math.LOG2E;
const LN2 = Math.LN2;
/** Running-max start: finite, so exp2(m − m') is 0 rather than NaN on the first key (WGSL has no reliable infinities). */
const LOWEST = -3e38;

/** Threads per workgroup of the attention kernels (rows are independent; no shared memory). */
export const ATTENTION_THREADS = 64;

interface Geometry {
  readonly lead: readonly number[];
  readonly tq: number;
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
}

function geometry(q: Node, v: Node, k: Node): Geometry {
  const r = q.shape.length;
  return { lead: q.shape.slice(0, -2), tq: q.shape[r - 2]!, tk: k.shape[r - 2]!, d: q.shape[r - 1]!, dv: v.shape[r - 1]! };
}

/** Emits `body` for each of `rows` threads: the row's leading index and its position along the row axis. */
function perRow(ctx: TemplateContext, lead: readonly number[], length: number, body: (leadIdx: Index[], row: Index) => void): TemplateLaunch {
  const { kb, ix } = ctx;
  const rows = size(lead) * length;
  const gid = kb.special('globalId');
  kb.when(kb.alu(Alu.CmpLt, DType.Bool, [gid, ctx.i32(rows)]), () => {
    const t = ix.atom(gid, 0, Math.max(0, rows - 1), false);
    body(ix.delinearize(ix.div(t, length), lead), ix.mod(t, length));
  });
  return { workgroups: Math.max(1, Math.ceil(rows / ATTENTION_THREADS)), workgroupSize: ATTENTION_THREADS };
}

class Emit {
  constructor(readonly ctx: TemplateContext) {}

  f32(v: number): ValueId {
    return this.ctx.kb.const(v, DType.F32);
  }

  op(alu: Alu, ...args: ValueId[]): ValueId {
    return this.ctx.kb.alu(alu, DType.F32, args);
  }

  /** Element c of a row of x (f32): x[lead…, at, c]. */
  load(x: Node, lead: readonly Index[], at: Index, c: number): ValueId {
    return this.ctx.kb.cast(this.ctx.value(x, [...lead, at, constIndex(c)]), DType.F32);
  }

  row(x: Node, lead: readonly Index[], at: Index, n: number, scale = 1): ValueId[] {
    return Array.from({ length: n }, (_, c) => {
      const v = this.load(x, lead, at, c);
      return scale === 1 ? v : this.op(Alu.Mul, v, this.f32(scale));
    });
  }

  dotRow(a: readonly ValueId[], b: readonly ValueId[]): ValueId {
    let acc = this.op(Alu.Mul, a[0]!, b[0]!);
    for (let c = 1; c < a.length; c++) acc = this.op(Alu.Add, acc, this.op(Alu.Mul, a[c]!, b[c]!));
    return acc;
  }

  vars(n: number, init = 0): ValueId[] {
    return Array.from({ length: n }, () => this.ctx.kb.variable(this.f32(init)));
  }

  /** acc[c] = acc[c]·keep + w·x[c] (keep omitted: plain accumulation). */
  axpy(acc: readonly ValueId[], w: ValueId, x: readonly ValueId[], keep?: ValueId): void {
    const { kb } = this.ctx;
    acc.forEach((a, c) => {
      const old = keep ? this.op(Alu.Mul, kb.read(a), keep) : kb.read(a);
      kb.assign(a, this.op(Alu.Add, old, this.op(Alu.Mul, w, x[c]!)));
    });
  }

  store(out: Node, lead: readonly Index[], at: Index, c: number, value: ValueId): void {
    const { kb, ix } = this.ctx;
    kb.store(0, ix.emit(ix.linearize([...lead, at, constIndex(c)], out.shape)), kb.cast(value, out.dtype));
  }

  loop(count: number, body: (at: Index) => void): void {
    this.ctx.kb.loop(this.ctx.i32(0), this.ctx.i32(count), this.ctx.i32(1), (j) => body(this.ctx.ix.atom(j, 0, Math.max(0, count - 1), false)));
  }
}

function scaleOf(node: NodeWith<Op.Composite>): number {
  return node.arg.attrs.scale as number;
}

function forward(ctx: TemplateContext, node: NodeWith<Op.Composite>): TemplateLaunch {
  const [q, k, v] = node.srcs as [Node, Node, Node];
  const g = geometry(q, v, k);
  const e = new Emit(ctx);
  const { kb } = ctx;
  return perRow(ctx, g.lead, g.tq, (lead, i) => {
    const qs = e.row(q, lead, i, g.d, scaleOf(node) * LOG2E);
    const max = kb.variable(e.f32(LOWEST));
    const sum = kb.variable(e.f32(0));
    const o = e.vars(g.dv);
    e.loop(g.tk, (j) => {
      const s = e.dotRow(qs, e.row(k, lead, j, g.d));
      const m = kb.read(max);
      const next = e.op(Alu.Max, m, s);
      const keep = e.op(Alu.Exp2, e.op(Alu.Sub, m, next));
      const p = e.op(Alu.Exp2, e.op(Alu.Sub, s, next));
      kb.assign(sum, e.op(Alu.Add, e.op(Alu.Mul, kb.read(sum), keep), p));
      e.axpy(o, p, e.row(v, lead, j, g.dv), keep);
      kb.assign(max, next);
    });
    const total = kb.read(sum);
    const inv = e.op(Alu.Recip, total);
    o.forEach((acc, c) => e.store(node, lead, i, c, e.op(Alu.Mul, kb.read(acc), inv)));
    if (node.arg.kind === CompositeKind.Attention) return;
    const lse = e.op(Alu.Mul, e.op(Alu.Add, kb.read(max), e.op(Alu.Log2, total)), e.f32(LN2));
    e.store(node, lead, i, g.dv, lse);
  });
}

/** The saved log-sum-exp of row `at`, in the exp2 domain. */
function lse2(e: Emit, packed: Node, lead: readonly Index[], at: Index, dv: number): ValueId {
  return e.op(Alu.Mul, e.load(packed, lead, at, dv), e.f32(LOG2E));
}

/** P = exp2(s2 − lse2) and dS = P·(g·v − Δ) for one (query, key) pair. */
function probabilityAndGradient(e: Emit, scores2: ValueId, lse: ValueId, gradDotValue: ValueId, delta: ValueId): { p: ValueId; dS: ValueId } {
  const p = e.op(Alu.Exp2, e.op(Alu.Sub, scores2, lse));
  return { p, dS: e.op(Alu.Mul, p, e.op(Alu.Sub, gradDotValue, delta)) };
}

function backwardQuery(ctx: TemplateContext, node: NodeWith<Op.Composite>): TemplateLaunch {
  const [q, k, v, packed, grad] = node.srcs as [Node, Node, Node, Node, Node];
  const g = geometry(q, v, k);
  const scale = scaleOf(node);
  const e = new Emit(ctx);
  return perRow(ctx, g.lead, g.tq, (lead, i) => {
    const qs = e.row(q, lead, i, g.d, scale * LOG2E);
    const gs = e.row(grad, lead, i, g.dv);
    const l = lse2(e, packed, lead, i, g.dv);
    const dlt = e.dotRow(gs, e.row(packed, lead, i, g.dv));
    const dq = e.vars(g.d);
    e.loop(g.tk, (j) => {
      const ks = e.row(k, lead, j, g.d);
      const { dS } = probabilityAndGradient(e, e.dotRow(qs, ks), l, e.dotRow(gs, e.row(v, lead, j, g.dv)), dlt);
      e.axpy(dq, dS, ks);
    });
    dq.forEach((acc, c) => e.store(node, lead, i, c, e.op(Alu.Mul, ctx.kb.read(acc), e.f32(scale))));
    e.store(node, lead, i, g.d, dlt);
  });
}

function backwardKeyValue(ctx: TemplateContext, node: NodeWith<Op.Composite>): TemplateLaunch {
  const [q, k, v, packed, grad, dqDelta] = node.srcs as [Node, Node, Node, Node, Node, Node];
  const g = geometry(q, v, k);
  const e = new Emit(ctx);
  const { kb } = ctx;
  return perRow(ctx, g.lead, g.tk, (lead, j) => {
    const scale = scaleOf(node);
    const ks = e.row(k, lead, j, g.d, scale * LOG2E);
    const vs = e.row(v, lead, j, g.dv);
    const dk = e.vars(g.d);
    const dv = e.vars(g.dv);
    e.loop(g.tq, (i) => {
      const qs = e.row(q, lead, i, g.d);
      const gs = e.row(grad, lead, i, g.dv);
      const { p, dS } = probabilityAndGradient(e, e.dotRow(qs, ks), lse2(e, packed, lead, i, g.dv), e.dotRow(gs, vs), e.load(dqDelta, lead, i, g.d));
      e.axpy(dv, p, gs);
      e.axpy(dk, dS, qs);
    });
    dk.forEach((acc, c) => e.store(node, lead, j, c, e.op(Alu.Mul, kb.read(acc), e.f32(scale))));
    dv.forEach((acc, c) => e.store(node, lead, j, g.d + c, kb.read(acc)));
  });
}

/** Lowers one fused attention composite; the kernel's root must be the composite itself. With tensor cores (`mma`), all three kinds run on them. */
export function lowerAttention(ctx: TemplateContext, node: NodeWith<Op.Composite>, mma?: MmaOperand): TemplateLaunch {
  if (ctx.root !== node) throw new Error(`lower: the ${node.arg.kind} template writes its own output; an epilogue over it must be a separate kernel`);
  if (mma && attentionMmaEligible(node)) {
    switch (node.arg.kind) {
      case CompositeKind.Attention:
      case CompositeKind.AttentionForward: return lowerAttentionMma(ctx, node, mma);
      case CompositeKind.AttentionBackwardQuery: return lowerAttentionBackwardQueryMma(ctx, node, mma);
      case CompositeKind.AttentionBackwardKeyValue: return lowerAttentionBackwardKeyValueMma(ctx, node, mma);
    }
  }
  switch (node.arg.kind) {
    case CompositeKind.Attention:
    case CompositeKind.AttentionForward: return forward(ctx, node);
    case CompositeKind.AttentionBackwardQuery: return backwardQuery(ctx, node);
    case CompositeKind.AttentionBackwardKeyValue: return backwardKeyValue(ctx, node);
    default: throw new Error(`lower: no kernel template for composite ${node.arg.kind}`);
  }
}
