// Kernel IR · the tensor-core matmul template (CUDA sm_80+, the mma capability).
// In: a scheduled 'dot' kernel (a batched dot, optionally under an elementwise
// epilogue) whose operands are float and whose accumulation is f32. Out: Kernel
// IR where each warp owns a (16·fragsM)×(8·fragsN) tile of one batch's output
// and walks the contraction 16 at a time: every lane loads its fragment
// elements of A and B (PTX's m16n8k16 layouts, ir.ts MMA_FRAGMENTS) straight
// from global memory, and the warp issues fragsM·fragsN `mma` products into f32
// accumulators; each accumulator element then goes through the epilogue and a
// masked store. Rows and columns past the edge are clamped for loads (their
// results are never stored); contraction indices past K load zero, since they
// would otherwise add into real outputs. Blocks are whole warps and every warp
// is either wholly inside the output or skips the work together, so the mma
// always runs in warp-uniform control flow.

import { DType, isFloat } from '../../ir/dtype.ts';
import type { NodeWith, Node } from '../../ir/node.ts';
import type { Op } from '../../ir/op.ts';
import { addIndex, constIndex, scaleIndex, type Index } from '../index.ts';
import { Alu, MMA_WARP, type MmaOperand, type ValueId } from '../ir.ts';
import type { TemplateContext, TemplateLaunch } from './context.ts';
import { dotGeometry, operandIndex } from './matmul.ts';

export interface MmaTile {
  /** 16-row fragments per warp. */
  readonly fragsM: number;
  /** 8-column fragments per warp. */
  readonly fragsN: number;
  /** Warps per block. */
  readonly warps: number;
}

/** 32×32 outputs per warp (32 f32 accumulators per lane), 4 warps per block. */
export const DEFAULT_MMA_TILE: MmaTile = { fragsM: 2, fragsN: 4, warps: 4 };

/** Whether a dot takes the tensor-core path: float operands, f32 accumulation, and at least one whole m16n8k16 product. */
export function mmaEligible(dot: NodeWith<Op.Dot>): boolean {
  const [a, b] = dot.srcs as [Node, Node];
  if (!isFloat(dot.dtype) || !isFloat(a.dtype) || !isFloat(b.dtype) || dot.arg.accumulate !== DType.F32) return false;
  const g = dotGeometry(dot);
  return g.m >= 16 && g.n >= 8 && g.k >= 16;
}

