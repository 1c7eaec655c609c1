// Kernel IR · fused attention backward on tensor cores (CUDA sm_80+, the mma
// capability), FlashAttention-2 style. In: a scheduled attentionBackwardQuery or
// attentionBackwardKeyValue kernel (compiler/composite/attention.ts defines what
// each computes: [dq | Δ] and [dk | dv]). Out: Kernel IR where each warp owns 16
// rows (attention-warp.ts) and recomputes its block of P from the saved
// log-sum-exp, so the score matrix never exists in memory:
//   dq‖Δ (16 queries a warp): Δ = rowsum(g ∘ o); per block of 16 keys
//     S = Q·Kᵀ, dP = G·Vᵀ, P = exp2(s·S − lse), dS = P ∘ (dP − Δ), dq += dS·K;
//   dk‖dv (16 keys a warp): per block of 16 queries
//     Sᵀ = K·Qᵀ, dPᵀ = V·Gᵀ, Pᵀ, dSᵀ = Pᵀ ∘ (dPᵀ − Δ), dv += Pᵀ·G, dk += dSᵀ·Q,
// with P and dS fed back as A fragments from registers. Operands of every product
// are rounded to the mma dtype (bf16: P and dS too, as FlashAttention-2 does);
// sums are f32. Keys or queries past their extent get P = 0, so they add nothing.

import { DType } from '../../ir/dtype.ts';
import type { Node, NodeWith } from '../../ir/node.ts';
import type { Op } from '../../ir/op.ts';
import { addIndex, constIndex, type Index } from '../index.ts';
import { Alu, type MmaOperand, type ValueId } from '../ir.ts';
import { AttentionWarp, asAFragment, type WarpTile } from './attention-warp.ts';
import type { TemplateContext, TemplateLaunch } from './context.ts';

interface Shape {
  readonly lead: readonly number[];
  readonly tq: number;
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
  /** The softmax scale in the exp2 domain. */
  readonly scale2: number;
  readonly scale: number;
}

function shapeOf(node: NodeWith<Op.Composite>): Shape {
  const [q, k, v] = node.srcs as [Node, Node, Node];
  const r = q.shape.length;
  const scale = node.arg.attrs.scale as number;
  return { lead: q.shape.slice(0, -2), tq: q.shape[r - 2]!, tk: k.shape[r - 2]!, d: q.shape[r - 1]!, dv: v.shape[r - 1]!, scale, scale2: scale * Math.LOG2E };
}

/**
 * P and dS of one 8-column C fragment: P = exp2(scale2·S − lse2), 0 where the column is past `extent`, and
 * dS = P·(dP − Δ). `lse2` and `delta` give each value's row statistic (by C index).
 */
function probabilities(w: AttentionWarp, s: readonly ValueId[], dp: readonly ValueId[], lse2: (i: number) => ValueId, delta: (i: number) => ValueId, column: (i: number) => Index, extent: number, scale2: number): { p: ValueId[]; ds: ValueId[] } {
  const p = s.map((c, i) => {
    const x = w.op(Alu.Exp2, w.op(Alu.Sub, w.op(Alu.Mul, c, w.f32(scale2)), lse2(i)));
    return extent % 16 === 0 ? x : w.kb.alu(Alu.Select, DType.F32, [w.below(column(i), extent), x, w.f32(0)]);
  });
  return { p, ds: p.map((x, i) => w.op(Alu.Mul, x, w.op(Alu.Sub, dp[i]!, delta(i)))) };
}

