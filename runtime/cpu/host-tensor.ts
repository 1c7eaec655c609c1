// Reference interpreter · host tensors: a dtype, a shape and float64 values in
// row-major order (integers and bools are stored as exact float64 numbers).

import { DType } from '../../compiler/ir/dtype.ts';
import { formatShape, type Shape } from '../../compiler/ir/errors.ts';
import { size } from '../../compiler/ir/node.ts';

export interface HostTensor {
  readonly dtype: DType;
  readonly shape: Shape;
  readonly data: Float64Array;
}

export function hostTensor(shape: Shape, data: ArrayLike<number> | number, dtype: DType = DType.F32): HostTensor {
  const n = size(shape);
  const values = typeof data === 'number' ? new Float64Array(n).fill(data) : Float64Array.from(data);
  if (values.length !== n) throw new Error(`hostTensor: ${values.length} values do not fill shape ${formatShape(shape)} (${n})`);
  return { dtype, shape: [...shape], data: values };
}

/** Nested arrays for printing and test messages. */
export function toNested(t: HostTensor): unknown {
  const build = (axis: number, offset: number): unknown => {
    if (axis === t.shape.length) return t.data[offset];
    const stride = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: t.shape[axis]! }, (_, i) => build(axis + 1, offset + i * stride));
  };
  return build(0, 0);
}
