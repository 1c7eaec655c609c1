// Test support · random fusible graphs for differential tests. A recipe (plain
// data from fast-check) is replayed into a Builder: inputs of random shapes, then
// a sequence of ops drawn from every family — elementwise with broadcasting,
// views, reductions, dots, gathers and composites — each applied to a random
// earlier value. Values stay bounded so float32 comparisons are meaningful.

import fc from 'fast-check';
import { makeComposite } from '../../compiler/composite/registry.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import { CompositeKind, type Node } from '../../compiler/ir/node.ts';

export interface Step {
  readonly kind: number;
  readonly pick: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

export interface Recipe {
  readonly shape: readonly number[];
  readonly steps: readonly Step[];
  readonly extraOutput: boolean;
}

export const recipeArb: fc.Arbitrary<Recipe> = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 3 }),
  steps: fc.array(
    fc.record({ kind: fc.nat(19), pick: fc.nat(), a: fc.nat(), b: fc.nat(), c: fc.nat() }),
    { minLength: 1, maxLength: 7 },
  ),
  extraOutput: fc.boolean(),
});

export interface BuiltGraph {
  readonly graph: Graph;
  /** Input name → shape and dtype, for generating values. */
  readonly inputs: ReadonlyMap<string, { shape: readonly number[]; dtype: DType }>;
}

