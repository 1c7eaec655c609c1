// Composites · the registry: every CompositeKind maps to its definition (a
// Record, so a new kind without a definition fails the typecheck). makeComposite
// types a new composite node by decomposing it once on placeholders; a composite
// whose operands do not fit throws a ShapeError naming the composite.

import { Builder } from '../ir/builder.ts';
import { ShapeError } from '../ir/errors.ts';
import { CompositeKind, type Attrs, type Node, type NodeWith, type TypeOf } from '../ir/node.ts';
import type { Op } from '../ir/op.ts';
import { gelu, modulate, silu, swiglu } from './activation.ts';
import type { CompositeDef } from './define.ts';
import { embedding, patchify, sincos1d, sincos2d, timestepEmbedding, unpatchify } from './embed.ts';
import { attention, attentionBackwardKeyValue, attentionBackwardQuery, attentionForward } from './attention.ts';
import { linear } from './linear.ts';
import { cosineSimilarity, mse } from './loss.ts';
import { layerNorm, logSoftmax, rmsNorm, softmax } from './norm.ts';
import { rope } from './rope.ts';

let table: Record<CompositeKind, CompositeDef> | undefined;

/** Built on first use: linear.ts imports this module, so nothing here may run at import time. */
export function compositeDef(kind: CompositeKind): CompositeDef {
  table ??= {
    [CompositeKind.Softmax]: softmax,
    [CompositeKind.LogSoftmax]: logSoftmax,
    [CompositeKind.LayerNorm]: layerNorm,
    [CompositeKind.RmsNorm]: rmsNorm,
    [CompositeKind.Gelu]: gelu,
    [CompositeKind.Silu]: silu,
    [CompositeKind.Swiglu]: swiglu,
    [CompositeKind.Linear]: linear,
    [CompositeKind.Modulate]: modulate,
    [CompositeKind.Attention]: attention,
    [CompositeKind.AttentionForward]: attentionForward,
    [CompositeKind.AttentionBackwardQuery]: attentionBackwardQuery,
    [CompositeKind.AttentionBackwardKeyValue]: attentionBackwardKeyValue,
    [CompositeKind.Rope]: rope,
    [CompositeKind.Patchify]: patchify,
    [CompositeKind.Unpatchify]: unpatchify,
    [CompositeKind.Embedding]: embedding,
    [CompositeKind.TimestepEmbedding]: timestepEmbedding,
    [CompositeKind.SinCos1d]: sincos1d,
    [CompositeKind.SinCos2d]: sincos2d,
    [CompositeKind.Mse]: mse,
    [CompositeKind.CosineSimilarity]: cosineSimilarity,
  };
  return table[kind];
}

/** The output type of a composite, found by decomposing it on placeholder operands. */
export function compositeType(kind: CompositeKind, srcs: readonly TypeOf[], attrs: Attrs): TypeOf {
  const def = compositeDef(kind);
  if (!def.arity.includes(srcs.length)) {
    throw new ShapeError(kind, srcs.map((s) => s.shape), `expects ${def.arity.join(' or ')} operand(s), got ${srcs.length}`);
  }
  const scratch = new Builder();
  const placeholders = srcs.map((s, i) => scratch.input(`operand${i}`, s.shape, s.dtype));
  try {
    const out = def.decompose(scratch, placeholders, attrs);
    return { dtype: out.dtype, shape: out.shape };
  } catch (error) {
    if (error instanceof ShapeError && error.op !== kind) {
      throw new ShapeError(kind, srcs.map((s) => s.shape), `${error.op}: ${error.detail}`);
    }
    throw error;
  }
}

/** Builds a composite node in `b`. */
export function makeComposite(b: Builder, kind: CompositeKind, srcs: readonly Node[], attrs: Attrs): NodeWith<Op.Composite> {
  return b.compositeNode(kind, srcs, attrs, compositeType(kind, srcs, attrs));
}

/** Expands one composite node into primitives (and possibly nested composites) in `b`, over new operands. */
export function decompose(b: Builder, node: NodeWith<Op.Composite>, srcs: readonly Node[]): Node {
  return compositeDef(node.arg.kind).decompose(b, srcs, node.arg.attrs);
}
