// Reference interpreter · one implementation per primitive, on float64 arrays.
// These loops are the executable definition of each op's semantics; every backend
// is tested against them. Composites never reach here (expanded beforehand).

import { DType, isFloat } from '../../compiler/ir/dtype.ts';
import type { Shape } from '../../compiler/ir/errors.ts';
import { size, type Node, type NodeWith } from '../../compiler/ir/node.ts';
import { Op } from '../../compiler/ir/op.ts';
import { randomBitsHost } from '../../compiler/ir/random.ts';
import { castValue, erf } from './numeric.ts';
import { contiguousStrides, forEachOffset, stridedGather } from './strided.ts';

type Unary = (x: number) => number;
type Binary = (a: number, b: number) => number;

function unaryFn(node: Node): Unary {
  switch (node.op) {
    case Op.Neg: return (x) => -x;
    case Op.Recip: return (x) => 1 / x;
    case Op.Sqrt: return Math.sqrt;
    case Op.Exp2: return (x) => 2 ** x;
    case Op.Log2: return Math.log2;
    case Op.Sin: return Math.sin;
    case Op.Trunc: return Math.trunc;
    case Op.Erf: return erf;
    case Op.Not: return node.dtype === DType.Bool ? (x) => (x ? 0 : 1) : (x) => ~x;
    default: throw new Error(`not a unary op: ${node.op}`);
  }
}

function binaryFn(node: Node, dtype: DType): Binary {
  const int = dtype === DType.I32 || dtype === DType.U32;
  switch (node.op) {
    case Op.Add: return (a, b) => a + b;
    case Op.Mul: return int ? (a, b) => Math.imul(a, b) : (a, b) => a * b;
    case Op.Max: return (a, b) => (a > b || Number.isNaN(a) ? a : b);
    case Op.CmpLt: return (a, b) => (a < b ? 1 : 0);
    case Op.CmpNe: return (a, b) => (a !== b ? 1 : 0);
    // Integer division truncates toward zero; division by zero gives 0 (defined, never a trap).
    case Op.IDiv: return (a, b) => (b === 0 ? 0 : Math.trunc(a / b));
    // Remainder takes the dividend's sign (C, WGSL and CUDA `%`); modulo zero gives 0.
    case Op.Mod: return int ? (a, b) => (b === 0 ? 0 : a % b) : (a, b) => a % b;
    case Op.And: return (a, b) => a & b;
    case Op.Or: return (a, b) => a | b;
    case Op.Xor: return (a, b) => a ^ b;
    case Op.Shl: return (a, b) => a << (b & 31);
    case Op.Shr: return dtype === DType.U32 ? (a, b) => a >>> (b & 31) : (a, b) => a >> (b & 31);
    default: throw new Error(`not a binary op: ${node.op}`);
  }
}

export function unary(node: Node, x: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  const n = x.length;
  // One loop per op: a closure call per element costs more than the arithmetic.
  switch (node.op) {
    case Op.Neg: for (let i = 0; i < n; i++) out[i] = -x[i]!; return out;
    case Op.Recip: for (let i = 0; i < n; i++) out[i] = 1 / x[i]!; return out;
    case Op.Sqrt: for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]!); return out;
    case Op.Exp2: for (let i = 0; i < n; i++) out[i] = 2 ** x[i]!; return out;
    default: {
      const f = unaryFn(node);
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
      return out;
    }
  }
}

export function binary(node: Node, a: Float64Array, b: Float64Array, operandDtype: DType): Float64Array {
  const out = new Float64Array(a.length);
  const n = a.length;
  const float = isFloat(operandDtype);
  switch (node.op) {
    case Op.Add: for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!; return out;
    case Op.Mul:
      if (!float) break;
      for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
      return out;
    default:
      break;
  }
  const f = binaryFn(node, operandDtype);
  for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!);
  return out;
}

export function where(c: Float64Array, a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = c[i] ? a[i]! : b[i]!;
  return out;
}

export function cast(x: Float64Array, from: DType, to: DType): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = castValue(x[i]!, from, to);
  return out;
}

const scratch = new DataView(new ArrayBuffer(4));

