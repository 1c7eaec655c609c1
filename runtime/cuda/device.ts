// Runtime · the CUDA Device. In: kernels of a 'cuda' Program carrying PTX
// (compiler/codegen/ptx.ts withPtx), buffers, and runs of steps. Out: the CUDA
// driver driven through the Device interface by the native addon in this folder
// (src/addon.cc, built by `npm install` through node-gyp): device memory with the
// same byte layout as WebGPU's (runtime/device.ts encodeValues), one PTX module
// per kernel loaded at compile(), launches on one stream, and every multi-step
// run captured once as a CUDA graph and replayed after that (the Executor submits
// the same step list each run). Kernels that carry a GemmCall (programs compiled
// with gemm 'library') run as cuBLASLt matmuls when the library loads
// (runtime/cuda/gemm.ts; KILN_CUDA_GEMM=kernel keeps the generated kernels), and
// are captured into the same graphs. Where the addon is not built or there is no
// driver, cudaAvailability() says why and cudaDevice() throws with that reason.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DType } from '../../compiler/ir/dtype.ts';
import type { TargetLimits } from '../../compiler/compile.ts';
import { CUDA_F32_FEATURES, CUDA_FEATURES, type TargetFeatures } from '../../compiler/kernel/ir.ts';
import type { GemmCall, GemmMatrix, ProgramKernel } from '../../compiler/program.ts';
import {
  allocationBytes, decodeValues, encodeValues,
  type BoundKernel, type CompiledKernel, type Device, type DeviceBuffer, type DeviceLimits, type DeviceStep,
} from '../device.ts';
import { cublasLtCandidates, cublasLtMatmul, type CublasLtMatmul } from './gemm.ts';

type Handle = bigint;

/** What src/addon.cc exports. Every call throws `kiln cuda: <driver call> failed: <CUDA_ERROR_…>: <string>` on a driver error. */
export interface CudaAddon {
  available(): { ok: true; driverVersion: number; devices: number } | { ok: false; reason: string };
  init(ordinal?: number): CudaDeviceInfo;
  setSyncEveryCall(on: boolean): void;
  malloc(bytes: number): Handle;
  free(pointer: Handle): void;
  copyHtoD(pointer: Handle, bytes: ArrayBufferView): void;
  copyDtoH(pointer: Handle, target: ArrayBufferView): void;
  copyDtoD(to: Handle, from: Handle, bytes: number): void;
  loadModule(ptx: string): Handle;
  unloadModule(module: Handle): void;
  getFunction(module: Handle, name: string): Handle;
  launch(fn: Handle, grid: readonly [number, number, number], block: number, pointers: readonly Handle[]): void;
  synchronize(): void;
  beginCapture(): void;
  endCapture(): Handle;
  launchGraph(graph: Handle): void;
  destroyGraph(graph: Handle): void;
  /** Loads the first loadable NVRTC of `paths` (once per process). */
  nvrtcLoad(paths: readonly string[]): { ok: true; path: string; version: string } | { ok: false; reason: string };
  /** CUDA C++ → PTX; throws `kiln cuda: nvrtcCompileProgram failed: …` with NVRTC's log. */
  nvrtcCompile(source: string, name: string, options: readonly string[]): { ptx: string; log: string };
  /** Loads the first loadable cuBLASLt of `paths` (once per process). */
  cublasLtLoad(paths: readonly string[]): { ok: true; path: string; version: string } | { ok: false; reason: string };
  /** Descriptors and the heuristic's algorithm for one matmul; throws when cuBLASLt has none. */
  gemmPlan(matmul: CublasLtMatmul): Handle;
  /** Queues the planned matmul on the stream: cuBLASLt's D, A and B (kiln's out, b and a; runtime/cuda/gemm.ts), each offset to its first matrix. */
  gemmRun(plan: Handle, d: Handle, a: Handle, b: Handle): void;
  gemmDestroy(plan: Handle): void;
}

