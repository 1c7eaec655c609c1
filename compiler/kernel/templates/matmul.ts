// Kernel IR · the matmul template. In: a scheduled 'dot' kernel (a batched dot,
// optionally under an elementwise epilogue that reads it element for element).
// Out: Kernel IR where each thread owns a tm×tn register tile of one batch's
// output, streams the contraction with no workgroup memory and no barriers
// (barriers are the dominant cost on software adapters; on hardware the same
// register blocking keeps the FMA units busy), and writes each element through
// the epilogue. Rows and columns past the edge are clamped for loads and masked
// for stores, so any shape works.

import { DType, isFloat } from '../../ir/dtype.ts';
import { size, type Node, type NodeWith } from '../../ir/node.ts';
import { Op } from '../../ir/op.ts';
import { addIndex, constIndex, scaleIndex, type Index } from '../index.ts';
import { Alu, type ValueId } from '../ir.ts';
import type { TemplateContext, TemplateLaunch } from './context.ts';

export interface MatmulTile {
  /** Output rows per thread. */
  readonly tm: number;
  /** Output columns per thread. */
  readonly tn: number;
  /** Threads per workgroup. */
  readonly threads: number;
  /**
   * Column interleave: with lanes L, L neighbouring threads share a block of tn·L columns
   * and thread l takes columns l, l+L, …, so neighbouring threads (SIMD lanes on a
   * software adapter) load neighbouring addresses. 1 (default): tn adjacent columns.
   */
  readonly lanes?: number;
}

/** The dot as a batch of [M, K]·[K, N] products over flattened free and contracted axes. */
export interface DotGeometry {
  readonly batchShape: readonly number[];
  readonly freeA: readonly number[];
  readonly freeB: readonly number[];
  readonly contract: readonly number[];
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
}

export function dotGeometry(dot: NodeWith<Op.Dot>): DotGeometry {
  const [a, b] = dot.srcs as [Node, Node];
  const { batch, contract } = dot.arg;
  const free = (x: Node, side: 0 | 1) => x.shape.map((_, i) => i).filter((i) => !batch[side].includes(i) && !contract[side].includes(i));
  const batchShape = batch[0].map((ax) => a.shape[ax]!);
  const freeA = free(a, 0).map((ax) => a.shape[ax]!);
  const freeB = free(b, 1).map((ax) => b.shape[ax]!);
  const contractShape = contract[0].map((ax) => a.shape[ax]!);
  return { batchShape, freeA, freeB, contract: contractShape, batch: size(batchShape), m: size(freeA), n: size(freeB), k: size(contractShape) };
}

/** Index vector of one operand from its batch, free and contracted parts. */
export function operandIndex(x: Node, side: 0 | 1, dot: NodeWith<Op.Dot>, batchIdx: readonly Index[], freeIdx: readonly Index[], contractIdx: readonly Index[]): Index[] {
  const { batch, contract } = dot.arg;
  let f = 0;
  return x.shape.map((_, axis) => {
    const bi = batch[side].indexOf(axis);
    if (bi >= 0) return batchIdx[bi]!;
    const ci = contract[side].indexOf(axis);
    if (ci >= 0) return contractIdx[ci]!;
    return freeIdx[f++]!;
  });
}

