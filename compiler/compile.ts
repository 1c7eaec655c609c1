// Compile · Graph IR → Program. Schedules kernel boundaries, lowers each kernel
// to Kernel IR, prints it for the target, plans buffers (intermediates share
// storage by liveness; inputs, params and outputs are named persistent buffers)
// and orders the steps: one dispatch per kernel, then the copies that commit
// assign ops (in-place parameter updates) after every kernel has read the old values.

import { debugLevel } from './debug.ts';
import { cudaEntryName, printCuda } from './codegen/cuda.ts';
import { printWgsl } from './codegen/wgsl.ts';
import { byteSize, DType } from './ir/dtype.ts';
import type { Graph } from './ir/graph.ts';
import { size, type Node, type NodeWith } from './ir/node.ts';
import { Op, type ViewOp } from './ir/op.ts';
import { CUDA_FEATURES, foldGrid, type TargetFeatures } from './kernel/ir.ts';
import { lowerKernel } from './kernel/lower.ts';
import { dotGeometry, type MatmulTile } from './kernel/templates/matmul.ts';
import { DEFAULT_FLAT_WORKGROUP, SOFTWARE_ROW_WORKGROUP, defaultMatmulTile, type AdapterClass } from './kernel/templates/tiles.ts';
import { verifyKernel } from './kernel/verify.ts';
import type { BufferRole, OutputView, Program, ProgramBuffer, ProgramKernel, ProgramStep } from './program.ts';
import { gemmMatrix, isBf16RoundTrip, libraryDot, stridedView, type GemmCall } from './schedule/gemm.ts';
import { kernelRoots } from './schedule/group.ts';
import { outputStorage, printSchedule, schedule, type Schedule, type ScheduledKernel } from './schedule/schedule.ts';

export interface TargetLimits {
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}

/** WebGPU's default limits (what a device gets without requiredLimits). */
export const WEBGPU_DEFAULT_LIMITS: TargetLimits = {
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 134217728,
  maxComputeWorkgroupsPerDimension: 65535,
};

export type { TargetFeatures };
export { CUDA_F32_FEATURES, CUDA_FEATURES } from './kernel/ir.ts';

/**
 * CUDA's limits as TargetLimits: bindings are kernel parameters (8-byte pointers in
 * CUDA's 4 KiB parameter space), a buffer is bounded by the i32 element index, and
 * grid x reaches 2³¹ − 1, so grids never fold.
 */
export const CUDA_LIMITS: TargetLimits = {
  maxStorageBuffersPerShaderStage: 512,
  maxStorageBufferBindingSize: 2 ** 31,
  maxComputeWorkgroupsPerDimension: 2 ** 31 - 1,
};

export interface CompileOptions {
  /** 'webgpu' (WGSL, the default) or 'cuda' (CUDA C++; PTX is added Node-side by compiler/codegen/ptx.ts). */
  readonly target?: 'webgpu' | 'cuda';
  readonly limits?: TargetLimits;
  /** Threads per workgroup of flat and row kernels (default 64; row kernels 32 with subgroups); templates pick their own. */
  readonly workgroupSize?: number;
  /** Overrides KILN_DEBUG for this compile (3: print the schedule, 4: print sources). */
  readonly debug?: number;
  /** Optional device capabilities (absent = core WebGPU: no f16, no subgroups; on CUDA, CUDA_FEATURES: bf16 tensor cores); a live device's come from device.compileOptions(). */
  readonly features?: TargetFeatures;
  /** Register tile of the matmul template (default: defaultMatmulTile for the adapter class and output size). */
  readonly matmulTile?: MatmulTile;
  /** Per-kernel tiles by tune key (ProgramKernel.tuneKey), e.g. autotune's cached winners; they override matmulTile. */
  readonly tunedTiles?: ReadonlyMap<string, MatmulTile>;
  /** The adapter's class, which picks default schedules ('gpu' when absent; lavapipe is 'software'). */
  readonly adapter?: AdapterClass;
  /**
   * What f32 activations (intermediate buffers of matmul and elementwise kernels) are stored as. Default: bf16 under
   * CUDA's tensor-core policy (features.mma), else f32. Reductions' results, attention's [o | lse], outputs and what an
   * optimizer update reads (gradients, moments) stay f32 either way. bf16 is CUDA-only.
   */
  readonly activations?: DType.F32 | DType.BF16;
  /**
   * CUDA only. 'library': float dots are scheduled as library GEMM calls (compiler/schedule/gemm.ts) and their kernels
   * carry a GemmCall, which a CUDA device with cuBLASLt runs instead of the generated kernel (that kernel stays, for
   * devices without it). Operands are rounded to bf16 by their own kernels, as autocast does. Default 'kernel'.
   */
  readonly gemm?: 'kernel' | 'library';
}

