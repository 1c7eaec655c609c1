// Persistent state (ctx.state / ctx.setState): frozen parameters a traced
// function reads and rewrites — torch's buffers, such as spectral-norm vectors
// and LeCAM EMAs. The trace ends with one assign output per written state
// holding its last value; reads after a write see it; writes are detached; a
// train step does not train states but does write them back.

import { describe, expect, it } from 'vitest';
import { ASSIGN_PREFIX, ShapeError, constantLr, grad, init, initParams, spec, trace, trainStep } from '../../dsl/index.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { runStep } from '../../runtime/cpu/step.ts';

describe('ctx.state', () => {
  it('reads the parameter first, then the latest write; the trace assigns the last written value', () => {
    const t = trace((ctx) => {
      const scope = ctx.child('buffers');
      const first = scope.state('s', [2] as const, init.ones());
      scope.setState('s', first.add(1));
      const second = scope.state('s', [2] as const, init.ones());
      scope.setState('s', second.mul(3));
      return { first, second };
    });
    expect(t.params).toEqual([{ name: 'buffers.s', shape: [2], dtype: 'f32', init: init.ones(), frozen: true }]);
    expect(t.graph.outputs.map((o) => o.name)).toEqual(['first', 'second', `${ASSIGN_PREFIX}buffers.s`]);
    const { outputs, assigned } = interpret(t.graph, { params: { 'buffers.s': [1, 2] } });
    expect(Array.from(outputs.first!.data)).toEqual([1, 2]);
    expect(Array.from(outputs.second!.data)).toEqual([2, 3]);
    expect(Array.from(assigned['buffers.s']!.data)).toEqual([6, 9]);
  });

  it('detaches what it writes: a read after a write carries no gradient', () => {
    const t = trace((ctx, { x }) => {
      const w = ctx.param('w', [2] as const, init.zeros());
      ctx.state('s', [2] as const, init.zeros());
      ctx.setState('s', w.mul(x));
      const loss = ctx.state('s', [2] as const, init.zeros()).sum().add(w.sum());
      return { g: grad(loss, [w])[0] };
    }, { x: spec([2] as const) });
    const out = interpret(t.graph, { inputs: { x: [5, 7] }, params: { w: [1, 1], s: [0, 0] } }).outputs;
    expect(Array.from(out.g!.data)).toEqual([1, 1]);
  });

  it('rejects writes to something that is not a state, of another shape, or also returned as an assign output', () => {
    expect(() => trace((ctx) => {
      const w = ctx.param('w', [2] as const, init.zeros());
      ctx.setState('w', w);
      return w;
    })).toThrow(/not a state/);
    expect(() => trace((ctx) => {
      const s = ctx.state('s', [2] as const, init.zeros());
      ctx.setState('s', s.sum().reshape([1]));
      return s;
    })).toThrow(ShapeError);
    expect(() => trace((ctx) => {
      const s = ctx.state('s', [2] as const, init.zeros());
      ctx.setState('s', s.add(1));
      return { [`${ASSIGN_PREFIX}s`]: s };
    })).toThrow(/also returned/);
  });

  it('is written back by a train step and never trained by it', () => {
    const step = trainStep((ctx, { x }) => {
      const w = ctx.param('w', [2] as const, init.ones());
      const count = ctx.state('count', [] as const, init.zeros());
      ctx.setState('count', count.add(1));
      return w.mul(x).add(count).square().sum();
    }, { x: spec([2] as const) }, { schedule: constantLr(0.1) });
    expect(step.trained.map((p) => p.name)).toEqual(['w']);
    const state = initParams(step.params, 0);
    expect(Object.keys(state)).not.toContain('optim.m.count');
    for (let k = 1; k <= 3; k++) runStep(step.graph, state, { x: [1, 2], step: k });
    expect(state.count![0]).toBe(3);
    expect(Array.from(state.w!)).not.toEqual([1, 1]);
  });
});
