// Optimisers and the train step: AdamW against a hand-computed two-step update
// (torch.optim.AdamW's arithmetic written out here), the reference decay mask,
// gradient clipping, EMA, learning-rate schedules, and trainStep as one program.

import { describe, expect, it } from 'vitest';
import { DType, adamw, clipGradNorm, constantLr, decaysByDefault, emaUpdate, initParams, spec, trace, trainStep, warmupCosine } from '../../dsl/index.ts';
import { Op } from '../../compiler/ir/op.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { runStep } from '../../runtime/cpu/step.ts';

const LR = 0.1;
const WD = 0.01;

describe('AdamW', () => {
  const t = trace(
    (_, { p, g, m, v, step, lr }) => adamw(p, g, m, v, step, lr, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: WD }),
    { p: spec([2] as const), g: spec([2] as const), m: spec([2] as const), v: spec([2] as const), step: spec([] as const), lr: spec([] as const) },
  );
  const update = (p: number[], g: number[], m: number[], v: number[], step: number) => {
    const out = interpret(t.graph, { inputs: { p, g, m, v, step, lr: LR } }).outputs;
    return { p: Array.from(out.param!.data), m: Array.from(out.m!.data), v: Array.from(out.v!.data) };
  };

  it('takes a first step of lr·sign(g) after decoupled decay (bias correction makes m̂ = g, v̂ = g²)', () => {
    const s1 = update([1, -2], [0.5, 0.1], [0, 0], [0, 0], 1);
    // p·(1 − lr·wd) − lr·g/(|g| + eps): 1·0.999 − 0.1 and −2·0.999 − 0.1
    expect(s1.p[0]).toBeCloseTo(0.899, 7);
    expect(s1.p[1]).toBeCloseTo(-2.098, 7);
    expect(s1.m[0]).toBeCloseTo(0.05, 15);
    expect(s1.m[1]).toBeCloseTo(0.01, 15);
  });

  it('matches a hand-computed second step', () => {
    const g1 = [0.5, 0.1];
    const g2 = [-0.3, 0.2];
    const s1 = update([1, -2], g1, [0, 0], [0, 0], 1);
    const s2 = update(s1.p, g2, s1.m, s1.v, 2);
    const expected = [0, 1].map((i) => {
      const m = 0.9 * (0.1 * g1[i]!) + 0.1 * g2[i]!;
      const v = 0.999 * (0.001 * g1[i]! ** 2) + 0.001 * g2[i]! ** 2;
      const denom = Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8;
      return s1.p[i]! * (1 - LR * WD) - (LR / (1 - 0.9 ** 2)) * (m / denom);
    });
    expect(s2.p[0]).toBeCloseTo(expected[0]!, 12);
    expect(s2.p[1]).toBeCloseTo(expected[1]!, 12);
    // by hand, coordinate 0: m = 0.015, v = 0.00033975, 1−β1² = 0.19, 1−β2² = 0.001999,
    // √v/√0.001999 = 0.41227, step = (0.1/0.19)·0.015/0.41227 = 0.019150, p = 0.899·0.999 − 0.019150
    expect(s2.p[0]).toBeCloseTo(0.878951, 5);
  });
});

describe('decay mask', () => {
  it('follows the reference rule: ndim ≥ 2 and not a bias', () => {
    expect(decaysByDefault('blocks.0.attn.qkv.weight', [2304, 768])).toBe(true);
    expect(decaysByDefault('blocks.0.attn.qkv.bias', [2304])).toBe(false);
    expect(decaysByDefault('encoder.latent_tokens', [1, 128, 768])).toBe(true);
    expect(decaysByDefault('encoder.freqs', [2, 12, 384])).toBe(true);
    expect(decaysByDefault('blocks.0.ls1.gamma', [768])).toBe(false);
  });

  it('decays the weight and leaves the bias alone in a train step when gradients are zero', () => {
    const step = trainStep(
      (ctx, { x }) => {
        const w = ctx.param('lin.weight', [2, 2] as const, { kind: 'constant', value: 1 });
        const b = ctx.param('lin.bias', [2] as const, { kind: 'constant', value: 1 });
        return x.matmul(w).add(b).sum().mul(0);
      },
      { x: spec([1, 2] as const) },
      { schedule: constantLr(LR), adamw: { weightDecay: WD } },
    );
    const state = initParams(step.params, 0);
    runStep(step.graph, state, { x: [1, 1], step: 1 });
    expect(Array.from(state['lin.weight']!)).toEqual(new Array(4).fill(1 - LR * WD));
    expect(Array.from(state['lin.bias']!)).toEqual([1, 1]);
  });
});

