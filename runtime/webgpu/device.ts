// Runtime · the WebGPU Device. In: kernels with WGSL source (from a Program),
// buffers and runs of steps. Out: Dawn (Node, npm package `webgpu`) or the
// browser's navigator.gpu driven through the Device interface: storage buffers,
// compute pipelines created at load (their shaders must compile with no errors
// and no warnings), one command encoder per run. Without a GPU, Mesa's lavapipe
// provides a real adapter on the CPU.

/// <reference types="@webgpu/types" />

import { DType } from '../../compiler/ir/dtype.ts';
import type { CompileOptions } from '../../compiler/compile.ts';
import type { AdapterClass } from '../../compiler/kernel/templates/tiles.ts';
import type { ProgramKernel } from '../../compiler/program.ts';
import {
  allocationBytes, decodeValues, encodeValues,
  type BoundKernel, type CompiledKernel, type Device, type DeviceBuffer, type DeviceLimits, type DeviceStep,
} from '../device.ts';

/**
 * Features requested whenever the adapter offers them. Measured on lavapipe (Mesa 25.0.7,
 * LLVM 15, 256-bit vectors) through Dawn from npm `webgpu` 0.6.2: both are offered and
 * granted, adapter.info reports subgroupMinSize = subgroupMaxSize = 8 (256 bits of 32-bit
 * lanes), and wgslLanguageFeatures lists 'subgroup_id'. There the subgroup row reduction
 * (one barrier per statistic, 32-thread rows) runs layerNorm [4096, 768] about 1.2–1.7×
 * faster than the 64-thread shared-memory tree (bench/row-reduce.ts, noisy on 2 busy cores).
 */
const WANTED_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups'];

/** What compile() needs to target this device (see compileOptions()). */
export type DeviceTarget = Required<Pick<CompileOptions, 'limits' | 'features' | 'adapter'>>;

export interface WgslMessage {
  readonly type: 'error' | 'warning' | 'info';
  /** 1-based; 0 when the message has no position. */
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** The error thrown when no WebGPU adapter exists, naming both ways out. */
export function noAdapterMessage(platform: string = typeof process === 'undefined' ? 'browser' : process.platform): string {
  const driver = platform === 'linux'
    ? 'install a Vulkan driver (on Debian: `apt-get install -t bookworm-backports mesa-vulkan-drivers`, Mesa\'s lavapipe, which runs WebGPU on the CPU)'
    : platform === 'browser'
      ? 'use a browser with WebGPU enabled'
      : 'install a Vulkan, Metal or D3D12 capable GPU driver';
  return `kiln: no WebGPU adapter is available on this machine (${platform}). Fix: ${driver}, or run on the reference interpreter with \`--device cpu\`.`;
}

/** Compiler messages with the offending source lines, numbered, for error text. */
export function formatWgslMessages(source: string, messages: readonly WgslMessage[]): string {
  const lines = source.split('\n');
  const width = String(lines.length).length;
  const out: string[] = [];
  for (const m of messages) {
    out.push(`${m.type} at ${m.line}:${m.column}: ${m.message}`);
    if (m.line < 1) continue;
    for (let n = Math.max(1, m.line - 2); n <= Math.min(lines.length, m.line + 2); n++) {
      out.push(`${n === m.line ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1]}`);
    }
  }
  return out.join('\n');
}

async function gpuEntry(): Promise<GPU> {
  const browser = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (browser) return browser;
  // Dawn needs a runtime directory for its caches and sockets; containers often lack one.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = (await import('node:os')).tmpdir();
  const dawn = await import('webgpu').catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`kiln: the npm package 'webgpu' (Dawn for Node) could not be loaded: ${reason}. Run \`npm ci\`, or use the cpu backend (\`--device cpu\`).`);
  });
  Object.assign(globalThis, dawn.globals);
  return dawn.create([]);
}

