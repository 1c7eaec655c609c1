// Reference interpreter · strided index loops shared by the view, reduce and dot
// implementations. An "odometer" walks a shape in row-major order while keeping a
// source offset updated from per-axis strides, so no per-element division happens.

import type { Shape } from '../../compiler/ir/errors.ts';

export { contiguousStrides } from '../../compiler/ir/node.ts';

/** out[i] = src[offset + Σ coord_k · strides[k]] for every index of `shape`, in row-major order. */
export function stridedGather(src: Float64Array, shape: Shape, strides: readonly number[], offset: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  if (n === 0) return out;
  const rank = shape.length;
  const coord = new Array<number>(rank).fill(0);
  let at = offset;
  const last = rank - 1;
  const innerLen = rank === 0 ? 1 : shape[last]!;
  const innerStride = rank === 0 ? 0 : strides[last]!;
  for (let i = 0; i < n; i += innerLen) {
    for (let j = 0; j < innerLen; j++) out[i + j] = src[at + j * innerStride]!;
    // advance every axis but the last
    for (let k = last - 1; k >= 0; k--) {
      coord[k]!++;
      at += strides[k]!;
      if (coord[k]! < shape[k]!) break;
      at -= coord[k]! * strides[k]!;
      coord[k] = 0;
    }
  }
  return out;
}

/** Walks `shape` row-major, calling fn(flatIndex, offset) with offset = Σ coord_k · strides[k]. */
export function forEachOffset(shape: Shape, strides: readonly number[], fn: (flat: number, offset: number) => void): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const rank = shape.length;
  const coord = new Array<number>(rank).fill(0);
  let at = 0;
  for (let i = 0; i < n; i++) {
    fn(i, at);
    for (let k = rank - 1; k >= 0; k--) {
      coord[k]!++;
      at += strides[k]!;
      if (coord[k]! < shape[k]!) break;
      at -= coord[k]! * strides[k]!;
      coord[k] = 0;
    }
  }
}
