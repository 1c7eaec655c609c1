// checkpoint(fn) recomputes a region in the backward pass: gradients are
// bit-identical to the plain graph's, and fewer forward values stay alive for
// the backward pass (counted on the IR: forward nodes that backward nodes read).

import { describe, expect, it } from 'vitest';
import { topoSort, type Graph } from '../../compiler/ir/graph.ts';
import { Op, isSource } from '../../compiler/ir/op.ts';
import { checkpoint, grad, spec, trace, type Context, type DType, type Shape, type Tensor } from '../../dsl/index.ts';
import { vitBlock } from '../../models/vit.ts';
import { interpret } from '../../runtime/cpu/interpret.ts';
import { wave } from '../support/gradcheck.ts';

type F32 = Tensor<Shape, DType.F32>;

function model(useCheckpoint: boolean) {
  return trace(
    (ctx: Context, { x }) => {
      let h: F32 = x;
      for (let i = 0; i < 3; i++) {
        const block = (input: F32) => vitBlock(ctx.child(`blocks.${i}`), input, { heads: 2, layerScale: 0.5 });
        h = useCheckpoint ? checkpoint(block, [h]) : block(h);
      }
      const loss = h.square().mean();
      const params = [...ctx.declaredParams().values()];
      const grads = grad(loss, [x, ...params]);
      return { loss, ...Object.fromEntries(grads.map((g, i) => [`g${i}`, g])) };
    },
    { x: spec([2, 4, 8] as const) },
  );
}

/** Forward values (not sources) that some backward node reads: what must stay alive between the passes. */
function savedActivations(graph: Graph): number {
  const forward = new Set(topoSort([graph.output('loss')]).map((n) => n.id));
  const saved = new Set<number>();
  for (const node of graph.nodes) {
    if (forward.has(node.id)) continue;
    for (const src of node.srcs) if (forward.has(src.id) && !isSource(src.op)) saved.add(src.id);
  }
  return saved.size;
}

describe('checkpoint', () => {
  const plain = model(false);
  const remat = model(true);

  it('gives bit-identical gradients to the un-checkpointed graph', () => {
    const params = Object.fromEntries(plain.params.map((p, k) => [p.name, wave(p.shape.reduce((a, b) => a * b, 1), k + 1)]));
    const inputs = { x: wave(64, 2) };
    const a = interpret(plain.graph, { inputs, params }).outputs;
    const b = interpret(remat.graph, { inputs, params }).outputs;
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const name of Object.keys(a)) expect(Array.from(b[name]!.data), name).toEqual(Array.from(a[name]!.data));
  });

  it('recomputes the regions from barriers and keeps fewer forward values alive', () => {
    expect(remat.graph.nodes.filter((n) => n.op === Op.Barrier).length).toBe(3);
    const kept = savedActivations(remat.graph);
    const baseline = savedActivations(plain.graph);
    expect(kept).toBeLessThan(baseline / 2);
  });
});