export interface Compiled {
  readonly program: Program;
  readonly schedule: Schedule;
}

export function compile(graph: Graph, options: CompileOptions = {}): Compiled {
  const target = options.target ?? 'webgpu';
  const limits = options.limits ?? (target === 'cuda' ? CUDA_LIMITS : WEBGPU_DEFAULT_LIMITS);
  const features = options.features ?? (target === 'cuda' ? CUDA_FEATURES : undefined);
  const workgroupSize = options.workgroupSize ?? 64;
  const level = debugLevel(options.debug);
  requireF16(graph, features);
  if (features?.mma && target !== 'cuda') throw new Error(`compile: the mma feature (tensor cores) exists only on target cuda, not ${target}; drop features.mma`);
  const library = options.gemm === 'library';
  if (library && target !== 'cuda') throw new Error(`compile: library GEMMs (gemm: 'library') exist only on target cuda, not ${target}; drop the gemm option`);
  const sched = schedule(graph, { maxBindings: limits.maxStorageBuffersPerShaderStage, libraryGemm: library });
  if (level >= 3) console.error(`[kiln] schedule (${sched.kernels.length} kernels)\n${printSchedule(sched)}`);

  const buffers: ProgramBuffer[] = [];
  const bufferOf = new Map<number, number>();
  const add = (node: Node, name: string, role: BufferRole, dtype: DType = node.dtype): number => {
    const bytes = byteSize(dtype) * size(node.shape);
    if (bytes > limits.maxStorageBufferBindingSize) {
      throw new Error(
        `compile: ${role} "${name}" (${node.dtype}[${node.shape.join(',')}]) needs ${bytes} bytes, over the device's maxStorageBufferBindingSize of ${limits.maxStorageBufferBindingSize}; use a smaller batch or split the tensor`,
      );
    }
    const id = buffers.length;
    buffers.push({ id, name, dtype, size: Math.max(1, size(node.shape)), shape: node.shape, role });
    bufferOf.set(node.id, id);
    return id;
  };
  const inputs: Record<string, number> = {};
  const params: Record<string, number> = {};
  for (const node of sched.graph.nodes) {
    if (node.op === Op.Input) inputs[node.arg.name] = add(node, node.arg.name, 'input');
    if (node.op === Op.Param) params[node.arg.name] = add(node, node.arg.name, 'param');
  }
  const outputName = new Map<number, string>();
  for (const out of sched.graph.outputs) {
    const value = outputStorage(out, sched.graph.outputs).node;
    if (!outputName.has(value.id)) outputName.set(value.id, out.name);
  }
  const activations = options.activations ?? (target === 'cuda' && features?.mma ? DType.BF16 : DType.F32);
  if (activations === DType.BF16 && target !== 'cuda') throw new Error(`compile: bf16 activation storage exists only on target cuda, not ${target}; drop the activations option`);
  const narrow = activations === DType.BF16 ? bf16Activations(sched, outputName) : new Set<number>();
  // A bf16 round trip is exact in bf16 storage, whatever kernel writes it (library GEMM operands).
  if (target === 'cuda') for (const k of sched.kernels) if (!k.segments && isBf16RoundTrip(k.root) && !outputName.has(k.root.id)) narrow.add(k.root.id);
  const storageOf = (node: Node): DType.BF16 | undefined => (narrow.has(node.id) ? DType.BF16 : undefined);
  const temps = planTemps(sched, storageOf);
  const tempBuffer = new Map<number, number>();
  for (const k of sched.kernels) {
    const name = outputName.get(k.root.id);
    if (k.segments) for (const root of kernelRoots(k)) add(root, outputName.get(root.id)!, 'output');
    else if (name !== undefined) add(k.root, name, 'output');
    else {
      const slot = temps.get(k.root.id)!;
      const existing = tempBuffer.get(slot);
      if (existing !== undefined) bufferOf.set(k.root.id, existing);
      else tempBuffer.set(slot, add(k.root, `t${slot}`, 'temp', storageOf(k.root) ?? k.root.dtype));
    }
  }

  // lavapipe runs a workgroup of one subgroup (8 lanes) without any barrier cost: measured 1.8× on layerNorm [4096, 768]
  const rowWorkgroupSize = options.workgroupSize ?? (options.adapter === 'software' && features?.subgroups ? SOFTWARE_ROW_WORKGROUP : undefined);
  const kernels: ProgramKernel[] = sched.kernels.map((k, i) => {
    const tuneKey = k.template?.op === Op.Dot ? matmulTuneKey(k) : undefined;
    const tuned = tuneKey === undefined ? undefined : options.tunedTiles?.get(tuneKey);
    const ir = lowerKernel(k, { name: kernelName(i, k), workgroupSize, bufferName: (n) => buffers[bufferOf.get(n.id)!]!.name, features: features ?? {}, ...(rowWorkgroupSize ? { rowWorkgroupSize } : {}), flatWorkgroupSize: options.workgroupSize ?? DEFAULT_FLAT_WORKGROUP[options.adapter ?? 'gpu'], matmulTile: tuned ?? options.matmulTile ?? defaultMatmulTile(options.adapter ?? 'gpu', size(k.root.shape)), storageOf });
    verifyKernel(ir);
    const grid = foldGrid(ir.workgroups, limits.maxComputeWorkgroupsPerDimension);
    const source = target === 'cuda' ? printCuda(ir, { grid }) : printWgsl(ir, { grid });
    if (level >= 4) console.error(`[kiln] ${ir.name}\n${source}`);
    const gemm = library ? gemmCall(k, (n) => storageOf(n) ?? n.dtype) : undefined;
    return { name: ir.name, source, entryPoint: target === 'cuda' ? cudaEntryName(ir) : 'main', bindings: [...kernelRoots(k), ...k.reads].map((n) => bufferOf.get(n.id)!), workgroupSize: ir.workgroupSize, grid, ir, ...(tuneKey ? { tuneKey } : {}), ...(gemm ? { gemm } : {}) };
  });

  const steps: ProgramStep[] = kernels.map((_, kernel) => ({ kind: 'dispatch', kernel }));
  const outputs: Record<string, number> = {};
  const outputViews: Record<string, OutputView[]> = {};
  for (const out of sched.graph.outputs) {
    const { node: value, views } = outputStorage(out, sched.graph.outputs);
    outputs[out.name] = bufferOf.get(value.id)!;
    if (views.length) outputViews[out.name] = views.map((v) => ({ op: v.op as ViewOp, shape: v.shape, arg: v.arg as OutputView['arg'] }));
    if (out.node.op === Op.Assign) steps.push({ kind: 'copy', from: bufferOf.get(value.id)!, to: bufferOf.get(out.node.srcs[0]!.id)! });
  }
  return { program: { target, buffers, kernels, steps, outputs, inputs, params, ...(Object.keys(outputViews).length ? { outputViews } : {}) }, schedule: sched };
}

