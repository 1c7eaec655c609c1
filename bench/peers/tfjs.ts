// Bench · the TensorFlow.js peer (@tensorflow/tfjs, i.e. tfjs-core + gradients, with
// @tensorflow/tfjs-backend-webgpu).
// In: a workload's host data. Out: a BenchCase whose run() issues the ops eagerly
// (tfjs has no jit; it batches dispatches into command buffers) and reads a
// 4-value probe (or the loss) back, which flushes the queue. Gradients come from
// tf.variableGrads over all block weights. The stock 'webgpu' factory requests
// only some limits, so it is replaced by one that requests every adapter maximum.

/// <reference types="@webgpu/types" />

import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { BenchCase, Library, Outputs, Prepared } from '../harness.ts';
import { BLOCK, type Param, type WorkloadData } from '../workloads.ts';
import { transposeHost } from './jax.ts';

type Tf = typeof import('@tensorflow/tfjs');

let module: Promise<Tf> | undefined;
let serial = 0;

function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  // Dawn exposes the limits as prototype getters, which for…in enumerates.
  for (const key in adapter.limits) {
    const value: unknown = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') out[key] = value;
  }
  return out;
}

async function load(): Promise<Tf> {
  // Both register themselves on import, and the backend only if navigator.gpu exists: import after gpu.ts.
  // The union package, not tfjs-core alone: only its bundle registers the gradient functions
  // (tfjs-core's own register_all_gradients is ESM with directory imports Node cannot load).
  const tf = await import('@tensorflow/tfjs');
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error('navigator.gpu is missing');
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', async () => {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('tfjs: no WebGPU adapter');
    const device = await adapter.requestDevice({ requiredLimits: adapterLimits(adapter) });
    return new WebGPUBackend(device, adapter.info);
  }, 3);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed');
  await tf.ready();
  return tf;
}

/** The first 4 values of `y` read to the host (disposing `y`): the readback that ends a timed run. */
async function probe(tf: Tf, y: Tensor): Promise<void> {
  const head = tf.tidy(() => tf.slice(tf.reshape(y, [-1]), 0, 4));
  y.dispose();
  await head.data();
  head.dispose();
}

/** One pre-norm ViT block, the same computation as kiln's models/vit.ts vitBlock; weights are [in, out]. */
function block(tf: Tf, p: ReadonlyMap<string, Tensor>, x: Tensor): Tensor {
  const [batch, tokens, width] = x.shape as [number, number, number];
  const heads = BLOCK.heads;
  const hd = width / heads;
  const get = (name: string): Tensor => {
    const value = p.get(name);
    if (!value) throw new Error(`tfjs block: no param ${name}`);
    return value;
  };
  const norm = (v: Tensor, name: string): Tensor => {
    const { mean, variance } = tf.moments(v, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(v, mean), tf.rsqrt(tf.add(variance, BLOCK.eps))), get(`${name}.weight`)), get(`${name}.bias`));
  };
  // rows × in @ in × out on the flattened tokens
  const linear = (v: Tensor, name: string): Tensor => {
    const w = get(`${name}.weight`);
    return tf.add(tf.matMul(tf.reshape(v, [-1, w.shape[0]!]), w), get(`${name}.bias`));
  };
  const qkv = tf.transpose(tf.reshape(linear(norm(x, 'norm1'), 'attn.qkv'), [batch, tokens, 3, heads, hd]), [2, 0, 3, 1, 4]);
  const [q, k, v] = tf.unstack(qkv, 0) as [Tensor, Tensor, Tensor];
  const weights = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)));
  const attended = tf.reshape(tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]), [batch * tokens, width]);
  const h = tf.add(tf.reshape(x, [batch * tokens, width]), linear(attended, 'attn.proj'));
  const u = linear(norm(h, 'norm2'), 'mlp.fc1');
  const gelu = tf.mul(tf.mul(u, 0.5), tf.add(tf.erf(tf.mul(u, Math.SQRT1_2)), 1));
  return tf.reshape(tf.add(h, linear(gelu, 'mlp.fc2')), [batch, tokens, width]);
}

