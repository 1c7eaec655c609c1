// Bench · the jax-js peer (@jax-js/jax on its WebGPU backend, which requests its
// own adapter with the adapter's maximum limits). In: a workload's host data. Out:
// a BenchCase whose run() calls a jit-compiled function (jit ∘ valueAndGrad for
// the training step), waits for every output, and reads a 4-value probe (or the
// loss) back. jax-js is lazy and reference counted: every reused array is passed
// as `.ref`, and arrays are disposed explicitly.

import type { Array as JaxArray, JsTree, OwnedFunction } from '@jax-js/jax';
import type { BenchCase, Library, Outputs, Prepared } from '../harness.ts';
import { BLOCK, type Param, type WorkloadData } from '../workloads.ts';

type Jax = typeof import('@jax-js/jax');
type Params = Record<string, JaxArray>;

let module: Promise<Jax> | undefined;

async function load(): Promise<Jax> {
  const jax = await import('@jax-js/jax');
  const devices = await jax.init('webgpu');
  if (!devices.includes('webgpu')) throw new Error('jax-js found no WebGPU device (navigator.gpu.requestAdapter gave none)');
  jax.defaultDevice('webgpu');
  return jax;
}

/** Host [rows, cols] → [cols, rows] (torch Linear weights to the x @ W layout, and grads back). */
export function transposeHost(values: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

function upload(jax: Jax, values: Float32Array, shape: readonly number[]): JaxArray {
  return jax.numpy.array(values).reshape([...shape]);
}

/** The first 4 values of `y` (consumed) read to the host: the small readback that ends a timed run. */
async function probe(y: JaxArray): Promise<void> {
  await y.ravel().slice([0, 4]).data();
}

function refs(params: Params): Params {
  return Object.fromEntries(Object.entries(params).map(([name, p]) => [name, p.ref]));
}

/** One pre-norm ViT block, the same computation as kiln's models/vit.ts vitBlock; weights are [in, out]. */
function block(jax: Jax, p: Params, x: JaxArray): JaxArray {
  const { numpy: np, nn } = jax;
  const [batch, tokens, width] = x.shape as [number, number, number];
  const hd = width / BLOCK.heads;
  const get = (name: string): JaxArray => {
    const value = p[name];
    if (!value) throw new Error(`jax block: no param ${name}`);
    return value;
  };
  const norm = (v: JaxArray, name: string) => nn.standardize(v, -1, { epsilon: BLOCK.eps }).mul(get(`${name}.weight`)).add(get(`${name}.bias`));
  const linear = (v: JaxArray, name: string) => np.matmul(v, get(`${name}.weight`)).add(get(`${name}.bias`));
  // timm's qkv features are laid out (3, heads, hd): → (3, B, heads, T, hd)
  const qkv = linear(norm(x.ref, 'norm1'), 'attn.qkv').reshape([batch, tokens, 3, BLOCK.heads, hd]).transpose([2, 0, 3, 1, 4]);
  const q = qkv.ref.slice(0);
  const k = qkv.ref.slice(1);
  const v = qkv.slice(2);
  // Written out rather than nn.dotProductAttention: that one parses an einsum with
  // Iterator helpers (Node ≥ 22), and kiln supports Node 20. Same math either way.
  const weights = nn.softmax(np.matmul(q, np.swapaxes(k, -1, -2)).mul(1 / Math.sqrt(hd)), -1);
  const attended = np.matmul(weights, v).transpose([0, 2, 1, 3]).reshape([batch, tokens, width]);
  const h = x.add(linear(attended, 'attn.proj'));
  const hidden = nn.gelu(linear(norm(h.ref, 'norm2'), 'mlp.fc1'), { approximate: false });
  return h.add(linear(hidden, 'mlp.fc2'));
}

function uploadParams(jax: Jax, params: Readonly<Record<string, Param>>): Params {
  return Object.fromEntries(Object.entries(params).map(([name, { shape, values }]) => {
    if (shape.length !== 2) return [name, upload(jax, values, shape)];
    const [out, inDim] = shape as [number, number];
    return [name, upload(jax, transposeHost(values, out, inDim), [inDim, out])];
  }));
}

function disposeAll(arrays: readonly JaxArray[], functions: readonly OwnedFunction<(...args: never[]) => unknown>[]): void {
  for (const a of arrays) a.dispose();
  for (const f of functions) f.dispose();
}

async function readAll(jax: Jax, tree: JsTree<JaxArray>): Promise<void> {
  await jax.blockUntilReady(tree);
}

function prepareBlock(jax: Jax, data: Extract<WorkloadData, { kind: 'block' }>): BenchCase {
  const params = uploadParams(jax, data.params);
  const x = upload(jax, data.x, [data.batch, BLOCK.tokens, BLOCK.width]);
  const all = [...Object.values(params), x];
  if (!data.train) {
    const forward = jax.jit((p: Params, input: JaxArray) => block(jax, p, input));
    return {
      run: async () => {
        const y = forward(refs(params), x.ref);
        await readAll(jax, y);
        await probe(y);
      },
      outputs: async () => ({ out: await forward(refs(params), x.ref).data() }),
      dispose: () => disposeAll(all, [forward]),
    };
  }
  const step = jax.jit(jax.valueAndGrad((p: Params, input: JaxArray) => block(jax, p, input).mean()));
  return {
    run: async () => {
      const [loss, grads] = step(refs(params), x.ref);
      await readAll(jax, grads);
      await loss.data();
      for (const g of Object.values(grads)) g.dispose();
    },
    outputs: async (): Promise<Outputs> => {
      const [loss, grads] = step(refs(params), x.ref);
      const out: Record<string, ArrayLike<number>> = { loss: await loss.data() };
      for (const [name, g] of Object.entries(grads)) {
        const values = await g.data();
        const shape = data.params[name]!.shape;
        // weights live as [in, out] here; report them in the reference [out, in] layout
        out[`grad.${name}`] = shape.length === 2 ? transposeHost(values, shape[1]!, shape[0]!) : values;
      }
      return out;
    },
    dispose: () => disposeAll(all, [step]),
  };
}

async function prepare(data: WorkloadData): Promise<Prepared> {
  if (data.kind === 'model') return { unavailable: 'kiln-only workload (the model is written in kiln\'s DSL)' };
  module ??= load();
  const jax = await module;
  const np = jax.numpy;
  switch (data.kind) {
    case 'matmul': {
      const a = upload(jax, data.a, [data.n, data.n]);
      const b = upload(jax, data.b, [data.n, data.n]);
      const matmul = jax.jit((l: JaxArray, r: JaxArray) => np.matmul(l, r));
      return simple(jax, () => matmul(a.ref, b.ref), [a, b], [matmul]);
    }
    case 'elementwise': {
      const x = upload(jax, data.x, [data.x.length]);
      const chain = jax.jit((v: JaxArray) => {
        const f = np.exp(np.sin(v.ref.mul(1.5).add(0.25)).mul(v.ref)).add(v.ref);
        return np.sqrt(f.ref.mul(f).add(1)).sub(v);
      });
      return simple(jax, () => chain(x.ref), [x], [chain]);
    }
    case 'layernorm': {
      const x = upload(jax, data.x, [data.rows, data.cols]);
      const weight = upload(jax, data.weight, [data.cols]);
      const bias = upload(jax, data.bias, [data.cols]);
      const eps = data.eps;
      const norm = jax.jit((v: JaxArray, w: JaxArray, b: JaxArray) => jax.nn.standardize(v, -1, { epsilon: eps }).mul(w).add(b));
      return simple(jax, () => norm(x.ref, weight.ref, bias.ref), [x, weight, bias], [norm]);
    }
    case 'block':
      return { bench: prepareBlock(jax, data) };
    default:
      return data satisfies never;
  }
}

/** A one-output case: run, wait, read a probe; the check reads the whole output. */
function simple(jax: Jax, call: () => JaxArray, arrays: JaxArray[], functions: OwnedFunction<(...args: never[]) => unknown>[]): Prepared {
  return {
    bench: {
      run: async () => {
        const y = call();
        await readAll(jax, y);
        await probe(y);
      },
      outputs: async () => ({ out: await call().data() }),
      dispose: () => disposeAll(arrays, functions),
    },
  };
}

export const jaxJs: Library = { name: 'jax-js', prepare };