/**
 * A library dot kernel as a GemmCall: the dot is the kernel's root (no epilogue), both operands are strided views of
 * bf16-stored bindings, and the output is stored bf16 or f32. Otherwise undefined: the generated kernel runs.
 */
function gemmCall(k: ScheduledKernel, stored: (node: Node) => DType): GemmCall | undefined {
  const dot = k.template;
  if (k.kind !== 'template' || !dot || dot.op !== Op.Dot || k.root !== dot || !libraryDot(dot)) return undefined;
  const reads = new Set(k.reads.map((r) => r.id));
  const matrices = ([0, 1] as const).map((side) => {
    const view = stridedView(dot.srcs[side]!, (n) => reads.has(n.id));
    if (!view || !reads.has(view.base.id) || stored(view.base) !== DType.BF16) return undefined;
    return gemmMatrix(dot, side, view, 1 + k.reads.indexOf(view.base));
  });
  const out = stored(dot);
  if (!matrices[0] || !matrices[1] || (out !== DType.BF16 && out !== DType.F32)) return undefined;
  const g = dotGeometry(dot);
  return { batch: g.batch, m: g.m, n: g.n, k: g.k, a: matrices[0], b: matrices[1], operands: DType.BF16, out };
}

/** f16 values need WebGPU's 'shader-f16' (WGSL `enable f16;`); without it, fail here rather than when the device loads the shader. */
function requireF16(graph: Graph, features: TargetFeatures = {}): void {
  if (features.f16) return;
  const at = graph.nodes.findIndex((n) => n.dtype === DType.F16);
  if (at < 0) return;
  const node = graph.nodes[at]!;
  throw new Error(
    `compile: the graph uses f16 (%${at} = ${node.op}, f16[${node.shape.join(',')}], as the graph prints) but the target lacks the WebGPU feature 'shader-f16'; ` +
      `cast to f32 in the graph, or compile with device.compileOptions() on an adapter that grants 'shader-f16'`,
  );
}