/** Replays a recipe; every op keeps values bounded (|x| ≲ 10). */
export function buildGraph(recipe: Recipe): BuiltGraph {
  const b = new Builder();
  const inputs = new Map<string, { shape: readonly number[]; dtype: DType }>();
  const input = (shape: readonly number[], dtype = DType.F32): Node => {
    const name = `in${inputs.size}`;
    inputs.set(name, { shape, dtype });
    return b.input(name, shape, dtype);
  };
  const pool: Node[] = [input(recipe.shape)];
  const bounded = (x: Node) => b.tanh(x);
  for (const s of recipe.steps) {
    const x = pool[s.pick % pool.length]!;
    const rank = x.shape.length;
    const axis = rank === 0 ? 0 : s.a % rank;
    let y: Node;
    switch (s.kind) {
      case 0: y = b.sin(b.mul(x, 1.3)); break;
      case 1: y = b.exp(b.mul(bounded(x), 0.5)); break;
      case 2: y = b.sqrt(b.add(b.square(x), 0.25)); break;
      case 3: y = b.sigmoid(x); break;
      case 4: { // binary with a broadcast partner: some axes of size 1, some leading axes dropped
        const drop = rank === 0 ? 0 : s.b % rank;
        const partner = x.shape.slice(drop).map((d, i) => ((s.c >> i) & 1 ? 1 : d));
        const other = input(partner);
        y = [b.add(x, other), b.mul(x, other), b.max(x, other), b.sub(x, other)][s.a % 4]!;
        break;
      }
      case 5: // permute
        if (rank < 2) { y = b.neg(x); break; }
        y = b.permute(x, rotate(x.shape.map((_, i) => i), 1 + (s.b % (rank - 1))));
        break;
      case 6: { // reshape: merge two neighbouring axes, split one by a divisor, or flatten
        const j = Math.min(axis, rank - 2);
        const d = x.shape[axis] ?? 1;
        const divisor = [2, 3, 5, 7].find((p) => d % p === 0 && d > p);
        if (rank >= 2 && s.b % 3 === 0) y = b.reshape(x, [...x.shape.slice(0, j), x.shape[j]! * x.shape[j + 1]!, ...x.shape.slice(j + 2)]);
        else if (divisor && s.b % 3 === 1) y = b.reshape(x, [...x.shape.slice(0, axis), d / divisor, divisor, ...x.shape.slice(axis + 1)]);
        else y = b.reshape(x, [-1]);
        break;
      }
      case 7: // expand a new axis
        y = b.expand(b.reshape(x, [...x.shape.slice(0, axis), 1, ...x.shape.slice(axis)]), [...x.shape.slice(0, axis), 1 + (s.b % 3), ...x.shape.slice(axis)]);
        break;
      case 8: // pad
        y = rank === 0 ? x : b.pad(x, x.shape.map((_, i) => (i === axis ? [s.b % 3, s.c % 2] : [0, 0]) as [number, number]), (s.c % 5) - 2);
        break;
      case 9: { // shrink
        if (rank === 0 || x.shape[axis]! < 2) { y = b.abs(x); break; }
        const start = s.b % x.shape[axis]!;
        y = b.slice(x, axis, start, start + 1 + (s.c % (x.shape[axis]! - start)));
        break;
      }
      case 10: y = rank === 0 ? x : b.flip(x, axis); break;
      case 11: y = rank === 0 ? x : b.sum(x, axis, s.b % 2 === 0); break;
      case 12: y = rank === 0 ? x : b.reduceMax(x, [...new Set([axis, s.b % rank])], s.c % 2 === 0); break;
      case 13: { // matmul with a fresh right operand
        const k = x.shape[rank - 1] ?? 1;
        const lhs = rank === 0 ? b.reshape(x, [1, 1]) : rank === 1 ? b.reshape(x, [1, k]) : x;
        y = b.mul(b.matmul(lhs, input([lhs.shape[lhs.shape.length - 1]!, 1 + (s.b % 4)])), 0.5);
        break;
      }
      case 14: { // gather along an axis with (partly out-of-range) indices
        if (rank === 0) { y = x; break; }
        const ids = input([1 + (s.b % 4)], DType.I32);
        y = b.gather(x, ids, axis);
        break;
      }
      case 15: y = rank === 0 ? x : makeComposite(b, CompositeKind.Softmax, [x], { axis }); break;
      case 16: y = rank === 0 ? x : makeComposite(b, CompositeKind.LayerNorm, [x], { eps: 1e-5 }); break;
      case 17: y = makeComposite(b, s.b % 2 ? CompositeKind.Silu : CompositeKind.Gelu, [x], s.b % 2 ? {} : { approximate: s.c % 2 ? 'tanh' : 'none' }); break;
      case 18: { // attention over the last two axes with fresh k, v
        const q = rank >= 2 ? x : b.reshape(x, [1, x.shape[0] ?? 1]);
        const lead = q.shape.slice(0, -2);
        const d = q.shape[q.shape.length - 1]!;
        const tk = 1 + (s.b % 4);
        y = makeComposite(b, CompositeKind.Attention, [q, input([...lead, tk, d]), input([...lead, tk, 1 + (s.c % 3)])], { scale: 0.5 });
        break;
      }
      default: { // scatterAdd: the transpose of gather
        if (rank === 0) { y = x; break; }
        const len = x.shape[axis]!;
        const ids = input([len], DType.I32);
        y = b.scatterAdd(x, ids, axis, 1 + (s.b % 4));
        break;
      }
    }
    pool.push(y);
  }
  const last = pool[pool.length - 1]!;
  const outputs = [{ name: 'out', node: last }];
  if (recipe.extraOutput && pool.length > 2) outputs.push({ name: 'mid', node: pool[Math.floor(pool.length / 2)]! });
  return { graph: new Graph(outputs), inputs };
}

function rotate(xs: number[], k: number): number[] {
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** Deterministic input values: floats in [−2, 2], indices in [−1, 5]. */
export function inputValues(inputs: BuiltGraph['inputs'], seed: number): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  let k = seed;
  for (const [name, { shape, dtype }] of inputs) {
    const n = shape.reduce((a, c) => a * c, 1);
    out[name] = Float64Array.from({ length: n }, () => {
      k = (Math.imul(k, 1103515245) + 12345) >>> 0;
      const u = k / 2 ** 32;
      return dtype === DType.I32 ? Math.floor(u * 7) - 1 : Math.fround(u * 4 - 2);
    });
  }
  return out;
}
