// Runtime · sim: a Device whose kernels run in the Kernel IR simulator
// (compiler/kernel/simulate.ts). By default it takes CUDA programs (kind 'cuda',
// 32-lane warps, tensor-core mma), so the Executor runs what the CUDA printer
// would be given, on this GPU-less machine, with every load and store
// bounds-checked; as kind 'webgpu' with 8-lane subgroups it stands in for lavapipe.
// Buffers hold values exactly as a device's bytes would (encode/decode round trip).
// With `gemm`, kernels carrying a GemmCall run through a reference GEMM instead,
// as a CUDA device with cuBLASLt runs them.

import { simulateKernel } from '../../compiler/kernel/simulate.ts';
import type { Kernel } from '../../compiler/kernel/ir.ts';
import type { DType } from '../../compiler/ir/dtype.ts';
import type { GemmCall, ProgramKernel } from '../../compiler/program.ts';
import { runGemmCall } from './gemm.ts';
import { allocationBytes, decodeValues, encodeValues, type BoundKernel, type CompiledKernel, type Device, type DeviceBuffer, type DeviceLimits, type DeviceStep } from '../device.ts';

class SimBuffer implements DeviceBuffer {
  readonly bytes: number;
  readonly data: Float64Array;
  constructor(readonly label: string, readonly dtype: DType, readonly size: number) {
    this.bytes = allocationBytes(dtype, size);
    this.data = new Float64Array(size);
  }
}

class SimKernel implements CompiledKernel {
  constructor(readonly name: string, readonly workgroupSize: number, readonly ir: Kernel, readonly gemm: GemmCall | undefined) {}
}

class SimBound implements BoundKernel {
  constructor(readonly kernel: SimKernel, readonly grid: readonly [number, number, number], readonly buffers: readonly SimBuffer[]) {}
}

const LIMITS: DeviceLimits = {
  maxStorageBuffersPerShaderStage: 512,
  maxStorageBufferBindingSize: 2 ** 31,
  maxBufferSize: 2 ** 31,
  maxComputeWorkgroupsPerDimension: 2 ** 31 - 1,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeWorkgroupStorageSize: 48 * 1024,
};

export interface SimulatedDeviceOptions {
  /** Which programs it accepts (default 'cuda'). */
  readonly kind?: 'cuda' | 'webgpu';
  /** Lanes per subgroup (default 32, a CUDA warp; lavapipe uses 8). */
  readonly subgroupSize?: number;
  /** Run kernels that carry a GemmCall through a reference GEMM (sim/gemm.ts), as a CUDA device with cuBLASLt does; default false. */
  readonly gemm?: boolean;
}

export class SimulatedDevice implements Device {
  readonly kind: 'cuda' | 'webgpu';
  readonly subgroupSize: number;
  readonly gemm: boolean;
  readonly limits = LIMITS;
  readonly features: ReadonlySet<string>;

  constructor(options: SimulatedDeviceOptions = {}) {
    this.kind = options.kind ?? 'cuda';
    this.subgroupSize = options.subgroupSize ?? 32;
    this.gemm = options.gemm ?? false;
    this.features = new Set(this.kind === 'cuda' ? ['shader-f16', 'bf16', 'subgroups', 'mma'] : ['shader-f16', 'subgroups']);
  }

  allocate(label: string, dtype: DType, size: number): DeviceBuffer {
    return new SimBuffer(label, dtype, size);
  }

  upload(buffer: DeviceBuffer, values: ArrayLike<number>): void {
    const b = buffer as SimBuffer;
    b.data.set(decodeValues(b.dtype, encodeValues(b.dtype, values).buffer as ArrayBuffer, b.size));
  }

  async download(buffers: readonly DeviceBuffer[]): Promise<Float64Array[]> {
    return buffers.map((b) => Float64Array.from((b as SimBuffer).data));
  }

  async compile(kernel: ProgramKernel): Promise<CompiledKernel> {
    return new SimKernel(kernel.name, kernel.workgroupSize, kernel.ir, this.gemm ? kernel.gemm : undefined);
  }

  bind(kernel: CompiledKernel, buffers: readonly DeviceBuffer[], grid: readonly [number, number, number]): BoundKernel {
    return new SimBound(kernel as SimKernel, grid, buffers as SimBuffer[]);
  }

  submit(steps: readonly DeviceStep[]): void {
    for (const step of steps) {
      if (step.kind === 'copy') {
        (step.to as SimBuffer).data.set((step.from as SimBuffer).data);
        continue;
      }
      const bound = step.kernel as SimBound;
      if (bound.kernel.gemm) {
        runGemmCall(bound.kernel.gemm, bound.buffers.map((b) => b.data));
        continue;
      }
      simulateKernel(bound.kernel.ir, bound.buffers.map((b) => b.data), { subgroupSize: this.subgroupSize });
    }
  }

  async synchronize(): Promise<void> {}

  release(): void {}
}