function writeBits(view: DataView, dtype: DType, value: number): void {
  switch (dtype) {
    case DType.F32: view.setFloat32(0, value, true); return;
    case DType.I32: view.setInt32(0, value, true); return;
    case DType.U32: view.setUint32(0, value, true); return;
    case DType.F16: view.setUint16(0, f16Bits(value), true); return;
    case DType.BF16: view.setFloat32(0, value, true); view.setUint16(0, view.getUint16(2, true), true); return;
    case DType.Bool: throw new Error('bool has no bit pattern');
    default: return dtype satisfies never;
  }
}

function readBits(view: DataView, dtype: DType): number {
  switch (dtype) {
    case DType.F32: return view.getFloat32(0, true);
    case DType.I32: return view.getInt32(0, true);
    case DType.U32: return view.getUint32(0, true);
    case DType.F16: return f16FromBits(view.getUint16(0, true));
    case DType.BF16: { const hi = view.getUint16(0, true); view.setUint16(0, 0, true); view.setUint16(2, hi, true); return view.getFloat32(0, true); }
    case DType.Bool: throw new Error('bool has no bit pattern');
    default: return dtype satisfies never;
  }
}

/** IEEE half bits of an f16-representable value (the value is rounded first). */
export function f16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === Infinity || a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const mantissa = Math.round((a / 2 ** e - 1) * 1024);
  return mantissa === 1024 ? sign | ((e + 16) << 10) : sign | ((e + 15) << 10) | mantissa;
}

export function f16FromBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function bitcast(x: Float64Array, from: DType, to: DType): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    writeBits(scratch, from, x[i]!);
    out[i] = readBits(scratch, to);
  }
  return out;
}

export function reduce(node: NodeWith<Op.ReduceSum> | NodeWith<Op.ReduceMax>, x: Float64Array, inShape: Shape): Float64Array {
  const outStrides = contiguousStrides(node.shape).map((s, i) => (node.arg.axes.includes(i) ? 0 : s));
  const isMax = node.op === Op.ReduceMax;
  const out = new Float64Array(size(node.shape)).fill(isMax ? -Infinity : 0);
  forEachOffset(inShape, outStrides, (flat, at) => {
    const v = x[flat]!;
    if (isMax) out[at] = v > out[at]! || Number.isNaN(v) ? v : out[at]!;
    else out[at] = out[at]! + v;
  });
  return out;
}

export function view(node: Node, x: Float64Array, inShape: Shape): Float64Array {
  const inStrides = contiguousStrides(inShape);
  switch (node.op) {
    case Op.Reshape:
      return x;
    case Op.Permute:
      return stridedGather(x, node.shape, node.arg.perm.map((p) => inStrides[p]!), 0);
    case Op.Expand:
      return stridedGather(x, node.shape, inStrides.map((s, i) => (inShape[i] === 1 && node.shape[i] !== 1 ? 0 : s)), 0);
    case Op.Shrink: {
      const offset = node.arg.ranges.reduce((acc, [start], i) => acc + start * inStrides[i]!, 0);
      return stridedGather(x, node.shape, inStrides, offset);
    }
    case Op.Flip: {
      const axes = node.arg.axes;
      const offset = axes.reduce((acc, a) => acc + (inShape[a]! - 1) * inStrides[a]!, 0);
      return stridedGather(x, node.shape, inStrides.map((s, i) => (axes.includes(i) ? -s : s)), offset);
    }
    case Op.Pad: {
      const out = new Float64Array(size(node.shape)).fill(node.arg.value);
      const outStrides = contiguousStrides(node.shape);
      const offset = node.arg.pads.reduce((acc, [before], i) => acc + before * outStrides[i]!, 0);
      forEachOffset(inShape, outStrides, (flat, at) => {
        out[offset + at] = x[flat]!;
      });
      return out;
    }
    default:
      throw new Error(`not a view op: ${node.op}`);
  }
}