function copyLimits(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // Dawn exposes the limits as prototype getters, which for…in enumerates.
  for (const key in limits) {
    const value: unknown = (limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') out[key] = value;
  }
  return out;
}

class WebGpuBuffer implements DeviceBuffer {
  constructor(
    readonly owner: WebGpuDevice,
    readonly gpu: GPUBuffer,
    readonly label: string,
    readonly dtype: DType,
    readonly size: number,
    readonly bytes: number,
  ) {}
}

class WebGpuKernel implements CompiledKernel {
  constructor(
    readonly owner: WebGpuDevice,
    readonly name: string,
    readonly workgroupSize: number,
    readonly pipeline: GPUComputePipeline,
    readonly layout: GPUBindGroupLayout,
    readonly bindings: number,
  ) {}
}

class WebGpuBoundKernel implements BoundKernel {
  constructor(
    readonly owner: WebGpuDevice,
    readonly kernel: WebGpuKernel,
    readonly grid: readonly [number, number, number],
    readonly bindGroup: GPUBindGroup,
  ) {}
}

export class WebGpuDevice implements Device {
  readonly kind = 'webgpu' as const;
  readonly limits: DeviceLimits;
  readonly features: ReadonlySet<string>;
  /** WGSL language extensions the instance supports (e.g. 'subgroup_id'). */
  readonly wgslLanguageFeatures: ReadonlySet<string>;
  /** Errors the device reported outside any scope; synchronize() throws the first. */
  private readonly uncaptured: string[] = [];
  private readonly scopes: Promise<GPUError | null>[] = [];

  /**
   * `instance` and `adapter` are held only to keep them alive: when the garbage
   * collector frees Dawn's GPU instance, its event processing (still scheduled
   * for the device) dereferences freed memory and the process crashes.
   */
  constructor(
    readonly instance: GPU,
    readonly adapter: GPUAdapter,
    readonly gpu: GPUDevice,
    readonly adapterDescription: string,
    /** 'software' on lavapipe/SwiftShader: picks the default kernel schedules (compiler/kernel/templates/tiles.ts). */
    readonly adapterClass: AdapterClass = 'gpu',
  ) {
    const l = gpu.limits;
    this.limits = {
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    };
    this.features = new Set([...gpu.features]);
    this.wgslLanguageFeatures = new Set([...(instance.wgslLanguageFeatures ?? [])]);
    gpu.onuncapturederror = (event) => {
      this.uncaptured.push(event.error.message);
    };
  }

  /**
   * Limits and granted capabilities as compile() takes them: `compile(graph, device.compileOptions())`.
   * Subgroup lowering reads the `subgroup_id`/`num_subgroups` builtins, so it needs both the
   * 'subgroups' feature and the 'subgroup_id' WGSL language extension.
   */
  compileOptions(): DeviceTarget {
    return {
      limits: this.limits,
      adapter: this.adapterClass,
      features: {
        f16: this.features.has('shader-f16'),
        subgroups: this.features.has('subgroups') && this.wgslLanguageFeatures.has('subgroup_id'),
      },
    };
  }

  private own<T extends { owner: WebGpuDevice }>(handle: unknown, type: new (...args: never[]) => T, what: string): T {
    if (!(handle instanceof type) || handle.owner !== this) throw new Error(`WebGpuDevice: ${what} was not made by this device`);
    return handle;
  }

  private scoped<T>(work: () => T): T {
    this.gpu.pushErrorScope('out-of-memory');
    this.gpu.pushErrorScope('validation');
    try {
      return work();
    } finally {
      this.scopes.push(this.gpu.popErrorScope(), this.gpu.popErrorScope());
    }
  }

  /** Throws the first error reported since the last check. */
  private async checkErrors(): Promise<void> {
    const pending = this.scopes.splice(0);
    const errors = (await Promise.all(pending)).filter((e): e is GPUError => e !== null).map((e) => e.message);
    errors.push(...this.uncaptured.splice(0));
    if (errors.length > 0) throw new Error(`WebGPU: ${errors.join('\n')}`);
  }

  allocate(label: string, dtype: DType, size: number): DeviceBuffer {
    if (!Number.isInteger(size) || size < 0) throw new Error(`allocate(${label}): size ${size} is not a non-negative integer`);
    const bytes = allocationBytes(dtype, size);
    if (bytes > this.limits.maxBufferSize) {
      throw new Error(`allocate(${label}): ${dtype}[${size}] needs ${bytes} bytes, over this adapter's maxBufferSize ${this.limits.maxBufferSize}`);
    }
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const gpu = this.scoped(() => this.gpu.createBuffer({ label, size: bytes, usage }));
    return new WebGpuBuffer(this, gpu, label, dtype, size, bytes);
  }

  upload(buffer: DeviceBuffer, values: ArrayLike<number>): void {
    const target = this.own(buffer, WebGpuBuffer, 'buffer');
    if (values.length !== target.size) throw new Error(`upload(${target.label}): ${values.length} values for ${target.dtype}[${target.size}]`);
    this.gpu.queue.writeBuffer(target.gpu, 0, encodeValues(target.dtype, values));
  }

  async download(buffers: readonly DeviceBuffer[]): Promise<Float64Array[]> {
    const sources = buffers.map((b) => this.own(b, WebGpuBuffer, 'buffer'));
    const staging = this.scoped(() => {
      const encoder = this.gpu.createCommandEncoder({ label: 'kiln download' });
      const targets = sources.map((src) => {
        const dst = this.gpu.createBuffer({ label: `${src.label} (read back)`, size: src.bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        encoder.copyBufferToBuffer(src.gpu, 0, dst, 0, src.bytes);
        return dst;
      });
      this.gpu.queue.submit([encoder.finish()]);
      return targets;
    });
    try {
      await Promise.all(staging.map((b) => b.mapAsync(GPUMapMode.READ)));
      await this.checkErrors();
      return staging.map((b, i) => decodeValues(sources[i]!.dtype, b.getMappedRange(), sources[i]!.size));
    } finally {
      for (const b of staging) b.destroy();
    }
  }

  async compile(kernel: ProgramKernel): Promise<CompiledKernel> {
    const access = kernel.ir.buffers.map((b) => b.access);
    if (access.length > this.limits.maxStorageBuffersPerShaderStage) {
      throw new Error(`kernel ${kernel.name}: ${access.length} bindings, over this adapter's maxStorageBuffersPerShaderStage ${this.limits.maxStorageBuffersPerShaderStage}`);
    }
    if (kernel.workgroupSize > this.limits.maxComputeInvocationsPerWorkgroup || kernel.workgroupSize > this.limits.maxComputeWorkgroupSizeX) {
      throw new Error(`kernel ${kernel.name}: workgroup size ${kernel.workgroupSize} exceeds this adapter's limit ${Math.min(this.limits.maxComputeInvocationsPerWorkgroup, this.limits.maxComputeWorkgroupSizeX)}`);
    }
    if (/^enable f16;/m.test(kernel.source) && !this.features.has('shader-f16')) {
      throw new Error(`kernel ${kernel.name} uses f16, which this adapter does not support (no 'shader-f16'); cast to f32 in the graph`);
    }
    if (/^enable subgroups;/m.test(kernel.source) && !this.compileOptions().features.subgroups) {
      throw new Error(`kernel ${kernel.name} uses subgroups, which this adapter does not support (no 'subgroups' feature or 'subgroup_id' WGSL extension); compile with device.compileOptions()`);
    }
    const module = this.gpu.createShaderModule({ label: kernel.name, code: kernel.source });
    const messages = await compilationMessages(module);
    if (messages.some((m) => m.type !== 'info')) {
      throw new Error(`kernel ${kernel.name}: the WGSL compiler reported problems (kiln requires zero errors and warnings):\n${formatWgslMessages(kernel.source, messages)}`);
    }
    const layout = this.scoped(() => this.gpu.createBindGroupLayout({
      label: kernel.name,
      entries: access.map((a, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: a === 'read' ? 'read-only-storage' : 'storage' },
      })),
    }));
    const pipeline = await this.gpu.createComputePipelineAsync({
      label: kernel.name,
      layout: this.gpu.createPipelineLayout({ label: kernel.name, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: kernel.entryPoint },
    }).catch((error: unknown) => {
      throw new Error(`kernel ${kernel.name}: pipeline creation failed: ${error instanceof Error ? error.message : String(error)}`);
    });
    await this.checkErrors();
    return new WebGpuKernel(this, kernel.name, kernel.workgroupSize, pipeline, layout, access.length);
  }

  bind(kernel: CompiledKernel, buffers: readonly DeviceBuffer[], grid: readonly [number, number, number]): BoundKernel {
    const compiled = this.own(kernel, WebGpuKernel, 'kernel');
    const bound = buffers.map((b) => this.own(b, WebGpuBuffer, 'buffer'));
    if (bound.length !== compiled.bindings) throw new Error(`kernel ${compiled.name}: ${bound.length} buffers for ${compiled.bindings} bindings`);
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    if (grid.some((d) => !Number.isInteger(d) || d < 1 || d > maxDim)) {
      throw new Error(`kernel ${compiled.name}: grid [${grid.join(', ')}] exceeds this adapter's maxComputeWorkgroupsPerDimension ${maxDim} (fold it with foldGrid)`);
    }
    for (const b of bound) {
      if (b.bytes > this.limits.maxStorageBufferBindingSize) {
        throw new Error(`kernel ${compiled.name}: buffer ${b.label} (${b.bytes} bytes) exceeds maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}`);
      }
    }
    const bindGroup = this.scoped(() => this.gpu.createBindGroup({
      label: compiled.name,
      layout: compiled.layout,
      entries: bound.map((b, binding) => ({ binding, resource: { buffer: b.gpu } })),
    }));
    return new WebGpuBoundKernel(this, compiled, [grid[0], grid[1], grid[2]], bindGroup);
  }

  submit(steps: readonly DeviceStep[]): void {
    this.scoped(() => {
      const encoder = this.gpu.createCommandEncoder({ label: 'kiln run' });
      let pass: GPUComputePassEncoder | undefined;
      for (const step of steps) {
        if (step.kind === 'dispatch') {
          const bound = this.own(step.kernel, WebGpuBoundKernel, 'bound kernel');
          pass ??= encoder.beginComputePass({ label: 'kiln run' });
          pass.setPipeline(bound.kernel.pipeline);
          pass.setBindGroup(0, bound.bindGroup);
          pass.dispatchWorkgroups(bound.grid[0], bound.grid[1], bound.grid[2]);
        } else {
          const from = this.own(step.from, WebGpuBuffer, 'buffer');
          const to = this.own(step.to, WebGpuBuffer, 'buffer');
          // Copies are encoder commands, not pass commands: close the pass and open another after.
          pass?.end();
          pass = undefined;
          encoder.copyBufferToBuffer(from.gpu, 0, to.gpu, 0, Math.min(from.bytes, to.bytes));
        }
      }
      pass?.end();
      this.gpu.queue.submit([encoder.finish()]);
    });
  }

  async synchronize(): Promise<void> {
    await this.gpu.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  release(buffer: DeviceBuffer): void {
    this.own(buffer, WebGpuBuffer, 'buffer').gpu.destroy();
  }
}

async function compilationMessages(module: GPUShaderModule): Promise<WgslMessage[]> {
  const info = await module.getCompilationInfo();
  return info.messages.map((m) => ({ type: m.type, line: m.lineNum, column: m.linePos, message: m.message }));
}

async function openDevice(): Promise<WebGpuDevice> {
  const gpu = await gpuEntry();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(noAdapterMessage());
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ label: 'kiln', requiredLimits: copyLimits(adapter.limits), requiredFeatures });
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown adapter';
  return new WebGpuDevice(gpu, adapter, device, description, info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(description) ? 'software' : 'gpu');
}

let shared: Promise<WebGpuDevice> | undefined;

/** The process's one WebGPU device, opened on first use with the adapter's maximum limits. */
export function webgpuDevice(): Promise<WebGpuDevice> {
  shared ??= openDevice();
  return shared;
}

/** Compiles WGSL on the shared device and returns every message (tests require none). */
export async function validateWgsl(source: string): Promise<WgslMessage[]> {
  const device = await webgpuDevice();
  return compilationMessages(device.gpu.createShaderModule({ code: source }));
}
