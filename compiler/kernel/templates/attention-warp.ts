// Kernel IR · what the tensor-core attention templates (attention-mma.ts,
// attention-mma-backward.ts) share: each warp owns 16 rows of one head (queries
// for the forward and dq, keys for dk‖dv) and builds every product from
// m16n8k16 `mma`s in PTX's fragment layouts (ir.ts MMA_FRAGMENTS). Lane l is in
// group g = l / 4 and holds the column pair 2·(l mod 4): its C values are rows
// g and g + 8, columns pair and pair + 1. Two 8-column C results side by side
// are exactly the A fragment of one 16-deep product, so a softmax'd score block
// feeds the next product without leaving registers. Rows past the extent are
// clamped for loads (never stored); head columns past theirs load as zero.

import { DType } from '../../ir/dtype.ts';
import { size, type Node } from '../../ir/node.ts';
import { addIndex, constIndex, scaleIndex, type Index } from '../index.ts';
import { Alu, MMA_WARP, type MmaOperand, type ValueId } from '../ir.ts';
import type { TemplateContext, TemplateLaunch } from './context.ts';

/** Warps per block. */
const WARPS = 4;

/** One warp's 16-row tile and its lane's place in it. */
export interface WarpTile {
  readonly leadIdx: readonly Index[];
  /** First row of the tile. */
  readonly rowBase: Index;
  /** g = lane / 4: the lane's rows are g and g + 8. */
  readonly group: Index;
  /** 2·(lane mod 4): the lane's first column in a C fragment. */
  readonly pair: Index;
  /** The lane's row in `half` (0: g, 1: g + 8), unclamped, and clamped for loads. */
  rowRaw(half: number): Index;
  readonly rows: readonly Index[];
}

export class AttentionWarp {
  readonly kb;
  readonly ix;

  constructor(readonly ctx: TemplateContext, readonly operand: MmaOperand) {
    this.kb = ctx.kb;
    this.ix = ctx.ix;
  }

  f32(x: number): ValueId {
    return this.kb.const(x, DType.F32);
  }

  op(alu: Alu, ...args: ValueId[]): ValueId {
    return this.kb.alu(alu, DType.F32, args);
  }

  below(raw: Index, extent: number): ValueId {
    return this.kb.alu(Alu.CmpLt, DType.Bool, [this.ix.emit(raw), this.ctx.i32(extent)]);
  }

  /** raw itself when every value is inside (`exact`), else clamped to extent − 1. */
  clamp(raw: Index, extent: number, exact: boolean): Index {
    return exact ? raw : this.ix.clampBelow(raw, extent);
  }

  zeroUnless(inside: ValueId | undefined, value: ValueId): ValueId {
    return inside === undefined ? value : this.kb.alu(Alu.Select, DType.F32, [inside, value, this.f32(0)]);
  }

  /** x[lead…, row, col] as f32. */
  load(x: Node, tile: WarpTile, row: Index, col: Index): ValueId {
    return this.kb.cast(this.ctx.value(x, [...tile.leadIdx, row, col]), DType.F32);
  }

  /** Max or sum over the 4 lanes of a quad (the lanes that hold one row of a C fragment). */
  quad(alu: Alu.Max | Alu.Add, x: ValueId): ValueId {
    const y = this.op(alu, x, this.kb.subgroupShuffleXor(x, 1));
    return this.op(alu, y, this.kb.subgroupShuffleXor(y, 2));
  }

  /** Runs `body` once per warp tile of 16 rows (of `rows` per head, heads `lead`); returns the launch. */
  tiles(lead: readonly number[], rows: number, body: (tile: WarpTile) => void): TemplateLaunch {
    const { kb, ix, ctx } = this;
    const rowTiles = Math.ceil(rows / 16);
    const warpTiles = size(lead) * rowTiles;
    const warps = Math.max(1, Math.min(WARPS, warpTiles));
    const warp = kb.alu(Alu.Add, DType.I32, [kb.alu(Alu.Mul, DType.I32, [kb.special('workgroupId'), ctx.i32(warps)]), kb.special('subgroupId')]);
    kb.when(kb.alu(Alu.CmpLt, DType.Bool, [warp, ctx.i32(warpTiles)]), () => {
      const w = ix.atom(warp, 0, warpTiles - 1, false);
      const lane = ix.atom(kb.special('subgroupLane'), 0, MMA_WARP - 1, false);
      const rowBase = scaleIndex(ix.mod(w, rowTiles), 16);
      const group = ix.div(lane, 4);
      const rowRaw = (half: number) => addIndex(addIndex(rowBase, constIndex(half * 8)), group);
      body({ leadIdx: ix.delinearize(ix.div(w, rowTiles), lead), rowBase, group, pair: scaleIndex(ix.mod(lane, 4), 2), rowRaw, rows: [0, 1].map((half) => this.clamp(rowRaw(half), rows, rows % 16 === 0)) });
    });
    return { workgroups: Math.max(1, Math.ceil(warpTiles / warps)), workgroupSize: warps * MMA_WARP };
  }

