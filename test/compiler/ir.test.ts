// Graph IR: hash-consing, the text printer (golden printouts checked in as the
// expected text) and the verifier, which must reject hand-built malformed graphs.

import { describe, expect, it } from 'vitest';
import { Builder } from '../../compiler/ir/builder.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { IRError } from '../../compiler/ir/errors.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import { CompositeKind, NodeTable, type Node } from '../../compiler/ir/node.ts';
import { Op } from '../../compiler/ir/op.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import { expandComposites } from '../../compiler/passes/expand-composites.ts';
import { MultiHeadAttention, attention, spec, trace } from '../../dsl/index.ts';

const ATTENTION_BLOCK = `graph {
  %0:f32[1,3,4] = input "x"
  %1:f32[12,4] = param "attn.qkv.weight"
  %2:f32[12] = param "attn.qkv.bias"
  %3:f32[1,3,12] = linear %0 %1 %2
  %4:f32[1,3,3,2,2] = reshape %3
  %5:f32[3,1,2,3,2] = permute %4 perm=[2,0,3,1,4]
  %6:f32[1,1,2,3,2] = shrink %5 ranges=[0:1,0:1,0:2,0:3,0:2]
  %7:f32[1,2,3,2] = reshape %6
  %8:f32[1,1,2,3,2] = shrink %5 ranges=[1:2,0:1,0:2,0:3,0:2]
  %9:f32[1,2,3,2] = reshape %8
  %10:f32[1,1,2,3,2] = shrink %5 ranges=[2:3,0:1,0:2,0:3,0:2]
  %11:f32[1,2,3,2] = reshape %10
  %12:f32[1,2,3,2] = attention %7 %9 %11 scale=0.7071067811865475
  %13:f32[1,3,2,2] = permute %12 perm=[0,2,1,3]
  %14:f32[1,3,4] = reshape %13
  %15:f32[4,4] = param "attn.proj.weight"
  %16:f32[4] = param "attn.proj.bias"
  %17:f32[1,3,4] = linear %14 %15 %16
  return out=%17
}`;

const ATTENTION_DECOMPOSED = `graph {
  %0:f32[2,3,4] = input "q"
  %1:f32[2,3,4] = const 0.5
  %2:f32[2,3,4] = mul %0 %1
  %3:f32[2,5,4] = input "k"
  %4:f32[2,3,5] = dot %2 %3 batch=[0]x[0] contract=[2]x[2] acc=f32
  %5:f32[2,3,1] = reduceMax %4 axes=[2]
  %6:f32[2,3,1] = stopGradient %5
  %7:f32[2,3,5] = expand %6
  %8:f32[2,3,5] = neg %7
  %9:f32[2,3,5] = add %4 %8
  %10:f32[2,3,5] = const 1.4426950408889634
  %11:f32[2,3,5] = mul %9 %10
  %12:f32[2,3,5] = exp2 %11
  %13:f32[2,3,1] = reduceSum %12 axes=[2]
  %14:f32[2,3,5] = expand %13
  %15:f32[2,3,5] = recip %14
  %16:f32[2,3,5] = mul %12 %15
  %17:f32[2,5,6] = input "v"
  %18:f32[2,3,6] = dot %16 %17 batch=[0]x[0] contract=[2]x[1] acc=f32
  %19:f32[2,3,7] = pad %18 pads=[0:0,0:0,0:1]
  %20:f32[2,3,1] = log2 %13
  %21:f32[2,3,1] = const 0.6931471805599453
  %22:f32[2,3,1] = mul %20 %21
  %23:f32[2,3,1] = add %6 %22
  %24:f32[2,3,7] = pad %23 pads=[0:0,0:0,6:0]
  %25:f32[2,3,7] = add %19 %24
  %26:f32[2,3,6] = shrink %25 ranges=[0:2,0:3,0:6]
  return out=%26
}`;

describe('printer', () => {
  it('prints a multi-head attention block as the checked-in text', () => {
    const t = trace((ctx, { x }) => MultiHeadAttention(ctx.child('attn'), x, { heads: 2 }), { x: spec([1, 3, 4] as const) });
    expect(t.graph.toString()).toBe(ATTENTION_BLOCK);
  });

  it('prints the attention composite decomposed into primitives as the checked-in text', () => {
    const t = trace((_, { q, k, v }) => attention(q, k, v), { q: spec([2, 3, 4] as const), k: spec([2, 5, 4] as const), v: spec([2, 5, 6] as const) });
    expect(expandComposites.run(t.graph).toString()).toBe(ATTENTION_DECOMPOSED);
  });
});

