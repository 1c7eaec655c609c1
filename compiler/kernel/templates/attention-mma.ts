// Kernel IR · fused attention forward on tensor cores (CUDA sm_80+, the mma
// capability), FlashAttention-2 style. In: a scheduled attention / attentionForward
// kernel (compiler/composite/attention.ts). Out: Kernel IR where each warp owns 16
// query rows of one head. Per block of 16 keys it forms S = Q·Kᵀ with m16n8k16
// products (Q's fragments stay in registers; head dims past d load zero), applies
// the online softmax in the exp2 domain (row maxima across the 4 lanes that share
// a row by two XOR shuffles), and feeds P straight back as the A operand of P·V:
// the C fragments of two 8-key products are exactly the A fragment of one 16-key
// product, so P never leaves registers. Row sums stay per lane until the end.
// Keys past Tk score −3e38 (P = 0); rows past Tq are clamped for loads and never
// stored. The score matrix never exists in memory, and there is no workgroup
// memory and no barrier. The backward templates stay scalar (attention.ts).

import { DType } from '../../ir/dtype.ts';
import { CompositeKind, size, type Node, type NodeWith } from '../../ir/node.ts';
import type { Op } from '../../ir/op.ts';
import { addIndex, constIndex, scaleIndex, type Index } from '../index.ts';
import { Alu, MMA_WARP, type MmaOperand, type ValueId } from '../ir.ts';
import type { TemplateContext, TemplateLaunch } from './context.ts';

/** Warps per block (each owns 16 query rows). */
const WARPS = 4;
const LOWEST = -3e38;

/** Whether an attention composite takes the tensor-core path: the forward kinds, with at least one whole 16-row tile and a 16-wide head. */
export function attentionMmaEligible(node: NodeWith<Op.Composite>): boolean {
  if (node.arg.kind !== CompositeKind.Attention && node.arg.kind !== CompositeKind.AttentionForward) return false;
  const [q, k, v] = node.srcs as [Node, Node, Node];
  const r = q.shape.length;
  return q.shape[r - 2]! >= 16 && k.shape[r - 2]! >= 16 && q.shape[r - 1]! >= 16 && v.shape[r - 1]! >= 8;
}