describe('clipping, EMA and schedules', () => {
  it('scales gradients to the max norm only when above it', () => {
    const t = trace((_, { a, b }) => {
      const { grads, norm } = clipGradNorm([a, b], 1);
      return { a: grads[0]!, b: grads[1]!, norm };
    }, { a: spec([2] as const), b: spec([1] as const) });
    const big = interpret(t.graph, { inputs: { a: [3, 0], b: [4] } }).outputs;
    expect(big.norm!.data[0]).toBe(5);
    expect(big.a!.data[0]).toBeCloseTo(0.6, 6);
    expect(big.b!.data[0]).toBeCloseTo(0.8, 6);
    const small = interpret(t.graph, { inputs: { a: [0.3, 0], b: [0.4] } }).outputs;
    expect(Array.from(small.a!.data)).toEqual([0.3, 0]);
  });

  it('updates an EMA as decay·ema + (1 − decay)·param', () => {
    const t = trace((_, { e, p }) => emaUpdate(e, p, 0.9), { e: spec([1] as const), p: spec([1] as const) });
    expect(interpret(t.graph, { inputs: { e: [1], p: [2] } }).outputs.out!.data[0]).toBeCloseTo(1.1, 14);
  });

  it('warms up linearly then follows a cosine to the final rate', () => {
    const schedule = warmupCosine({ base: 1, warmupSteps: 10, totalSteps: 110, final: 0.1 });
    const t = trace((_, { step }) => schedule(step), { step: spec([] as const) });
    const at = (s: number) => interpret(t.graph, { inputs: { step: s } }).outputs.out!.data[0]!;
    expect(at(0)).toBe(0);
    expect(at(5)).toBeCloseTo(0.5, 12);
    expect(at(10)).toBeCloseTo(1, 12);
    expect(at(60)).toBeCloseTo(0.55, 12); // halfway through the cosine: 0.1 + 0.45·(1 + cos π/2)
    expect(at(110)).toBeCloseTo(0.1, 12);
    expect(at(500)).toBeCloseTo(0.1, 12);
  });
});

describe('trainStep', () => {
  const step = trainStep(
    (ctx, { x, y }) => {
      const w = ctx.param('w', [3] as const, { kind: 'constant', value: 0 });
      const pred = x.mul(w).sum(1);
      return { loss: pred.sub(y).square().mean(), pred: pred.mean() };
    },
    { x: spec([4, 3] as const), y: spec([4] as const) },
    { schedule: constantLr(0.05), clip: 10, ema: 0.5 },
  );

  it('is one program that assigns every parameter and its optimiser and EMA state', () => {
    const assigned = step.graph.outputs.filter((o) => o.node.op === Op.Assign).map((o) => o.name).sort();
    expect(assigned).toEqual(['assign:ema.w', 'assign:optim.m.w', 'assign:optim.v.w', 'assign:w']);
    expect(step.graph.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['loss', 'gradNorm', 'lr', 'pred']));
    expect(step.trained.map((p) => p.name)).toEqual(['w']);
    expect(step.graph.inputs.find((i) => i.arg.name === 'step')?.dtype).toBe(DType.F32);
  });

  it('fits a linear regression on the interpreter', () => {
    const state = initParams(step.params, 0);
    const x = [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1];
    const y = [1, -2, 3, 2]; // w = [1, −2, 3]
    const losses: number[] = [];
    for (let s = 1; s <= 300; s++) losses.push(runStep(step.graph, state, { x, y, step: s }).loss!.data[0]!);
    expect(losses[299]!).toBeLessThan(1e-3 * losses[0]!);
    expect(Array.from(state.w!).map((v) => Math.round(v * 100) / 100)).toEqual([1, -2, 3]);
    // the EMA (decay 0.5) trails the weights closely once they settle
    expect(Math.abs(state['ema.w']![0]! - state.w![0]!)).toBeLessThan(0.01);
  });
});