/** The GEMM library a CudaDevice runs GemmCalls with, or why it has none. */
export type CudaGemmLibrary = { readonly ok: true; readonly path: string; readonly version: string } | { readonly ok: false; readonly reason: string };

export interface CudaDeviceInfo {
  readonly name: string;
  readonly totalMemory: number;
  readonly major: number;
  readonly minor: number;
  readonly multiprocessors: number;
  readonly maxThreadsPerBlock: number;
  readonly maxSharedMemoryPerBlock: number;
  readonly maxGridDimX: number;
}

export type CudaAvailability = { readonly ok: true; readonly driverVersion: number; readonly devices: number } | { readonly ok: false; readonly reason: string };

/** Where node-gyp puts the addon; KILN_CUDA_ADDON overrides it (the GPU check carries a prebuilt one). */
export function addonPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KILN_CUDA_ADDON ?? join(dirname(fileURLToPath(import.meta.url)), 'build', 'Release', 'kiln_cuda.node');
}

let loaded: { addon: CudaAddon } | { error: string } | undefined;

/** The native addon, or why it cannot be loaded. */
export function loadAddon(): { addon: CudaAddon } | { error: string } {
  if (loaded) return loaded;
  const path = addonPath();
  try {
    loaded = { addon: createRequire(import.meta.url)(path) as CudaAddon };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    loaded = { error: `the kiln CUDA addon is not built (${path}: ${reason}); run \`npm rebuild\` or \`node scripts/build-cuda-addon.mjs\` (needs python3, make and g++)` };
  }
  return loaded;
}

/** Whether CUDA can be used here, and if not, why (no addon, no driver, no device). Never throws. */
export function cudaAvailability(): CudaAvailability {
  const found = loadAddon();
  if ('error' in found) return { ok: false, reason: found.error };
  return found.addon.available();
}

class CudaBuffer implements DeviceBuffer {
  constructor(
    readonly owner: CudaDevice,
    readonly pointer: Handle,
    readonly label: string,
    readonly dtype: DType,
    readonly size: number,
    readonly bytes: number,
  ) {}
}

class CudaKernel implements CompiledKernel {
  constructor(
    readonly owner: CudaDevice,
    readonly name: string,
    readonly workgroupSize: number,
    readonly module: Handle,
    readonly fn: Handle,
    readonly bindings: number,
  ) {}
}

class CudaBoundKernel implements BoundKernel {
  constructor(
    readonly owner: CudaDevice,
    readonly kernel: CudaKernel,
    readonly grid: readonly [number, number, number],
    readonly pointers: readonly Handle[],
  ) {}
}

/** A kernel whose GemmCall runs as one planned cuBLASLt matmul. */
class CudaGemmKernel implements CompiledKernel {
  constructor(
    readonly owner: CudaDevice,
    readonly name: string,
    readonly workgroupSize: number,
    readonly call: GemmCall,
    readonly plan: Handle,
    readonly bindings: number,
  ) {}
}

class CudaBoundGemm implements BoundKernel {
  constructor(
    readonly owner: CudaDevice,
    readonly kernel: CudaGemmKernel,
    readonly grid: readonly [number, number, number],
    readonly out: Handle,
    /** Kiln's a and b operands (cuBLASLt's B and A). */
    readonly a: Handle,
    readonly b: Handle,
  ) {}
}

/** The last element a GemmCall matrix touches, to check it against its buffer at bind(). */
function lastElement(x: GemmMatrix, batch: number, rows: number, cols: number): number {
  return x.offset + (batch - 1) * x.batchStride + (rows - 1) * x.rowStride + (cols - 1) * x.colStride;
}

export class CudaDevice implements Device {
  readonly kind = 'cuda' as const;
  readonly limits: DeviceLimits;
  readonly features: ReadonlySet<string> = new Set(['shader-f16', 'bf16', 'subgroups']);
  /** Captured graphs by the step list they replay (the Executor submits one list per run). */
  private readonly graphs = new WeakMap<readonly DeviceStep[], Handle>();
  private readonly allGraphs: Handle[] = [];