describe('hash-consing', () => {
  it('returns the same node for the same op, operands and argument', () => {
    const b = new Builder();
    const x = b.input('x', [2, 3]);
    expect(b.add(x, 1)).toBe(b.add(x, 1));
    expect(b.permute(x, [1, 0])).toBe(b.permute(x, [1, 0]));
    expect(b.add(x, 1)).not.toBe(b.add(x, 2));
  });

  it('shares a repeated subexpression in a traced graph', () => {
    const t = trace((_, { x }) => x.exp().add(x.exp()), { x: spec([4] as const) });
    const exps = t.graph.nodes.filter((n) => n.op === Op.Exp2);
    expect(exps).toHaveLength(1);
  });
});

describe('verifier', () => {
  const table = new NodeTable();
  const f32 = (shape: readonly number[]) => ({ dtype: DType.F32, shape });
  const x = table.intern(Op.Input, f32([2, 3]), [], { name: 'x', dtype: DType.F32, shape: [2, 3] });
  const y = table.intern(Op.Input, f32([3, 2]), [], { name: 'y', dtype: DType.F32, shape: [3, 2] });
  const reject = (node: Node, pattern: RegExp) => expect(() => verifyGraph(new Graph([{ name: 'out', node }]))).toThrow(pattern);

  it('accepts well-formed graphs built by the builder', () => {
    const b = new Builder();
    const a = b.input('a', [2, 3]);
    expect(() => verifyGraph(new Graph([{ name: 'out', node: b.sum(b.mul(a, a), 1) }]))).not.toThrow();
  });

  it('rejects a binary op whose recorded shape is wrong', () => {
    reject(table.intern(Op.Add, f32([3, 3]), [x, x], null), /shape should be \[2,3\]/);
  });

  it('rejects a binary op on operands of different shapes', () => {
    reject(table.intern(Op.Mul, f32([2, 3]), [x, y], null), /operand shapes differ/);
  });

  it('rejects a wrong arity', () => {
    reject(table.intern(Op.Neg, f32([2, 3]), [x, x], null), /expects 1 operand/);
  });

  it('rejects a wrong recorded dtype', () => {
    reject(table.intern(Op.CmpLt, f32([2, 3]), [x, x], null), /dtype should be bool/);
  });

  it('rejects a float-only op on integers', () => {
    const i = table.intern(Op.Input, { dtype: DType.I32, shape: [2] }, [], { name: 'i', dtype: DType.I32, shape: [2] });
    reject(table.intern(Op.Sqrt, { dtype: DType.I32, shape: [2] }, [i], null), /needs a float operand/);
  });

  it('rejects a dot whose contracted dims differ', () => {
    reject(table.intern(Op.Dot, f32([2, 2]), [x, x], { batch: [[], []], contract: [[1], [0]], accumulate: DType.F32 }), /contracted axis/);
  });

  it('rejects a reshape that changes the element count', () => {
    reject(table.intern(Op.Reshape, f32([7]), [x], { shape: [7] }), /cannot reshape 6 elements/);
  });

  it('rejects an invalid permutation', () => {
    reject(table.intern(Op.Permute, f32([2, 2]), [x], { perm: [0, 0] }), /repeat axis/);
  });

  it('rejects a composite whose recorded type disagrees with its decomposition', () => {
    reject(table.intern(Op.Composite, f32([2, 2]), [x], { kind: CompositeKind.Softmax, attrs: { axis: -1 } }), /shape should be \[2,3\]/);
  });

  it('rejects an assign whose target is not a param or input', () => {
    const sum = table.intern(Op.Add, f32([2, 3]), [x, x], null);
    reject(table.intern(Op.Assign, f32([2, 3]), [sum, x], null), /assign target must be a param or input/);
  });

  it('rejects two inputs with one name and different types', () => {
    const other = table.intern(Op.Input, f32([6]), [], { name: 'x', dtype: DType.F32, shape: [6] });
    const both = table.intern(Op.Reshape, f32([6]), [x], { shape: [6] });
    const sum = table.intern(Op.Add, f32([6]), [both, other], null);
    reject(sum, /declared twice/);
  });

  it('rejects a non-finite constant', () => {
    reject(table.intern(Op.Const, f32([]), [], { value: Infinity, dtype: DType.F32, shape: [] }), /not finite/);
  });

  it('names the failing node in the message', () => {
    expect(() => verifyGraph(new Graph([{ name: 'out', node: table.intern(Op.Exp2, f32([9]), [x], null) }]))).toThrow(IRError);
    expect(() => verifyGraph(new Graph([{ name: 'out', node: table.intern(Op.Exp2, f32([9]), [x], null) }]))).toThrow(/node \d+ \(exp2\) : f32\[9\]/);
  });
});