/**
 * The f32 temps CUDA's bf16 policy stores as bf16: what matmul templates and elementwise kernels write. Row kernels
 * (reductions, norms, softmax), attention's packed [o | lse], group kernels, outputs and whatever a kernel that
 * computes an assigned value (an optimizer update) reads stay f32, as PyTorch's autocast keeps them.
 */
function bf16Activations(sched: Schedule, outputs: ReadonlyMap<number, string>): Set<number> {
  const assigned = new Set(sched.graph.outputs.filter((o) => o.node.op === Op.Assign).map((o) => o.node.srcs[1]!.id));
  const optimizerReads = new Set<number>();
  for (const k of sched.kernels) if (kernelRoots(k).some((r) => assigned.has(r.id))) for (const r of k.reads) optimizerReads.add(r.id);
  const narrow = new Set<number>();
  for (const k of sched.kernels) {
    const { root } = k;
    if (k.segments || k.kind === 'row' || root.dtype !== DType.F32 || outputs.has(root.id) || optimizerReads.has(root.id)) continue;
    if (k.kind === 'template' && k.template!.op !== Op.Dot) continue;
    narrow.add(root.id);
  }
  return narrow;
}

/**
 * Liveness-based sharing of intermediate buffers: a temp's slot is free again after the
 * last kernel that reads it, and is reused by a later temp of the same storage dtype and size.
 */
function planTemps(sched: Schedule, storageOf: (node: Node) => DType | undefined): Map<number, number> {
  const lastUse = new Map<number, number>();
  sched.kernels.forEach((k, i) => k.reads.forEach((r) => lastUse.set(r.id, i)));
  const outputs = new Set(sched.graph.outputs.map((o) => outputStorage(o, sched.graph.outputs).node.id));
  const free = new Map<string, number[]>();
  const slots = new Map<number, number>();
  let next = 0;
  const releaseAt = new Map<number, { key: string; slot: number }[]>();
  sched.kernels.forEach((k, i) => {
    for (const r of releaseAt.get(i) ?? []) free.get(r.key)!.push(r.slot);
    if (outputs.has(k.root.id)) return;
    const key = `${storageOf(k.root) ?? k.root.dtype}|${size(k.root.shape)}`;
    const pool = free.get(key) ?? [];
    free.set(key, pool);
    const slot = pool.pop() ?? next++;
    slots.set(k.root.id, slot);
    // freed once the last reader has run (readers come after the writer)
    const last = lastUse.get(k.root.id) ?? i;
    const list = releaseAt.get(last + 1) ?? [];
    list.push({ key, slot });
    releaseAt.set(last + 1, list);
  });
  return slots;
}

/** k{i}_{what}: the kernel class, and for templates which one (matmul or the composite), then the root op. */
function kernelName(i: number, k: ScheduledKernel): string {
  if (k.segments) return `k${i}_group_${k.segments.length}x`;
  if (k.kind !== 'template') return `k${i}_${k.kind}_${k.root.op}`;
  const template = k.template!.op === Op.Composite ? k.template!.arg.kind : 'matmul';
  return k.root === k.template ? `k${i}_${template}` : `k${i}_${template}_${k.root.op}`;
}

/**
 * What autotune keys a matmul kernel by: the product's geometry and dtypes and the
 * ops of its prologue and epilogue (they change register pressure), not buffer names.
 */
function matmulTuneKey(k: ScheduledKernel): string {
  const dot = k.template as NodeWith<Op.Dot>;
  const g = dotGeometry(dot);
  const ops = (n: Node, seen = new Set<number>()): string[] => {
    if (seen.has(n.id) || k.reads.includes(n)) return [];
    seen.add(n.id);
    return [n.op, ...n.srcs.flatMap((s) => ops(s, seen))];
  };
  return `matmul ${g.batch}x${g.m}x${g.n}x${g.k} ${dot.srcs.map((s) => s.dtype).join(',')}->${k.root.dtype} [${ops(k.root).join(' ')}]`;
}
