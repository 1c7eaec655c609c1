// DSL · explicit randomness on top of the randomBits primitive (Threefry-2x32).
// Keys are u32[2] tensors; foldIn derives independent keys, uniform and normal
// turn bits into floats. Same key ⇒ same numbers, on every backend.

import { DType } from '../compiler/ir/dtype.ts';
import type { Shape } from './shape.ts';
import { Tensor } from './tensor.ts';

export type Key = Tensor<readonly [2], DType.U32>;

function wrap<S extends Shape, D extends DType>(like: Key, node: Tensor['node']): Tensor<S, D> {
  return new Tensor<S, D>(node, like.owner);
}

/**
 * The key for stream `index` under `key`: words 2·index and 2·index+1 of its bits.
 * @example const dropoutKey = foldIn(key, 0);
 *          const noiseKey = foldIn(key, 1);
 */
export function foldIn(key: Key, index: number): Key {
  const b = key.owner.builder;
  const bits = b.randomBits(key.node, [2 * (index + 1)]);
  return wrap(key, b.slice(bits, 0, 2 * index, 2 * index + 2));
}

/** @example const [k1, k2] = split(key, 2); */
export function split(key: Key, count: number): Key[] {
  return Array.from({ length: count }, (_, i) => foldIn(key, i));
}

/** Raw u32 bits. @example const bits = randomBits(key, [4, 4] as const); */
export function randomBits<const S extends Shape>(key: Key, shape: S): Tensor<S, DType.U32> {
  return wrap(key, key.owner.builder.randomBits(key.node, shape));
}

/**
 * Uniform floats in [low, high) with 23 random mantissa bits.
 * @example const u = uniform(key, [B] as const);
 *          const t = uniform(key, [B] as const, 0, 1);
 */
export function uniform<const S extends Shape>(key: Key, shape: S, low = 0, high = 1): Tensor<S, DType.F32> {
  const b = key.owner.builder;
  const bits = b.randomBits(key.node, shape);
  const oneToTwo = b.bitcast(b.or(b.shr(bits, 9), 0x3f800000), DType.F32);
  return wrap(key, b.add(b.mul(b.sub(oneToTwo, 1), high - low), low));
}

/**
 * Standard normal samples (Box–Muller on two uniform streams).
 * @example const eps = normal(ctx.rng(), [B, L, C] as const);
 *          const x = eps.mul(0.5);
 */
export function normal<const S extends Shape>(key: Key, shape: S): Tensor<S, DType.F32> {
  const b = key.owner.builder;
  const u1 = uniform(foldIn(key, 0), shape).node;
  const u2 = uniform(foldIn(key, 1), shape).node;
  const radius = b.sqrt(b.mul(b.log(b.sub(1, u1)), -2));
  return wrap(key, b.mul(radius, b.cos(b.mul(u2, 2 * Math.PI))));
}

/**
 * True with probability p. @example const drop = bernoulli(ctx.rng(), 0.1, [B] as const);
 *          const labels = where(drop, nullId, y);
 */
export function bernoulli<const S extends Shape>(key: Key, p: number, shape: S): Tensor<S, DType.Bool> {
  return wrap(key, key.owner.builder.lt(uniform(key, shape).node, p));
}