  /** A fragments of x at the tile's 16 rows, one per 16-wide chunk of x's last axis (`extent` long; zero past it). */
  rowFragments(x: Node, tile: WarpTile, extent: number): ValueId[][] {
    return Array.from({ length: Math.ceil(extent / 16) }, (_, c) => Array.from({ length: 8 }, (_, i) => {
      const col = addIndex(tile.pair, constIndex(c * 16 + (i & 1) + (i >= 4 ? 8 : 0)));
      const exact = (c + 1) * 16 <= extent;
      return this.zeroUnless(exact ? undefined : this.below(col, extent), this.load(x, tile, tile.rows[(i >> 1) & 1]!, this.clamp(col, extent, exact)));
    }));
  }

  /**
   * The C fragment of A · yᵀ for the 8 rows of y from `row0` (clamped below `yRows`): A the tile's row fragments
   * over a common last axis of length `extent`, y's columns past it zero. Returns its 4 values.
   */
  timesRowsOf(a: readonly (readonly ValueId[])[], y: Node, tile: WarpTile, row0: Index, yRows: number, extent: number): ValueId[] {
    const acc = Array.from({ length: 4 }, () => this.kb.variable(this.f32(0)));
    const rowRaw = addIndex(row0, tile.group);
    const row = this.clamp(rowRaw, yRows, yRows % 16 === 0);
    a.forEach((fragment, c) => {
      const b = Array.from({ length: 4 }, (_, i) => {
        const col = addIndex(tile.pair, constIndex(c * 16 + (i & 1) + (i >= 2 ? 8 : 0)));
        const exact = (c + 1) * 16 <= extent;
        return this.zeroUnless(exact ? undefined : this.below(col, extent), this.load(y, tile, row, this.clamp(col, extent, exact)));
      });
      this.kb.mma(this.operand, acc, fragment, b);
    });
    return acc.map((v) => this.kb.read(v));
  }

  /**
   * acc[j] += P · z[row0‥row0+15, 8j‥8j+7] for P the A fragment `p` (16 rows × 16 rows of z); z's rows are clamped
   * below `zRows` (P must be 0 there) and its columns below `cols` (results past it are never stored).
   */
  accumulateTimes(acc: readonly (readonly ValueId[])[], p: readonly ValueId[], z: Node, tile: WarpTile, row0: Index, zRows: number, cols: number): void {
    acc.forEach((fragment, j) => {
      const col = this.clamp(addIndex(constIndex(j * 8), tile.group), cols, cols % 8 === 0);
      const b = Array.from({ length: 4 }, (_, i) => {
        const rowRaw = addIndex(addIndex(row0, constIndex((i & 1) + (i >= 2 ? 8 : 0))), tile.pair);
        return this.load(z, tile, this.clamp(rowRaw, zRows, zRows % 16 === 0), col);
      });
      this.kb.mma(this.operand, fragment, p, b);
    });
  }

  /** ceil(cols / 8) C fragments of f32 accumulators, zeroed. */
  accumulators(cols: number): ValueId[][] {
    return Array.from({ length: Math.ceil(cols / 8) }, () => Array.from({ length: 4 }, () => this.kb.variable(this.f32(0))));
  }

  /**
   * Stores each C value of `acc` (through `finish`, given the value and its row half) at [row, column offset + 8j +
   * pair (+1)], masking rows past `rows` and columns past `cols`.
   */
  storeFragments(node: Node, tile: WarpTile, acc: readonly (readonly ValueId[])[], rows: number, cols: number, offset: number, finish: (value: ValueId, half: number) => ValueId = (v) => v): void {
    const { kb, ix } = this;
    acc.forEach((fragment, j) => fragment.forEach((value, i) => {
      const half = i >> 1;
      const colRaw = addIndex(tile.pair, constIndex(j * 8 + (i & 1)));
      const conds: ValueId[] = [];
      if (rows % 16 !== 0) conds.push(this.below(tile.rowRaw(half), rows));
      if (cols % 8 !== 0) conds.push(this.below(colRaw, cols));
      const write = () => {
        const col = addIndex(this.clamp(colRaw, cols, cols % 8 === 0), constIndex(offset));
        kb.store(0, ix.emit(ix.linearize([...tile.leadIdx, tile.rows[half]!, col], node.shape)), kb.cast(finish(kb.read(value), half), node.dtype));
      };
      if (conds.length === 0) write();
      else kb.when(conds.length === 1 ? conds[0]! : kb.alu(Alu.And, DType.Bool, conds), write);
    }));
  }

  /** Stores one value per row of the tile at [row, col] from the first lane of each quad (a row statistic every lane of the quad holds). */
  storeRowValues(node: Node, tile: WarpTile, values: readonly ValueId[], rows: number, col: number): void {
    const { kb, ix } = this;
    const first = kb.alu(Alu.CmpEq, DType.Bool, [ix.emit(tile.pair), this.ctx.i32(0)]);
    values.forEach((value, half) => {
      const cond = rows % 16 === 0 ? first : kb.alu(Alu.And, DType.Bool, [first, this.below(tile.rowRaw(half), rows)]);
      kb.when(cond, () => kb.store(0, ix.emit(ix.linearize([...tile.leadIdx, tile.rows[half]!, constIndex(col)], node.shape)), kb.cast(value, node.dtype)));
    });
  }
}

/** Two 8-column C fragments side by side (columns 0‥7, 8‥15) as the A fragment of a 16-deep product. */
export function asAFragment(c: readonly (readonly ValueId[])[]): ValueId[] {
  return [...c[0]!, ...c[1]!];
}