export function lowerMatmulMma(ctx: TemplateContext, dot: NodeWith<Op.Dot>, operand: MmaOperand, tile: MmaTile = DEFAULT_MMA_TILE): TemplateLaunch {
  const { kb, ix } = ctx;
  const [a, b] = dot.srcs as [Node, Node];
  const g = dotGeometry(dot);
  const fm = Math.max(1, Math.min(tile.fragsM, Math.ceil(g.m / 16)));
  const fn = Math.max(1, Math.min(tile.fragsN, Math.ceil(g.n / 8)));
  const rowsPerWarp = 16 * fm;
  const colsPerWarp = 8 * fn;
  const tilesM = Math.ceil(g.m / rowsPerWarp);
  const tilesN = Math.ceil(g.n / colsPerWarp);
  const warpTiles = g.batch * tilesM * tilesN;
  const warps = Math.max(1, Math.min(tile.warps, warpTiles));
  const kSteps = Math.ceil(g.k / 16);

  const warp = kb.alu(Alu.Add, DType.I32, [kb.alu(Alu.Mul, DType.I32, [kb.special('workgroupId'), ctx.i32(warps)]), kb.special('subgroupId')]);
  kb.when(kb.alu(Alu.CmpLt, DType.Bool, [warp, ctx.i32(warpTiles)]), () => {
    const w = ix.atom(warp, 0, warpTiles - 1, false);
    const tileN = ix.mod(w, tilesN);
    const tileM = ix.mod(ix.div(w, tilesN), tilesM);
    const batchLinear = ix.div(w, tilesN * tilesM);
    const batchIdx = ix.delinearize(batchLinear, g.batchShape);
    const lane = ix.atom(kb.special('subgroupLane'), 0, MMA_WARP - 1, false);
    const group = ix.div(lane, 4);
    const inGroup = ix.mod(lane, 4);
    const clampTo = (raw: Index, extent: number, exact: boolean): Index => (exact ? raw : ix.clampBelow(raw, extent));
    // Output row of fragment f's upper (half 0) or lower (half 1) 8 rows; output column of fragment j's element pair.
    const rowRaw = (f: number, half: number) => addIndex(addIndex(scaleIndex(tileM, rowsPerWarp), constIndex(f * 16 + half * 8)), group);
    const colRaw = (j: number, odd: number) => addIndex(addIndex(scaleIndex(tileN, colsPerWarp), constIndex(j * 8 + odd)), scaleIndex(inGroup, 2));
    const bColRaw = (j: number) => addIndex(addIndex(scaleIndex(tileN, colsPerWarp), constIndex(j * 8)), group);
    const rowsExact = g.m % rowsPerWarp === 0;
    const colsExact = g.n % colsPerWarp === 0;

    const acc: ValueId[][] = [];
    for (let f = 0; f < fm * fn; f++) acc.push(Array.from({ length: 4 }, () => kb.variable(kb.const(0, DType.F32))));

    kb.loop(ctx.i32(0), ctx.i32(kSteps * 16), ctx.i32(16), (k0v) => {
      const k0 = ix.atom(k0v, 0, (kSteps - 1) * 16, false);
      // Contraction element at offset (2·inGroup + odd + high·8) of this step: zero past K.
      const kOperand = (odd: number, high: number) => {
        const raw = addIndex(addIndex(k0, constIndex(odd + high * 8)), scaleIndex(inGroup, 2));
        const inside = g.k % 16 === 0 ? undefined : kb.alu(Alu.CmpLt, DType.Bool, [ix.emit(raw), ctx.i32(g.k)]);
        return { idx: ix.delinearize(clampTo(raw, g.k, g.k % 16 === 0), g.contract), inside };
      };
      const masked = (value: ValueId, inside: ValueId | undefined) => (inside === undefined ? value : kb.alu(Alu.Select, DType.F32, [inside, value, kb.const(0, DType.F32)]));
      const aFrag = Array.from({ length: fm }, (_, f) => Array.from({ length: 8 }, (_, i) => {
        const row = ix.delinearize(clampTo(rowRaw(f, (i >> 1) & 1), g.m, rowsExact), g.freeA);
        const k = kOperand(i & 1, i >= 4 ? 1 : 0);
        return masked(kb.cast(ctx.value(a, operandIndex(a, 0, dot, batchIdx, row, k.idx)), DType.F32), k.inside);
      }));
      const bFrag = Array.from({ length: fn }, (_, j) => {
        const col = ix.delinearize(clampTo(bColRaw(j), g.n, colsExact), g.freeB);
        return Array.from({ length: 4 }, (_, i) => {
          const k = kOperand(i & 1, i >= 2 ? 1 : 0);
          return masked(kb.cast(ctx.value(b, operandIndex(b, 1, dot, batchIdx, col, k.idx)), DType.F32), k.inside);
        });
      });
      for (let f = 0; f < fm; f++) for (let j = 0; j < fn; j++) kb.mma(operand, acc[f * fn + j]!, aFrag[f]!, bFrag[j]!);
    });

    for (let f = 0; f < fm; f++) {
      for (let j = 0; j < fn; j++) {
        for (let i = 0; i < 4; i++) {
          const rRaw = rowRaw(f, i >> 1);
          const cRaw = colRaw(j, i & 1);
          const linear = ix.linearize([batchLinear, clampTo(rRaw, g.m, rowsExact), clampTo(cRaw, g.n, colsExact)], [g.batch, g.m, g.n]);
          const result = kb.cast(kb.read(acc[f * fn + j]![i]!), dot.dtype);
          // As in the scalar template: the epilogue runs at the clamped element, only the store is masked.
          const value = ctx.substitute(dot, result, () => ctx.value(ctx.root, ix.delinearize(linear, ctx.root.shape)));
          const conds: ValueId[] = [];
          if (!rowsExact) conds.push(kb.alu(Alu.CmpLt, DType.Bool, [ix.emit(rRaw), ctx.i32(g.m)]));
          if (!colsExact) conds.push(kb.alu(Alu.CmpLt, DType.Bool, [ix.emit(cRaw), ctx.i32(g.n)]));
          const write = () => kb.store(0, ix.emit(linear), value);
          if (conds.length === 0) write();
          else kb.when(conds.length === 1 ? conds[0]! : kb.alu(Alu.And, DType.Bool, conds), write);
        }
      }
    }
  });
  return { workgroups: Math.max(1, Math.ceil(warpTiles / warps)), workgroupSize: warps * MMA_WARP };
}
