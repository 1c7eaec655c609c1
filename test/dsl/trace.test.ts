// Tracing and parameters: scoped state-dict names, reuse and conflicts, the
// initialisers' distributions and determinism, and the interpreter's errors for
// missing or mis-shaped inputs.

import { describe, expect, it } from 'vitest';
import { DType, Linear, assign, type Shape, type Tensor, ShapeError, fans, init, initParams, initValues, spec, trace, type ParamSpec } from '../../dsl/index.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';

describe('parameters', () => {
  it('names parameters by their scope path, like a PyTorch state dict', () => {
    const t = trace(
      (ctx, { x }) => {
        let h: Tensor<Shape, DType.F32> = x;
        for (let i = 0; i < 2; i++) h = Linear(ctx.child('blocks').child(i).child('mlp'), 'fc1', h, 4);
        return h;
      },
      { x: spec([2, 4] as const) },
    );
    expect(t.params.map((p) => p.name)).toEqual(['blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc1.bias', 'blocks.1.mlp.fc1.weight', 'blocks.1.mlp.fc1.bias']);
    expect(t.params[0]!.shape).toEqual([4, 4]);
  });

  it('returns the same parameter when a name is declared twice with the same shape', () => {
    const t = trace((ctx, { x }) => x.mul(ctx.param('g', [3] as const, init.ones())).add(ctx.param('g', [3] as const, init.ones())), { x: spec([3] as const) });
    expect(t.params).toHaveLength(1);
    expect(t.graph.params).toHaveLength(1);
  });

  it('rejects a second declaration with another shape', () => {
    const three: number[] = [3];
    const four: number[] = [4];
    expect(() => trace((ctx) => ctx.param('g', three, init.ones()).add(ctx.param('g', four, init.ones())))).toThrow(/"g" was declared before/);
  });
});