/** [dq·scale | Δ] for 16 queries a warp. */
export function lowerAttentionBackwardQueryMma(ctx: TemplateContext, node: NodeWith<Op.Composite>, operand: MmaOperand): TemplateLaunch {
  const [q, k, v, packed, grad] = node.srcs as [Node, Node, Node, Node, Node];
  const { tq, tk, d, dv, scale, scale2 } = shapeOf(node);
  const w = new AttentionWarp(ctx, operand);
  const { kb, ix } = ctx;
  const keyBlocks = Math.ceil(tk / 16);
  return w.tiles(shapeOf(node).lead, tq, (tile) => {
    const qFrag = w.rowFragments(q, tile, d);
    const gFrag = w.rowFragments(grad, tile, dv);
    const lse2 = tile.rows.map((row) => w.op(Alu.Mul, w.load(packed, tile, row, constIndex(dv)), w.f32(Math.LOG2E)));
    const delta = tile.rows.map((row) => rowDot(w, tile, grad, packed, row, dv));
    const dq = w.accumulators(d);
    kb.loop(ctx.i32(0), ctx.i32(keyBlocks * 16), ctx.i32(16), (kv) => {
      const key0 = ix.atom(kv, 0, (keyBlocks - 1) * 16, false);
      const blocks = [0, 1].map((half) => {
        const first = addIndex(key0, constIndex(half * 8));
        const s = w.timesRowsOf(qFrag, k, tile, first, tk, d);
        const dp = w.timesRowsOf(gFrag, v, tile, first, tk, dv);
        // C value i is row half i >> 1, key first + pair + (i & 1)
        return probabilities(w, s, dp, (i) => lse2[i >> 1]!, (i) => delta[i >> 1]!, (i) => addIndex(addIndex(first, constIndex(i & 1)), tile.pair), tk, scale2).ds;
      });
      w.accumulateTimes(dq, asAFragment(blocks), k, tile, key0, tk, d);
    });
    w.storeFragments(node, tile, dq, tq, d, 0, (value) => w.op(Alu.Mul, value, w.f32(scale)));
    w.storeRowValues(node, tile, delta, tq, d);
  });
}

/** [dk·scale | dv] for 16 keys a warp. */
export function lowerAttentionBackwardKeyValueMma(ctx: TemplateContext, node: NodeWith<Op.Composite>, operand: MmaOperand): TemplateLaunch {
  const [q, k, v, packed, grad, dqDelta] = node.srcs as [Node, Node, Node, Node, Node, Node];
  const { tq, tk, d, dv, scale, scale2 } = shapeOf(node);
  const w = new AttentionWarp(ctx, operand);
  const { kb, ix } = ctx;
  const queryBlocks = Math.ceil(tq / 16);
  return w.tiles(shapeOf(node).lead, tk, (tile) => {
    const kFrag = w.rowFragments(k, tile, d);
    const vFrag = w.rowFragments(v, tile, dv);
    const dk = w.accumulators(d);
    const dvAcc = w.accumulators(dv);
    kb.loop(ctx.i32(0), ctx.i32(queryBlocks * 16), ctx.i32(16), (qv) => {
      const query0 = ix.atom(qv, 0, (queryBlocks - 1) * 16, false);
      const blocks = [0, 1].map((half) => {
        const first = addIndex(query0, constIndex(half * 8));
        const s = w.timesRowsOf(kFrag, q, tile, first, tq, d);
        const dp = w.timesRowsOf(vFrag, grad, tile, first, tq, dv);
        // C value i is key row half i >> 1, query first + pair + (i & 1): its statistics are per column
        const query = (i: number) => addIndex(addIndex(first, constIndex(i & 1)), tile.pair);
        const clamped = [0, 1].map((odd) => w.clamp(query(odd), tq, tq % 16 === 0));
        const lse2 = clamped.map((row) => w.op(Alu.Mul, w.load(packed, tile, row, constIndex(dv)), w.f32(Math.LOG2E)));
        const delta = clamped.map((row) => w.load(dqDelta, tile, row, constIndex(d)));
        return probabilities(w, s, dp, (i) => lse2[i & 1]!, (i) => delta[i & 1]!, query, tq, scale2);
      });
      w.accumulateTimes(dvAcc, asAFragment(blocks.map((b) => b.p)), grad, tile, query0, tq, dv);
      w.accumulateTimes(dk, asAFragment(blocks.map((b) => b.ds)), q, tile, query0, tq, d);
    });
    w.storeFragments(node, tile, dk, tk, d, 0, (value) => w.op(Alu.Mul, value, w.f32(scale)));
    w.storeFragments(node, tile, dvAcc, tk, dv, d);
  });
}

/** Σ_c x[row, c]·y[row, c] over c < n, each lane of a quad taking every 4th column, summed across the quad. */
function rowDot(w: AttentionWarp, tile: WarpTile, x: Node, y: Node, row: Index, n: number): ValueId {
  let partial = w.f32(0);
  for (let c = 0; c < n; c += 8) {
    for (const odd of [0, 1]) {
      const colRaw = addIndex(tile.pair, constIndex(c + odd));
      const exact = c + 8 <= n;
      const term = w.op(Alu.Mul, w.load(x, tile, row, w.clamp(colRaw, n, exact)), w.load(y, tile, row, w.clamp(colRaw, n, exact)));
      partial = w.op(Alu.Add, partial, w.zeroUnless(exact ? undefined : w.below(colRaw, n), term));
    }
  }
  return w.quad(Alu.Add, partial);
}
