// Example · the README's first command (for now): trace a small pre-norm ViT
// block with LayerScale (the MAETok encoder block, spec §2.2 step 5) at miniature
// size, print its Graph IR, initialise its parameters and run it on the reference
// interpreter. Run: npm run demo

import { DType, LayerNorm, MultiHeadAttention, Mlp, initParams, init, spec, trace, type Context, type Tensor, type Shape } from '../dsl/index.ts';
import { interpret } from '../runtime/cpu/interpret.ts';
import { toNested } from '../runtime/cpu/host-tensor.ts';

const BATCH = 2;
const TOKENS = 4;
const WIDTH = 8;
const HEADS = 2;

type F32 = Tensor<Shape, DType.F32>;

/** x += γ1⊙Attn(LN1(x)); x += γ2⊙MLP(LN2(x)) */
function vitBlock(ctx: Context, x: F32, heads: number): F32 {
  const width = x.shape[x.shape.length - 1]!;
  const gamma1 = ctx.param('ls1.gamma', [width] as const, init.constant(1e-5));
  const gamma2 = ctx.param('ls2.gamma', [width] as const, init.constant(1e-5));
  const attended = MultiHeadAttention(ctx.child('attn'), LayerNorm(ctx, 'norm1', x), { heads, linearInit: init.truncNormal(0.02) });
  const h = x.add(attended.mul(gamma1));
  return h.add(Mlp(ctx.child('mlp'), LayerNorm(ctx, 'norm2', h), 4 * width, 'none', init.truncNormal(0.02)).mul(gamma2));
}

const traced = trace((ctx, { x }) => vitBlock(ctx.child('blocks.0'), x, HEADS), { x: spec([BATCH, TOKENS, WIDTH] as const) });

console.log(`# Graph IR of one ViT block (${traced.graph.nodes.length} nodes)`);
console.log(traced.graph.toString());
console.log('\n# parameters');
for (const p of traced.params) console.log(`  ${p.name.padEnd(28)} [${p.shape.join(', ')}]  ${p.init.kind}`);

const params = initParams(traced.params, 0);
const x = Float64Array.from({ length: BATCH * TOKENS * WIDTH }, (_, i) => Math.sin(i));
const { outputs } = interpret(traced.graph, { inputs: { x }, params });
const out = outputs.out!;
const maxDelta = out.data.reduce((m, v, i) => Math.max(m, Math.abs(v - x[i]!)), 0);
console.log(`\n# output on the interpreter (float64), shape [${out.shape.join(', ')}]`);
const [firstImage] = toNested(out) as number[][][];
for (const row of firstImage!) console.log(`  [${row.map((v) => v.toFixed(4).padStart(7)).join(' ')}]`);
console.log(`max |out − x| = ${maxDelta.toExponential(3)} (LayerScale 1e-5 keeps the block near the identity at init)`);