export function lowerAttentionMma(ctx: TemplateContext, node: NodeWith<Op.Composite>, operand: MmaOperand): TemplateLaunch {
  const { kb, ix } = ctx;
  const [q, k, v] = node.srcs as [Node, Node, Node];
  const r = q.shape.length;
  const lead = q.shape.slice(0, -2);
  const tq = q.shape[r - 2]!;
  const tk = k.shape[r - 2]!;
  const d = q.shape[r - 1]!;
  const dv = v.shape[r - 1]!;
  const scale2 = (node.arg.attrs.scale as number) * Math.LOG2E;
  const rowTiles = Math.ceil(tq / 16);
  const warpTiles = size(lead) * rowTiles;
  const warps = Math.max(1, Math.min(WARPS, warpTiles));
  const dChunks = Math.ceil(d / 16);
  const vChunks = Math.ceil(dv / 8);
  const keyBlocks = Math.ceil(tk / 16);
  const f32 = (x: number) => kb.const(x, DType.F32);
  const op = (alu: Alu, ...args: ValueId[]) => kb.alu(alu, DType.F32, args);
  const below = (raw: Index, extent: number) => kb.alu(Alu.CmpLt, DType.Bool, [ix.emit(raw), ctx.i32(extent)]);
  const zeroUnless = (inside: ValueId | undefined, value: ValueId) => (inside === undefined ? value : kb.alu(Alu.Select, DType.F32, [inside, value, f32(0)]));
  const load = (x: Node, leadIdx: readonly Index[], row: Index, col: Index) => kb.cast(ctx.value(x, [...leadIdx, row, col]), DType.F32);
  // max or sum over the 4 lanes of a quad (the lanes that hold one row of a C fragment)
  const quad = (alu: Alu.Max | Alu.Add, x: ValueId) => {
    const y = op(alu, x, kb.subgroupShuffleXor(x, 1));
    return op(alu, y, kb.subgroupShuffleXor(y, 2));
  };

  const warp = kb.alu(Alu.Add, DType.I32, [kb.alu(Alu.Mul, DType.I32, [kb.special('workgroupId'), ctx.i32(warps)]), kb.special('subgroupId')]);
  kb.when(kb.alu(Alu.CmpLt, DType.Bool, [warp, ctx.i32(warpTiles)]), () => {
    const w = ix.atom(warp, 0, warpTiles - 1, false);
    const leadIdx = ix.delinearize(ix.div(w, rowTiles), lead);
    const rowBase = scaleIndex(ix.mod(w, rowTiles), 16);
    const lane = ix.atom(kb.special('subgroupLane'), 0, MMA_WARP - 1, false);
    const group = ix.div(lane, 4);
    const pair = scaleIndex(ix.mod(lane, 4), 2);
    const rowRaw = (half: number) => addIndex(addIndex(rowBase, constIndex(half * 8)), group);
    const rows = [0, 1].map((half) => (tq % 16 === 0 ? rowRaw(half) : ix.clampBelow(rowRaw(half), tq)));
    // Q's A fragments, one per 16-wide chunk of the head dim (zero past d)
    const qFrag = Array.from({ length: dChunks }, (_, c) => Array.from({ length: 8 }, (_, i) => {
      const col = addIndex(pair, constIndex(c * 16 + (i & 1) + (i >= 4 ? 8 : 0)));
      const exact = (c + 1) * 16 <= d;
      return zeroUnless(exact ? undefined : below(col, d), load(q, leadIdx, rows[(i >> 1) & 1]!, exact ? col : ix.clampBelow(col, d)));
    }));
    const max = [0, 1].map(() => kb.variable(f32(LOWEST)));
    const sum = [0, 1].map(() => kb.variable(f32(0)));
    const out = Array.from({ length: vChunks }, () => Array.from({ length: 4 }, () => kb.variable(f32(0))));

    kb.loop(ctx.i32(0), ctx.i32(keyBlocks * 16), ctx.i32(16), (kv) => {
      const key0 = ix.atom(kv, 0, (keyBlocks - 1) * 16, false);
      // S for keys key0‥+7 and key0+8‥+15: per lane c0,c1 (row g) and c2,c3 (row g+8)
      const scores = [0, 1].map((half) => {
        const acc = Array.from({ length: 4 }, () => kb.variable(f32(0)));
        const keyRaw = addIndex(addIndex(key0, constIndex(half * 8)), group);
        const key = tk % 16 === 0 ? keyRaw : ix.clampBelow(keyRaw, tk);
        for (let c = 0; c < dChunks; c++) {
          const b = Array.from({ length: 4 }, (_, i) => {
            const col = addIndex(pair, constIndex(c * 16 + (i & 1) + (i >= 2 ? 8 : 0)));
            const exact = (c + 1) * 16 <= d;
            return zeroUnless(exact ? undefined : below(col, d), load(k, leadIdx, key, exact ? col : ix.clampBelow(col, d)));
          });
          kb.mma(operand, acc, qFrag[c]!, b);
        }
        return acc.map((a, i) => {
          const s = op(Alu.Mul, kb.read(a), f32(scale2));
          if (tk % 16 === 0) return s;
          const keyOfValue = addIndex(addIndex(key0, constIndex(half * 8 + (i & 1))), pair);
          return kb.alu(Alu.Select, DType.F32, [below(keyOfValue, tk), s, f32(LOWEST)]);
        });
      });
      const p: ValueId[][] = [[], []];
      for (const half of [0, 1]) {
        // row half: values i = 2·half, 2·half+1 of both 8-key products
        const own = [scores[0]![2 * half]!, scores[0]![2 * half + 1]!, scores[1]![2 * half]!, scores[1]![2 * half + 1]!];
        const blockMax = quad(Alu.Max, op(Alu.Max, op(Alu.Max, own[0]!, own[1]!), op(Alu.Max, own[2]!, own[3]!)));
        const old = kb.read(max[half]!);
        const next = op(Alu.Max, old, blockMax);
        const keep = op(Alu.Exp2, op(Alu.Sub, old, next));
        p[half] = own.map((s) => op(Alu.Exp2, op(Alu.Sub, s, next)));
        const partial = op(Alu.Add, op(Alu.Add, p[half]![0]!, p[half]![1]!), op(Alu.Add, p[half]![2]!, p[half]![3]!));
        kb.assign(sum[half]!, op(Alu.Add, op(Alu.Mul, kb.read(sum[half]!), keep), partial));
        kb.assign(max[half]!, next);
        for (const acc of out) for (const i of [2 * half, 2 * half + 1]) kb.assign(acc[i]!, op(Alu.Mul, kb.read(acc[i]!), keep));
      }
      // P as the A fragment of a 16-key product: a0,a1 | a2,a3 | a4,a5 | a6,a7 = rows g, g+8 of keys 0‥7, then of keys 8‥15
      const pFrag = [p[0]![0]!, p[0]![1]!, p[1]![0]!, p[1]![1]!, p[0]![2]!, p[0]![3]!, p[1]![2]!, p[1]![3]!];
      for (let j = 0; j < vChunks; j++) {
        const colRaw = addIndex(constIndex(j * 8), group);
        const col = dv % 8 === 0 ? colRaw : ix.clampBelow(colRaw, dv);
        const b = Array.from({ length: 4 }, (_, i) => {
          const keyRaw = addIndex(addIndex(key0, constIndex((i & 1) + (i >= 2 ? 8 : 0))), pair);
          // keys past Tk have P = 0, and the clamped key's V is finite, so the product adds nothing
          return load(v, leadIdx, tk % 16 === 0 ? keyRaw : ix.clampBelow(keyRaw, tk), col);
        });
        kb.mma(operand, out[j]!, pFrag, b);
      }
    });

    const totals = [0, 1].map((half) => quad(Alu.Add, kb.read(sum[half]!)));
    const inverse = totals.map((t) => op(Alu.Recip, t));
    const store = (row: Index, col: Index, value: ValueId) =>
      kb.store(0, ix.emit(ix.linearize([...leadIdx, row, col], node.shape)), kb.cast(value, node.dtype));
    for (let j = 0; j < vChunks; j++) {
      for (let i = 0; i < 4; i++) {
        const half = i >> 1;
        const colRaw = addIndex(pair, constIndex(j * 8 + (i & 1)));
        const conds: ValueId[] = [];
        if (tq % 16 !== 0) conds.push(below(rowRaw(half), tq));
        if (dv % 8 !== 0) conds.push(below(colRaw, dv));
        const write = () => store(rows[half]!, dv % 8 === 0 ? colRaw : ix.clampBelow(colRaw, dv), op(Alu.Mul, kb.read(out[j]![i]!), inverse[half]!));
        if (conds.length === 0) write();
        else kb.when(conds.length === 1 ? conds[0]! : kb.alu(Alu.And, DType.Bool, conds), write);
      }
    }
    if (node.arg.kind === CompositeKind.Attention) return;
    // log-sum-exp (natural log) in column dv, written by the first lane of each quad
    const first = kb.alu(Alu.CmpEq, DType.Bool, [ix.emit(pair), ctx.i32(0)]);
    for (const half of [0, 1]) {
      const cond = tq % 16 === 0 ? first : kb.alu(Alu.And, DType.Bool, [first, below(rowRaw(half), tq)]);
      kb.when(cond, () => store(rows[half]!, constIndex(dv), op(Alu.Mul, op(Alu.Add, kb.read(max[half]!), op(Alu.Log2, totals[half]!)), f32(Math.LN2))));
    }
  });
  return { workgroups: Math.max(1, Math.ceil(warpTiles / warps)), workgroupSize: warps * MMA_WARP };
}