export function dot(node: NodeWith<Op.Dot>, a: Float64Array, aShape: Shape, b: Float64Array, bShape: Shape): Float64Array {
  const [batchA, batchB] = node.arg.batch;
  const [contractA, contractB] = node.arg.contract;
  const freeA = aShape.map((_, i) => i).filter((i) => !batchA.includes(i) && !contractA.includes(i));
  const freeB = bShape.map((_, i) => i).filter((i) => !batchB.includes(i) && !contractB.includes(i));
  const prod = (shape: Shape, axes: readonly number[]) => axes.reduce((n, i) => n * shape[i]!, 1);
  const batch = prod(aShape, batchA);
  const m = prod(aShape, freeA);
  const k = prod(aShape, contractA);
  const n = prod(bShape, freeB);
  // Lay a out as [batch, m, k] and b as [batch, k, n]: the inner loop then streams rows of b and the output.
  const permA = [...batchA, ...freeA, ...contractA];
  const permB = [...batchB, ...contractB, ...freeB];
  const sa = contiguousStrides(aShape);
  const sb = contiguousStrides(bShape);
  const la = stridedGather(a, permA.map((i) => aShape[i]!), permA.map((i) => sa[i]!), 0);
  const lb = stridedGather(b, permB.map((i) => bShape[i]!), permB.map((i) => sb[i]!), 0);
  const out = new Float64Array(batch * m * n);
  if (!isFloat(node.dtype)) return integerDot(la, lb, out, batch, m, k, n);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < m; i++) {
      const rowA = (p * m + i) * k;
      const rowOut = (p * m + i) * n;
      for (let q = 0; q < k; q++) {
        const aiq = la[rowA + q]!;
        const rowB = (p * k + q) * n;
        for (let j = 0; j < n; j++) out[rowOut + j] = out[rowOut + j]! + aiq * lb[rowB + j]!;
      }
    }
  }
  return out;
}

/** Integer dot with 32-bit wrap-around at every product and sum (as i32/u32 hardware arithmetic). */
function integerDot(la: Float64Array, lb: Float64Array, out: Float64Array, batch: number, m: number, k: number, n: number): Float64Array {
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < m; i++) {
      const rowA = (p * m + i) * k;
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let q = 0; q < k; q++) acc = (acc + Math.imul(la[rowA + q]!, lb[(p * k + q) * n + j]!)) | 0;
        out[(p * m + i) * n + j] = acc;
      }
    }
  }
  return out;
}

/** Out-of-range indices (negative, or ≥ the axis length) read 0; every backend does the same. */
export function gather(node: NodeWith<Op.Gather>, table: Float64Array, tableShape: Shape, idx: Float64Array): Float64Array {
  const axis = node.arg.axis;
  const pre = tableShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const len = tableShape[axis]!;
  const post = tableShape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const count = idx.length;
  const out = new Float64Array(pre * count * post);
  for (let p = 0; p < pre; p++) {
    for (let j = 0; j < count; j++) {
      const v = idx[j]!;
      if (v < 0 || v >= len) continue;
      const src = (p * len + v) * post;
      const dst = (p * count + j) * post;
      for (let q = 0; q < post; q++) out[dst + q] = table[src + q]!;
    }
  }
  return out;
}

/** Out-of-range indices are dropped, mirroring gather. */
export function scatterAdd(node: NodeWith<Op.ScatterAdd>, updates: Float64Array, idx: Float64Array): Float64Array {
  const axis = node.arg.axis;
  const len = node.arg.size;
  const pre = node.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const post = node.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const count = idx.length;
  const out = new Float64Array(size(node.shape));
  for (let p = 0; p < pre; p++) {
    for (let j = 0; j < count; j++) {
      const v = idx[j]!;
      if (v < 0 || v >= len) continue;
      const dst = (p * len + v) * post;
      const src = (p * count + j) * post;
      for (let q = 0; q < post; q++) out[dst + q] = out[dst + q]! + updates[src + q]!;
    }
  }
  return out;
}

export function iota(node: NodeWith<Op.Iota>): Float64Array {
  const strides = contiguousStrides(node.shape);
  const axis = node.arg.axis;
  const out = new Float64Array(size(node.shape));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(i / strides[axis]!) % node.shape[axis]!;
  return out;
}

export function randomBits(node: NodeWith<Op.RandomBits>, key: Float64Array): Float64Array {
  return Float64Array.from(randomBitsHost(key[0]!, key[1]!, size(node.shape)));
}