  private library: CudaGemmLibrary;
  /** Declined GEMMs already reported (the same shape recurs in every block of a model). */
  private readonly declined = new Set<string>();

  constructor(readonly addon: CudaAddon, readonly info: CudaDeviceInfo, gemmLibrary: CudaGemmLibrary = { ok: false, reason: 'not requested' }) {
    this.library = gemmLibrary.ok && info.major < 8 ? { ok: false, reason: `cuBLASLt bf16 GEMMs need sm_80 or newer, this is sm_${info.major}${info.minor}` } : gemmLibrary;
    this.limits = {
      // Kernel parameters are 8-byte pointers in CUDA's 4 KiB parameter space.
      maxStorageBuffersPerShaderStage: 512,
      maxStorageBufferBindingSize: 2 ** 31,
      maxBufferSize: info.totalMemory,
      maxComputeWorkgroupsPerDimension: info.maxGridDimX,
      maxComputeInvocationsPerWorkgroup: info.maxThreadsPerBlock,
      maxComputeWorkgroupSizeX: info.maxThreadsPerBlock,
      maxComputeWorkgroupStorageSize: info.maxSharedMemoryPerBlock,
    };
  }

  /** cuBLASLt for GemmCalls from sm_80 on (bf16 tensor-core GEMMs), or why not; it turns unavailable if the library fails to start. */
  get gemmLibrary(): CudaGemmLibrary {
    return this.library;
  }

  /** What compile() needs to target this device: its limits, tensor cores (the bf16 dtype policy) from sm_80 on, and library GEMMs where cuBLASLt loaded. */
  compileOptions(): { readonly target: 'cuda'; readonly limits: TargetLimits; readonly features: TargetFeatures; readonly gemm: 'kernel' | 'library' } {
    return {
      target: 'cuda',
      limits: { maxStorageBuffersPerShaderStage: this.limits.maxStorageBuffersPerShaderStage, maxStorageBufferBindingSize: this.limits.maxStorageBufferBindingSize, maxComputeWorkgroupsPerDimension: this.limits.maxComputeWorkgroupsPerDimension },
      features: this.info.major >= 8 ? CUDA_FEATURES : CUDA_F32_FEATURES,
      gemm: this.gemmLibrary.ok ? 'library' : 'kernel',
    };
  }

  get description(): string {
    const gemm = this.gemmLibrary.ok ? `, cuBLASLt ${this.gemmLibrary.version}` : '';
    return `${this.info.name} (sm_${this.info.major}${this.info.minor}, ${this.info.multiprocessors} SMs, ${(this.info.totalMemory / 2 ** 30).toFixed(0)} GiB${gemm})`;
  }

  private own<T extends { owner: CudaDevice }>(handle: unknown, type: new (...args: never[]) => T, what: string): T {
    if (!(handle instanceof type) || handle.owner !== this) throw new Error(`CudaDevice: ${what} was not made by this device`);
    return handle;
  }

  allocate(label: string, dtype: DType, size: number): DeviceBuffer {
    if (!Number.isInteger(size) || size < 0) throw new Error(`allocate(${label}): size ${size} is not a non-negative integer`);
    const bytes = allocationBytes(dtype, size);
    return new CudaBuffer(this, this.addon.malloc(bytes), label, dtype, size, bytes);
  }

  upload(buffer: DeviceBuffer, values: ArrayLike<number>): void {
    const target = this.own(buffer, CudaBuffer, 'buffer');
    if (values.length !== target.size) throw new Error(`upload(${target.label}): ${values.length} values for ${target.dtype}[${target.size}]`);
    this.addon.copyHtoD(target.pointer, encodeValues(target.dtype, values));
  }

  /** download() without the promise: the copies wait for all queued work. */
  downloadSync(buffers: readonly DeviceBuffer[]): Float64Array[] {
    return buffers.map((b) => {
      const source = this.own(b, CudaBuffer, 'buffer');
      const bytes = new Uint8Array(source.bytes);
      this.addon.copyDtoH(source.pointer, bytes);
      return decodeValues(source.dtype, bytes.buffer, source.size);
    });
  }