export function lowerMatmul(ctx: TemplateContext, dot: NodeWith<Op.Dot>, tile: MatmulTile): TemplateLaunch {
  const { kb, ix } = ctx;
  const [a, b] = dot.srcs as [Node, Node];
  const g = dotGeometry(dot);
  const tm = Math.min(tile.tm, g.m);
  const tn = Math.min(tile.tn, g.n);
  const tilesM = Math.ceil(g.m / tm);
  const lanes = Math.max(1, Math.min(tile.lanes ?? 1, Math.ceil(g.n / tn)));
  const blockN = tn * lanes;
  const tilesN = Math.ceil(g.n / blockN) * lanes;
  const threads = g.batch * tilesM * tilesN;
  const acc = isFloat(dot.dtype) ? dot.arg.accumulate : dot.dtype;

  const gid = kb.special('globalId');
  kb.when(kb.alu(Alu.CmpLt, DType.Bool, [gid, ctx.i32(threads)]), () => {
    const t = ix.atom(gid, 0, Math.max(0, threads - 1), false);
    const tileN = ix.mod(t, tilesN);
    const tileM = ix.mod(ix.div(t, tilesN), tilesM);
    const batchLinear = ix.div(t, tilesN * tilesM);
    const batchIdx = ix.delinearize(batchLinear, g.batchShape);
    // Edge tiles clamp their row/column to the last valid one: loads stay in bounds without branches.
    const clamped = (tileIdx: Index, step: number, offset: number, extent: number): Index => {
      const raw = addIndex(scaleIndex(tileIdx, step), constIndex(offset));
      return extent % step === 0 ? raw : ix.clampBelow(raw, extent);
    };
    const rows = Array.from({ length: tm }, (_, i) => clamped(tileM, tm, i, g.m));
    const lane = ix.mod(tileN, lanes);
    const block = ix.div(tileN, lanes);
    const colRawOf = (j: number) => addIndex(addIndex(scaleIndex(block, blockN), constIndex(j * lanes)), lane);
    const cols = Array.from({ length: tn }, (_, j) => {
      const raw = colRawOf(j);
      if (g.n % blockN === 0) return raw;
      return ix.clampBelow(raw, g.n);
    });
    const rowIdx = rows.map((r) => ix.delinearize(r, g.freeA));
    const colIdx = cols.map((c) => ix.delinearize(c, g.freeB));

    const sums: ValueId[] = [];
    for (let i = 0; i < tm * tn; i++) sums.push(kb.variable(kb.const(0, acc)));
    // One loop per contracted axis keeps operand indices affine in the loop counters.
    const nest = (axis: number, contractIdx: Index[]): void => {
      if (axis === g.contract.length) {
        const av = rowIdx.map((r) => kb.cast(ctx.value(a, operandIndex(a, 0, dot, batchIdx, r, contractIdx)), acc));
        const bv = colIdx.map((c) => kb.cast(ctx.value(b, operandIndex(b, 1, dot, batchIdx, c, contractIdx)), acc));
        for (let i = 0; i < tm; i++) {
          for (let j = 0; j < tn; j++) {
            const s = sums[i * tn + j]!;
            kb.assign(s, kb.alu(Alu.Add, acc, [kb.read(s), kb.alu(Alu.Mul, acc, [av[i]!, bv[j]!])]));
          }
        }
        return;
      }
      const extent = g.contract[axis]!;
      kb.loop(ctx.i32(0), ctx.i32(extent), ctx.i32(1), (k) => nest(axis + 1, [...contractIdx, ix.atom(k, 0, Math.max(0, extent - 1), false)]));
    };
    nest(0, []);

    const rowLimit = ctx.i32(g.m);
    const colLimit = ctx.i32(g.n);
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        const rowRaw = addIndex(scaleIndex(tileM, tm), constIndex(i));
        const colRaw = colRawOf(j);
        // The epilogue runs unguarded at the clamped (in-bounds) element, so what it shares across
        // elements (a bias, a scalar from another buffer) is computed once; only the store is masked.
        const linear = ix.linearize([batchLinear, rows[i]!, cols[j]!], [g.batch, g.m, g.n]);
        const result = kb.cast(kb.read(sums[i * tn + j]!), dot.dtype);
        const value = ctx.substitute(dot, result, () => ctx.value(ctx.root, ix.delinearize(linear, ctx.root.shape)));
        const write = () => kb.store(0, ix.emit(linear), value);
        const conds: ValueId[] = [];
        if (g.m % tm !== 0) conds.push(kb.alu(Alu.CmpLt, DType.Bool, [ix.emit(rowRaw), rowLimit]));
        if (g.n % blockN !== 0) conds.push(kb.alu(Alu.CmpLt, DType.Bool, [ix.emit(colRaw), colLimit]));
        if (conds.length === 0) write();
        else kb.when(conds.length === 1 ? conds[0]! : kb.alu(Alu.And, DType.Bool, conds), write);
      }
    }
  });
  return { workgroups: Math.max(1, Math.ceil(threads / tile.threads)), workgroupSize: tile.threads };
}