function tensor(tf: Tf, values: Float32Array, shape: readonly number[]): Tensor {
  return tf.tensor(values, [...shape], 'float32');
}

function uploadParams(tf: Tf, params: Readonly<Record<string, Param>>): Map<string, Variable> {
  serial += 1;
  return new Map(Object.entries(params).map(([name, { shape, values }]) => {
    const [out, inDim] = shape as [number, number];
    const initial = shape.length === 2 ? tensor(tf, transposeHost(values, out, inDim), [inDim, out]) : tensor(tf, values, shape);
    const variable = tf.variable(initial, true, `bench${serial}/${name}`);
    initial.dispose();
    return [name, variable];
  }));
}

function prepareBlock(tf: Tf, data: Extract<WorkloadData, { kind: 'block' }>): BenchCase {
  const params = uploadParams(tf, data.params);
  const x = tensor(tf, data.x, [data.batch, BLOCK.tokens, BLOCK.width]);
  const dispose = () => {
    x.dispose();
    for (const v of params.values()) v.dispose();
  };
  const forward = () => tf.tidy(() => block(tf, params, x));
  if (!data.train) {
    return {
      run: () => probe(tf, forward()),
      outputs: async () => {
        const y = forward();
        const out = { out: await y.data() };
        y.dispose();
        return out;
      },
      dispose,
    };
  }
  const variables = [...params.values()];
  const nameOf = new Map([...params].map(([name, v]) => [v.name, name]));
  const step = () => tf.variableGrads(() => tf.mean(block(tf, params, x)) as Scalar, variables);
  return {
    run: async () => {
      const { value, grads } = step();
      // every gradient was recorded before this read; the readback flushes them all
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    },
    outputs: async (): Promise<Outputs> => {
      const { value, grads } = step();
      const out: Record<string, ArrayLike<number>> = { loss: await value.data() };
      for (const [variableName, g] of Object.entries(grads)) {
        const name = nameOf.get(variableName)!;
        const shape = data.params[name]!.shape;
        const values = await g.data();
        out[`grad.${name}`] = shape.length === 2 ? transposeHost(values, shape[1]!, shape[0]!) : values;
      }
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    },
    dispose,
  };
}

/** A one-output case: run eagerly, read a probe; the check reads the whole output. */
function simple(tf: Tf, call: () => Tensor, inputs: readonly Tensor[]): Prepared {
  return {
    bench: {
      run: () => probe(tf, tf.tidy(call)),
      outputs: async () => {
        const y = tf.tidy(call);
        const out = { out: await y.data() };
        y.dispose();
        return out;
      },
      dispose: () => tf.dispose([...inputs]),
    },
  };
}

async function prepare(data: WorkloadData): Promise<Prepared> {
  if (data.kind === 'model') return { unavailable: 'kiln-only workload (the model is written in kiln\'s DSL)' };
  module ??= load();
  const tf = await module;
  switch (data.kind) {
    case 'matmul': {
      const a = tensor(tf, data.a, [data.n, data.n]);
      const b = tensor(tf, data.b, [data.n, data.n]);
      return simple(tf, () => tf.matMul(a, b), [a, b]);
    }
    case 'elementwise': {
      const x = tensor(tf, data.x, [data.x.length]);
      return simple(tf, () => {
        const f = tf.add(tf.exp(tf.mul(tf.sin(tf.add(tf.mul(x, 1.5), 0.25)), x)), x);
        return tf.sub(tf.sqrt(tf.add(tf.mul(f, f), 1)), x);
      }, [x]);
    }
    case 'layernorm': {
      const x = tensor(tf, data.x, [data.rows, data.cols]);
      const weight = tensor(tf, data.weight, [data.cols]);
      const bias = tensor(tf, data.bias, [data.cols]);
      const eps = data.eps;
      return simple(tf, () => {
        const { mean, variance } = tf.moments(x, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), weight), bias);
      }, [x, weight, bias]);
    }
    case 'block':
      return { bench: prepareBlock(tf, data) };
    default:
      return data satisfies never;
  }
}

export const tfjs: Library = { name: 'tfjs', prepare };
