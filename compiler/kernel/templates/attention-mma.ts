// Kernel IR · fused attention forward on tensor cores (CUDA sm_80+, the mma
// capability), FlashAttention-2 style. In: a scheduled attention / attentionForward
// kernel (compiler/composite/attention.ts). Out: Kernel IR where each warp owns 16
// query rows of one head (attention-warp.ts). Per block of 16 keys it forms
// S = Q·Kᵀ with m16n8k16 products (Q's fragments stay in registers; head dims past
// d load zero), applies the online softmax in the exp2 domain (row maxima across
// the 4 lanes that share a row by two XOR shuffles), and feeds P straight back as
// the A operand of P·V. Row sums stay per lane until the end. Keys past Tk score
// −3e38 (P = 0); rows past Tq are clamped for loads and never stored. The score
// matrix never exists in memory, and there is no workgroup memory and no barrier.

import { DType } from '../../ir/dtype.ts';
import { CompositeKind, type Node, type NodeWith } from '../../ir/node.ts';
import type { Op } from '../../ir/op.ts';
import { addIndex, constIndex } from '../index.ts';
import { Alu, type MmaOperand, type ValueId } from '../ir.ts';
import { AttentionWarp, asAFragment } from './attention-warp.ts';
import type { TemplateContext, TemplateLaunch } from './context.ts';

const LOWEST = -3e38;

/** Whether an attention composite takes the tensor-core path: at least one whole 16-row tile of queries and of keys, and a 16-wide head. */
export function attentionMmaEligible(node: NodeWith<Op.Composite>): boolean {
  const [q, k, v] = node.srcs as [Node, Node, Node];
  const r = q.shape.length;
  return q.shape[r - 2]! >= 16 && k.shape[r - 2]! >= 16 && q.shape[r - 1]! >= 16 && v.shape[r - 1]! >= 8;
}

export function lowerAttentionMma(ctx: TemplateContext, node: NodeWith<Op.Composite>, operand: MmaOperand): TemplateLaunch {
  const [q, k, v] = node.srcs as [Node, Node, Node];
  const r = q.shape.length;
  const tq = q.shape[r - 2]!;
  const tk = k.shape[r - 2]!;
  const d = q.shape[r - 1]!;
  const dv = v.shape[r - 1]!;
  const scale2 = (node.arg.attrs.scale as number) * Math.LOG2E;
  const keyBlocks = Math.ceil(tk / 16);
  const w = new AttentionWarp(ctx, operand);
  const { kb, ix } = ctx;

  return w.tiles(q.shape.slice(0, -2), tq, (tile) => {
    const qFrag = w.rowFragments(q, tile, d);
    const max = [0, 1].map(() => kb.variable(w.f32(LOWEST)));
    const sum = [0, 1].map(() => kb.variable(w.f32(0)));
    const out = w.accumulators(dv);

    kb.loop(ctx.i32(0), ctx.i32(keyBlocks * 16), ctx.i32(16), (kv) => {
      const key0 = ix.atom(kv, 0, (keyBlocks - 1) * 16, false);
      // S for keys key0‥+7 and key0+8‥+15: per lane c0,c1 (row g) and c2,c3 (row g+8)
      const scores = [0, 1].map((half) => w.timesRowsOf(qFrag, k, tile, addIndex(key0, constIndex(half * 8)), tk, d).map((c, i) => {
        const s = w.op(Alu.Mul, c, w.f32(scale2));
        if (tk % 16 === 0) return s;
        return kb.alu(Alu.Select, DType.F32, [w.below(addIndex(addIndex(key0, constIndex(half * 8 + (i & 1))), tile.pair), tk), s, w.f32(LOWEST)]);
      }));
      const p: ValueId[][] = [[], []];
      for (const half of [0, 1]) {
        // row half: values i = 2·half, 2·half+1 of both 8-key products
        const own = [scores[0]![2 * half]!, scores[0]![2 * half + 1]!, scores[1]![2 * half]!, scores[1]![2 * half + 1]!];
        const blockMax = w.quad(Alu.Max, w.op(Alu.Max, w.op(Alu.Max, own[0]!, own[1]!), w.op(Alu.Max, own[2]!, own[3]!)));
        const old = kb.read(max[half]!);
        const next = w.op(Alu.Max, old, blockMax);
        const keep = w.op(Alu.Exp2, w.op(Alu.Sub, old, next));
        p[half] = own.map((s) => w.op(Alu.Exp2, w.op(Alu.Sub, s, next)));
        const partial = w.op(Alu.Add, w.op(Alu.Add, p[half]![0]!, p[half]![1]!), w.op(Alu.Add, p[half]![2]!, p[half]![3]!));
        kb.assign(sum[half]!, w.op(Alu.Add, w.op(Alu.Mul, kb.read(sum[half]!), keep), partial));
        kb.assign(max[half]!, next);
        for (const acc of out) for (const i of [2 * half, 2 * half + 1]) kb.assign(acc[i]!, w.op(Alu.Mul, kb.read(acc[i]!), keep));
      }
      // back to C fragments of the two 8-key products (p[half] holds row half of both), then as one A fragment;
      // keys past Tk have P = 0 and the clamped key's V is finite, so they add nothing
      const pFrag = asAFragment([0, 1].map((product) => [p[0]![2 * product]!, p[0]![2 * product + 1]!, p[1]![2 * product]!, p[1]![2 * product + 1]!]));
      w.accumulateTimes(out, pFrag, v, tile, key0, tk, dv);
    });

    const totals = [0, 1].map((half) => w.quad(Alu.Add, kb.read(sum[half]!)));
    const inverse = totals.map((t) => w.op(Alu.Recip, t));
    w.storeFragments(node, tile, out, tq, dv, 0, (value, half) => w.op(Alu.Mul, value, inverse[half]!));
    if (node.arg.kind === CompositeKind.Attention) return;
    // log-sum-exp (natural log) in column dv
    w.storeRowValues(node, tile, totals.map((t, half) => w.op(Alu.Mul, w.op(Alu.Add, kb.read(max[half]!), w.op(Alu.Log2, t)), w.f32(Math.LN2))), tq, dv);
  });
}
