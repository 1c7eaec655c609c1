// Composites · token and position embeddings: patchify/unpatchify (spec §1.4),
// embedding lookup, the timestep frequency embedding (spec §1.7, cos first) and
// the fixed sin-cos tables (spec §1.5: 1D interleaved, 2D column-then-row halves).

import type { Builder } from '../ir/builder.ts';
import { DType, isInt } from '../ir/dtype.ts';
import { ShapeError } from '../ir/errors.ts';
import { CompositeKind, type Node } from '../ir/node.ts';
import { numberAttr, type CompositeDef } from './define.ts';

/** (B, C, H, W) → (B, Hp·Wp, C·P·P), patch vectors ordered (ch, py, px) like a conv weight. */
export const patchify: CompositeDef = {
  kind: CompositeKind.Patchify,
  arity: [1],
  decompose(b, [x], attrs) {
    const p = numberAttr(CompositeKind.Patchify, attrs, 'patch');
    if (x!.shape.length !== 4) throw new ShapeError(CompositeKind.Patchify, [x!.shape], 'expects (B, C, H, W)');
    const [batch, channels, height, width] = x!.shape as [number, number, number, number];
    if (height % p !== 0 || width % p !== 0) throw new ShapeError(CompositeKind.Patchify, [x!.shape], `H and W must be multiples of the patch size ${p}`);
    const hp = height / p;
    const wp = width / p;
    const grid = b.reshape(x!, [batch, channels, hp, p, wp, p]);
    return b.reshape(b.permute(grid, [0, 2, 4, 1, 3, 5]), [batch, hp * wp, channels * p * p]);
  },
};

/** (B, Hp·Wp, P·P·C) read as (py, px, ch) → (B, C, Hp·P, Wp·P). */
export const unpatchify: CompositeDef = {
  kind: CompositeKind.Unpatchify,
  arity: [1],
  decompose(b, [x], attrs) {
    const p = numberAttr(CompositeKind.Unpatchify, attrs, 'patch');
    const hp = numberAttr(CompositeKind.Unpatchify, attrs, 'gridH');
    const wp = numberAttr(CompositeKind.Unpatchify, attrs, 'gridW');
    if (x!.shape.length !== 3) throw new ShapeError(CompositeKind.Unpatchify, [x!.shape], 'expects (B, N, P·P·C)');
    const [batch, tokens, width] = x!.shape as [number, number, number];
    if (tokens !== hp * wp || width % (p * p) !== 0) {
      throw new ShapeError(CompositeKind.Unpatchify, [x!.shape], `needs ${hp}·${wp} tokens of a multiple of ${p * p} features`);
    }
    const channels = width / (p * p);
    const grid = b.reshape(x!, [batch, hp, wp, p, p, channels]);
    return b.reshape(b.permute(grid, [0, 5, 1, 3, 2, 4]), [batch, channels, hp * p, wp * p]);
  },
};

/** srcs [table (V, D), ids (int, any shape)] → (...ids, D). */
export const embedding: CompositeDef = {
  kind: CompositeKind.Embedding,
  arity: [2],
  decompose(b, [table, ids]) {
    if (table!.shape.length !== 2 || !isInt(ids!.dtype)) {
      throw new ShapeError(CompositeKind.Embedding, [table!.shape, ids!.shape], 'expects a (V, D) table and integer ids');
    }
    return b.gather(table!, ids!, 0);
  },
};

/** exp(−ln(maxPeriod)·k/half) for k < half, as a (half) vector. */
function frequencies(b: Builder, half: number, logScale: number): Node {
  return b.exp(b.mul(b.iota([half], 0, DType.F32), -logScale));
}

/** t (B) → (B, dim): [cos(t·f) | sin(t·f)], f_i = exp(−ln(maxPeriod)·i/half); odd dims get a zero column. */
export const timestepEmbedding: CompositeDef = {
  kind: CompositeKind.TimestepEmbedding,
  arity: [1],
  decompose(b, [t], attrs) {
    const dim = numberAttr(CompositeKind.TimestepEmbedding, attrs, 'dim');
    const maxPeriod = numberAttr(CompositeKind.TimestepEmbedding, attrs, 'maxPeriod');
    if (t!.shape.length !== 1) throw new ShapeError(CompositeKind.TimestepEmbedding, [t!.shape], 'expects a (B) vector of times');
    const half = Math.floor(dim / 2);
    const freqs = frequencies(b, half, Math.log(maxPeriod) / half);
    const args = b.mul(b.reshape(t!, [t!.shape[0]!, 1]), b.reshape(freqs, [1, half]));
    const emb = b.concat([b.cos(args), b.sin(args)], -1);
    return dim % 2 === 1 ? b.pad(emb, [[0, 0], [0, 1]]) : emb;
  },
};

/** (length, dim): pe[pos, 2k] = sin(pos·ω_k), pe[pos, 2k+1] = cos(pos·ω_k), ω_k = 10000^(−2k/dim). */
export const sincos1d: CompositeDef = {
  kind: CompositeKind.SinCos1d,
  arity: [0],
  decompose(b, _srcs, attrs) {
    const length = numberAttr(CompositeKind.SinCos1d, attrs, 'length');
    const dim = numberAttr(CompositeKind.SinCos1d, attrs, 'dim');
    if (dim % 2 !== 0) throw new ShapeError(CompositeKind.SinCos1d, [[length, dim]], 'dim must be even');
    const omega = frequencies(b, dim / 2, (2 * Math.log(10000)) / dim);
    const angle = b.mul(b.iota([length, 1], 0, DType.F32), b.reshape(omega, [1, dim / 2]));
    const pairs = b.concat([b.reshape(b.sin(angle), [length, dim / 2, 1]), b.reshape(b.cos(angle), [length, dim / 2, 1])], -1);
    return b.reshape(pairs, [length, dim]);
  },
};

/** [sin(pos·ω) | cos(pos·ω)] for one axis, E = width, ω_k = 10000^(−2k/E). */
function halfTable(b: Builder, positions: Node, width: number): Node {
  const omega = frequencies(b, width / 2, (2 * Math.log(10000)) / width);
  const angle = b.mul(b.reshape(positions, [positions.shape[0]!, 1]), b.reshape(omega, [1, width / 2]));
  return b.concat([b.sin(angle), b.cos(angle)], -1);
}

/** (gridH·gridW, dim), tokens row-major: the first dim/2 encode the column, the last dim/2 the row. */
export const sincos2d: CompositeDef = {
  kind: CompositeKind.SinCos2d,
  arity: [0],
  decompose(b, _srcs, attrs) {
    const gridH = numberAttr(CompositeKind.SinCos2d, attrs, 'gridH');
    const gridW = numberAttr(CompositeKind.SinCos2d, attrs, 'gridW');
    const dim = numberAttr(CompositeKind.SinCos2d, attrs, 'dim');
    if (dim % 4 !== 0) throw new ShapeError(CompositeKind.SinCos2d, [[gridH * gridW, dim]], 'dim must be a multiple of 4');
    const tokens = gridH * gridW;
    const token = b.iota([tokens], 0, DType.I32);
    const col = b.cast(b.mod(token, gridW), DType.F32);
    const row = b.cast(b.idiv(token, gridW), DType.F32);
    return b.concat([halfTable(b, col, dim / 2), halfTable(b, row, dim / 2)], -1);
  },
};