describe('initialisers', () => {
  const specOf = (name: string, shape: number[], i: ParamSpec['init']): ParamSpec => ({ name, shape, dtype: DType.F32, init: i });
  const stats = (v: Float64Array) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), min: Math.min(...v), max: Math.max(...v) };
  };

  it('computes fans as torch does (dims ≥ 2 form the receptive field)', () => {
    expect(fans([768, 3, 16, 16])).toEqual({ fanIn: 768, fanOut: 196608 });
    expect(fans([64, 32])).toEqual({ fanIn: 32, fanOut: 64 });
  });

  it('xavier uniform stays within ±√(6/(fan_in+fan_out)) and has the uniform variance', () => {
    const v = initValues(specOf('w', [200, 100], init.xavierUniform()), 1);
    const bound = Math.sqrt(6 / 300);
    const s = stats(v);
    expect(s.max).toBeLessThanOrEqual(bound);
    expect(s.min).toBeGreaterThanOrEqual(-bound);
    expect(s.max).toBeGreaterThan(0.99 * bound);
    expect(Math.abs(s.std - bound / Math.sqrt(3)) / (bound / Math.sqrt(3))).toBeLessThan(0.02);
  });

  it('fan-in uniform is torch.nn.Linear’s U(±1/√fan_in)', () => {
    const s = stats(initValues(specOf('w', [50, 400], init.fanInUniform()), 2));
    expect(s.max).toBeLessThanOrEqual(1 / 20);
    expect(s.min).toBeGreaterThanOrEqual(-1 / 20);
  });

  it('normal and truncated normal have the requested spread; truncation respects its bounds', () => {
    const n = stats(initValues(specOf('a', [20000], init.normal(0.02)), 3));
    expect(Math.abs(n.std - 0.02)).toBeLessThan(0.0005);
    const t = stats(initValues(specOf('b', [20000], init.truncNormal(1, -0.5, 0.5)), 3));
    expect(t.min).toBeGreaterThanOrEqual(-0.5);
    expect(t.max).toBeLessThanOrEqual(0.5);
    // std of N(0,1) truncated to ±0.5: sqrt(1 − 2·0.5·φ(0.5)/(2Φ(0.5)−1)) = 0.2863
    expect(Math.abs(t.std - 0.2863)).toBeLessThan(0.005);
  });

  it('fills constants exactly', () => {
    expect(Array.from(initValues(specOf('c', [3], init.constant(1e-5)), 0))).toEqual([1e-5, 1e-5, 1e-5]);
    expect(Array.from(initValues(specOf('z', [2], init.zeros()), 0))).toEqual([0, 0]);
    expect(Array.from(initValues(specOf('o', [2], init.ones()), 0))).toEqual([1, 1]);
  });

  it('is deterministic per (seed, name): adding a parameter leaves the others unchanged', () => {
    const a = specOf('blocks.0.w', [16], init.normal(1));
    const b = specOf('blocks.1.w', [16], init.normal(1));
    const one = initParams([a], 7);
    const two = initParams([b, a], 7);
    expect(Array.from(two['blocks.0.w']!)).toEqual(Array.from(one['blocks.0.w']!));
    expect(Array.from(two['blocks.1.w']!)).not.toEqual(Array.from(two['blocks.0.w']!));
    expect(Array.from(initParams([a], 8)['blocks.0.w']!)).not.toEqual(Array.from(one['blocks.0.w']!));
  });

  it('initialises MAETok RoPE-mixed frequencies per spec §1.6a', () => {
    const heads = 2;
    const hd = 8;
    const depth = 3;
    const zero = initValues(specOf('freqs', [2, depth, (heads * hd) / 2], init.ropeMixed(heads, 10, true)), 0);
    const width = (heads * hd) / 2;
    for (let layer = 0; layer < depth; layer++) {
      for (let head = 0; head < heads; head++) {
        for (let j = 0; j < hd / 2; j++) {
          const m = 10 ** ((-4 * (j % (hd / 4))) / hd);
          const fx = zero[layer * width + head * (hd / 2) + j]!;
          const fy = zero[depth * width + layer * width + head * (hd / 2) + j]!;
          // angle 0: the first hd/4 pairs turn with x (column), the rest with y (row)
          if (j < hd / 4) {
            expect(fx).toBeCloseTo(m, 15);
            expect(fy).toBe(0);
          } else {
            expect(Math.abs(fx)).toBeLessThan(1e-15);
            expect(fy).toBeCloseTo(m, 15);
          }
        }
      }
    }
    const random = initValues(specOf('freqs', [2, depth, width], init.ropeMixed(heads, 10, false)), 0);
    for (let j = 0; j < width; j++) {
      const magnitude = Math.hypot(random[j]!, random[depth * width + j]!);
      expect(magnitude).toBeCloseTo(10 ** ((-4 * (j % (hd / 4))) / hd), 12);
    }
  });
});

describe('interpreter inputs', () => {
  const t = trace((_, { x }) => x.mul(2), { x: spec([2, 2] as const) });

  it('names a missing input, its dtype and shape', () => {
    expect(() => interpret(t.graph, {})).toThrow('missing input "x" (f32[2,2])');
  });

  it('rejects an input of the wrong size', () => {
    expect(() => interpret(t.graph, { inputs: { x: [1, 2, 3] } })).toThrow(/has 3 values, the graph expects \[2,2\]/);
  });

  it('reports assigned values by target name', () => {
    const step = trace((ctx) => {
      const w = ctx.param('w', [2] as const, init.ones());
      return { w: assign(w, w.mul(3)) };
    });
    const { assigned } = interpret(step.graph, { params: { w: [1, 2] } });
    expect(Array.from(assigned.w!.data)).toEqual([3, 6]);
  });

  it('throws ShapeError for a bad composite operand at trace time', () => {
    expect(() => trace((ctx, { x }) => Linear(ctx, 'l', x, 3).matmul(x), { x: spec([2, 4] as const) })).toThrow(ShapeError);
  });
});
