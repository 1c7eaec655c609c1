// Composites · the shape of a composite definition and the attr readers its
// decompositions share. A definition is data: a kind, an arity, and a reference
// decomposition into primitives (it may use other composites, expanded in turn).
// VJPs and kernel templates attach to the same kind in later stages.

import type { Builder } from '../ir/builder.ts';
import { ShapeError } from '../ir/errors.ts';
import type { Attrs, AttrValue, CompositeKind, Node } from '../ir/node.ts';

export interface CompositeDef {
  readonly kind: CompositeKind;
  /** Allowed operand counts (optional operands such as a bias make more than one). */
  readonly arity: readonly number[];
  decompose(b: Builder, srcs: readonly Node[], attrs: Attrs): Node;
}

function attr(kind: CompositeKind, attrs: Attrs, key: string): AttrValue {
  const value = attrs[key];
  if (value === undefined) throw new ShapeError(kind, [], `missing attribute "${key}"`);
  return value;
}

export function numberAttr(kind: CompositeKind, attrs: Attrs, key: string): number {
  const value = attr(kind, attrs, key);
  if (typeof value !== 'number') throw new ShapeError(kind, [], `attribute "${key}" must be a number`);
  return value;
}

export function stringAttr(kind: CompositeKind, attrs: Attrs, key: string): string {
  const value = attr(kind, attrs, key);
  if (typeof value !== 'string') throw new ShapeError(kind, [], `attribute "${key}" must be a string`);
  return value;
}

export function requireRank(kind: CompositeKind, x: Node, min: number, what = 'input'): void {
  if (x.shape.length < min) throw new ShapeError(kind, [x.shape], `${what} needs rank ≥ ${min}`);
}

export function lastDim(x: Node): number {
  return x.shape[x.shape.length - 1] ?? 1;
}