  async download(buffers: readonly DeviceBuffer[]): Promise<Float64Array[]> {
    return this.downloadSync(buffers);
  }

  /** compile() without the promise: plans a GemmCall on cuBLASLt, else loads the kernel's PTX module (the driver JIT-compiles it for this GPU). */
  compileSync(kernel: ProgramKernel): CompiledKernel {
    if (kernel.gemm && this.library.ok) {
      try {
        const plan = this.addon.gemmPlan(cublasLtMatmul(kernel.gemm));
        return new CudaGemmKernel(this, kernel.name, kernel.workgroupSize, kernel.gemm, plan, kernel.ir.buffers.length);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        // the generated kernel computes the same values: a GEMM cuBLASLt declines costs speed, not the run
        if (!kernel.ptx) throw new Error(`kernel ${kernel.name}: ${message}`);
        if (/cublasLtCreate|cuBLASLt workspace/.test(message)) {
          this.library = { ok: false, reason: message };
          console.warn(`${message}: cuBLASLt cannot start here, so every GemmCall runs as its generated kernel`);
        } else if (!this.declined.has(message)) {
          this.declined.add(message);
          console.warn(`kernel ${kernel.name} (and any other with this GEMM): ${message}; running the generated kernel instead`);
        }
      }
    }
    if (!kernel.ptx) {
      throw new Error(`kernel ${kernel.name} has no PTX: run programWithPtx(program) (runtime/cuda/nvrtc.ts: nvcc, else NVRTC) before loading it on CUDA`);
    }
    if (kernel.workgroupSize > this.limits.maxComputeInvocationsPerWorkgroup) {
      throw new Error(`kernel ${kernel.name}: block size ${kernel.workgroupSize} exceeds this device's ${this.limits.maxComputeInvocationsPerWorkgroup}`);
    }
    let module: Handle;
    try {
      module = this.addon.loadModule(kernel.ptx);
    } catch (error) {
      throw new Error(`kernel ${kernel.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const fn = this.addon.getFunction(module, kernel.entryPoint);
    return new CudaKernel(this, kernel.name, kernel.workgroupSize, module, fn, kernel.ir.buffers.length);
  }

  async compile(kernel: ProgramKernel): Promise<CompiledKernel> {
    return this.compileSync(kernel);
  }

  bind(kernel: CompiledKernel, buffers: readonly DeviceBuffer[], grid: readonly [number, number, number]): BoundKernel {
    if (kernel instanceof CudaGemmKernel) return this.bindGemm(this.own(kernel, CudaGemmKernel, 'kernel'), buffers.map((b) => this.own(b, CudaBuffer, 'buffer')), grid);
    const compiled = this.own(kernel, CudaKernel, 'kernel');
    const bound = buffers.map((b) => this.own(b, CudaBuffer, 'buffer'));
    if (bound.length !== compiled.bindings) throw new Error(`kernel ${compiled.name}: ${bound.length} buffers for ${compiled.bindings} bindings`);
    if (grid.some((d) => !Number.isInteger(d) || d < 1) || grid[0] > this.limits.maxComputeWorkgroupsPerDimension || grid[1] > 65535 || grid[2] > 65535) {
      throw new Error(`kernel ${compiled.name}: grid [${grid.join(', ')}] is outside CUDA's limits (x ≤ ${this.limits.maxComputeWorkgroupsPerDimension}, y and z ≤ 65535)`);
    }
    return new CudaBoundKernel(this, compiled, [grid[0], grid[1], grid[2]], bound.map((b) => b.pointer));
  }

  /** Pointers to each operand's first matrix, after checking every matrix lies inside its buffer. */
  private bindGemm(kernel: CudaGemmKernel, buffers: readonly CudaBuffer[], grid: readonly [number, number, number]): BoundKernel {
    const { call } = kernel;
    if (buffers.length !== kernel.bindings) throw new Error(`kernel ${kernel.name}: ${buffers.length} buffers for ${kernel.bindings} bindings`);
    const operand = (x: GemmMatrix, rows: number, cols: number, what: string): Handle => {
      const buffer = buffers[x.binding]!;
      if (buffer.dtype !== DType.BF16) throw new Error(`kernel ${kernel.name}: GEMM operand ${what} (${buffer.label}) is not stored as bf16`);
      if (lastElement(x, call.batch, rows, cols) >= buffer.size) throw new Error(`kernel ${kernel.name}: GEMM operand ${what} reaches past ${buffer.label} (${buffer.size} elements)`);
      return buffer.pointer + BigInt(x.offset * 2);
    };
    const a = operand(call.a, call.m, call.k, 'a');
    const b = operand(call.b, call.k, call.n, 'b');
    const out = buffers[0]!;
    if (out.size < call.batch * call.m * call.n) throw new Error(`kernel ${kernel.name}: GEMM output ${out.label} holds ${out.size} elements, not ${call.batch * call.m * call.n}`);
    return new CudaBoundGemm(this, kernel, grid, out.pointer, a, b);
  }

  private enqueue(steps: readonly DeviceStep[]): void {
    for (const step of steps) {
      if (step.kind === 'dispatch' && step.kernel instanceof CudaBoundGemm) {
        const bound = this.own(step.kernel, CudaBoundGemm, 'bound kernel');
        this.addon.gemmRun(bound.kernel.plan, bound.out, bound.b, bound.a);
      } else if (step.kind === 'dispatch') {
        const bound = this.own(step.kernel, CudaBoundKernel, 'bound kernel');
        this.addon.launch(bound.kernel.fn, bound.grid, bound.kernel.workgroupSize, bound.pointers);
      } else {
        const from = this.own(step.from, CudaBuffer, 'buffer');
        const to = this.own(step.to, CudaBuffer, 'buffer');
        this.addon.copyDtoD(to.pointer, from.pointer, Math.min(from.bytes, to.bytes));
      }
    }
  }

  /**
   * Queues the steps on the stream. A list of several steps is captured into a
   * CUDA graph the first time it is submitted and replayed on every later submit
   * of the same list (buffers are fixed at bind(), so the graph stays valid).
   */
  submit(steps: readonly DeviceStep[]): void {
    if (steps.length <= 1) {
      this.enqueue(steps);
      return;
    }
    let graph = this.graphs.get(steps);
    if (graph === undefined) {
      this.addon.beginCapture();
      try {
        this.enqueue(steps);
      } finally {
        graph = this.addon.endCapture();
      }
      this.graphs.set(steps, graph);
      this.allGraphs.push(graph);
    }
    this.addon.launchGraph(graph);
  }

  synchronizeSync(): void {
    this.addon.synchronize();
  }

  async synchronize(): Promise<void> {
    this.addon.synchronize();
  }

  release(buffer: DeviceBuffer): void {
    this.addon.free(this.own(buffer, CudaBuffer, 'buffer').pointer);
  }
}

let shared: CudaDevice | undefined;

/** The process's one CUDA device (ordinal 0), opened on first use; throws with the reason CUDA is unavailable. */
export function cudaDevice(): CudaDevice {
  if (shared) return shared;
  const found = loadAddon();
  if ('error' in found) throw new Error(`kiln: CUDA is unavailable: ${found.error}`);
  const status = found.addon.available();
  if (!status.ok) throw new Error(`kiln: CUDA is unavailable: ${status.reason}`);
  found.addon.setSyncEveryCall(process.env.KILN_CUDA_SYNC === '1');
  const info = found.addon.init(0);
  const gemm: CudaGemmLibrary = process.env.KILN_CUDA_GEMM === 'kernel' ? { ok: false, reason: 'KILN_CUDA_GEMM=kernel' } : found.addon.cublasLtLoad(cublasLtCandidates());
  shared = new CudaDevice(found.addon, info, gemm);
  return shared;
}
