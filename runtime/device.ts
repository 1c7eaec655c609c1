// Runtime · the one seam between programs and hardware. In: buffers described by
// dtype and element count, kernels from a Program (generated source + bindings),
// and runs of steps. Out: device allocations, pipelines bound to buffers, and
// values downloaded back as float64. The Executor speaks only this interface;
// runtime/webgpu (and later runtime/cuda) implement it.

import { DType } from '../compiler/ir/dtype.ts';
import type { ProgramKernel } from '../compiler/program.ts';
import { bf16Round } from './cpu/numeric.ts';
import { f16Bits, f16FromBits } from './cpu/ops.ts';

export type DeviceKind = 'webgpu' | 'cuda' | 'cpu';

/** The limits a Program must fit (names follow WebGPU's GPUSupportedLimits). */
export interface DeviceLimits {
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupStorageSize: number;
}

/** A device allocation of `size` elements of `dtype`. Opaque: only the device that made it accepts it. */
export interface DeviceBuffer {
  readonly label: string;
  readonly dtype: DType;
  readonly size: number;
  /** Bytes allocated (element bytes rounded up to whole 4-byte words, at least one word). */
  readonly bytes: number;
}

/** A kernel compiled into a pipeline. */
export interface CompiledKernel {
  readonly name: string;
  readonly workgroupSize: number;
}

/** A compiled kernel with its buffers bound and its grid fixed, made once at load. */
export interface BoundKernel {
  readonly kernel: CompiledKernel;
  readonly grid: readonly [number, number, number];
}

export type DeviceStep =
  | { readonly kind: 'dispatch'; readonly kernel: BoundKernel }
  /** Copies all of `from` into `to` (same dtype and size). */
  | { readonly kind: 'copy'; readonly from: DeviceBuffer; readonly to: DeviceBuffer };

export interface Device {
  readonly kind: DeviceKind;
  readonly limits: DeviceLimits;
  /** Optional capabilities present (WebGPU feature names: 'shader-f16', 'subgroups'). */
  readonly features: ReadonlySet<string>;
  /** A zero-filled buffer. */
  allocate(label: string, dtype: DType, size: number): DeviceBuffer;
  /** Writes `values` (converted to the buffer's dtype as the interpreter would) before the next submitted run. */
  upload(buffer: DeviceBuffer, values: ArrayLike<number>): void;
  /** Reads buffers back after all submitted work, as float64 values. */
  download(buffers: readonly DeviceBuffer[]): Promise<Float64Array[]>;
  /** Compiles generated source into a pipeline; throws with the compiler's messages on any error or warning. */
  compile(kernel: ProgramKernel): Promise<CompiledKernel>;
  /** Binds buffers (binding i ↔ buffers[i]) for dispatch over `grid` workgroups. */
  bind(kernel: CompiledKernel, buffers: readonly DeviceBuffer[], grid: readonly [number, number, number]): BoundKernel;
  /** Encodes the steps in order into one submission. */
  submit(steps: readonly DeviceStep[]): void;
  /** Resolves when all submitted work has finished; rejects with any error the device reported. */
  synchronize(): Promise<void>;
  release(buffer: DeviceBuffer): void;
}

/** Bytes one element occupies in a device buffer: bool is a u32 word, f16/bf16 two bytes. */
export function elementBytes(dtype: DType): number {
  return dtype === DType.F16 || dtype === DType.BF16 ? 2 : 4;
}

/** Allocation size: whole 4-byte words (WebGPU copies and mapping work in words), never zero. */
export function allocationBytes(dtype: DType, size: number): number {
  return Math.max(4, Math.ceil((size * elementBytes(dtype)) / 4) * 4);
}

function bf16Bits(value: number): number {
  const word = new Float32Array([bf16Round(value)]);
  return new Uint32Array(word.buffer)[0]! >>> 16;
}

/**
 * Host values → the bytes a device buffer holds, converted as the interpreter
 * normalises: f32 rounds to nearest, i32/u32 wrap, bool is non-zero, f16/bf16 round
 * half to even. The result is padded to whole 4-byte words.
 */
export function encodeValues(dtype: DType, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  const bytes = new Uint8Array(allocationBytes(dtype, n));
  switch (dtype) {
    case DType.F32: new Float32Array(bytes.buffer, 0, n).set(values); break;
    case DType.I32: new Int32Array(bytes.buffer, 0, n).set(values); break;
    case DType.U32: new Uint32Array(bytes.buffer, 0, n).set(values); break;
    case DType.Bool: {
      const words = new Uint32Array(bytes.buffer, 0, n);
      for (let i = 0; i < n; i++) words[i] = values[i] !== 0 ? 1 : 0;
      break;
    }
    case DType.F16:
    case DType.BF16: {
      const halves = new Uint16Array(bytes.buffer, 0, n);
      const bits = dtype === DType.F16 ? f16Bits : bf16Bits;
      for (let i = 0; i < n; i++) halves[i] = bits(values[i]!);
      break;
    }
    default:
      return dtype satisfies never;
  }
  return bytes;
}

/** Device bytes → float64 values (the first `size` elements). */
export function decodeValues(dtype: DType, bytes: ArrayBuffer, size: number): Float64Array {
  switch (dtype) {
    case DType.F32: return Float64Array.from(new Float32Array(bytes, 0, size));
    case DType.I32: return Float64Array.from(new Int32Array(bytes, 0, size));
    case DType.U32: return Float64Array.from(new Uint32Array(bytes, 0, size));
    case DType.Bool: return Float64Array.from(new Uint32Array(bytes, 0, size), (w) => (w !== 0 ? 1 : 0));
    case DType.F16: return Float64Array.from(new Uint16Array(bytes, 0, size), f16FromBits);
    case DType.BF16: {
      const words = Uint32Array.from(new Uint16Array(bytes, 0, size), (h) => h << 16);
      return Float64Array.from(new Float32Array(words.buffer));
    }
    default:
      return dtype satisfies never;
  }
}
