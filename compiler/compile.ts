// Compile · Graph IR → Program. Schedules kernel boundaries, lowers each kernel
// to Kernel IR, prints it for the target, plans buffers (intermediates share
// storage by liveness; inputs, params and outputs are named persistent buffers)
// and orders the steps: one dispatch per kernel, then the copies that commit
// assign ops (in-place parameter updates) after every kernel has read the old values.

import { debugLevel } from './debug.ts';
import { printWgsl } from './codegen/wgsl.ts';
import { byteSize } from './ir/dtype.ts';
import type { Graph } from './ir/graph.ts';
import { size, type Node } from './ir/node.ts';
import { Op } from './ir/op.ts';
import { foldGrid } from './kernel/ir.ts';
import { lowerKernel } from './kernel/lower.ts';
import { verifyKernel } from './kernel/verify.ts';
import type { BufferRole, Program, ProgramBuffer, ProgramKernel, ProgramStep } from './program.ts';
import { printSchedule, schedule, type Schedule } from './schedule/schedule.ts';

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

export interface CompileOptions {
  readonly target?: 'webgpu';
  readonly limits?: TargetLimits;
  readonly workgroupSize?: number;
  /** Overrides KILN_DEBUG for this compile (3: print the schedule, 4: print sources). */
  readonly debug?: number;
}

export interface Compiled {
  readonly program: Program;
  readonly schedule: Schedule;
}

export function compile(graph: Graph, options: CompileOptions = {}): Compiled {
  const limits = options.limits ?? WEBGPU_DEFAULT_LIMITS;
  const workgroupSize = options.workgroupSize ?? 64;
  const level = debugLevel(options.debug);
  const sched = schedule(graph, { maxBindings: limits.maxStorageBuffersPerShaderStage });
  if (level >= 3) console.error(`[kiln] schedule (${sched.kernels.length} kernels)\n${printSchedule(sched)}`);

  const buffers: ProgramBuffer[] = [];
  const bufferOf = new Map<number, number>();
  const add = (node: Node, name: string, role: BufferRole): number => {
    const bytes = byteSize(node.dtype) * size(node.shape);
    if (bytes > limits.maxStorageBufferBindingSize) {
      throw new Error(
        `compile: ${role} "${name}" (${node.dtype}[${node.shape.join(',')}]) needs ${bytes} bytes, over the device's maxStorageBufferBindingSize of ${limits.maxStorageBufferBindingSize}; use a smaller batch or split the tensor`,
      );
    }
    const id = buffers.length;
    buffers.push({ id, name, dtype: node.dtype, size: Math.max(1, size(node.shape)), shape: node.shape, role });
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
    const value = out.node.op === Op.Assign ? out.node.srcs[1]! : out.node;
    if (!outputName.has(value.id)) outputName.set(value.id, out.name);
  }
  const temps = planTemps(sched);
  const tempBuffer = new Map<number, number>();
  for (const k of sched.kernels) {
    const name = outputName.get(k.root.id);
    if (name !== undefined) add(k.root, name, 'output');
    else {
      const slot = temps.get(k.root.id)!;
      const existing = tempBuffer.get(slot);
      if (existing !== undefined) bufferOf.set(k.root.id, existing);
      else tempBuffer.set(slot, add(k.root, `t${slot}`, 'temp'));
    }
  }

  const kernels: ProgramKernel[] = sched.kernels.map((k, i) => {
    const ir = lowerKernel(k, { name: `k${i}_${k.kind}_${k.root.op}`, workgroupSize, bufferName: (n) => buffers[bufferOf.get(n.id)!]!.name });
    verifyKernel(ir);
    const grid = foldGrid(ir.workgroups, limits.maxComputeWorkgroupsPerDimension);
    const source = printWgsl(ir, { grid });
    if (level >= 4) console.error(`[kiln] ${ir.name}\n${source}`);
    return { name: ir.name, source, entryPoint: 'main', bindings: [k.root, ...k.reads].map((n) => bufferOf.get(n.id)!), workgroupSize, grid, ir };
  });

  const steps: ProgramStep[] = kernels.map((_, kernel) => ({ kind: 'dispatch', kernel }));
  const outputs: Record<string, number> = {};
  for (const out of sched.graph.outputs) {
    const value = out.node.op === Op.Assign ? out.node.srcs[1]! : out.node;
    outputs[out.name] = bufferOf.get(value.id)!;
    if (out.node.op === Op.Assign) steps.push({ kind: 'copy', from: bufferOf.get(value.id)!, to: bufferOf.get(out.node.srcs[0]!.id)! });
  }
  return { program: { target: 'webgpu', buffers, kernels, steps, outputs, inputs, params }, schedule: sched };
}

/**
 * Liveness-based sharing of intermediate buffers: a temp's slot is free again after the
 * last kernel that reads it, and is reused by a later temp of the same dtype and size.
 */
function planTemps(sched: Schedule): Map<number, number> {
  const lastUse = new Map<number, number>();
  sched.kernels.forEach((k, i) => k.reads.forEach((r) => lastUse.set(r.id, i)));
  const outputs = new Set(sched.graph.outputs.map((o) => (o.node.op === Op.Assign ? o.node.srcs[1]! : o.node).id));
  const free = new Map<string, number[]>();
  const slots = new Map<number, number>();
  let next = 0;
  const releaseAt = new Map<number, { key: string; slot: number }[]>();
  sched.kernels.forEach((k, i) => {
    for (const r of releaseAt.get(i) ?? []) free.get(r.key)!.push(r.slot);
    if (outputs.has(k.root.id)) return;
    const key = `${k.root.dtype}|${size(k.root.shape)}`;
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
